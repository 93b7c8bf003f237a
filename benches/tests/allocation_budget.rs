//! The allocation budget, asserted: a request through towerlight's Axum layer with traces and
//! metrics allocates at most 2 more than the bare router plus what the SDK itself needs for one
//! span in a context and one histogram point, and with metrics only at most 2 more than a
//! pass-through layer (Axum re-boxes any layered route). Counted by a counting global allocator,
//! in this binary alone; the export thread's allocations are included, amortised per span.

use std::alloc::System;

use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry_sdk::trace::Sampler;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use towerlight::{Config, Propagator};
use towerlight_benches::{
    axum_call, floor_metric_attributes, floor_span_attributes, meter_provider, tracer_provider,
    users_router, Floor, MinimalLayer,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most allocations a request may add beyond the bare service and the SDK's own.
const BUDGET: f64 = 2.0;

/// Allocations per call of `f`, after a warm-up that fills every cache.
fn per_call(f: impl FnMut()) -> f64 {
    towerlight_benches::allocations_per_call(GLOBAL, 500, 3000, f)
}

#[test]
fn a_request_allocates_within_the_budget() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let layered = |config: Config| {
        users_router().layer(towerlight_axum::layer_with(
            config
                .propagator(Propagator::w3c())
                .meter_provider(meter_provider()),
        ))
    };
    let bare = users_router();
    let minimal = users_router().layer(MinimalLayer);
    let full = layered(Config::new().tracer_provider(tracer_provider(Sampler::AlwaysOn)));
    let metrics = layered(Config::new().tracer_provider(NoopTracerProvider::new()));

    let bare = per_call(|| rt.block_on(axum_call(&bare)));
    let minimal = per_call(|| rt.block_on(axum_call(&minimal)));
    let full = per_call(|| rt.block_on(axum_call(&full)));
    let metrics = per_call(|| rt.block_on(axum_call(&metrics)));
    let sdk = Floor::new();
    let metric_attributes = floor_metric_attributes();
    let floor = per_call(|| sdk.once(floor_span_attributes(), &metric_attributes));

    let report = format!(
        "bare {bare:.2}, minimal {minimal:.2}, traces+metrics {full:.2}, \
         metrics only {metrics:.2}, SDK floor {floor:.2}"
    );
    // A fraction above a whole number is the export thread's batches, not a request's own.
    let slack = 0.2;
    assert!(floor >= 1.0, "the floor allocates: {report}");
    assert!(minimal > bare, "the layering is counted: {report}");
    assert!(
        full - bare - floor <= BUDGET + slack,
        "traces + metrics over budget: {report}"
    );
    assert!(
        metrics - minimal <= BUDGET + slack,
        "metrics only over budget: {report}"
    );
}
