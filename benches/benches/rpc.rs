//! Per-call overhead of the JSON-RPC and tarpc instrumentation, in process: a jsonrpsee call
//! through the server's Tower service (HTTP request in, JSON out) bare and behind towerlight's
//! HTTP layer + RPC middleware; a tarpc call over an in-memory channel transport, bare and with
//! towerlight's client stub/transport and server transport/executor.
//!
//! `cargo bench -p towerlight-benches --bench rpc`

use criterion::{criterion_group, Criterion};
use futures_util::StreamExt;
use opentelemetry_sdk::trace::Sampler;
use tarpc::server::{BaseChannel, Channel};
use tarpc::{client, context};
use towerlight::{Config, Propagator};
use towerlight_benches::{
    jsonrpc_bare, jsonrpc_call, jsonrpc_traced, meter_provider, tracer_provider,
};

const GROUP: &str = "rpc";

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

#[tarpc::service]
trait World {
    async fn add(a: i64, b: i64) -> i64;
}

#[derive(Clone)]
struct Adder;

impl World for Adder {
    async fn add(self, _: context::Context, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);

    // jsonrpsee: the server's Tower service, bare and instrumented.
    let config = config();
    let bare = jsonrpc_bare();
    let traced = jsonrpc_traced(config.clone());
    group.bench_function("jsonrpsee bare", |b| {
        b.to_async(&rt).iter(|| jsonrpc_call(&bare))
    });
    group.bench_function("jsonrpsee instrumented", |b| {
        b.to_async(&rt).iter(|| jsonrpc_call(&traced))
    });

    // tarpc: one call over an in-memory transport, bare and instrumented (both sides).
    let bare_client = rt.block_on(async {
        let (client_t, server_t) = tarpc::transport::channel::unbounded();
        tokio::spawn(
            BaseChannel::with_defaults(server_t)
                .execute(Adder.serve())
                .for_each(|f| async {
                    tokio::spawn(f);
                }),
        );
        WorldClient::new(client::Config::default(), client_t).spawn()
    });
    let traced_client = rt.block_on(async {
        let (client_t, server_t) = tarpc::transport::channel::unbounded();
        let server = towerlight_tarpc::ServerTracing::new(config.clone());
        let server_t = server.transport(server_t);
        let in_flight = server_t.in_flight();
        tokio::spawn(
            towerlight_tarpc::execute(
                BaseChannel::with_defaults(server_t),
                Adder.serve(),
                in_flight,
            )
            .for_each(|f| async {
                tokio::spawn(f);
            }),
        );
        let tracing = towerlight_tarpc::ClientTracing::new(config.clone());
        let channel = client::new(client::Config::default(), tracing.transport(client_t)).spawn();
        WorldClient::from(tracing.stub(channel))
    });
    group.bench_function("tarpc bare", |b| {
        b.to_async(&rt).iter(|| async {
            std::hint::black_box(bare_client.add(context::current(), 1, 2).await.unwrap())
        })
    });
    group.bench_function("tarpc instrumented", |b| {
        b.to_async(&rt).iter(|| async {
            std::hint::black_box(traced_client.add(context::current(), 1, 2).await.unwrap())
        })
    });
    group.finish();
    rpc_floor(c);
}

/// The floor of an instrumented call here: two spans and two points (the HTTP request and the
/// JSON-RPC call; the tarpc client and server), each with the RPC attributes.
fn rpc_floor(c: &mut Criterion) {
    let floor = towerlight_benches::Floor::new();
    let attributes = towerlight_benches::grpc_floor_attributes();
    let mut group = c.benchmark_group("sdk_floor");
    group.bench_function("2 calls", |b| {
        b.iter(|| {
            for _ in 0..2 {
                floor.once(towerlight_benches::grpc_floor_attributes(), &attributes);
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run(
        "2 calls",
        &[
            (GROUP, "jsonrpsee bare", &["jsonrpsee instrumented"]),
            (GROUP, "tarpc bare", &["tarpc instrumented"]),
        ],
    );
}
