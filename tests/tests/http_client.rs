//! The HTTP client instrument through its integrations: the Tower layer around hyper-util's
//! client and the reqwest middleware, against a real (instrumented) Axum server.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use tower::{Service, ServiceBuilder, ServiceExt};
use towerlight::{HttpClientLayer, UrlTemplate};
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::{attr_map, Harness, Telemetry};

fn s(v: &str) -> Value {
    Value::from(v.to_owned())
}

fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    attr_map(&span.attributes)
}

fn map(entries: &[(&str, Value)]) -> BTreeMap<String, Value> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

type HyperClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(url: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn tower_layer_span_metric_and_propagation() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let mut client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(t.config()))
        .service(hyper_client());
    let mut req = get(&server.url("/users/7?sig=secret&x=1"));
    req.extensions_mut()
        .insert(UrlTemplate("/users/{id}".into()));
    let res = client.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "user:7");

    let cli = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    let srv = t.server_span().await;
    let port = i64::from(server.addr.port());
    assert_eq!(cli.name, "GET /users/{id}");
    assert_eq!(cli.status, Status::Unset);
    assert_eq!(
        attrs(&cli),
        map(&[
            ("http.request.method", s("GET")),
            ("server.address", s("127.0.0.1")),
            ("server.port", Value::I64(port)),
            (
                "url.full",
                s(&format!("http://127.0.0.1:{port}/users/7?sig=REDACTED&x=1"))
            ),
            ("url.template", s("/users/{id}")),
            ("http.response.status_code", Value::I64(200)),
            ("network.protocol.version", s("1.1")),
        ])
    );
    // Injected into the request: the server continues the client's trace.
    assert_eq!(srv.span_context.trace_id(), cli.span_context.trace_id());
    assert_eq!(srv.parent_span_id, cli.span_context.span_id());

    let m = t.metrics();
    assert_eq!(m.unit("http.client.request.duration"), "s");
    let p = m.histogram("http.client.request.duration");
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].attributes,
        map(&[
            ("http.request.method", s("GET")),
            ("server.address", s("127.0.0.1")),
            ("server.port", Value::I64(port)),
            ("url.scheme", s("http")),
            ("http.response.status_code", Value::I64(200)),
            ("network.protocol.version", s("1.1")),
        ])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn client_errors_4xx_5xx_and_transport() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(t.config()))
        .service(hyper_client());
    for code in ["404", "503"] {
        let res = client
            .clone()
            .oneshot(get(&server.url(&format!("/status/{code}"))))
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    // A closed port: a transport error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    let err = client.clone().oneshot(get(&closed_url)).await;
    assert!(err.is_err());

    let spans = t.wait_spans(SpanKind::Client, 3).await;
    for code in ["404", "503"] {
        let span = spans
            .iter()
            .find(|s| {
                attrs(s).get("http.response.status_code")
                    == Some(&Value::I64(code.parse().unwrap()))
            })
            .unwrap();
        assert_eq!(
            span.status,
            Status::error(""),
            "{code}: 4xx and 5xx are client errors"
        );
        assert_eq!(attrs(span)["error.type"], s(code));
    }
    let failed = spans
        .iter()
        .find(|s| !attrs(s).contains_key("http.response.status_code"))
        .unwrap();
    assert_eq!(failed.status, Status::error(""));
    assert_eq!(
        attrs(failed)["error.type"],
        s("hyper_util::client::legacy::client::Error")
    );
    let points = t.metrics().histogram("http.client.request.duration");
    assert_eq!(points.len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn span_ends_with_the_response_body_and_opt_in_metrics() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(
            t.config().opt_in_metrics(true),
        ))
        .service(hyper_client());
    let res = client
        .clone()
        .oneshot(get(&server.url("/stream")))
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "abc");
    let req = http::Request::post(server.url("/echo"))
        .header("content-length", "11")
        .body(Full::new(Bytes::from_static(b"hello world")))
        .unwrap();
    let res = client.clone().oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();

    let spans = t.wait_spans(SpanKind::Client, 2).await;
    let stream = spans
        .iter()
        .find(|s| attrs(s)["url.full"].as_str().ends_with("/stream"))
        .unwrap();
    let lasted = stream.end_time.duration_since(stream.start_time).unwrap();
    assert!(lasted >= Duration::from_millis(190), "{lasted:?}");

    let m = t.metrics();
    let active = m.sum_i64("http.client.active_requests");
    assert!(!active.is_empty());
    assert!(active.iter().all(|p| p.value == 0.0));
    assert_eq!(active[0].attributes["server.address"], s("127.0.0.1"));
    let sent = m.histogram("http.client.request.body.size");
    let post = sent
        .iter()
        .find(|p| p.attributes["http.request.method"] == s("POST"))
        .unwrap();
    assert_eq!(post.sum, 11.0);
    let received = m.histogram("http.client.response.body.size");
    let echo = received
        .iter()
        .find(|p| p.attributes["http.request.method"] == s("POST"))
        .unwrap();
    assert_eq!(echo.sum, 11.0);
    let streamed = received
        .iter()
        .find(|p| p.attributes["http.request.method"] == s("GET"))
        .unwrap();
    assert_eq!(streamed.sum, 3.0);
}

