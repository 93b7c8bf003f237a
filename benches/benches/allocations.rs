//! Heap allocations per request, counted by a counting global allocator (`stats_alloc`): the
//! bare Axum router, the router with towerlight's layer in each mode, and the SDK floor (one
//! span with the same attributes, held in a context as every instrumentation must, and one
//! histogram point). The counts include the SDK's batch-export thread, amortised per span.
//!
//! `cargo bench -p towerlight-benches --bench allocations`

use std::alloc::System;

use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry_sdk::trace::Sampler;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use towerlight::{Config, Propagator};
use towerlight_benches::{
    axum_call, floor_metric_attributes, floor_span_attributes, meter_provider, tracer_provider,
    users_router,
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
