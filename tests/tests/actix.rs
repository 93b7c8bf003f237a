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
