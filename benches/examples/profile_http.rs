//! Runs many requests through the Axum router in one mode, for callgrind/perf profiling:
//! `bare`, `minimal` (a pass-through layer of the same shape, no telemetry), `full` (traces + metrics, the default), `metrics` (no-op tracer), `unsampled`
//! (AlwaysOff + metrics), `blind` (the same, told the sampler reads no attributes), or `floor` (no router: the SDK floor, one span with the same thirteen
//! attributes in a context and one histogram point).
//! `cargo build --profile profiling -p towerlight-benches --example profile_http`, then
//! `valgrind --tool=callgrind target/profiling/examples/profile_http 20000 full`.

use opentelemetry_sdk::trace::Sampler;
use towerlight::{Config, Propagator};
use towerlight_benches::{
    axum_call, floor_metric_attributes, floor_span_attributes, meter_provider, tracer_provider,
    users_router,
};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    if mode == "floor" {
        return floor(n);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = Config::new()
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c());
    let config = match mode.as_str() {
        "metrics" => config.tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new()),
        "unsampled" => config.tracer_provider(tracer_provider(Sampler::AlwaysOff)),
        "blind" => config
            .tracer_provider(tracer_provider(Sampler::AlwaysOff))
            .sampler_reads_attributes(false),
        _ => config.tracer_provider(tracer_provider(Sampler::AlwaysOn)),
    };
    let app = users_router();
    let app = if mode == "bare" {
        app
    } else if mode == "minimal" {
        app.layer(towerlight_benches::MinimalLayer)
    } else {
        app.layer(towerlight_axum::layer_with(config))
    };
    rt.block_on(async {
        for _ in 0..n {
            axum_call(&app).await;
        }
    });
}

/// The SDK floor, `n` times.
fn floor(n: usize) {
    let sdk_floor = towerlight_benches::Floor::new();
    let metric_attributes = floor_metric_attributes();
    for _ in 0..n {
        sdk_floor.once(floor_span_attributes(), &metric_attributes);
    }
}
