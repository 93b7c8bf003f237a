//! One Axum router serving tonic services and plain HTTP routes under a single towerlight
//! layer, and a trace that crosses HTTP → gRPC.

use axum::routing::get;
use axum::Router;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use towerlight_tests::axum_harness::serve;
use towerlight_tests::grpc_harness::{client, echo, serve_grpc, EchoService, SERVICE};
use towerlight_tests::proto::echo_server::EchoServer;
use towerlight_tests::{attr_map, client as http_client, Telemetry};

#[tokio::test(flavor = "current_thread")]
async fn one_layer_for_grpc_and_http() {
    let t = Telemetry::new();
    let app = tonic::service::Routes::new(EchoServer::new(EchoService))
        .into_axum_router()
        .route("/health", get(|| async { "ok" }))
        .layer(towerlight_axum::layer_with(t.config()));
    let server = serve(app).await;

    // A plain tonic client, so only the router's layer produces spans.
    let mut grpc = towerlight_tests::proto::echo_client::EchoClient::new(
        towerlight_tests::grpc_harness::channel(server.addr).await,
    );
    grpc.unary(echo("hi", 0, 0, "")).await.unwrap();
    let res = http_client::http()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "ok");

    let spans = t.wait_spans(SpanKind::Server, 2).await;
    assert_eq!(
        spans.len(),
        2,
        "one span per request, no double instrumentation"
    );
    let rpc = spans
        .iter()
        .find(|s| s.name == format!("{SERVICE}/Unary"))
        .unwrap();
    let a = attr_map(&rpc.attributes);
    assert_eq!(a["rpc.system.name"], Value::from("grpc"));
    assert_eq!(a["rpc.response.status_code"], Value::from("OK"));
    assert!(a.contains_key("network.peer.address"));
    assert!(!a.contains_key("http.request.method"));
    let http = spans.iter().find(|s| s.name == "GET /health").unwrap();
    let a = attr_map(&http.attributes);
    assert_eq!(a["http.route"], Value::from("/health"));
    assert!(!a.contains_key("rpc.method"));

    let m = t.metrics();
    let rpc_points = m.histogram("rpc.server.call.duration");
    assert_eq!(rpc_points.len(), 1);
    assert_eq!(rpc_points[0].count, 1);
    let http_points = m.histogram("http.server.request.duration");
    assert_eq!(http_points.len(), 1);
    assert_eq!(
        http_points[0].attributes["http.route"],
        Value::from("/health")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn http_handler_calling_grpc_is_one_trace() {
    let t = Telemetry::new();
    let grpc_server = serve_grpc(t.config()).await;
    let grpc_addr = grpc_server.addr;
    let client_config = t.config();
    let app = Router::new()
        .route(
            "/call",
            get(move || {
                let config = client_config.clone();
                async move {
                    let mut c = client(grpc_addr, config).await;
                    c.unary(echo("via http", 0, 0, ""))
                        .await
                        .map(|r| r.into_inner().message)
                        .unwrap_or_else(|e| e.to_string())
                }
            }),
        )
        .layer(towerlight_axum::layer_with(t.config()));
    let http_server = serve(app).await;
    let body = http_client::http()
        .get(http_server.url("/call"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "via http");

    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let clients = t.wait_spans(SpanKind::Client, 1).await;
    let http = servers.iter().find(|s| s.name == "GET /call").unwrap();
    let rpc_server = servers.iter().find(|s| s.name.ends_with("/Unary")).unwrap();
    let rpc_client = &clients[0];
    let trace = http.span_context.trace_id();
    assert_eq!(rpc_client.span_context.trace_id(), trace);
    assert_eq!(rpc_server.span_context.trace_id(), trace);
    assert_eq!(rpc_client.parent_span_id, http.span_context.span_id());
    assert_eq!(rpc_server.parent_span_id, rpc_client.span_context.span_id());
    // The HTTP span covers the whole downstream call.
    assert!(http.start_time <= rpc_client.start_time && rpc_client.end_time <= http.end_time);
}

/// A plain HTTP request that claims to be gRPC is measured as a gRPC call, but its path never
/// becomes an `rpc.method` value: no handler proved it is a gRPC method.
#[tokio::test(flavor = "current_thread")]
async fn fake_grpc_content_type_cannot_add_method_names() {
    let t = Telemetry::new();
    let app = tonic::service::Routes::new(EchoServer::new(EchoService))
        .into_axum_router()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(towerlight_axum::layer_with(t.config()));
    let server = serve(app).await;
    for id in 0..3 {
        http_client::http()
            .post(server.url(&format!("/users/{id}")))
            .header("content-type", "application/grpc")
            .send()
            .await
            .unwrap();
    }
    let spans = t.wait_spans(SpanKind::Server, 3).await;
    for span in &spans {
        assert_eq!(span.name, "grpc");
        assert_eq!(
            attr_map(&span.attributes)["rpc.method"],
            Value::from("_OTHER")
        );
    }
    let points = t.metrics().histogram("rpc.server.call.duration");
    assert_eq!(points.len(), 1, "one series, whatever the path");
    assert_eq!(points[0].count, 3);
}
