//! The HTTP server scenario table against Axum, plus Axum-specific wiring checks.

use std::time::Duration;

use futures_util::StreamExt;

use axum::Router;
use opentelemetry::trace::SpanKind;
use towerlight_tests::axum_harness::{routes, serve, AxumHarness};
use towerlight_tests::{client, Telemetry};

towerlight_tests::scenario_tests!(AxumHarness);

/// Wrapping the whole router from the outside, with `RecordRoute` inside: same route and name.
#[tokio::test(flavor = "current_thread")]
async fn outer_layer_with_record_route() {
    let t = Telemetry::new();
    let router = routes().route_layer(towerlight_axum::RecordRoute);
    let app = tower::ServiceBuilder::new()
        .layer(towerlight_axum::layer_with(t.config()))
        .service(router);
    let server = serve(Router::new().fallback_service(app)).await;
    client::http()
        .get(server.url("/api/v1/users/3"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /api/v1/users/{id}");
    let route = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "http.route");
    assert_eq!(route.unwrap().value.as_str(), "/api/v1/users/{id}");
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["http.route"].as_str(), "/api/v1/users/{id}");

    // Unmatched through the outer layer: still no route.
    client::http()
        .get(server.url("/missing"))
        .send()
        .await
        .unwrap();
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let missing = spans
        .iter()
        .find(|s| s.name == "GET")
        .expect("unmatched span");
    assert!(missing
        .attributes
        .iter()
        .all(|kv| kv.key.as_str() != "http.route"));
}

/// The same layer used both outside and via `Router::layer` instruments each request once.
#[tokio::test(flavor = "current_thread")]
async fn layer_inside_and_outside_instruments_once() {
    let t = Telemetry::new();
    let layer = towerlight_axum::layer_with(t.config());
    let router = routes().layer(layer.clone());
    let app = tower::ServiceBuilder::new().layer(layer).service(router);
    let server = serve(Router::new().fallback_service(app)).await;
    client::http()
        .get(server.url("/users/1"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /users/{id}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.spans().len(), 1);
    assert_eq!(
        t.metrics().histogram("http.server.request.duration")[0].count,
        1
    );
}

/// HTTP/2 (prior knowledge, h2c): `network.protocol.version` is `2` on the span and the metric.
#[tokio::test(flavor = "current_thread")]
async fn http2_requests_report_version_2() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let t = Telemetry::new();
    let server = serve(routes().layer(towerlight_axum::layer_with(t.config()))).await;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let res = client
        .request(
            http::Request::get(server.url("/users/2"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "user:2");
    let span = t.server_span().await;
    let version = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "network.protocol.version")
        .map(|kv| kv.value.as_str().into_owned());
    assert_eq!(version.as_deref(), Some("2"));
    // HTTP/2 carries the host in `:authority`, not a Host header.
    let host = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "server.address")
        .map(|kv| kv.value.as_str().into_owned());
    assert_eq!(host.as_deref(), Some("127.0.0.1"));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["network.protocol.version"].as_str(), "2");
}

/// A body with a `Content-Length` that never reports its own end: hyper stops after the declared
/// bytes and drops it; the call still ends as a success, when the last byte went out.
#[tokio::test(flavor = "current_thread")]
async fn declared_length_completes_the_body() {
    use axum::body::Body;
    use axum::response::Response;
    let t = Telemetry::new();
    let app = Router::new()
        .route(
            "/sized",
            axum::routing::get(|| async {
                let chunks = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
                    bytes::Bytes::from_static(b"abc"),
                )])
                .chain(futures_util::stream::pending());
                Response::builder()
                    .header("content-length", "3")
                    .body(Body::from_stream(chunks))
                    .unwrap()
            }),
        )
        .layer(towerlight_axum::layer_with(t.config().opt_in_metrics(true)));
    let server = serve(app).await;
    let body = client::http()
        .get(server.url("/sized"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "abc");
    let span = t.server_span().await;
    assert_eq!(span.status, opentelemetry::trace::Status::Unset);
    assert!(span
        .attributes
        .iter()
        .all(|kv| kv.key.as_str() != "error.type"));
    let m = t.metrics();
    assert_eq!(m.histogram("http.server.response.body.size")[0].sum, 3.0);
}

/// A server that terminates TLS itself tells the layer so: `url.scheme` is `https` on the span and
/// the metric, unless a proxy header says otherwise.
#[tokio::test(flavor = "current_thread")]
async fn secure_servers_report_https() {
    let t = Telemetry::new();
    let layer = towerlight_axum::layer_with(t.config()).secure(true);
    let server = serve(routes().layer(layer)).await;
    client::http()
        .get(server.url("/users/1"))
        .send()
        .await
        .unwrap();
    client::http()
        .get(server.url("/users/2"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let mut schemes: Vec<String> = spans
        .iter()
        .map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "url.scheme")
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap_or_default()
        })
        .collect();
    schemes.sort();
    assert_eq!(schemes, ["http", "https"]);
    let points = t.metrics().histogram("http.server.request.duration");
    assert_eq!(points.len(), 2, "one series per scheme");
}

/// Metrics only (a no-op tracer): no span, but the handler runs in the caller's context — the
/// extracted `traceparent` and baggage, or none — and every request is one duration point.
#[tokio::test(flavor = "current_thread")]
async fn metrics_only_runs_handlers_in_the_callers_context() {
    let t = Telemetry::new();
    let config = t
        .config()
        .tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
    let server = serve(routes().layer(towerlight_axum::layer_with(config))).await;
    let traced = client::get_text(
        &server.url("/context"),
        &[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("baggage", "tenant=acme"),
        ],
    )
    .await;
    assert_eq!(
        traced,
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 sampled=true flags=01 \
         out=01 baggage=tenant=acme"
    );
    let plain = client::get_text(&server.url("/context"), &[]).await;
    assert_eq!(
        plain,
        "trace=00000000000000000000000000000000 span=0000000000000000 sampled=false flags=00 \
         out= baggage="
    );
    assert!(t.spans().is_empty());
    let points = t.metrics().histogram("http.server.request.duration");
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].count, 2);
    assert_eq!(
        points[0].attributes["http.route"],
        opentelemetry::Value::from("/context")
    );
}
