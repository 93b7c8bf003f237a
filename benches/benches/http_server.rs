//! Per-request overhead of the HTTP server layer on an Axum router, against the bare router and
//! against the OpenTelemetry SDK's own floor (one span with the same attributes plus one
//! histogram point, no middleware).
//!
//! `cargo bench -p towerlight-benches --bench http_server`

use axum::Router;
use criterion::{criterion_group, Criterion};
use opentelemetry::metrics::{MeterProvider, NoopMeterProvider};
use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
use opentelemetry_sdk::trace::Sampler;
use towerlight::{Config, Propagator};
use towerlight_benches::{
    axum_call, floor_metric_attributes, floor_span_attributes, meter_provider, tracer_provider,
    users_router,
};

const GROUP: &str = "http_server";

fn layered(config: Config) -> Router {
    users_router().layer(towerlight_axum::layer_with(
        config.propagator(Propagator::w3c()),
    ))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);

    let bare = users_router();
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| axum_call(&bare)));

    let minimal = users_router().layer(towerlight_benches::MinimalLayer);
    group.bench_function("minimal layer (no telemetry)", |b| {
        b.to_async(&rt).iter(|| axum_call(&minimal))
    });

    let tp = tracer_provider(Sampler::AlwaysOn);
    let mp = meter_provider();
    let full = layered(
        Config::new()
            .tracer_provider(tp.clone())
            .meter_provider(mp.clone()),
    );
    group.bench_function("traces+metrics", |b| {
        b.to_async(&rt).iter(|| axum_call(&full))
    });

    // `setup`'s default: the specification's default sampler, and the hint that says so (every
    // span here records, so each gets its attributes at creation).
    let hinted = layered(
        Config::new()
            .tracer_provider(tracer_provider(Sampler::ParentBased(Box::new(
                Sampler::AlwaysOn,
            ))))
            .meter_provider(mp.clone())
            .sampler_hint(towerlight::SamplerHint::ParentBasedAlwaysOn),
    );
    group.bench_function("traces+metrics, setup's sampler (hinted)", |b| {
        b.to_async(&rt).iter(|| axum_call(&hinted))
    });

    let traces = layered(
        Config::new()
            .tracer_provider(tp.clone())
            .meter_provider(NoopMeterProvider::new()),
    );
    group.bench_function("traces only", |b| {
        b.to_async(&rt).iter(|| axum_call(&traces))
    });

    let metrics = layered(
        Config::new()
            .tracer_provider(NoopTracerProvider::new())
            .meter_provider(mp.clone()),
    );
    group.bench_function("metrics only", |b| {
        b.to_async(&rt).iter(|| axum_call(&metrics))
    });

    let off = tracer_provider(Sampler::AlwaysOff);
    let unsampled = layered(
        Config::new()
            .tracer_provider(off.clone())
            .meter_provider(mp.clone()),
    );
    group.bench_function("unsampled+metrics", |b| {
        b.to_async(&rt).iter(|| axum_call(&unsampled))
    });
    // AlwaysOff reads no attributes: told so, the layer builds none for an unsampled span.
    let blind = layered(
        Config::new()
            .tracer_provider(off)
            .meter_provider(mp.clone())
            .sampler_reads_attributes(false),
    );
    group.bench_function("unsampled+metrics, sampler reads no attributes", |b| {
        b.to_async(&rt).iter(|| axum_call(&blind))
    });

    let opt_in = layered(
        Config::new()
            .tracer_provider(tp.clone())
            .meter_provider(mp.clone())
            .opt_in_metrics(true),
    );
    group.bench_function("traces+all metrics", |b| {
        b.to_async(&rt).iter(|| axum_call(&opt_in))
    });
    group.finish();

    // The SDK floor: what any instrumentation must pay, with the same attributes.
    let mut floor = c.benchmark_group("sdk_floor");
    let tracer = tp.tracer("floor");
    let meter = mp.meter("floor");
    let histogram = meter.f64_histogram("floor.duration").build();
    floor.bench_function("span(13 attrs)", |b| {
        b.iter(|| {
            let mut span = tracer
                .span_builder("GET /users/{id}")
                .with_kind(SpanKind::Server)
                .with_attributes(floor_span_attributes())
                .start(&tracer);
            span.end();
        })
    });
    let metric_attributes = floor_metric_attributes();
    floor.bench_function("histogram(5 attrs)", |b| {
        b.iter(|| histogram.record(0.001, &metric_attributes))
    });
    floor.finish();
    towerlight_benches::bench_floor(c, "http", floor_span_attributes, &metric_attributes);
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run(
        "http",
        &[(
            GROUP,
            "bare",
            &[
                "minimal layer (no telemetry)",
                "traces+metrics",
                "traces+metrics, setup's sampler (hinted)",
                "traces only",
                "metrics only",
                "unsampled+metrics",
                "unsampled+metrics, sampler reads no attributes",
                "traces+all metrics",
            ],
        )],
    );
}
