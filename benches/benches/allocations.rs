//! Heap allocations per request, counted by a counting global allocator (`stats_alloc`): the
//! bare Axum router, the router with towerlight's layer in each mode, and the SDK floor (one
//! span with the same attributes, held in a context as every instrumentation must, and one
//! histogram point). The counts include the SDK's batch-export thread, amortised per span.
//! A second table does the same per protocol: a unary Tonic call (server layer, client layer),
//! a request through the HTTP client layer (with `accept: */*` as reqwest sends it, and with no
//! header at all, when the injection allocates the header map itself), a jsonrpsee call (HTTP
//! layer + RPC middleware), an Actix request (the `Otel` middleware, traced and metrics only),
//! each beside its bare service and its SDK floor.
//!
//! `cargo bench -p towerlight-benches --bench allocations`

use std::alloc::System;

use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry_sdk::trace::Sampler;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::Layer as _;
use towerlight::{Config, Propagator};
use towerlight_benches::{
    axum_call, client_answer, client_call, client_floor_metric_attributes,
    client_floor_span_attributes, client_request_headerless, client_send, echo_server,
    floor_metric_attributes, floor_span_attributes, grpc_call, grpc_floor_attributes, jsonrpc_bare,
    jsonrpc_call, jsonrpc_traced, meter_provider, tracer_provider, users_router,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations per call of `f`, after a warm-up that fills every cache.
fn per_call(f: impl FnMut()) -> f64 {
    towerlight_benches::allocations_per_call(GLOBAL, 2000, 20000, f)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tp = tracer_provider(Sampler::AlwaysOn);
    let mp = meter_provider();
    let app = |config: Config| {
        users_router().layer(towerlight_axum::layer_with(
            config.propagator(Propagator::w3c()),
        ))
    };
    let bare = users_router();
    let full = app(Config::new()
        .tracer_provider(tp.clone())
        .meter_provider(mp.clone()));
    let metrics = app(Config::new()
        .tracer_provider(NoopTracerProvider::new())
        .meter_provider(mp.clone()));
    let unsampled = app(Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOff))
        .meter_provider(mp.clone()));
    let blind = app(Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOff))
        .meter_provider(mp.clone())
        .sampler_reads_attributes(false));

    let bare_n = per_call(|| rt.block_on(axum_call(&bare)));
    let minimal = users_router().layer(towerlight_benches::MinimalLayer);
    let rows = [
        (
            "minimal layer (no telemetry)",
            per_call(|| rt.block_on(axum_call(&minimal))),
        ),
        ("traces+metrics", per_call(|| rt.block_on(axum_call(&full)))),
        (
            "metrics only",
            per_call(|| rt.block_on(axum_call(&metrics))),
        ),
        (
            "unsampled+metrics",
            per_call(|| rt.block_on(axum_call(&unsampled))),
        ),
        (
            "unsampled+metrics, sampler reads no attributes",
            per_call(|| rt.block_on(axum_call(&blind))),
        ),
    ];

    let sdk_floor = towerlight_benches::Floor::new();
    let metric_attributes = floor_metric_attributes();
    let floor = per_call(|| sdk_floor.once(floor_span_attributes(), &metric_attributes));

    println!("\n| allocations / request | count | beyond bare | beyond bare and the SDK floor |");
    println!("|---|---:|---:|---:|");
    println!("| bare | {bare_n:.2} | – | – |");
    for (name, n) in rows {
        println!(
            "| {name} | {n:.2} | {:+.2} | {:+.2} |",
            n - bare_n,
            n - bare_n - floor
        );
    }
    println!("| SDK floor (span in a context + histogram point) | {floor:.2} | | |");
    protocols(&rt, &tp, &mp);

    // Memory over ten million requests through the fully instrumented router.
    let total: usize = std::env::var("TOWERLIGHT_MEMORY_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    println!("\n| requests (traces+metrics) | resident memory |");
    println!("|---:|---:|");
    let step = (total / 5).max(1);
    for done in 0..=total {
        if done % step == 0 {
            println!("| {done} | {:.1} MiB |", resident_mib());
        }
        if done < total {
            rt.block_on(axum_call(&full));
        }
    }
}

