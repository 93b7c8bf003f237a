//! The HTTP metric instruments, created once per layer.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter, Histogram, Meter, UpDownCounter};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;
use opentelemetry_semantic_conventions::metric as semconv;
use smallvec::SmallVec;

use crate::common::bind::{quick_str, same_opt_str, same_str, SeriesCache, SeriesKey};
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
    /// Which side these instruments describe (where the route goes in the sets).
    side: Side,
    /// The duration and body-size series, bound per attribute set.
    series: SeriesCache<BoundSeries, HttpSeries>,
    /// The active-requests series, bound per attribute set.
    active_series: SeriesCache<BoundUpDownCounter<i64>>,
}

/// What a finished request's metric attribute set is made of, in the form the series cache
/// compares: no attribute list is built for a request whose series is already bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpSeries {
    /// `http.request.method`.
    pub(crate) method: StringValue,
    /// `url.scheme`.
    pub(crate) scheme: &'static str,
    /// `server.address` and `server.port` (client side).
    pub(crate) server: Option<(StringValue, u16)>,
    /// `http.response.status_code`.
    pub(crate) status: Option<u16>,
    /// `http.route` (server: on every histogram) or `url.template` (client: on the body sizes
    /// only, as the conventions have it opt-in on the duration).
    pub(crate) route: Option<StringValue>,
    /// `network.protocol.version`.
    pub(crate) version: Option<&'static str>,
    /// `error.type`.
    pub(crate) error: Option<Cow<'static, str>>,
}

impl SeriesKey for HttpSeries {
    type Owned = HttpSeries;
    fn quick_hash<H: Hasher>(&self, state: &mut H) {
        quick_str(self.method.as_str(), state);
        self.scheme.len().hash(state);
        if let Some((host, port)) = &self.server {
            quick_str(host.as_str(), state);
            port.hash(state);
        }
        self.status.hash(state);
        if let Some(r) = &self.route {
            quick_str(r.as_str(), state);
        }
        self.version.map(str::len).hash(state);
        self.error.as_deref().map(str::len).hash(state);
    }
    /// Field by field, strings by pointer first: a route, method or host of a bound series is
    /// mostly the very string the request holds (interned or static), so few bytes are read.
    fn matches(&self, owned: &HttpSeries) -> bool {
        let same = |a: &StringValue, b: &StringValue| same_str(a.as_str(), b.as_str());
        self.status == owned.status
            && same(&self.method, &owned.method)
            && same_str(self.scheme, owned.scheme)
            && match (&self.route, &owned.route) {
                (Some(a), Some(b)) => same(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
            && match (&self.server, &owned.server) {
                (Some((h, p)), Some((oh, op))) => p == op && same(h, oh),
                (a, b) => a.is_none() && b.is_none(),
            }
            && same_opt_str(self.version, owned.version)
            && same_opt_str(self.error.as_deref(), owned.error.as_deref())
    }
    fn to_owned_key(&self) -> HttpSeries {
        self.clone()
    }
}

/// A request's metric attributes, gathered on the stack.
pub(crate) type MetricAttrs = SmallVec<[KeyValue; 8]>;

impl HttpSeries {
    /// The attribute set for `side` with the application's `extra` ones, and how many of them
    /// (from the start) the duration carries; the rest are the body sizes' only.
    pub(crate) fn attributes(&self, side: Side, extra: &[KeyValue]) -> (MetricAttrs, usize) {
        let mut a = MetricAttrs::new();
        a.push(KeyValue::new(
            attr::HTTP_REQUEST_METHOD,
            self.method.clone(),
        ));
        if let Some((host, port)) = &self.server {
            a.push(KeyValue::new(attr::SERVER_ADDRESS, host.clone()));
            a.push(KeyValue::new(attr::SERVER_PORT, i64::from(*port)));
        }
        a.push(KeyValue::new(attr::URL_SCHEME, self.scheme));
        if let Some(code) = self.status {
            a.push(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
        }
        if let (Side::Server, Some(r)) = (side, &self.route) {
            a.push(KeyValue::new(attr::HTTP_ROUTE, r.clone()));
        }
        if let Some(v) = self.version {
            a.push(KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, v));
        }
        if let Some(e) = &self.error {
            a.push(KeyValue::new(attr::ERROR_TYPE, e.clone()));
        }
        a.extend(extra.iter().cloned());
        let duration_len = a.len();
        if let (Side::Client, Some(t)) = (side, &self.route) {
            a.push(KeyValue::new(attr::URL_TEMPLATE, t.clone()));
        }
        (a, duration_len)
    }
}

/// The per-request histograms of one attribute set, bound.
struct BoundSeries {
    duration: BoundHistogram<f64>,
    request_size: Option<BoundHistogram<u64>>,
    response_size: Option<BoundHistogram<u64>>,
}

/// `histogram` bound to `attrs`, when it is on and there is a `value` to record.
fn bind_if(
    histogram: &Option<Histogram<u64>>,
    value: Option<u64>,
    attrs: &[KeyValue],
) -> Option<BoundHistogram<u64>> {
    histogram
        .as_ref()
        .filter(|_| value.is_some())
        .map(|h| h.bind(attrs))
}

/// Records `value` (when there is one) on the bound series, else on `histogram` with `attrs`.
fn record_size<A: AsRef<[KeyValue]>>(
    histogram: &Option<Histogram<u64>>,
    bound: &Option<BoundHistogram<u64>>,
    value: Option<u64>,
    attrs: impl FnOnce() -> A,
) {
    match (bound, histogram, value) {
        (Some(b), _, Some(n)) => b.record(n),
        (None, Some(h), Some(n)) => h.record(n, attrs().as_ref()),
        _ => {}
    }
}

/// What one finished request records on the histograms that share its attribute set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Seconds.
    pub(crate) duration: f64,
    /// Request body bytes, when known.
    pub(crate) request_size: Option<u64>,
    /// Response body bytes, when a response came.
    pub(crate) response_size: Option<u64>,
}

/// Which side of the connection the metrics describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

impl HttpMetrics {
    /// Records a finished request's duration and its body sizes (when on) on the series of
    /// `key` with the application's `extra` attributes: through the bound series of that set
    /// when the provider binds, else through an attribute list. A set with `extra` attributes
    /// (not known to be bounded) is never bound.
    pub(crate) fn record(&self, key: &HttpSeries, extra: &[KeyValue], m: Measured) {
        // A bound handle exports its point even before anything is recorded on it, so a size
        // histogram is bound only when the set's first request has that size; a later request
        // of the set that has one records it unbound (same point, never an empty one).
        let bound = extra.is_empty().then(|| {
            self.series.with(
                key,
                |k| {
                    let (a, duration_len) = k.attributes(self.side, &[]);
                    BoundSeries {
                        duration: self.duration.bind(&a[..duration_len]),
                        request_size: bind_if(&self.request_size, m.request_size, &a),
                        response_size: bind_if(&self.response_size, m.response_size, &a),
                    }
                },
                |s| {
                    s.duration.record(m.duration);
                    let unbound = || key.attributes(self.side, &[]).0;
                    record_size(&self.request_size, &s.request_size, m.request_size, unbound);
                    record_size(
                        &self.response_size,
                        &s.response_size,
                        m.response_size,
                        unbound,
                    );
                },
            )
        });
        if bound.flatten().is_some() {
            return;
        }
        let (a, duration_len) = key.attributes(self.side, extra);
        self.duration.record(m.duration, &a[..duration_len]);
        record_size(&self.request_size, &None, m.request_size, || &a[..]);
        record_size(&self.response_size, &None, m.response_size, || &a[..]);
    }

