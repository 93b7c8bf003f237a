//! A Prometheus `/metrics` endpoint for the registry of `towerlight::setup` (feature
//! `prometheus`).

use actix_web::{web, HttpResponse, Resource};
use towerlight::otel::prometheus::Registry;

/// `GET /metrics` from a Prometheus registry, mounted in one line:
/// `App::new().service(towerlight_actix::metrics_resource(registry.clone()))`, with the registry
/// from `TelemetryGuard::prometheus_registry()`. With `None` (the Prometheus exporter is off) it
/// answers `404` saying how to turn it on, rather than failing at start-up.
///
/// Actix middleware wraps the whole app,
/// so scrapes are traced like any request; filter them out with `Config::filter` if you prefer.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = towerlight::setup::Setup::new()
///     .metrics_exporters([towerlight::setup::Exporter::Prometheus])
///     .install()?;
/// let registry = telemetry.prometheus_registry().cloned();
/// HttpServer::new(move || {
///     App::new().service(towerlight_actix::metrics_resource(registry.clone()))
/// })
/// .bind(("127.0.0.1", 9464))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
pub fn metrics_resource(registry: Option<Registry>) -> Resource {
    web::resource("/metrics").route(web::get().to(move || {
        let registry = registry.clone();
        async move {
            match registry {
                Some(registry) => {
                    let (content_type, body) = towerlight::setup::encode_metrics(&registry);
                    HttpResponse::Ok().content_type(content_type).body(body)
                }
                None => HttpResponse::NotFound().body(
                    "the Prometheus metrics exporter is not enabled \
                     (set OTEL_METRICS_EXPORTER=prometheus)\n",
                ),
            }
        }
    }))
}
