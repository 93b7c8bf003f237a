//! towerlight against the peer crates, one run on one machine, with the same SDK set-up for all
//! (see `towerlight_benches::peers`): per framework, the bare service, towerlight, and each peer,
//! driven in process with the same request.
//!
//! `cargo bench -p towerlight-benches --bench peers --features peers`

use std::future::Future;

use actix_web::body::MessageBody;
use actix_web::App;
use axum::Router;
use criterion::async_executor::AsyncExecutor;
use criterion::Criterion;
use towerlight_benches::peers::{self, ActixFactory, Sdk, Setup, Visit};
use towerlight_benches::{
    actix_call, axum_call, grpc_call, ActixExecutor, GrpcServer, ResponseBody,
};

const AXUM: &str = "peers_axum";
const TONIC: &str = "peers_tonic";
const ACTIX: &str = "peers_actix";

/// Measures each configuration in its framework's group and remembers the labels, per group.
struct Bench {
    criterion: Criterion,
    tokio: tokio::runtime::Runtime,
    actix: ActixExecutor,
    labels: Labels,
}

/// The row labels of each group, in the order measured.
#[derive(Default)]
struct Labels(Vec<(&'static str, Vec<&'static str>)>);

impl Labels {
    /// Measures `call` as `group/label` on `exec`, with the configuration's subscriber entered,
    /// and adds the label to the group's rows.
    fn measure<E: AsyncExecutor + Copy, F: Future>(
        &mut self,
        criterion: &mut Criterion,
        group: &'static str,
        setup: &Setup,
        exec: E,
        mut call: impl FnMut() -> F,
    ) {
        let _guard = setup.enter();
        criterion
            .benchmark_group(group)
            .bench_function(setup.label, |b| b.to_async(exec).iter(&mut call));
        match self.0.iter_mut().find(|(g, _)| *g == group) {
            Some((_, labels)) => labels.push(setup.label),
            None => self.0.push((group, vec![setup.label])),
        }
    }
}

impl Visit for Bench {
    fn sdk(&mut self) -> Sdk {
        Sdk::discarding()
    }

    fn axum(&mut self, setup: Setup, app: Router) {
        let call = || axum_call(&app);
        (self.labels).measure(&mut self.criterion, AXUM, &setup, &self.tokio, call);
    }

    fn grpc<S: GrpcServer<B>, B: ResponseBody>(&mut self, setup: Setup, svc: S) {
        let call = || grpc_call(&svc, "Unary", 0);
        (self.labels).measure(&mut self.criterion, TONIC, &setup, &self.tokio, call);
    }

    fn actix<T: ActixFactory<B>, B: MessageBody + 'static>(&mut self, setup: Setup, app: App<T>) {
        let app = self.actix.0.block_on(actix_web::test::init_service(app));
        let call = || actix_call(&app);
        (self.labels).measure(&mut self.criterion, ACTIX, &setup, &self.actix, call);
    }
}

fn main() {
    peers::install_propagator();
    let mut bench = Bench {
        criterion: towerlight_benches::criterion_config().configure_from_args(),
        tokio: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap(),
        actix: ActixExecutor(actix_rt::Runtime::new().unwrap()),
        labels: Labels::default(),
    };
    peers::axum(&mut bench);
    peers::grpc(&mut bench);
    peers::actix(&mut bench);

    let tables: Vec<_> = bench
        .labels
        .0
        .iter()
        .map(|(group, labels)| (*group, labels[0], &labels[1..]))
        .collect();
    towerlight_benches::finish_run_with(None, &tables);
}
