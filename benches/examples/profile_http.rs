//! Runs many requests through the fully instrumented router, for callgrind/perf profiling.
//! `cargo build --profile bench -p towerlight-benches --example profile_http`

use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use opentelemetry_sdk::trace::Sampler;
use tower::ServiceExt;
use towerlight::{Config, Propagator};
use towerlight_benches::{meter_provider, request, tracer_provider};

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
    let app = Router::new().route("/users/{id}", get(|| async { "user" }));
    let app = if mode == "bare" {
        app
    } else {
        app.layer(towerlight_axum::layer_with(config))
    };
    rt.block_on(async {
        for _ in 0..n {
            let res = app.clone().oneshot(request()).await.unwrap();
            std::hint::black_box(res.into_body().collect().await.unwrap());
        }
    });
}
