//! In-memory telemetry for one test: its own tracer and meter providers, never the globals, so
//! tests run in parallel without seeing each other's spans.

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, HistogramDataPoint, MetricData, SumDataPoint,
};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use towerlight::{Config, Propagator};

/// One test's providers and exporters.
pub struct Telemetry {
    /// The tracer provider (simple processor: spans are exported as they end).
    pub tracer_provider: SdkTracerProvider,
    /// The meter provider (read on demand with [`Telemetry::metrics`]).
    pub meter_provider: SdkMeterProvider,
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// Fresh providers with in-memory exporters.
    pub fn new() -> Telemetry {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        Telemetry {
            tracer_provider,
            meter_provider,
            spans,
            metrics,
        }
    }

    /// A towerlight [`Config`] wired to these providers and the W3C propagators.
    pub fn config(&self) -> Config {
        Config::new()
            .tracer_provider(self.tracer_provider.clone())
            .meter_provider(self.meter_provider.clone())
            .propagator(Propagator::w3c())
    }

    /// Every span finished so far. Panics when any of them carries an attribute key twice:
    /// every key must appear once on every span, whatever the test asserts next.
    pub fn spans(&self) -> Vec<SpanData> {
        let spans = self.spans.get_finished_spans().unwrap_or_default();
        spans.iter().for_each(assert_no_duplicate_keys);
        spans
    }

    /// Waits (up to 5 s) until `n` spans of `kind` have finished, and returns them.
    pub async fn wait_spans(&self, kind: SpanKind, n: usize) -> Vec<SpanData> {
        for _ in 0..500 {
            let found: Vec<_> = self
                .spans()
                .into_iter()
                .filter(|s| s.span_kind == kind)
                .collect();
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {n} {kind:?} span(s), got: {:#?}",
            self.spans()
                .iter()
                .map(|s| (&s.name, &s.span_kind))
                .collect::<Vec<_>>()
        );
    }

    /// Waits for exactly one SERVER span and returns it.
    pub async fn server_span(&self) -> SpanData {
        let mut spans = self.wait_spans(SpanKind::Server, 1).await;
        assert_eq!(spans.len(), 1, "exactly one server span");
        spans.remove(0)
    }

    /// Collects the metrics now.
    pub fn metrics(&self) -> Metrics {
        self.metrics.reset();
        self.meter_provider.force_flush().expect("flush metrics");
        Metrics(self.metrics.get_finished_metrics().unwrap_or_default())
    }
}

/// A snapshot of exported metrics.
pub struct Metrics(Vec<opentelemetry_sdk::metrics::data::ResourceMetrics>);

/// A histogram point, simplified for assertions.
#[derive(Debug, Clone)]
pub struct HistPoint {
    /// The point's attributes, sorted by key.
    pub attributes: BTreeMap<String, Value>,
    /// Number of recordings.
    pub count: u64,
    /// Sum of the recorded values.
    pub sum: f64,
    /// Bucket boundaries.
    pub bounds: Vec<f64>,
}

/// A sum (counter / up-down counter) point.
#[derive(Debug, Clone)]
pub struct SumPoint {
    /// The point's attributes, sorted by key.
    pub attributes: BTreeMap<String, Value>,
    /// The value.
    pub value: f64,
}

impl Metrics {
    fn find(&self, name: &str) -> Option<(&AggregatedMetrics, &str)> {
        self.0
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .find(|m| m.name() == name)
            .map(|m| (m.data(), m.unit()))
    }

    /// The names of every exported metric, in export order.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// The attribute sets of the points of metric `name`, whatever its kind (empty when absent).
    pub fn point_attributes(&self, name: &str) -> Vec<BTreeMap<String, Value>> {
        fn of<T>(data: &MetricData<T>) -> Vec<BTreeMap<String, Value>> {
            match data {
                MetricData::Gauge(g) => g.data_points().map(|p| attr_map(p.attributes())).collect(),
                MetricData::Sum(s) => s.data_points().map(|p| attr_map(p.attributes())).collect(),
                MetricData::Histogram(h) => {
                    h.data_points().map(|p| attr_map(p.attributes())).collect()
                }
                MetricData::ExponentialHistogram(h) => {
                    h.data_points().map(|p| attr_map(p.attributes())).collect()
                }
            }
        }
        match self.find(name) {
            Some((AggregatedMetrics::F64(data), _)) => of(data),
            Some((AggregatedMetrics::U64(data), _)) => of(data),
            Some((AggregatedMetrics::I64(data), _)) => of(data),
            None => Vec::new(),
        }
    }