    /// Adds `delta` to the active requests of the set `attrs` builds, built only when that
    /// metric is on (it is opt-in: a request of the default configuration builds nothing).
    pub(crate) fn add_active<A: AsRef<[KeyValue]>>(&self, delta: i64, attrs: impl FnOnce() -> A) {
        let Some(active) = &self.active else {
            return;
        };
        let attrs = attrs();
        let attrs = attrs.as_ref();
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
            side,
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

    fn key(route: impl Into<StringValue>) -> HttpSeries {
        HttpSeries {
            method: "GET".into(),
            scheme: "http",
            server: None,
            status: None,
            route: Some(route.into()),
            version: None,
            error: None,
        }
    }

    fn set(route: &'static str) -> Vec<KeyValue> {
        key(route).attributes(Side::Server, &[]).0.to_vec()
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
            response_size: Some(0),
        };
        for _ in 0..3 {
            metrics.add_active(1, || set("/a")[..1].to_vec());
            metrics.record(&key("/a"), &[], m);
            metrics.add_active(-1, || set("/a")[..1].to_vec());
        }
        metrics.add_active(1, || set("/a")[..1].to_vec());
        metrics.record(&key("/b"), &[], m);
        metrics.record(&key("/a"), &[KeyValue::new("app", "x")], m);
        for i in 0..extra_sets {
            metrics.record(&key(format!("/r{i}")), &[], m);
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
        assert!(bound.0.contains(&(a.clone(), 3)), "{bound:?}");
        a.insert(0, KeyValue::new("app", "x"));
        assert!(
            bound.0.contains(&(a, 1)),
            "extra attributes: unbound, {bound:?}"
        );
        assert_eq!(bound.1, 1, "one request still active");
    }

    /// Attribute keys of every exported point, per metric name.
    fn keys_per_metric(exporter: &InMemoryMetricExporter) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    let keys = |it: &mut dyn Iterator<Item = &KeyValue>| {
                        let mut k: Vec<String> = it.map(|kv| kv.key.to_string()).collect();
                        k.sort();
                        k
                    };
                    match m.data() {
                        AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                            for p in h.data_points() {
                                out.push((
                                    format!("{} {}", m.name(), p.count()),
                                    keys(&mut p.attributes()),
                                ));
                            }
                        }
                        AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                            for p in h.data_points() {
                                out.push((
                                    format!("{} {}", m.name(), p.count()),
                                    keys(&mut p.attributes()),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_duration_takes_the_prefix_and_the_sizes_the_whole_set_bound_or_not() {
        let run = |binds: bool| {
            let exporter = InMemoryMetricExporter::default();
            let sdk = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter.clone()).build())
                .build();
            let config = Config::new().body_size_metrics(true);
            let config = if binds {
                config.meter_provider(sdk.clone())
            } else {
                config.meter_provider(Wrapped(sdk.clone()))
            };
            let metrics = HttpMetrics::new(&config.build_meter(), &config, Side::Client);
            let m = Measured {
                duration: 0.01,
                request_size: Some(3),
                response_size: None,
            };
            metrics.record(&key("/users/{id}"), &[], m);
            metrics.record(&key("/users/{id}"), &[], m);
            let answered = Measured {
                response_size: Some(5),
                ..m
            };
            let status = HttpSeries {
                status: Some(200),
                ..key("/users/{id}")
            };
            metrics.record(&status, &[], answered);
            sdk.force_flush().unwrap();
            keys_per_metric(&exporter)
        };
        let bound = run(true);
        assert_eq!(bound, run(false));
        let strings = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let point = |name: &str, n: u64, keys: &[&str]| (format!("{name} {n}"), strings(keys));
        let (method, status) = ("http.request.method", "http.response.status_code");
        let (scheme, template) = ("url.scheme", "url.template");
        assert_eq!(
            bound,
            [
                point(
                    "http.client.request.body.size",
                    1,
                    &[method, status, scheme, template]
                ),
                point(
                    "http.client.request.body.size",
                    2,
                    &[method, scheme, template]
                ),
                point("http.client.request.duration", 1, &[method, status, scheme]),
                point("http.client.request.duration", 2, &[method, scheme]),
                point(
                    "http.client.response.body.size",
                    1,
                    &[method, status, scheme, template]
                ),
            ],
            "no response: no response size point, not even an empty one"
        );
    }

    #[test]
    fn the_route_is_http_route_on_the_server_and_a_size_only_url_template_on_the_client() {
        let full = HttpSeries {
            server: Some(("api.example".into(), 8443)),
            status: Some(503),
            version: Some("1.1"),
            error: Some("503".into()),
            ..key("/users/{id}")
        };
        let extra = [KeyValue::new("app", "x")];
        let (server, n) = full.attributes(Side::Server, &extra);
        let keys = |a: &[KeyValue]| a.iter().map(|kv| kv.key.to_string()).collect::<Vec<_>>();
        assert_eq!(n, server.len());
        assert_eq!(
            keys(&server),
            [
                "http.request.method",
                "server.address",
                "server.port",
                "url.scheme",
                "http.response.status_code",
                "http.route",
                "network.protocol.version",
                "error.type",
                "app"
            ]
        );
        let (client, n) = full.attributes(Side::Client, &extra);
        assert_eq!(n, client.len() - 1);
        assert_eq!(client[n], KeyValue::new("url.template", "/users/{id}"));
        assert_eq!(
            keys(&client[..n]),
            keys(&server)
                .into_iter()
                .filter(|k| k != "http.route")
                .collect::<Vec<_>>()
        );
        assert_eq!(client[2], KeyValue::new("server.port", 8443));
    }

    #[test]
    fn past_the_cap_series_are_recorded_unbound() {
        let extra = SeriesCache::<()>::CAP + 10;
        let ((counts, _), cached) = run(true, extra);
        assert_eq!(cached, SeriesCache::<()>::CAP);
        assert_eq!(counts.len(), extra + 3, "every set exported");
        assert!(counts.iter().all(|(_, n)| *n >= 1));
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 5 + extra as u64);
    }

    #[test]
    fn a_series_matches_its_equal_and_no_set_that_differs_in_one_field() {
        let full = |route: &str, host: &str| HttpSeries {
            server: Some((StringValue::from(host.to_owned()), 443)),
            status: Some(200),
            version: Some("1.1"),
            error: None,
            ..key(StringValue::from(route.to_owned()))
        };
        let a = full("/a", "h");
        assert!(a.matches(&full("/a", "h")), "equal strings, other pointers");
        let differ: [HttpSeries; 9] = [
            full("/b", "h"),
            full("/a", "i"),
            HttpSeries {
                route: None,
                ..full("/a", "h")
            },
            HttpSeries {
                server: None,
                ..full("/a", "h")
            },
            HttpSeries {
                server: Some(("h".into(), 80)),
                ..full("/a", "h")
            },
            HttpSeries {
                status: Some(500),
                ..full("/a", "h")
            },
            HttpSeries {
                method: "POST".into(),
                ..full("/a", "h")
            },
            HttpSeries {
                scheme: "https",
                ..full("/a", "h")
            },
            HttpSeries {
                error: Some("500".into()),
                version: Some("2"),
                ..full("/a", "h")
            },
        ];
        for other in &differ {
            assert!(!a.matches(other), "{other:?}");
            assert!(!other.matches(&a), "{other:?}");
        }
        let v2 = HttpSeries {
            version: Some("2"),
            ..full("/a", "h")
        };
        assert!(!a.matches(&v2));
        let err = HttpSeries {
            error: Some("500".into()),
            ..full("/a", "h")
        };
        assert!(!a.matches(&err));
    }
}
