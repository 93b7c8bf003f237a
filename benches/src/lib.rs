//! Shared set-up for the benchmarks: SDK providers that export nowhere, and the summary table
//! (overhead in ns and as ratios) printed after criterion has run.

use std::path::PathBuf;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};

/// The benchmark request: `GET /users/42?page=1` with a host, a user agent and a peer address,
/// as a real server would hand it to the router.
pub fn request() -> http::Request<axum::body::Body> {
    let mut req = http::Request::get("/users/42?page=1")
        .header("host", "127.0.0.1:8080")
        .header("user-agent", "bench/1.0")
        .body(axum::body::Body::empty())
        .expect("valid request");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            50000,
        ))));
    req
}

/// A span exporter that drops everything (the cost of export is not ours to measure).
#[derive(Debug, Clone, Default)]
pub struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// A tracer provider with `sampler` and a batch processor into [`Discard`].
pub fn tracer_provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_batch_exporter(Discard)
        .build()
}

/// A meter provider whose reader collects once an hour (recording still aggregates).
pub fn meter_provider() -> SdkMeterProvider {
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
        .with_interval(std::time::Duration::from_secs(3600))
        .build();
    SdkMeterProvider::builder().with_reader(reader).build()
}

/// The criterion settings every benchmark here uses: short warm-up and measurement, 50
/// samples, so the whole suite runs in minutes on a 2-core machine.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(50)
}

/// Ends a run: criterion's summary, then one overhead table per `(group, bare, variants)`.
pub fn finish_run(tables: &[(&str, &str, &[&str])]) {
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    for (group, bare, variants) in tables {
        print_table(group, bare, Some(("sdk_floor", "span+histogram")), variants);
    }
}

/// Mean time (ns) criterion measured for `group/id` in this run.
pub fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("mean")?.get("point_estimate")?.as_f64()
}

/// Prints a Markdown table: each variant's time, its overhead over `bare`, and that overhead as
/// a ratio to the SDK `floor`.
pub fn print_table(group: &str, bare: &str, floor: Option<(&str, &str)>, variants: &[&str]) {
    let Some(bare_ns) = mean_ns(group, bare) else {
        return;
    };
    let floor_ns = floor.and_then(|(g, id)| mean_ns(g, id));
    println!("\n| {group} | time / request | overhead vs bare | overhead / SDK floor |");
    println!("|---|---:|---:|---:|");
    println!("| {bare} | {bare_ns:.0} ns | – | – |");
    for id in variants {
        if let Some(ns) = mean_ns(group, id) {
            let over = ns - bare_ns;
            let ratio = floor_ns.map_or("–".to_owned(), |f| format!("{:.2}×", over / f));
            println!(
                "| {id} | {ns:.0} ns | {over:+.0} ns ({:.2}× bare) | {ratio} |",
                ns / bare_ns
            );
        }
    }
    if let (Some((g, id)), Some(f)) = (floor, floor_ns) {
        println!("| SDK floor ({g}/{id}) | {f:.0} ns | | 1.00× |");
    }
}
