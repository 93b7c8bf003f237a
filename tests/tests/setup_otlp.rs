//! `towerlight::setup` exporting over OTLP to a real receiver on loopback (gRPC and
//! HTTP/protobuf), and staying healthy when the collector hangs or is gone.
//!
//! Every test builds its own providers (`Setup::build`, no globals) and reads its variables
//! through a lookup, so the tests run side by side.

use std::collections::BTreeMap;
use std::time::Duration;

use towerlight::setup::{Exporter, OtlpProtocol, Setup, TelemetryGuard};
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::otlp_receiver::{closed_port, BlackHole, OtlpReceiver, ReceivedPoint};
use towerlight_tests::Harness;
use towerlight_tests::{client, vars};

/// Serves the standard routes with the guard's config and sends one request.
async fn one_request(guard: &TelemetryGuard, path: &str) {
    let server = AxumHarness::start(guard.config()).await;
    let response = client::http().get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "user:7");
}

fn with(attrs: &[(&str, &str)]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Exports one request's span and metrics with `protocol` (and `extra` variables) and checks
/// what the receiver got; returns the headers of every export request.
async fn exports_spans_and_metrics(
    receiver: OtlpReceiver,
    protocol: &str,
    extra: &[(&str, &str)],
) -> Vec<BTreeMap<String, String>> {
    let endpoint = receiver.endpoint();
    let mut env = vec![
        ("OTEL_SERVICE_NAME", "shop"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test,team=a%20b",
        ),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme%2Cone"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
    ];
    env.extend_from_slice(extra);
    let guard = Setup::new().env_lookup(vars(&env)).build().unwrap();
    one_request(&guard, "/users/7").await;
    // Shutdown flushes the batch processor and takes a last metric collection.
    let guard_done = tokio::task::spawn_blocking(move || guard.shutdown());
    guard_done.await.unwrap().unwrap();

    let spans = receiver.wait_spans(1).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, "SPAN_KIND_SERVER");
    assert_eq!(span.scope, "towerlight");
    assert_eq!(span.attributes["http.route"], "/users/{id}");
    assert_eq!(span.attributes["http.response.status_code"], "200");
    assert_eq!(span.attributes["url.path"], "/users/7");
    assert_eq!(span.resource["service.name"], "shop");
    assert_eq!(span.resource["deployment.environment.name"], "test");
    assert_eq!(span.resource["team"], "a b");
    assert_eq!(span.resource["telemetry.sdk.language"], "rust");
    assert_eq!(span.resource["process.pid"], std::process::id().to_string());

    let durations = receiver.metric_points("http.server.request.duration");
    assert_eq!(durations.len(), 1, "{durations:#?}");
    assert_eq!(durations[0].value, 1.0);
    assert_eq!(durations[0].attributes["http.route"], "/users/{id}");
    assert_eq!(durations[0].attributes["http.request.method"], "GET");
    assert_eq!(durations[0].resource["service.name"], "shop");

    // The span pipeline reports its own health: one span handed to the exporter, none dropped.
    let component = match protocol {
        "grpc" => "otlp_grpc_span_exporter/0",
        "http/json" => "otlp_http_json_span_exporter/0",
        _ => "otlp_http_span_exporter/0",
    };
    let mut processed: Vec<_> = receiver
        .metric_points("otel.sdk.processor.span.processed")
        .into_iter()
        .map(|p| (p.attributes, p.value))
        .collect();
    processed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        processed,
        vec![
            (
                with(&[
                    ("error.type", "queue_full"),
                    ("otel.component.name", "batching_span_processor/0"),
                    ("otel.component.type", "batching_span_processor"),
                ]),
                0.0
            ),
            (
                with(&[
                    ("otel.component.name", "batching_span_processor/0"),
                    ("otel.component.type", "batching_span_processor"),
                ]),
                1.0
            ),
        ]
    );
    let exported = receiver.metric_points("otel.sdk.exporter.span.exported");
    assert_eq!(
        exported,
        vec![ReceivedPoint {
            resource: durations[0].resource.clone(),
            attributes: with(&[
                ("otel.component.name", component),
                ("otel.component.type", &component[..component.len() - 2]),
            ]),
            value: 1.0,
        }]
    );

    // Every export carried the configured header, percent-decoded.
    let headers = receiver.headers();
    assert!(headers.len() >= 2, "{headers:#?}");
    for h in &headers {
        assert_eq!(
            h.get("x-tenant").map(String::as_str),
            Some("acme,one"),
            "{h:#?}"
        );
    }
    headers
}