    /// Whether a metric of this name was exported.
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The unit of a metric.
    pub fn unit(&self, name: &str) -> String {
        self.find(name)
            .map(|(_, u)| u.to_owned())
            .unwrap_or_default()
    }

    /// The points of a histogram (f64 or u64 values), empty when absent.
    pub fn histogram(&self, name: &str) -> Vec<HistPoint> {
        fn conv<T: Copy + Into<f64>>(p: &HistogramDataPoint<T>) -> HistPoint {
            HistPoint {
                attributes: attr_map(p.attributes()),
                count: p.count(),
                sum: p.sum().into(),
                bounds: p.bounds().collect(),
            }
        }
        match self.find(name) {
            Some((AggregatedMetrics::F64(MetricData::Histogram(h)), _)) => {
                h.data_points().map(conv).collect()
            }
            Some((AggregatedMetrics::U64(MetricData::Histogram(h)), _)) => h
                .data_points()
                .map(|p| HistPoint {
                    attributes: attr_map(p.attributes()),
                    count: p.count(),
                    sum: p.sum() as f64,
                    bounds: p.bounds().collect(),
                })
                .collect(),
            Some(_) => panic!("{name} is not a histogram"),
            None => Vec::new(),
        }
    }

    /// The points of a u64 sum (counter), empty when absent.
    pub fn sum_u64(&self, name: &str) -> Vec<SumPoint> {
        match self.find(name) {
            Some((AggregatedMetrics::U64(MetricData::Sum(s)), _)) => s
                .data_points()
                .map(|p| SumPoint {
                    attributes: attr_map(p.attributes()),
                    value: p.value() as f64,
                })
                .collect(),
            Some(_) => panic!("{name} is not a u64 sum"),
            None => Vec::new(),
        }
    }

    /// Asserts that exactly one WebSocket server session ended, with this `error.type`, and
    /// that no session is left active.
    pub fn assert_one_server_session_ended_as(&self, error_type: &str) {
        let durations = self.histogram("websocket.server.session.duration");
        assert_eq!(durations.len(), 1, "one session duration point");
        assert_eq!(
            durations[0].attributes["error.type"],
            opentelemetry::Value::from(error_type.to_owned())
        );
        assert_eq!(
            self.sum_i64("websocket.server.active_sessions")[0].value,
            0.0
        );
    }

    /// The points of an i64 sum (up-down counter), empty when absent.
    pub fn sum_i64(&self, name: &str) -> Vec<SumPoint> {
        fn conv(p: &SumDataPoint<i64>) -> SumPoint {
            SumPoint {
                attributes: attr_map(p.attributes()),
                value: p.value() as f64,
            }
        }
        match self.find(name) {
            Some((AggregatedMetrics::I64(MetricData::Sum(s)), _)) => {
                s.data_points().map(conv).collect()
            }
            Some(_) => panic!("{name} is not an i64 sum"),
            None => Vec::new(),
        }
    }
}

/// Attributes as a sorted map (duplicates would show as the last one; spans assert no duplicates
/// separately with [`assert_no_duplicate_keys`]).
pub fn attr_map<'a>(attrs: impl IntoIterator<Item = &'a KeyValue>) -> BTreeMap<String, Value> {
    attrs
        .into_iter()
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.clone()))
        .collect()
}

/// Panics when an attribute key appears twice on a span (or on one of its events or links).
pub fn assert_no_duplicate_keys(span: &SpanData) {
    fn once(what: &str, attrs: &[KeyValue]) {
        let mut seen = std::collections::HashSet::new();
        for kv in attrs {
            assert!(
                seen.insert(kv.key.as_str()),
                "duplicate attribute {} on {what}",
                kv.key
            );
        }
    }
    once(&span.name, &span.attributes);
    for event in span.events.iter() {
        once(&event.name, &event.attributes);
    }
    for link in span.links.iter() {
        once("a link", &link.attributes);
    }
}
