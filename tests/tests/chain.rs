//! One trace across three frameworks and two clients: a request enters an Axum service, which
//! calls an Actix service through the instrumented reqwest client, which calls a third service
//! through awc. Baggage travels end to end.

use axum::routing::get;
use axum::Router;
use opentelemetry::trace::SpanKind;
use towerlight_tests::actix_harness::serve_awc_relay;
use towerlight_tests::axum_harness::{serve, AxumHarness};
use towerlight_tests::{client, Harness, Telemetry};

#[tokio::test(flavor = "current_thread")]
async fn axum_to_actix_to_third_service_is_one_trace() {
    let t = Telemetry::new();

    // Third: the standard Axum routes; `/context` answers the baggage it received.
    let third = AxumHarness::start(t.config()).await;
    let third_url = third.url("/context");

    // Middle: Actix, calling the third service with awc.
    let middle = serve_awc_relay(
        third_url,
        towerlight_actix::AwcTracing::with_config(t.config()),
        None,
        towerlight_actix::Otel::with_config(t.config()),
    );
    let middle_url = middle.url("/relay");

    // Front: Axum, calling the middle service with reqwest + towerlight middleware.
    let reqwest_client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(towerlight_reqwest::OtelMiddleware::with_config(t.config()))
        .build();
    let front_app = Router::new()
        .route(
            "/front",
            get(move || {
                let client = reqwest_client.clone();
                let url = middle_url.clone();
                async move {
                    client
                        .get(url)
                        .send()
                        .await
                        .expect("reqwest call")
                        .text()
                        .await
                        .expect("reqwest body")
                }
            }),
        )
        .layer(towerlight_axum::layer_with(t.config()));
    let front = serve(front_app).await;

    let body = client::http()
        .get(front.url("/front"))
        .header("baggage", "user=alice,tenant=acme")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.ends_with("baggage=tenant=acme,user=alice"), "{body}");

    let servers = t.wait_spans(SpanKind::Server, 3).await;
    let clients = t.wait_spans(SpanKind::Client, 2).await;
    let by_name = |spans: &[opentelemetry_sdk::trace::SpanData], name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let front_span = by_name(&servers, "GET /front");
    let middle_span = by_name(&servers, "GET /relay");
    let third_span = by_name(&servers, "GET /context");
    let to_middle = clients
        .iter()
        .find(|s| s.parent_span_id == front_span.span_context.span_id())
        .expect("reqwest client span under the front span");
    let to_third = clients
        .iter()
        .find(|s| s.parent_span_id == middle_span.span_context.span_id())
        .expect("awc client span under the middle span");
    let trace = front_span.span_context.trace_id();
    for span in [&middle_span, &third_span, to_middle, to_third] {
        assert_eq!(span.span_context.trace_id(), trace, "{}", span.name);
    }
    assert_eq!(middle_span.parent_span_id, to_middle.span_context.span_id());
    assert_eq!(third_span.parent_span_id, to_third.span_context.span_id());
    // The third service's handler saw the same trace.
    assert!(body.starts_with(&format!("trace={trace}")), "{body}");
}
