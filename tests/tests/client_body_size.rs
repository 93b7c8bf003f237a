//! `http.client.request.body.size` counts the bytes sent — without a `Content-Length` set by
//! hand — on the Tower/hyper layer, the reqwest middleware and awc; and the client's metrics
//! opt-in metrics carry `url.template` when the caller named one.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use tower::{Service, ServiceBuilder, ServiceExt};
use towerlight::{HttpClientLayer, UrlTemplate};
use towerlight_tests::actix_harness::{get_text, serve_awc_relay};
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::{Harness, HistPoint, Telemetry};

const BODY: &str = "twelve bytes";

/// The one client body-size point: its value and attributes.
async fn sent(t: &Telemetry) -> HistPoint {
    t.wait_spans(SpanKind::Client, 1).await;
    let points = t.metrics().histogram("http.client.request.body.size");
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].count, 1);
    points[0].clone()
}

#[tokio::test(flavor = "current_thread")]
async fn tower_client_counts_the_body_and_names_the_template() {
    let t = Telemetry::new();
    let server = AxumHarness::start(towerlight::Config::new().filter(|_| false)).await;
    let mut client = ServiceBuilder::new()
        .layer(HttpClientLayer::with_config(
            t.config().opt_in_metrics(true),
        ))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let mut req = http::Request::post(server.url("/echo"))
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap();
    req.extensions_mut().insert(UrlTemplate("/echo".into()));
    assert!(req.headers().get("content-length").is_none());
    let res = client.ready().await.unwrap().call(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let point = sent(&t).await;
    assert_eq!(point.sum, BODY.len() as f64);
    assert_eq!(point.attributes["url.template"], Value::from("/echo"));
    // On the duration `url.template` is opt-in in the conventions: not there by default.
    let duration = t.metrics().histogram("http.client.request.duration");
    assert!(!duration[0].attributes.contains_key("url.template"));
    let active = t.metrics().sum_i64("http.client.active_requests");
    assert_eq!(active[0].attributes["url.template"], Value::from("/echo"));
    assert_eq!(active[0].value, 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_middleware_counts_the_body() {
    let t = Telemetry::new();
    let server = AxumHarness::start(towerlight::Config::new().filter(|_| false)).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(towerlight_reqwest::OtelMiddleware::with_config(
            t.config().opt_in_metrics(true),
        ))
        .build();
    let res = client
        .post(server.url("/echo"))
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), BODY);
    let point = sent(&t).await;
    assert_eq!(point.sum, BODY.len() as f64);
    assert!(!point.attributes.contains_key("url.template"));
}

#[tokio::test(flavor = "current_thread")]
async fn awc_counts_the_body() {
    let t = Telemetry::new();
    let target = AxumHarness::start(towerlight::Config::new().filter(|_| false)).await;
    let url = target.url("/echo");
    let relay = serve_awc_relay(
        url,
        towerlight_actix::AwcTracing::with_config(t.config().opt_in_metrics(true)),
        Some(BODY),
        towerlight_actix::Otel::with_config(towerlight::Config::new().filter(|_| false)),
    );
    let body = get_text(&relay.url("/relay")).await;
    assert_eq!(body, BODY);
    let point = sent(&t).await;
    assert_eq!(point.sum, BODY.len() as f64);
}
