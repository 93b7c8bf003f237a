//! The HTTP metric instruments, created once per layer.

use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter, Histogram, Meter, UpDownCounter};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::metric as semconv;

use crate::common::bind::SeriesCache;
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

#[derive(Debug)]
pub(crate) struct HttpMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) old_duration: Option<Histogram<f64>>,
    pub(crate) active: Option<UpDownCounter<i64>>,
    pub(crate) request_size: Option<Histogram<u64>>,
    pub(crate) response_size: Option<Histogram<u64>>,
    /// The duration and body-size series, bound per attribute set.
    series: SeriesCache<BoundSeries>,
    /// The active-requests series, bound per attribute set.
    active_series: SeriesCache<BoundUpDownCounter<i64>>,
}

/// The per-request histograms of one attribute set, bound.
struct BoundSeries {
    duration: BoundHistogram<f64>,
    request_size: Option<BoundHistogram<u64>>,
    response_size: Option<BoundHistogram<u64>>,
}

/// What one finished request records on the histograms that share its attribute set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Seconds.
    pub(crate) duration: f64,
    /// Request body bytes, when known.
    pub(crate) request_size: Option<u64>,
    /// Response body bytes.
    pub(crate) response_size: u64,
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

    /// Records a finished request's duration (and body sizes when on) with `attrs`: through the
    /// bound series of that set when the provider binds, else through the attribute slice.
    /// Only a `bindable` set (bounded by construction) is bound.
    pub(crate) fn record(&self, attrs: &[KeyValue], m: Measured, bindable: bool) {
        let bound = bindable.then(|| {
            self.series.with(
                attrs,
                |a| BoundSeries {
                    duration: self.duration.bind(a),
                    request_size: self.request_size.as_ref().map(|h| h.bind(a)),
                    response_size: self.response_size.as_ref().map(|h| h.bind(a)),
                },
                |s| {
                    s.duration.record(m.duration);
                    if let (Some(h), Some(n)) = (&s.request_size, m.request_size) {
                        h.record(n);
                    }
                    if let Some(h) = &s.response_size {
                        h.record(m.response_size);
                    }
                },
            )
        });
        if bound.flatten().is_some() {
            return;
        }
        self.duration.record(m.duration, attrs);
        if let (Some(h), Some(n)) = (&self.request_size, m.request_size) {
            h.record(n, attrs);
        }
        if let Some(h) = &self.response_size {
            h.record(m.response_size, attrs);
        }
    }

    /// Adds `delta` to the active requests of `attrs` (when that metric is on).
    pub(crate) fn add_active(&self, delta: i64, attrs: &[KeyValue]) {
        let Some(active) = &self.active else {
            return;
        };
        let bound = self
            .active_series
            .with(attrs, |a| active.bind(a), |c| c.add(delta));
        if bound.is_none() {
            active.add(delta, attrs);
        }
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
        let binds = config.meter_binds();
        HttpMetrics {
            series: SeriesCache::new(binds),
            active_series: SeriesCache::new(binds),
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

#[cfg(all(test, feature = "setup"))]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    /// The SDK behind another type: a provider towerlight cannot know binds.
    struct Wrapped(SdkMeterProvider);

    impl opentelemetry::metrics::MeterProvider for Wrapped {
        fn meter_with_scope(&self, scope: opentelemetry::InstrumentationScope) -> Meter {
            self.0.meter_with_scope(scope)
        }
    }

    /// Histogram point counts per attribute set, and the active-requests sum.
    type Collected = (Vec<(Vec<KeyValue>, u64)>, i64);

    fn collected(exporter: &InMemoryMetricExporter) -> Collected {
        let (mut counts, mut active) = (Vec::new(), 0);
        for rm in exporter.get_finished_metrics().unwrap() {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    match m.data() {
                        AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                            for p in h.data_points() {
                                let mut attrs: Vec<KeyValue> = p.attributes().cloned().collect();
                                attrs.sort_by(|a, b| a.key.cmp(&b.key));
                                counts.push((attrs, p.count()));
                            }
                        }
                        AggregatedMetrics::I64(MetricData::Sum(s)) => {
                            active += s.data_points().map(|p| p.value()).sum::<i64>();
                        }
                        _ => {}
                    }
                }
            }
        }
        counts.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        (counts, active)
    }

    fn set(route: &'static str) -> Vec<KeyValue> {
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", route),
        ]
    }

    /// Records the same requests through a binding and a non-binding provider.
    fn run(binds: bool, extra_sets: usize) -> (Collected, usize) {
        let exporter = InMemoryMetricExporter::default();
        let sdk = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let config = Config::new().active_requests(true);
        let config = if binds {
            config.meter_provider(sdk.clone())
        } else {
            config.meter_provider(Wrapped(sdk.clone()))
        };
        assert_eq!(config.meter_binds(), binds);
        let metrics = HttpMetrics::new(&sdk.meter("t"), &config, Side::Server);
        let m = Measured {
            duration: 0.01,
            request_size: None,
            response_size: 0,
        };
        for _ in 0..3 {
            metrics.add_active(1, &set("/a")[..1]);
            metrics.record(&set("/a"), m, true);
            metrics.add_active(-1, &set("/a")[..1]);
        }
        metrics.add_active(1, &set("/a")[..1]);
        metrics.record(&set("/b"), m, true);
        metrics.record(&set("/a"), m, false);
        for i in 0..extra_sets {
            let route = KeyValue::new("http.route", format!("/r{i}"));
            metrics.record(&[route], m, true);
        }
        let cached = metrics.series.len();
        sdk.force_flush().unwrap();
        (collected(&exporter), cached)
    }

    #[test]
    fn bound_and_unbound_recording_export_the_same_points() {
        let (bound, cached) = run(true, 0);
        let (unbound, none) = run(false, 0);
        assert_eq!(
            (cached, none),
            (2, 0),
            "only a binding provider caches series"
        );
        assert_eq!(bound, unbound);
        let mut a = set("/a");
        a.sort_by(|x, y| x.key.cmp(&y.key));
        assert!(bound.0.contains(&(a, 4)), "{bound:?}");
        assert_eq!(bound.1, 1, "one request still active");
    }

    #[test]
    fn past_the_cap_series_are_recorded_unbound() {
        let extra = SeriesCache::<()>::CAP + 10;
        let ((counts, _), cached) = run(true, extra);
        assert_eq!(cached, SeriesCache::<()>::CAP);
        assert_eq!(counts.len(), extra + 2, "every set exported");
        assert!(counts.iter().all(|(_, n)| *n >= 1));
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 5 + extra as u64);
    }
}
