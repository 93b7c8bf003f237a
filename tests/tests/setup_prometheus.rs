//! `OTEL_METRICS_EXPORTER=prometheus`: a real Axum server with the towerlight layer and
//! `towerlight_axum::metrics_route`, scraped over loopback.

use axum::Router;
use towerlight::setup::{Exporter, Setup};
use towerlight_tests::axum_harness::{routes, serve};
use towerlight_tests::{client, vars};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_the_request_histogram() {
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
        ]))
        .build()
        .unwrap();
    assert!(guard.prometheus_registry().is_some());
    let config = guard
        .config()
        .filter(|parts| parts.uri.path() != "/metrics");
    let app: Router = routes()
        .merge(towerlight_axum::metrics_route(&guard))
        .layer(towerlight_axum::layer_with(config));
    let server = serve(app).await;
    let http = client::http();
    let response = http.get(server.url("/users/7")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let scrape = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert_eq!(
        scrape.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let body = scrape.text().await.unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let schema = towerlight::otel::semconv::SCHEMA_URL;
    // OTel → Prometheus naming: dots become underscores, the unit `s` becomes `_seconds`; the
    // point's attributes come first, then the scope as otel_scope_* labels.
    let labels = format!(
        "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/{{id}}\",\
         network_protocol_version=\"1.1\",url_scheme=\"http\",otel_scope_name=\"towerlight\",\
         otel_scope_version=\"{version}\",otel_scope_schema_url=\"{schema}\""
    );
    for line in [
        "# TYPE http_server_request_duration_seconds histogram".to_owned(),
        format!("http_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 1"),
        format!("http_server_request_duration_seconds_count{{{labels}}} 1"),
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing line {line:?} in:\n{body}"
        );
    }
    // The first bucket bound is 5 ms.
    assert!(
        body.lines().any(|l| l.starts_with(&format!(
            "http_server_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} "
        ))),
        "{body}"
    );
    // The resource is the target_info metric.
    let target_info = body
        .lines()
        .find(|l| l.starts_with("target_info{"))
        .unwrap_or_else(|| panic!("no target_info in:\n{body}"));
    assert!(
        target_info.contains("service_name=\"shop\""),
        "{target_info}"
    );
    // The scrape itself was not instrumented: filtered out.
    assert!(!body.contains("http_route=\"/metrics\""), "{body}");
}

#[tokio::test(flavor = "current_thread")]
async fn metrics_route_without_prometheus_says_how_to_enable_it() {
    let guard = Setup::new()
        .env_lookup(vars(&[]))
        .traces_exporters([])
        .metrics_exporters([Exporter::Console])
        .console_output(std::io::sink())
        .build()
        .unwrap();
    assert!(guard.prometheus_registry().is_none());
    let server = serve(towerlight_axum::metrics_route(&guard)).await;
    let response = client::http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.text().await.unwrap(),
        "the Prometheus metrics exporter is not enabled (set OTEL_METRICS_EXPORTER=prometheus)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_metrics_resource_serves_the_request_histogram() {
    use actix_web::web;
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
        ]))
        .build()
        .unwrap();
    let registry = guard.prometheus_registry().cloned();
    assert!(registry.is_some());
    let server = towerlight_tests::actix_harness::serve_actix(
        move |cfg: &mut web::ServiceConfig| {
            towerlight_tests::actix_harness::routes(cfg);
            cfg.service(towerlight_actix::metrics_resource(registry.clone()));
        },
        towerlight_actix::Otel::with_config(
            guard
                .config()
                .filter(|parts| parts.uri.path() != "/metrics"),
        ),
    );
    let http = client::http();
    assert_eq!(
        http.get(server.url("/users/7"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let scrape = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    let body = scrape.text().await.unwrap();
    assert!(
        body.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains("http_route=\"/users/{id}\"")
                && l.ends_with(" 1")
        ),
        "{body}"
    );
    assert!(
        !body.contains("http_route=\"/metrics\""),
        "filtered out: {body}"
    );

    // Without the exporter: a 404 that says what to do.
    let server = towerlight_tests::actix_harness::serve_actix(
        |cfg: &mut web::ServiceConfig| {
            cfg.service(towerlight_actix::metrics_resource(None));
        },
        towerlight_actix::Otel::with_config(towerlight::Config::new()),
    );
    let response = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("OTEL_METRICS_EXPORTER=prometheus"));
}
