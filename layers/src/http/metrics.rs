//! The HTTP metric instruments, created once per layer.

use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
use opentelemetry_semantic_conventions::metric as semconv;

use crate::config::Config;

pub use crate::common::buckets::DURATION_BUCKETS;
pub(crate) use crate::common::buckets::OLD_DURATION_BUCKETS_MS;

/// Old (pre-1.20) server duration metric name, emitted under `http/dup`.
pub(crate) const OLD_HTTP_SERVER_DURATION: &str = "http.server.duration";

/// Body sizes: powers of four from 0 to 64 MiB.
const SIZE_BUCKETS: [f64; 14] = [
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];

#[derive(Debug, Clone)]
pub(crate) struct HttpMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) old_duration: Option<Histogram<f64>>,
    pub(crate) active: Option<UpDownCounter<i64>>,
    pub(crate) request_size: Option<Histogram<u64>>,
    pub(crate) response_size: Option<Histogram<u64>>,
}

/// Which side of the connection the metrics describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

impl HttpMetrics {
    /// Whether a body-size histogram is on.
    pub(crate) fn has_sizes(&self) -> bool {
        self.request_size.is_some() || self.response_size.is_some()
    }

    pub(crate) fn new(meter: &Meter, config: &Config, side: Side) -> HttpMetrics {
        let (duration, active, req, resp, old) = match side {
            Side::Server => (
                semconv::HTTP_SERVER_REQUEST_DURATION,
                semconv::HTTP_SERVER_ACTIVE_REQUESTS,
                semconv::HTTP_SERVER_REQUEST_BODY_SIZE,
                semconv::HTTP_SERVER_RESPONSE_BODY_SIZE,
                OLD_HTTP_SERVER_DURATION,
            ),
            Side::Client => (
                semconv::HTTP_CLIENT_REQUEST_DURATION,
                semconv::HTTP_CLIENT_ACTIVE_REQUESTS,
                semconv::HTTP_CLIENT_REQUEST_BODY_SIZE,
                semconv::HTTP_CLIENT_RESPONSE_BODY_SIZE,
                "http.client.duration",
            ),
        };
        let side_word = if side == Side::Server {
            "server"
        } else {
            "client"
        };
        HttpMetrics {
            duration: meter
                .f64_histogram(duration)
                .with_unit("s")
                .with_description(format!("Duration of HTTP {side_word} requests."))
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            old_duration: config.semconv.http_dup.then(|| {
                meter
                    .f64_histogram(old)
                    .with_unit("ms")
                    .with_description(format!(
                        "Duration of HTTP {side_word} requests (deprecated)."
                    ))
                    .with_boundaries(OLD_DURATION_BUCKETS_MS.to_vec())
                    .build()
            }),
            active: config.active_requests.then(|| {
                meter
                    .i64_up_down_counter(active)
                    .with_unit("{request}")
                    .with_description(format!("Number of active HTTP {side_word} requests."))
                    .build()
            }),
            request_size: config.body_size_metrics.then(|| {
                meter
                    .u64_histogram(req)
                    .with_unit("By")
                    .with_description("Size of HTTP request bodies.")
                    .with_boundaries(SIZE_BUCKETS.to_vec())
                    .build()
            }),
            response_size: config.body_size_metrics.then(|| {
                meter
                    .u64_histogram(resp)
                    .with_unit("By")
                    .with_description("Size of HTTP response bodies.")
                    .with_boundaries(SIZE_BUCKETS.to_vec())
                    .build()
            }),
        }
    }
}
