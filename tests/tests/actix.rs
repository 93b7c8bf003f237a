//! The HTTP server scenario table against Actix-web (the same table as Axum, unchanged).

use towerlight_tests::actix_harness::ActixHarness;

towerlight_tests::scenario_tests!(ActixHarness);

use actix_web::web;
use opentelemetry::trace::SpanKind;
use towerlight_tests::actix_harness::serve_actix;
use towerlight_tests::{client, describe_current_context, Telemetry};

/// `towerlight_actix::block` keeps the request's context inside the blocking closure.
#[tokio::test(flavor = "current_thread")]
async fn context_current_in_web_block() {
    let t = Telemetry::new();
    let server = serve_actix(
        |cfg: &mut web::ServiceConfig| {
            cfg.route(
                "/block",
                web::get().to(|| async {
                    towerlight_actix::block(describe_current_context)
                        .await
                        .unwrap_or_default()
                }),
            );
        },
        towerlight_actix::Otel::with_config(t.config()),
    );
    let body = client::http()
        .get(server.url("/block"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let span = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    assert_eq!(span.name, "GET /block");
    let expected = format!(
        "trace={} span={}",
        span.span_context.trace_id(),
        span.span_context.span_id()
    );
    assert!(body.starts_with(&expected), "{body} vs {expected}");
}

/// Serves `GET /users/{id}` behind the middleware with `config`, sends `/users/7` and
/// `/nowhere` (no route), and waits for their spans (if the tracer records).
async fn users_and_a_miss(t: &Telemetry, config: towerlight::Config, spans: usize) {
    let server = serve_actix(
        |cfg: &mut web::ServiceConfig| {
            cfg.route("/users/{id}", web::get().to(|| async { "user" }));
        },
        towerlight_actix::Otel::with_config(config),
    );
    assert_eq!(client::get_text(&server.url("/users/7"), &[]).await, "user");
    client::get_text(&server.url("/nowhere"), &[]).await;
    t.wait_spans(SpanKind::Server, spans).await;
}

/// The duration points' `http.route`s (none for the miss), in status-code order.
fn routes_by_status(t: &Telemetry) -> Vec<(i64, Option<String>)> {
    let mut points: Vec<(i64, Option<String>)> = t
        .metrics()
        .histogram("http.server.request.duration")
        .iter()
        .map(|p| {
            let status = match &p.attributes["http.response.status_code"] {
                opentelemetry::Value::I64(code) => *code,
                other => panic!("status {other:?}"),
            };
            (
                status,
                p.attributes.get("http.route").map(|r| r.to_string()),
            )
        })
        .collect();
    points.sort();
    points
}

/// When nothing reads the route at the span's start (a sampler that reads no attributes, the
/// default name), it is read after the app answered — from the route Actix's router recorded,
/// not by routing the request a second time — and the span and metrics end exactly as with it
/// known at start: named after the route, `http.route` once.
#[tokio::test(flavor = "current_thread")]
async fn a_route_read_after_routing_names_the_span_and_the_metrics() {
    let t = Telemetry::new();
    users_and_a_miss(&t, t.config().sampler_reads_attributes(false), 2).await;
    let mut spans = t.spans();
    spans.sort_by_key(|s| s.name.clone());
    let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["GET", "GET /users/{id}"]);
    for span in &spans {
        towerlight_tests::telemetry::assert_no_duplicate_keys(span);
    }
    let route = towerlight_tests::telemetry::attr_map(&spans[1].attributes);
    assert_eq!(
        route["http.route"],
        opentelemetry::Value::from("/users/{id}")
    );
    assert!(!towerlight_tests::telemetry::attr_map(&spans[0].attributes).contains_key("http.route"));
    assert_eq!(
        routes_by_status(&t),
        [(200, Some("/users/{id}".into())), (404, None)]
    );
}

/// Metrics only: no span, and the route (read after routing) still on the duration points.
#[tokio::test(flavor = "current_thread")]
async fn metrics_only_reads_the_route_after_routing() {
    let t = Telemetry::new();
    let config = t
        .config()
        .tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
    users_and_a_miss(&t, config, 0).await;
    assert!(t.spans().is_empty());
    assert_eq!(
        routes_by_status(&t),
        [(200, Some("/users/{id}".into())), (404, None)]
    );
}