/// The value of `name` in every export request's headers.
fn each(headers: &[BTreeMap<String, String>], name: &str) -> Vec<Option<String>> {
    headers.iter().map(|h| h.get(name).cloned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_reaches_the_receiver() {
    let headers = exports_spans_and_metrics(OtlpReceiver::grpc().await, "grpc", &[]).await;
    assert!(each(&headers, "grpc-encoding").iter().all(Option::is_none));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_export_reaches_the_receiver() {
    let headers = exports_spans_and_metrics(OtlpReceiver::http().await, "http/protobuf", &[]).await;
    let types = each(&headers, "content-type");
    assert!(types
        .iter()
        .all(|t| t.as_deref() == Some("application/x-protobuf")));
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip` compresses every export, over gRPC and HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compression_over_grpc_and_http() {
    let gzip = [("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")];
    let headers = exports_spans_and_metrics(OtlpReceiver::grpc().await, "grpc", &gzip).await;
    let encodings = each(&headers, "grpc-encoding");
    assert!(
        encodings.iter().all(|e| e.as_deref() == Some("gzip")),
        "{encodings:?}"
    );
    let receiver = OtlpReceiver::http().await;
    let headers = exports_spans_and_metrics(receiver, "http/protobuf", &gzip).await;
    let encodings = each(&headers, "content-encoding");
    assert!(
        encodings.iter().all(|e| e.as_deref() == Some("gzip")),
        "{encodings:?}"
    );
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`: JSON bodies the receiver decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_export_reaches_the_receiver() {
    let headers = exports_spans_and_metrics(OtlpReceiver::http().await, "http/json", &[]).await;
    let types = each(&headers, "content-type");
    assert!(
        types
            .iter()
            .all(|t| t.as_deref() == Some("application/json")),
        "{types:?}"
    );
}

/// An `https://` endpoint: TLS to a receiver whose self-signed certificate (made in the test)
/// the exporter trusts through `OTEL_EXPORTER_OTLP_CERTIFICATE`; gzip on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_export_with_a_trusted_certificate() {
    let (receiver, ca_pem) = OtlpReceiver::https().await;
    let path = std::env::temp_dir().join(format!("towerlight-ca-{}.pem", std::process::id()));
    std::fs::write(&path, ca_pem).unwrap();
    let path = path.to_str().unwrap().to_owned();
    let extra = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path.as_str()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    let headers = exports_spans_and_metrics(receiver, "http/protobuf", &extra).await;
    assert!(each(&headers, "content-encoding")
        .iter()
        .all(|e| e.as_deref() == Some("gzip")));
}

/// Without the certificate, the same TLS receiver is not trusted: exports fail and are counted,
/// nothing is sent in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_export_refuses_an_untrusted_certificate() {
    let (receiver, _) = OtlpReceiver::https().await;
    let endpoint = format!("{}/v1/traces", receiver.endpoint());
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
        ]))
        .scheduled_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    one_request(&guard, "/users/7").await;
    let failed = tokio::task::spawn_blocking(move || {
        let _ = guard.force_flush();
        guard.failed_spans()
    })
    .await
    .unwrap();
    assert_eq!(failed, 1);
    assert!(receiver.spans().is_empty());
}

/// Dropping the guard in async code on a current-thread runtime — the runtime is blocked while
/// the guard flushes — neither deadlocks nor panics: exports run on setup's own runtime.
#[tokio::test(flavor = "current_thread")]
async fn guard_drop_inside_a_current_thread_runtime() {
    // The receiver must not run on the runtime the drop blocks.
    let receiver_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = receiver_rt.spawn(OtlpReceiver::http()).await.unwrap();
    let guard = Setup::new()
        .env_lookup(vars(&[]))
        .traces_exporters([Exporter::Otlp])
        .metrics_exporters([])
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .otlp_endpoint(receiver.endpoint())
        .build()
        .unwrap();
    one_request(&guard, "/users/7").await;
    drop(guard);
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "the drop flushed the span: {spans:#?}");
    assert_eq!(spans[0].name, "GET /users/{id}");
    drop(receiver);
    receiver_rt.shutdown_background();
}

