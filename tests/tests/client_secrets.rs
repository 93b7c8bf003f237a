//! No secret leaves a client span: `url.full` from the Tower/hyper layer, the reqwest
//! middleware and awc carries `REDACTED:REDACTED@` for URL credentials and `REDACTED` for the
//! values of sensitive query keys (any case, percent-encoded or not).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use tower::{Service, ServiceBuilder, ServiceExt};
use towerlight::HttpClientLayer;
use towerlight_tests::actix_harness::{get_text, serve_awc_relay};
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::{attr_map, Harness, Telemetry};

const SECRETS: &str = "access_token=a&Password=b&%73ig=c&client_secret=d&page=2";
const REDACTED: &str = "access_token=REDACTED&Password=REDACTED&%73ig=REDACTED\
                        &client_secret=REDACTED&page=2";

fn url_full(t: &Telemetry) -> Value {
    let spans = t.spans();
    let span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a client span");
    attr_map(&span.attributes)["url.full"].clone()
}

#[tokio::test(flavor = "current_thread")]
async fn tower_client_redacts_credentials_and_query_secrets() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let mut client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(t.config()))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let port = server.addr.port();
    let req = http::Request::get(format!(
        "http://admin:hunter2@127.0.0.1:{port}/users/1?{SECRETS}"
    ))
    .body(Full::new(Bytes::new()))
    .unwrap();
    let res = client.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(res.status(), 200);
    res.into_body().collect().await.unwrap();
    t.wait_spans(SpanKind::Client, 1).await;
    assert_eq!(
        url_full(&t),
        Value::from(format!(
            "http://REDACTED:REDACTED@127.0.0.1:{port}/users/1?{REDACTED}"
        ))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_middleware_redacts_query_secrets() {
    let t = Telemetry::new();
    let server = AxumHarness::start(t.config()).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(towerlight_reqwest::OtelMiddleware::with_config(t.config()))
        .build();
    let res = client
        .get(server.url(&format!("/users/1?{SECRETS}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "user:1");
    t.wait_spans(SpanKind::Client, 1).await;
    assert_eq!(
        url_full(&t),
        Value::from(server.url(&format!("/users/1?{REDACTED}")))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn awc_redacts_query_secrets() {
    let t = Telemetry::new();
    let target = AxumHarness::start(t.config()).await;
    let target_url = target.url(&format!("/users/1?{SECRETS}"));
    let relay = serve_awc_relay(
        target_url,
        towerlight_actix::AwcTracing::with_config(t.config()),
        None,
        towerlight_actix::Otel::with_config(towerlight::Config::new().filter(|_| false)),
    );
    let body = get_text(&relay.url("/relay")).await;
    assert_eq!(body, "user:1");
    t.wait_spans(SpanKind::Client, 1).await;
    assert_eq!(
        url_full(&t),
        Value::from(target.url(&format!("/users/1?{REDACTED}")))
    );
}
