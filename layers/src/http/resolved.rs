//! What every HTTP instrument (server or client) resolves from a [`Config`]: the propagator and
//! the header capture lists when its layer is built, the tracer and the metric instruments at its
//! first request (see [`Lazy`]).

use opentelemetry::metrics::Meter;
use opentelemetry_semantic_conventions::attribute as attr;

use super::metrics::{HttpMetrics, Side};
use crate::common::headers::HeaderCapture;
use crate::common::lazy::Lazy;
use crate::common::tracer::LayerTracer;
use crate::config::Config;
use crate::propagation::Propagator;

pub(crate) struct Resolved {
    pub(crate) config: Config,
    lazy: Lazy<HttpMetrics>,
    pub(crate) propagator: Propagator,
    pub(crate) request_headers: HeaderCapture,
    pub(crate) response_headers: HeaderCapture,
    /// Whether the configuration adds span attributes beyond the default set (captured headers,
    /// a response hook, the duplicated old names): decided once, sizes each span's attributes.
    pub(crate) adds_span_attributes: bool,
}

impl Resolved {
    pub(crate) fn new(config: &Config, side: Side) -> Resolved {
        let sensitive = |n: &http::HeaderName| config.is_sensitive_header(n);
        let build: fn(&Meter, &Config) -> HttpMetrics = match side {
            Side::Server => |meter, config| HttpMetrics::new(meter, config, Side::Server),
            Side::Client => |meter, config| HttpMetrics::new(meter, config, Side::Client),
        };
        let request_headers = HeaderCapture::new(
            attr::HTTP_REQUEST_HEADER,
            &config.request_headers,
            sensitive,
            config.max_value_length,
        );
        let response_headers = HeaderCapture::new(
            attr::HTTP_RESPONSE_HEADER,
            &config.response_headers,
            sensitive,
            config.max_value_length,
        );
        let adds_span_attributes = !request_headers.is_empty()
            || !response_headers.is_empty()
            || config.response_hook.is_some()
            || config.semconv.http_dup;
        Resolved {
            adds_span_attributes,
            lazy: Lazy::new(config, build),
            propagator: config.resolve_propagator(),
            request_headers,
            response_headers,
            config: config.clone(),
        }
    }

    /// The tracer, resolved at the first request.
    pub(crate) fn tracer(&self) -> &LayerTracer {
        self.lazy.tracer()
    }

    /// What the tracer's sampler is known to be, resolved with the tracer.
    pub(crate) fn sampler_hint(&self) -> crate::common::sampling::SamplerHint {
        self.lazy.sampler_hint()
    }

    /// The metric instruments, resolved at the first request.
    pub(crate) fn metrics(&self) -> &HttpMetrics {
        self.lazy.metrics()
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
