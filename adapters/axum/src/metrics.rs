//! A Prometheus `/metrics` endpoint for the registry of `towerlight::setup` (feature
//! `prometheus`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use towerlight::otel::prometheus::Registry;
use towerlight::setup::TelemetryGuard;

/// A router serving `GET /metrics` from the guard's Prometheus registry: merge it into your app.
///
/// Merge it *before* `.layer(towerlight_axum::layer())`, and leave scrapes out with
/// [`Config::filter`](towerlight::Config::filter) if they should not be traced and counted.
/// (Merging a router *after* `Router::layer` also swaps in an uninstrumented 404 fallback, so
/// unmatched requests would go unseen.) When the guard has no Prometheus exporter
/// (`OTEL_METRICS_EXPORTER` does not list `prometheus`), the route answers `404` with a message
/// saying so, rather than failing at start-up.
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// # fn main() -> Result<(), towerlight::setup::SetupError> {
/// let telemetry = towerlight::setup::Setup::new()
///     .metrics_exporters([towerlight::setup::Exporter::Prometheus])
///     .install()?;
/// let config = telemetry.config().filter(|parts| parts.uri.path() != "/metrics");
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .merge(towerlight_axum::metrics_route(&telemetry))
///     .layer(towerlight_axum::layer_with(config));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn metrics_route<S>(guard: &TelemetryGuard) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let handler = match guard.prometheus_registry() {
        Some(registry) => prometheus_handler(registry.clone()),
        None => get(|| async {
            (
                StatusCode::NOT_FOUND,
                "the Prometheus metrics exporter is not enabled \
                 (set OTEL_METRICS_EXPORTER=prometheus)\n",
            )
        }),
    };
    Router::new().route("/metrics", handler)
}

/// A `GET` handler answering Prometheus scrapes from `registry`, for a route of your choice:
/// `.route("/internal/metrics", towerlight_axum::prometheus_handler(registry))`.
pub fn prometheus_handler<S>(registry: Registry) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(move || {
        let registry = registry.clone();
        async move { scrape(&registry) }
    })
}

fn scrape(registry: &Registry) -> Response {
    let (content_type, body) = towerlight::setup::encode_metrics(registry);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
