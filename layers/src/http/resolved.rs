//! What every HTTP instrument (server or client) resolves from a [`Config`] when its layer is
//! built: the tracer, the propagator, the metric instruments and the header capture lists.

use opentelemetry::global::BoxedTracer;
use opentelemetry_semantic_conventions::attribute as attr;

use super::headers::HeaderCapture;
use super::metrics::{HttpMetrics, Side};
use crate::config::Config;
use crate::propagation::Propagator;

pub(crate) struct Resolved {
    pub(crate) config: Config,
    pub(crate) tracer: BoxedTracer,
    pub(crate) propagator: Propagator,
    pub(crate) metrics: HttpMetrics,
    pub(crate) request_headers: HeaderCapture,
    pub(crate) response_headers: HeaderCapture,
}

impl Resolved {
    pub(crate) fn new(config: &Config, side: Side) -> Resolved {
        let meter = config.build_meter();
        let sensitive = |n: &http::HeaderName| config.is_sensitive_header(n);
        Resolved {
            tracer: config.build_tracer(),
            propagator: config.resolve_propagator(),
            metrics: HttpMetrics::new(&meter, config, side),
            request_headers: HeaderCapture::new(
                attr::HTTP_REQUEST_HEADER,
                &config.request_headers,
                sensitive,
                config.max_value_length,
            ),
            response_headers: HeaderCapture::new(
                attr::HTTP_RESPONSE_HEADER,
                &config.response_headers,
                sensitive,
                config.max_value_length,
            ),
            config: config.clone(),
        }
    }

    /// Whether the response headers matter (captured or seen by a hook).
    pub(crate) fn needs_response_headers(&self) -> bool {
        !self.response_headers.is_empty() || self.config.response_hook.is_some()
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
