//! Requests per second over loopback: a real server (Axum over hyper, and Tonic) on its own
//! single-threaded runtime and thread, driven by a load generator on another (32 HTTP/1.1
//! connections, or 32 concurrent unary calls on one HTTP/2 channel), bare against
//! towerlight-instrumented (batch export into a discarding exporter). The two are pinned
//! apart: the server to the first core, the load generator to the second. The server thread
//! pins itself before it builds its providers, so the SDK's export threads it spawns inherit
//! its core and their work is counted against the server, as it would be in production.
//! Each pair runs `ROUNDS` times, interleaved and alternating which goes first, so drift on a
//! shared machine falls on both sides; the ratio is the median of the rounds' ratios.
//!
//! `cargo bench -p towerlight-benches --bench loopback`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry_sdk::trace::Sampler;
use tokio::net::TcpStream;
use tonic::transport::server::TcpIncoming;
use towerlight::{Config, Propagator};
use towerlight_benches::{meter_provider, tracer_provider, users_router};
use towerlight_tests::grpc_harness::{echo, EchoService};
use towerlight_tests::proto::echo_client::EchoClient;
use towerlight_tests::proto::echo_server::EchoServer;

const CONNECTIONS: usize = 32;
const RUN: Duration = Duration::from_secs(2);
const WARM_UP: Duration = Duration::from_millis(300);
const ROUNDS: usize = 5;

/// Which server to start.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Http,
    Grpc,
}

/// What the instrumented server records.
#[derive(Clone, Copy)]
enum Telemetry {
    /// Every span sampled, and the metrics.
    Full,
    /// Metrics, and no tracer (the API's no-op provider).
    MetricsOnly,
    /// Every span dropped by the sampler (`AlwaysOff`), and the metrics.
    Unsampled,
}

impl Telemetry {
    fn config(self) -> Config {
        let config = Config::new()
            .meter_provider(meter_provider())
            .propagator(Propagator::w3c());
        match self {
            Telemetry::Full => config.tracer_provider(tracer_provider(Sampler::AlwaysOn)),
            Telemetry::MetricsOnly => config.tracer_provider(NoopTracerProvider::new()),
            Telemetry::Unsampled => config.tracer_provider(tracer_provider(Sampler::AlwaysOff)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Telemetry::Full => "traces + metrics",
            Telemetry::MetricsOnly => "metrics only",
            Telemetry::Unsampled => "unsampled + metrics",
        }
    }
}

/// Pins the calling thread to the `index`th core, when the machine has two or more.
fn pin(index: usize) {
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    if cores.len() >= 2 {
        core_affinity::set_for_current(cores[index]);
    }
}

/// The machine's cores, read once before anything is pinned: `get_core_ids` answers the
/// calling thread's affinity, so read after the load generator pinned itself (and from the
/// server threads it spawns, which inherit that affinity) it would find one core and pin
/// nothing, leaving both sides on the same core.
static CORES: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();

/// Starts the server (instrumented with `telemetry`, bare with `None`) on its own thread and
/// runtime, pinned to the first core; answers its address. It stops with the process.
fn start_server(kind: Kind, telemetry: Option<Telemetry>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = if telemetry.is_some() {
        "instrumented"
    } else {
        "bare"
    };
    let spawned = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            pin(0);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let config = telemetry.map(Telemetry::config);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                match (kind, config) {
                    (Kind::Http, None) => axum::serve(listener, users_router()).await.unwrap(),
                    (Kind::Http, Some(config)) => {
                        let app = users_router().layer(towerlight_axum::layer_with(config));
                        axum::serve(listener, app).await.unwrap()
                    }
                    (Kind::Grpc, None) => tonic::transport::Server::builder()
                        .add_service(EchoServer::new(EchoService))
                        .serve_with_incoming(TcpIncoming::from(listener))
                        .await
                        .unwrap(),
                    (Kind::Grpc, Some(config)) => tonic::transport::Server::builder()
                        .layer(towerlight_tonic::server_with(config))
                        .add_service(EchoServer::new(EchoService))
                        .serve_with_incoming(TcpIncoming::from(listener))
                        .await
                        .unwrap(),
                }
            });
        });
    spawned.expect("spawn the server thread");
    rx.recv().unwrap()
}

/// One HTTP/1.1 connection sending requests back to back until `until`; answers how many.
async fn http_connection(addr: SocketAddr, until: Instant) -> u64 {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut n = 0;
    while Instant::now() < until {
        let req = http::Request::get("/users/42?page=1")
            .header("host", addr.to_string())
            .header("user-agent", "loopback/1.0")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert!(res.status().is_success());
        res.into_body().collect().await.unwrap();
        n += 1;
    }
    n
}

/// One stream of unary calls on a shared channel until `until`; answers how many.
async fn grpc_caller(mut client: EchoClient<tonic::transport::Channel>, until: Instant) -> u64 {
    let mut n = 0;
    while Instant::now() < until {
        client.unary(echo("loopback", 1, 0, "")).await.unwrap();
        n += 1;
    }
    n
}

/// Requests per second the load generator gets from the server at `addr` over `run`.
fn load(kind: Kind, addr: SocketAddr, run: Duration) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let channel = match kind {
            Kind::Grpc => Some(towerlight_tests::grpc_harness::channel(addr).await),
            Kind::Http => None,
        };
        let until = Instant::now() + run;
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| match &channel {
                Some(ch) => tokio::spawn(grpc_caller(EchoClient::new(ch.clone()), until)),
                None => tokio::spawn(http_connection(addr, until)),
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    })
}

/// The median of `values` (not empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One table row: the bare and the instrumented server, `ROUNDS` interleaved runs each.
fn row(kind: Kind, name: &str, telemetry: Telemetry) {
    let bare_addr = start_server(kind, None);
    let inst_addr = start_server(kind, Some(telemetry));
    load(kind, bare_addr, WARM_UP);
    load(kind, inst_addr, WARM_UP);
    let (mut bare, mut inst, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (b, i) = if round % 2 == 0 {
            let b = load(kind, bare_addr, RUN);
            (b, load(kind, inst_addr, RUN))
        } else {
            let i = load(kind, inst_addr, RUN);
            (load(kind, bare_addr, RUN), i)
        };
        bare.push(b);
        inst.push(i);
        ratios.push(i / b);
    }
    println!(
        "| {name} | {} | {:.0} | {:.0} | {:.2}× |",
        telemetry.name(),
        median(bare),
        median(inst),
        median(ratios)
    );
}

fn main() {
    pin(1);
    match CORES.get().map(Vec::as_slice) {
        Some([server, load, ..]) => println!(
            "\nserver pinned to core {}, load generator to core {}",
            server.id, load.id
        ),
        _ => println!("\none core: server and load generator not pinned apart"),
    }
    println!(
        "\n| loopback (median of {ROUNDS} interleaved rounds) | towerlight | bare req/s | \
         towerlight req/s | ratio |"
    );
    println!("|---|---|---:|---:|---:|");
    row(Kind::Http, "Axum, HTTP/1.1", Telemetry::Full);
    row(Kind::Http, "Axum, HTTP/1.1", Telemetry::MetricsOnly);
    row(Kind::Http, "Axum, HTTP/1.1", Telemetry::Unsampled);
    row(Kind::Grpc, "Tonic, unary", Telemetry::Full);
}
