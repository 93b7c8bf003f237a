//! Per-call overhead of the gRPC layers on a tonic service, in process (no network): the bare
//! generated `EchoServer` against the same service behind `towerlight_tonic::server()`, and a
//! client layer in front of it. Unary calls and server-streaming calls of ten messages, and
//! unary calls through each layer with metrics only (the no-op tracer).
//!
//! `cargo bench -p towerlight-benches --bench grpc`

use criterion::{criterion_group, Criterion};
use opentelemetry_sdk::trace::Sampler;
use tower::Layer;
use towerlight::{Config, Propagator};
use towerlight_benches::{echo_server, grpc_call as call, meter_provider, tracer_provider};

const GROUP: &str = "grpc";

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

/// [`config`] with the no-op tracer: metrics only.
fn metrics_only() -> Config {
    config().tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);
    let bare = echo_server();
    let server = towerlight_tonic::server_with(config()).layer(echo_server());
    let client = towerlight_tonic::client_with(config()).layer(echo_server());

    for (label, method, count) in [("unary", "Unary", 0), ("stream x10", "ServerStream", 10)] {
        group.bench_function(format!("{label} bare"), |b| {
            b.to_async(&rt).iter(|| call(&bare, method, count))
        });
        group.bench_function(format!("{label} server layer"), |b| {
            b.to_async(&rt).iter(|| call(&server, method, count))
        });
        group.bench_function(format!("{label} client layer"), |b| {
            b.to_async(&rt).iter(|| call(&client, method, count))
        });
    }
    let server = towerlight_tonic::server_with(metrics_only()).layer(echo_server());
    let client = towerlight_tonic::client_with(metrics_only()).layer(echo_server());
    group.bench_function("unary server layer, metrics only", |b| {
        b.to_async(&rt).iter(|| call(&server, "Unary", 0))
    });
    group.bench_function("unary client layer, metrics only", |b| {
        b.to_async(&rt).iter(|| call(&client, "Unary", 0))
    });
    group.finish();
    let attributes = towerlight_benches::grpc_floor_attributes();
    towerlight_benches::bench_floor(
        c,
        "grpc",
        towerlight_benches::grpc_floor_attributes,
        &attributes,
    );
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run(
        "grpc",
        &[
            (
                GROUP,
                "unary bare",
                &[
                    "unary server layer",
                    "unary client layer",
                    "unary server layer, metrics only",
                    "unary client layer, metrics only",
                ],
            ),
            (
                GROUP,
                "stream x10 bare",
                &["stream x10 server layer", "stream x10 client layer"],
            ),
        ],
    );
}
