//! The Prometheus pull exporter (feature `prometheus`).

use opentelemetry_prometheus::PrometheusExporter;
use prometheus::{Encoder, Registry, TextEncoder};

use super::error::SetupError;

/// A metric reader that answers Prometheus scrapes from `registry`.
pub(crate) fn reader(registry: &Registry) -> Result<PrometheusExporter, SetupError> {
    opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .map_err(|e| SetupError::exporter("prometheus", e))
}

/// Encodes everything in `registry` in the Prometheus text format, returning the `Content-Type`
/// to answer with and the body: the framework-neutral core of a `/metrics` endpoint.
///
/// ```
/// let registry = towerlight::otel::prometheus::Registry::new();
/// let (content_type, body) = towerlight::setup::encode_metrics(&registry);
/// assert_eq!(content_type, "text/plain; version=0.0.4");
/// assert_eq!(body, "");
/// ```
pub fn encode_metrics(registry: &Registry) -> (&'static str, String) {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(e) = encoder.encode(&registry.gather(), &mut body) {
        // Never fail a scrape outright: serve what was encoded and say why the rest is missing.
        tracing::warn!(target: "towerlight::setup", error = %e, "encoding Prometheus metrics failed");
    }
    (
        prometheus::TEXT_FORMAT,
        String::from_utf8_lossy(&body).into_owned(),
    )
}
