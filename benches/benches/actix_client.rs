//! Per-request overhead of the Actix middleware (against the bare Actix app, both driven with
//! `actix_web::test::call_service`, no network) and of the HTTP client layer (against the bare
//! client: an in-memory `Service` that answers at once): traced, metrics only, and unsampled
//! (`AlwaysOff`) with metrics.
//!
//! `cargo bench -p towerlight-benches --bench actix_client`

use actix_web::{test, App};
use criterion::{criterion_group, Criterion};
use opentelemetry_sdk::trace::Sampler;
use tower::Layer;
use towerlight::{Config, HttpClientLayer, Propagator};
use towerlight_benches::{
    actix_call, actix_route, client_answer, client_call, meter_provider, metrics_only,
    tracer_provider, unsampled, ActixExecutor,
};

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

/// Each measured configuration under its row label.
fn variants() -> [(&'static str, Config); 3] {
    [
        (VARIANTS[0], config()),
        (VARIANTS[1], metrics_only(config())),
        (VARIANTS[2], unsampled(config())),
    ]
}

const VARIANTS: [&str; 3] = ["traces+metrics", "metrics only", "unsampled+metrics"];

fn bench(c: &mut Criterion) {
    let exec = ActixExecutor(actix_rt::Runtime::new().unwrap());
    let mut group = c.benchmark_group("actix");
    let bare = exec.0.block_on(test::init_service(
        App::new().route("/users/{id}", actix_route()),
    ));
    group.bench_function("bare", |b| b.to_async(&exec).iter(|| actix_call(&bare)));
    for (label, config) in variants() {
        let layered = exec.0.block_on(test::init_service(
            App::new()
                .wrap(towerlight_actix::Otel::with_config(config))
                .route("/users/{id}", actix_route()),
        ));
        group.bench_function(label, |b| b.to_async(&exec).iter(|| actix_call(&layered)));
    }
    group.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("http_client");
    let answer = client_answer();
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| client_call(&answer)));
    for (label, config) in variants() {
        let layered = HttpClientLayer::with_config(config).layer(answer.clone());
        group.bench_function(label, |b| b.to_async(&rt).iter(|| client_call(&layered)));
    }
    group.finish();
    let http = towerlight_benches::floor_metric_attributes();
    towerlight_benches::bench_floor(c, "http", towerlight_benches::floor_span_attributes, &http);
    let client = towerlight_benches::client_floor_metric_attributes();
    towerlight_benches::bench_floor(
        c,
        "http client",
        towerlight_benches::client_floor_span_attributes,
        &client,
    );
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run("http", &[("actix", "bare", &VARIANTS)]);
    towerlight_benches::finish_run_with(
        Some(("sdk_floor", "http client")),
        &[("http_client", "bare", &VARIANTS)],
    );
}