/// Retries once on 503 (what reqwest-retry does), to check `http.request.resend_count`.
struct RetryOnce;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOnce {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let retry = req.try_clone();
        let first = next.clone().run(req, extensions).await?;
        match (first.status().as_u16(), retry) {
            (503, Some(again)) => next.run(again, extensions).await,
            _ => Ok(first),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_middleware_spans_credentials_and_resends() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryOnce)
        .with(towerlight_reqwest::OtelMiddleware::with_config(t.config()))
        .build();
    let url = format!(
        "http://user:hunter2@127.0.0.1:{}/users/3?X-Amz-Signature=s",
        server.addr.port()
    );
    let res = client.get(&url).send().await.unwrap();
    // The middleware hands back the response unchanged, final URL included.
    assert_eq!(res.url().path(), "/users/3");
    assert_eq!(res.url().port(), Some(server.addr.port()));
    assert_eq!(res.text().await.unwrap(), "user:3");
    let cli = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    let a = attrs(&cli);
    assert_eq!(cli.name, "GET");
    assert_eq!(
        a["url.full"],
        s(&format!(
            "http://127.0.0.1:{}/users/3?X-Amz-Signature=REDACTED",
            server.addr.port()
        ))
    );
    assert!(!a.contains_key("http.request.resend_count"));
    let srv = t.server_span().await;
    assert_eq!(srv.parent_span_id, cli.span_context.span_id());

    // A retried request: the second attempt says it is a resend.
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryOnce)
        .with(towerlight_reqwest::OtelMiddleware::with_config(t.config()))
        .build();
    let res = client.get(server.url("/status/503")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    // The span lasts until the body is read (or dropped).
    res.text().await.unwrap();
    // A HEAD response has no body: its span ends with the head, before anything is read.
    let head = client.head(server.url("/any")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let spans_now = t.wait_spans(SpanKind::Client, 3).await;
    assert!(spans_now.iter().any(|s| s.name == "HEAD"));
    drop(head);
    let spans = t.wait_spans(SpanKind::Client, 2).await;
    let counts: Vec<Option<Value>> = spans
        .iter()
        .filter(|s| s.name == "GET")
        .map(|s| attrs(s).get("http.request.resend_count").cloned())
        .collect();
    assert_eq!(counts, vec![None, Some(Value::I64(1))]);
}

/// A request that carries only a path (the origin is added further down): the target comes from
/// its Host header, never from forwarding headers copied from an inbound request.
#[tokio::test(flavor = "current_thread")]
async fn path_only_requests_take_the_target_from_host() {
    let t = Telemetry::new();
    let answer = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(t.config()))
        .service(answer);
    let req = http::Request::get("/items/1")
        .header("host", "inventory.internal:8080")
        .header("x-forwarded-host", "attacker.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let cli = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    let a = attrs(&cli);
    assert_eq!(a["server.address"], s("inventory.internal"));
    assert_eq!(a["server.port"], Value::I64(8080));
    assert_eq!(a["url.full"], s("/items/1"));
}
