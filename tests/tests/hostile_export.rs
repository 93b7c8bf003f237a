//! The export path under hostile sizes and a hung collector: oversized values never take a
//! batch of ordinary spans down with them, and shutdown keeps its one deadline.

use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use towerlight::setup::{Setup, TelemetryGuard};
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::otlp_receiver::{BlackHole, OtlpReceiver};
use towerlight_tests::{client, vars, Harness};

const ORDINARY: usize = 200;
const HUGE: usize = 20;

fn exporting_to(endpoint: &str, protocol: &'static str) -> TelemetryGuard {
    let endpoint = if protocol == "grpc" {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    };
    Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
        ]))
        .scheduled_delay(Duration::from_millis(50))
        .build()
        .unwrap()
}

/// 20 requests with a 350 KB User-Agent, and 20 application spans with 1 MB of attributes,
/// among 200 ordinary requests: every span reaches a receiver that refuses requests over its
/// size limit (tonic's 4 MiB, axum's 2 MB body limit), the huge values cut.
async fn oversized_values_do_not_take_batches_down(receiver: OtlpReceiver, protocol: &'static str) {
    let guard = exporting_to(&receiver.endpoint(), protocol);
    let server = AxumHarness::start(guard.config()).await;
    let http = client::http();
    let app_tracer = guard.tracer_provider().tracer("app");
    let huge_ua = "U".repeat(350_000);
    for i in 0..ORDINARY {
        if i % (ORDINARY / HUGE) == 0 {
            let res = http
                .get(server.url("/users/7"))
                .header("user-agent", &huge_ua)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let mut span = app_tracer.start("app.work");
            for key in ["app.a", "app.b", "app.c"] {
                span.set_attribute(KeyValue::new(key, "P".repeat(350_000)));
            }
            span.end();
        }
        let res = http.get(server.url("/users/7")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let guard = tokio::task::spawn_blocking(move || {
        guard.force_flush().unwrap();
        guard
    })
    .await
    .unwrap();
    let spans = receiver.wait_spans(ORDINARY + 2 * HUGE).await;
    let server_spans: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "GET /users/{id}")
        .collect();
    assert_eq!(
        server_spans.len(),
        ORDINARY + HUGE,
        "every server span arrived"
    );
    let ua_sizes: Vec<usize> = server_spans
        .iter()
        .filter_map(|s| s.attributes.get("user_agent.original"))
        .map(String::len)
        .filter(|&n| n > 100)
        .collect();
    assert_eq!(
        ua_sizes,
        vec![2048; HUGE],
        "huge user agents capped at 2048 bytes"
    );
    let app: Vec<_> = spans.iter().filter(|s| s.name == "app.work").collect();
    assert_eq!(app.len(), HUGE, "every oversized application span arrived");
    for span in app {
        // 1 MB of attributes: cut to fit the 512 KiB a span may weigh, each value marked.
        let total: usize = ["app.a", "app.b", "app.c"]
            .iter()
            .map(|k| {
                let v = &span.attributes[*k];
                assert!(v.ends_with('…'), "{k} cut");
                v.len()
            })
            .sum();
        assert!(total <= 512 << 10, "{total}");
    }
    assert_eq!(guard.failed_spans(), 0);
    assert_eq!(guard.dropped_spans(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_over_grpc() {
    oversized_values_do_not_take_batches_down(OtlpReceiver::grpc().await, "grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_over_http() {
    oversized_values_do_not_take_batches_down(OtlpReceiver::http().await, "http/protobuf").await;
}

/// With the collector hung, `shutdown()` returns within its timeout (not 5 s per provider) and
/// the error names where the exports were going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_one_deadline_with_a_hung_collector() {
    let hole = BlackHole::start().await;
    let endpoint = hole.endpoint();
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ]))
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let server = AxumHarness::start(guard.config()).await;
    client::http()
        .get(server.url("/users/7"))
        .send()
        .await
        .unwrap();
    let (elapsed, result) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = guard.shutdown();
        (started.elapsed(), result)
    })
    .await
    .unwrap();
    assert!(
        elapsed < Duration::from_millis(1500),
        "shutdown took {elapsed:?} with a 1 s timeout"
    );
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&format!("traces: grpc {endpoint}")),
        "{message}"
    );
}