/// The collector accepts connections and never answers. The service keeps answering every
/// request, at most `max_queue_size` spans wait in memory, and every other span is counted as
/// dropped — in the guard and in the metrics, which still reach a healthy metrics receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_collector_drops_and_counts_spans() {
    let hole = BlackHole::start().await;
    let metrics = OtlpReceiver::http().await;
    let traces_endpoint = hole.endpoint();
    let metrics_endpoint = format!("{}/v1/metrics", metrics.endpoint());
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_endpoint),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &metrics_endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ]))
        .max_queue_size(4)
        .max_export_batch_size(2)
        .scheduled_delay(Duration::from_millis(10))
        .build()
        .unwrap();

    let server = AxumHarness::start(guard.config()).await;
    let http = client::http();
    const REQUESTS: u64 = 40;
    for _ in 0..REQUESTS {
        let response = http.get(server.url("/users/7")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let dropped = guard.dropped_spans();
    // Each export hangs for its 1 s timeout while the requests take milliseconds.
    assert!(dropped > 0, "the queue holds 4 spans, {REQUESTS} were sent");

    let guard_done = tokio::task::spawn_blocking(move || {
        // Flushing waits for the exports still hanging; whether the last one reports its
        // failure depends on timing, the counters do not.
        let _ = guard.force_flush();
        let counts = (guard.dropped_spans(), guard.failed_spans());
        (counts, guard.shutdown())
    });
    let ((dropped, failed), shutdown) = guard_done.await.unwrap();
    // Nothing got through: every span was either dropped at the queue or failed to export.
    assert_eq!(dropped + failed, REQUESTS);
    assert!(failed >= 1, "failed {failed}");
    assert!(shutdown.is_ok(), "{shutdown:?}");

    let processed = metrics.metric_points("otel.sdk.processor.span.processed");
    let queue_full = processed
        .iter()
        .find(|p| p.attributes.get("error.type").map(String::as_str) == Some("queue_full"))
        .expect("a queue_full point");
    assert_eq!(queue_full.value, dropped as f64);
    let exported = metrics.metric_points("otel.sdk.exporter.span.exported");
    let failed_points: f64 = exported
        .iter()
        .filter(|p| p.attributes.contains_key("error.type"))
        .map(|p| p.value)
        .sum();
    assert_eq!(failed_points, failed as f64);
    let capacity = metrics.metric_points("otel.sdk.processor.span.queue.capacity");
    assert_eq!(capacity.len(), 1);
    assert_eq!(capacity[0].value, 4.0);
}

/// Nothing listens on the port: exports fail fast, failures are counted, requests succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_collector_counts_failed_exports() {
    let endpoint = closed_port().await;
    let guard = Setup::new()
        .env_lookup(vars(&[]))
        .traces_exporters([Exporter::Otlp])
        .metrics_exporters([])
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .otlp_endpoint(endpoint)
        .otlp_timeout(Duration::from_millis(300))
        .scheduled_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let server = AxumHarness::start(guard.config()).await;
    for _ in 0..3 {
        let response = client::http()
            .get(server.url("/users/7"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (dropped, failed) = tokio::task::spawn_blocking(move || {
        let _ = guard.force_flush();
        (guard.dropped_spans(), guard.failed_spans())
    })
    .await
    .unwrap();
    assert_eq!((dropped, failed), (0, 3));
}

/// `OTEL_TRACES_SAMPLER=jaeger_remote`: the sampler polls the sampling endpoint (here an
/// in-test server answering a probabilistic strategy of 1.0) for this service, and its answer
/// replaces the initial rate of 0, so spans start being sampled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_remote_sampler_follows_the_endpoint() {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    let queries = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = queries.clone();
    let app = axum::Router::new().route(
        "/sampling",
        axum::routing::get(move |uri: axum::http::Uri| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(uri.query().unwrap_or_default().to_owned());
                r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1.0}}"#
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = towerlight_tests::axum_harness::AbortOnDrop(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));
    let arg = format!("endpoint=http://{addr}/sampling,pollingIntervalMs=50,initialSamplingRate=0");
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_SERVICE_NAME", "remote-sampled"),
            ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
            ("OTEL_TRACES_SAMPLER_ARG", &arg),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .build()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let mut sampled = false;
    for _ in 0..500 {
        let mut span = tracer.start("probe");
        sampled = span.span_context().is_sampled();
        span.end();
        if sampled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sampled, "the remote strategy (rate 1.0) was never applied");
    assert_eq!(queries.lock().unwrap()[0], "service=remote-sampled");
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
}
