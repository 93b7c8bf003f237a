//! Per-call overhead of the gRPC layers on a tonic service, in process (no network): the bare
//! generated `EchoServer` against the same service behind `towerlight_tonic::server()`, and a
//! client layer in front of it. Unary calls and server-streaming calls of ten messages, each
//! through each layer traced, with metrics only (the no-op tracer) and unsampled (`AlwaysOff`).
//!
//! `cargo bench -p towerlight-benches --bench grpc`

use criterion::{criterion_group, Criterion};
use opentelemetry_sdk::trace::Sampler;
use tower::Layer;
use towerlight::{Config, Propagator};
use towerlight_benches::{
    echo_server, grpc_call as call, meter_provider, metrics_only, tracer_provider, unsampled,
};

const GROUP: &str = "grpc";

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

/// Each tracing a layer is measured with, as its row label's suffix: traced, metrics only,
/// unsampled.
const TRACINGS: [&str; 3] = ["", ", metrics only", ", unsampled"];

/// The configuration of a [`TRACINGS`] entry.
fn tracing_config(tracing: &str) -> Config {
    match tracing {
        "" => config(),
        ", metrics only" => metrics_only(config()),
        _ => unsampled(config()),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);
    let bare = echo_server();
    for (label, method, count) in CALLS {
        group.bench_function(format!("{label} bare"), |b| {
            b.to_async(&rt).iter(|| call(&bare, method, count))
        });
        for tracing in TRACINGS {
            let config = tracing_config(tracing);
            let server = towerlight_tonic::server_with(config.clone()).layer(echo_server());
            let client = towerlight_tonic::client_with(config).layer(echo_server());
            group.bench_function(format!("{label} server layer{tracing}"), |b| {
                b.to_async(&rt).iter(|| call(&server, method, count))
            });
            group.bench_function(format!("{label} client layer{tracing}"), |b| {
                b.to_async(&rt).iter(|| call(&client, method, count))
            });
        }
    }
    group.finish();
    let attributes = towerlight_benches::grpc_floor_attributes();
    towerlight_benches::bench_floor(
        c,
        "grpc",
        towerlight_benches::grpc_floor_attributes,
        &attributes,
    );
}

/// The calls measured: (label, method, streamed messages).
const CALLS: [(&str, &str, u32); 2] = [("unary", "Unary", 0), ("stream x10", "ServerStream", 10)];

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    let rows: Vec<Vec<String>> = CALLS
        .iter()
        .map(|(label, _, _)| {
            let mut rows = Vec::new();
            for side in ["server", "client"] {
                for tracing in TRACINGS {
                    rows.push(format!("{label} {side} layer{tracing}"));
                }
            }
            rows
        })
        .collect();
    let bares: Vec<String> = CALLS.iter().map(|(l, _, _)| format!("{l} bare")).collect();
    let refs: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let tables: Vec<(&str, &str, &[&str])> = bares
        .iter()
        .zip(&refs)
        .map(|(bare, rows)| (GROUP, bare.as_str(), rows.as_slice()))
        .collect();
    towerlight_benches::finish_run("grpc", &tables);
}
