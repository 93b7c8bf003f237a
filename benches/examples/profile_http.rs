//! Runs many requests through the fully instrumented router, for callgrind/perf profiling.
//! `cargo build --profile bench -p towerlight-benches --example profile_http`

use opentelemetry_sdk::trace::Sampler;
use towerlight::{Config, Propagator};
use towerlight_benches::{axum_call, meter_provider, tracer_provider, users_router};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mode = std::env::args().nth(2).unwrap_or_default();
    let config = Config::new()
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c());
    let config = match mode.as_str() {
        "metrics" => config.tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new()),
        _ => config.tracer_provider(tracer_provider(Sampler::AlwaysOn)),
    };
    let app = users_router();
    let app = if mode == "bare" {
        app
    } else {
        app.layer(towerlight_axum::layer_with(config))
    };
    rt.block_on(async {
        for _ in 0..n {
            axum_call(&app).await;
        }
    });
}
