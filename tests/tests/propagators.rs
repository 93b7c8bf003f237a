//! Per-layer propagators and public-endpoint predicates, end to end over Axum.

use opentelemetry::trace::SpanKind;
use towerlight::Propagator;
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::{client, Harness, Telemetry};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Each layer resolves its own propagator: B3 single-header, B3 multi-header, Jaeger and X-Ray
/// parents are honoured by a layer configured for them, and W3C headers are then ignored.
#[tokio::test(flavor = "current_thread")]
async fn layer_propagator_override_reads_other_formats() {
    let cases = [
        ("b3", vec![("b3", format!("{TRACE_ID}-{SPAN_ID}-1"))]),
        (
            "b3multi",
            vec![
                ("x-b3-traceid", TRACE_ID.to_owned()),
                ("x-b3-spanid", SPAN_ID.to_owned()),
                ("x-b3-sampled", "1".to_owned()),
            ],
        ),
        (
            "jaeger",
            vec![("uber-trace-id", format!("{TRACE_ID}:{SPAN_ID}:0:1"))],
        ),
        (
            "xray",
            vec![(
                "x-amzn-trace-id",
                format!(
                    "Root=1-{}-{};Parent={SPAN_ID};Sampled=1",
                    &TRACE_ID[..8],
                    &TRACE_ID[8..]
                ),
            )],
        ),
    ];
    for (name, headers) in cases {
        let t = Telemetry::new();
        let propagator = Propagator::from_names(name).expect(name);
        let server = AxumHarness::start(t.config().propagator(propagator)).await;
        let mut req = client::http().get(server.url("/users/1"));
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        // A W3C parent too: a layer configured for another format must not read it.
        req = req.header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        );
        req.send().await.unwrap();
        let span = t.server_span().await;
        assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID, "{name}");
        assert_eq!(span.parent_span_id.to_string(), SPAN_ID, "{name}");
        assert!(span.parent_span_is_remote, "{name}");
    }
}

/// `none` extracts nothing: every request starts its own trace.
#[tokio::test(flavor = "current_thread")]
async fn none_propagator_ignores_inbound_context() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config().propagator(Propagator::none())).await;
    client::http()
        .get(server.url("/users/1"))
        .header("traceparent", format!("00-{TRACE_ID}-{SPAN_ID}-01"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
}

/// Public-endpoint mode decided per request: only requests the predicate marks public start a
/// new linked root.
#[tokio::test(flavor = "current_thread")]
async fn public_endpoint_predicate() {
    let t = Telemetry::new();
    let config = t
        .config()
        .public_endpoint_fn(|parts| !parts.headers.contains_key("x-internal"));
    let server = AxumHarness::start(config).await;
    let tp = format!("00-{TRACE_ID}-{SPAN_ID}-01");
    for internal in [true, false] {
        let mut req = client::http()
            .get(server.url("/users/1"))
            .header("traceparent", &tp);
        if internal {
            req = req.header("x-internal", "1");
        }
        req.send().await.unwrap();
    }
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let continued: Vec<_> = spans
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == TRACE_ID)
        .collect();
    assert_eq!(
        continued.len(),
        1,
        "only the internal request continues the trace"
    );
    assert!(continued[0].links.links.is_empty());
    let public = spans
        .iter()
        .find(|s| s.span_context.trace_id().to_string() != TRACE_ID)
        .unwrap();
    assert_eq!(public.links.links.len(), 1);
}

/// A filtered-out request on a public endpoint does not continue the caller's trace either:
/// downstream calls made while handling it start from a new root.
#[tokio::test(flavor = "current_thread")]
async fn filtered_requests_on_public_endpoints_do_not_trust_the_caller() {
    let t = Telemetry::new();
    let config = t
        .config()
        .public_endpoint(true)
        .filter(|parts| parts.uri.path() != "/context");
    let server = AxumHarness::start(config).await;
    let body = client::http()
        .get(server.url("/context"))
        .header("traceparent", format!("00-{TRACE_ID}-{SPAN_ID}-01"))
        .header("baggage", "k=v")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains(TRACE_ID), "{body}");
    assert!(body.ends_with("baggage=k=v"), "baggage is kept: {body}");
}