/// Allocations per call of each protocol's layers, beside the bare service and the floor.
fn protocols(
    rt: &tokio::runtime::Runtime,
    tp: &opentelemetry_sdk::trace::SdkTracerProvider,
    mp: &opentelemetry_sdk::metrics::SdkMeterProvider,
) {
    let config = || {
        Config::new()
            .tracer_provider(tp.clone())
            .meter_provider(mp.clone())
            .propagator(Propagator::w3c())
    };
    let sdk_floor = towerlight_benches::Floor::new();
    let floor_of = |span: fn() -> Vec<opentelemetry::KeyValue>,
                    metric: &[opentelemetry::KeyValue],
                    times: usize| {
        per_call(|| {
            for _ in 0..times {
                sdk_floor.once(span(), metric);
            }
        })
    };
    let grpc_floor = floor_of(grpc_floor_attributes, &grpc_floor_attributes(), 1);
    let client_floor = floor_of(
        client_floor_span_attributes,
        &client_floor_metric_attributes(),
        1,
    );
    let rpc_floor = floor_of(grpc_floor_attributes, &grpc_floor_attributes(), 2);
    let http_floor = floor_of(floor_span_attributes, &floor_metric_attributes(), 1);
    let (actix_bare, actix_traced, actix_metrics) = actix_rows(config);

    let echo = echo_server();
    let grpc_server = towerlight_tonic::server_with(config()).layer(echo_server());
    let grpc_client = towerlight_tonic::client_with(config()).layer(echo_server());
    let grpc_bare = per_call(|| rt.block_on(grpc_call(&echo, "Unary", 0)));
    let answer = client_answer();
    let client = towerlight::HttpClientLayer::with_config(config()).layer(client_answer());
    let client_bare = per_call(|| rt.block_on(client_call(&answer)));
    let (json_bare, json_traced) = (jsonrpc_bare(), jsonrpc_traced(config()));
    let json_bare_n = per_call(|| rt.block_on(jsonrpc_call(&json_bare)));
    let rows = [
        (
            "Tonic unary, server layer",
            grpc_bare,
            per_call(|| rt.block_on(grpc_call(&grpc_server, "Unary", 0))),
            grpc_floor,
        ),
        (
            "Tonic unary, client layer",
            grpc_bare,
            per_call(|| rt.block_on(grpc_call(&grpc_client, "Unary", 0))),
            grpc_floor,
        ),
        (
            "HTTP client layer (`accept: */*`, as reqwest sends)",
            client_bare,
            per_call(|| rt.block_on(client_call(&client))),
            client_floor,
        ),
        (
            "HTTP client layer, header-less request",
            per_call(|| rt.block_on(client_send(&answer, client_request_headerless()))),
            per_call(|| rt.block_on(client_send(&client, client_request_headerless()))),
            client_floor,
        ),
        (
            "jsonrpsee call (HTTP layer + RPC middleware, 2 spans)",
            json_bare_n,
            per_call(|| rt.block_on(jsonrpc_call(&json_traced))),
            rpc_floor,
        ),
        (
            "Actix request, `Otel` middleware",
            actix_bare,
            actix_traced,
            http_floor,
        ),
        (
            "Actix request, `Otel` middleware, metrics only",
            actix_bare,
            actix_metrics,
            0.0,
        ),
    ];
    println!("\n| allocations / call | bare | instrumented | beyond bare | SDK floor | beyond bare and the floor |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, bare, n, floor) in rows {
        println!(
            "| {name} | {bare:.2} | {n:.2} | {:+.2} | {floor:.2} | {:+.2} |",
            n - bare,
            n - bare - floor
        );
    }
}

/// Allocations per Actix request (the `actix` bench's): bare, traced, metrics only.
fn actix_rows(config: impl Fn() -> Config) -> (f64, f64, f64) {
    use actix_web::{test, App};
    use towerlight_benches::{actix_call, actix_route};
    let rt = actix_rt::Runtime::new().unwrap();
    let per_request = |config: Option<Config>| {
        let app = App::new().route("/users/{id}", actix_route());
        match config {
            None => {
                let app = rt.block_on(test::init_service(app));
                per_call(|| rt.block_on(actix_call(&app)))
            }
            Some(config) => {
                let app = app.wrap(towerlight_actix::Otel::with_config(config));
                let app = rt.block_on(test::init_service(app));
                per_call(|| rt.block_on(actix_call(&app)))
            }
        }
    };
    (
        per_request(None),
        per_request(Some(config())),
        per_request(Some(config().tracer_provider(NoopTracerProvider::new()))),
    )
}

/// The process's resident set (Linux `/proc/self/statm`, 4 KiB pages).
fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}
