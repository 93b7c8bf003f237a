//! The options every towerlight layer shares.
//!
//! One [`Config`] vocabulary serves every protocol (HTTP today; gRPC, WebSocket and RPC layers take
//! the same value), server and client, Tower and Actix. A `Config` is a plain builder: cloning it is
//! cheap and nothing is resolved until a layer is built from it. At that point the tracer, the
//! meter's instruments and the propagator are looked up **once**, so the request path never touches
//! a global.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use opentelemetry::global::BoxedTracer;

use crate::common::tracer::LayerTracer;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::common::redact::SensitiveKeys;
pub use crate::common::sampling::SamplerHint;
use crate::error::ConfigError;
use crate::propagation::Propagator;
use crate::rpc::KnownRpcMethods;

/// Decides, per request, whether something applies (instrumentation, public-endpoint mode).
pub(crate) type RequestPredicate = Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>;
/// Adds attributes derived from the request head (fed to span *and* metrics).
pub(crate) type RequestHook = Arc<dyn Fn(&http::request::Parts, &mut Vec<KeyValue>) + Send + Sync>;
/// Adds attributes derived from the response head (fed to span *and* metrics).
pub(crate) type ResponseHook =
    Arc<dyn Fn(&http::response::Parts, &mut Vec<KeyValue>) + Send + Sync>;
/// Formats a span name.
pub(crate) type SpanNamer = Arc<dyn Fn(&SpanNameInput<'_>) -> String + Send + Sync>;

/// What a custom span-name formatter sees (see [`Config::span_name`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct SpanNameInput<'a> {
    /// The request head.
    pub request: &'a http::request::Parts,
    /// The route template when the router knows it (`/users/{id}`), never the raw path.
    pub route: Option<&'a str>,
    /// The name towerlight would use by default (`GET /users/{id}`, `GET`, `HTTP`, `pkg.Svc/Method`).
    pub default_name: &'a str,
}

/// Which generation(s) of semantic-convention names to emit, from
/// `OTEL_SEMCONV_STABILITY_OPT_IN`.
///
/// The current (stable) names are always emitted. `http/dup` additionally emits the pre-1.20 HTTP
/// names (`http.method`, `http.status_code`, `http.server.duration` in ms, …) and `rpc/dup` the
/// pre-1.39 RPC names, for users migrating dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemconvMode {
    /// Also emit the old HTTP attribute and metric names.
    pub http_dup: bool,
    /// Also emit the old RPC attribute and metric names.
    pub rpc_dup: bool,
}

impl SemconvMode {
    /// Only the current names.
    pub const STABLE: SemconvMode = SemconvMode {
        http_dup: false,
        rpc_dup: false,
    };

    /// Parses a value of `OTEL_SEMCONV_STABILITY_OPT_IN` (comma-separated, e.g. `http/dup,rpc`).
    ///
    /// Unknown entries are ignored, as the specification asks (other instrumentations read the
    /// same variable for their own domains, such as `database/dup`).
    ///
    /// ```
    /// let mode = towerlight::SemconvMode::parse("http/dup, database");
    /// assert!(mode.http_dup);
    /// assert!(!mode.rpc_dup);
    /// ```
    pub fn parse(value: &str) -> SemconvMode {
        let mut mode = SemconvMode::STABLE;
        for entry in value.split(',').map(str::trim) {
            match entry {
                "http/dup" => mode.http_dup = true,
                "rpc/dup" => mode.rpc_dup = true,
                _ => {}
            }
        }
        mode
    }

    /// Reads `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn from_env() -> SemconvMode {
        std::env::var("OTEL_SEMCONV_STABILITY_OPT_IN")
            .map(|v| SemconvMode::parse(&v))
            .unwrap_or_default()
    }
}

/// The HTTP methods towerlight reports by name; any other method becomes `_OTHER`.
///
/// The default set is the one the HTTP semantic conventions list (RFC 9110 methods, `PATCH` and
/// `QUERY`), compared case-sensitively. `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` replaces it.
#[derive(Clone, PartialEq, Eq)]
pub struct KnownMethods {
    methods: Arc<[Box<str>]>,
    /// Decided once: the request path then maps methods to static strings without comparing
    /// the set.
    is_default: bool,
}

impl KnownMethods {
    /// The semantic conventions' default set.
    pub const DEFAULT: [&'static str; 10] = [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
    ];

    /// A custom set (case-sensitive, as the conventions require).
    pub fn new<I, S>(methods: I) -> KnownMethods
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let methods: Arc<[Box<str>]> = methods
            .into_iter()
            .filter_map(|m| {
                let m = m.as_ref().trim();
                (!m.is_empty()).then(|| Box::from(m))
            })
            .collect();
        let is_default = methods.len() == Self::DEFAULT.len()
            && methods.iter().zip(Self::DEFAULT).all(|(a, b)| &**a == b);
        KnownMethods {
            methods,
            is_default,
        }
    }

    /// Reads `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`; the default set when unset or empty.
    pub fn from_env() -> KnownMethods {
        match std::env::var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS") {
            Ok(v) => KnownMethods::new(v.split(',')).or_default(),
            Err(_) => KnownMethods::default(),
        }
    }

    /// The default set instead of an empty one: a value with no method in it (`""`, `",,,"`)
    /// counts as unset rather than turning every method into `_OTHER`.
    fn or_default(self) -> KnownMethods {
        if self.methods.is_empty() {
            KnownMethods::default()
        } else {
            self
        }
    }

    /// Whether `method` is in the set.
    pub fn contains(&self, method: &str) -> bool {
        self.methods.iter().any(|m| &**m == method)
    }

    pub(crate) fn is_default(&self) -> bool {
        self.is_default
    }
}

impl Default for KnownMethods {
    fn default() -> Self {
        KnownMethods::new(Self::DEFAULT)
    }
}

impl fmt::Debug for KnownMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.methods.iter()).finish()
    }
}

/// Header names whose values are never exported verbatim, even when allow-listed.
pub const SENSITIVE_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-amz-security-token",
];

pub use crate::common::redact::SENSITIVE_QUERY_PARAMS;
pub use crate::common::DEFAULT_VALUE_LENGTH;

#[derive(Clone)]
pub(crate) enum PublicEndpoint {
    No,
    Always,
    When(RequestPredicate),
}

#[derive(Clone)]
pub(crate) enum TracerSource {
    Global,
    Provider(Arc<dyn Fn(InstrumentationScope) -> BoxedTracer + Send + Sync>),
    /// The SDK's provider, whose tracer is used directly (see `common::tracer`).
    #[cfg(feature = "setup")]
    Sdk(opentelemetry_sdk::trace::SdkTracerProvider),
    /// The API's no-op provider: no spans at all.
    Noop,
}

#[derive(Clone)]
pub(crate) enum MeterSource {
    Global,
    /// The provider's meters, and whether they bind for real (see `common::bind`).
    Provider(
        Arc<dyn Fn(InstrumentationScope) -> Meter + Send + Sync>,
        bool,
    ),
}

/// The options every towerlight layer shares: one builder vocabulary for HTTP, gRPC, WebSocket and
/// RPC, server and client.
///
/// ```
/// use towerlight::{Config, HttpServerLayer};
///
/// let layer = HttpServerLayer::with_config(
///     Config::new()
///         .capture_request_headers(["x-request-id"])
///         .public_endpoint(true)
///         .opt_in_metrics(true),
/// );
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) tracer: TracerSource,
    pub(crate) meter: MeterSource,
    pub(crate) propagator: Option<Propagator>,
    pub(crate) filter: Option<RequestPredicate>,
    pub(crate) public_endpoint: PublicEndpoint,
    pub(crate) span_name: Option<SpanNamer>,
    pub(crate) request_hook: Option<RequestHook>,
    pub(crate) response_hook: Option<ResponseHook>,
    pub(crate) request_headers: Vec<HeaderName>,
    pub(crate) response_headers: Vec<HeaderName>,
    pub(crate) sensitive_headers: Vec<HeaderName>,
    pub(crate) sensitive_query: SensitiveKeys,
    pub(crate) max_value_length: usize,
    pub(crate) sampler_hint: Option<SamplerHint>,
    pub(crate) semconv: SemconvMode,
    pub(crate) known_methods: KnownMethods,
    pub(crate) active_requests: bool,
    pub(crate) body_size_metrics: bool,
    pub(crate) request_metadata: Vec<HeaderName>,
    pub(crate) response_metadata: Vec<HeaderName>,
    pub(crate) message_events: bool,
    pub(crate) websocket_session_spans: bool,
    pub(crate) websocket_opt_in_metrics: bool,
    pub(crate) websocket_message_spans: Option<crate::ws::MessageSpans>,
    pub(crate) known_rpc_methods: Option<KnownRpcMethods>,
    pub(crate) env_error: Option<ConfigError>,
    env_warned: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("propagator", &self.propagator)
            .field("filter", &self.filter.is_some())
            .field(
                "public_endpoint",
                &!matches!(self.public_endpoint, PublicEndpoint::No),
            )
            .field("span_name", &self.span_name.is_some())
            .field("request_headers", &self.request_headers)
            .field("response_headers", &self.response_headers)
            .field("semconv", &self.semconv)
            .field("known_methods", &self.known_methods)
            .field("active_requests", &self.active_requests)
            .field("body_size_metrics", &self.body_size_metrics)
            .field("request_metadata", &self.request_metadata)
            .field("response_metadata", &self.response_metadata)
            .field("message_events", &self.message_events)
            .field("known_rpc_methods", &self.known_rpc_methods)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults: global tracer and meter providers (looked up when the layer is built), the
    /// propagator from `OTEL_PROPAGATORS`, semconv mode and known methods from their variables,
    /// no header capture, only the default-on metrics.
    ///
    /// A bad value in those variables does not fail here: the layer logs one warning when it is
    /// built and falls back to the default. Use [`Config::from_env`] to get the error instead.
    pub fn new() -> Config {
        let (propagator, mut env_error) = match Propagator::from_env() {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(ConfigError::from(e))),
        };
        let max_value_length = match value_length_from_env(|k| std::env::var(k).ok()) {
            Ok(n) => n.unwrap_or(DEFAULT_VALUE_LENGTH),
            Err(e) => {
                env_error.get_or_insert(e);
                DEFAULT_VALUE_LENGTH
            }
        };
        Config {
            tracer: TracerSource::Global,
            meter: MeterSource::Global,
            propagator,
            filter: None,
            public_endpoint: PublicEndpoint::No,
            span_name: None,
            request_hook: None,
            response_hook: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            sensitive_headers: SENSITIVE_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            sensitive_query: SensitiveKeys::default(),
            max_value_length,
            sampler_hint: None,
            semconv: SemconvMode::from_env(),
            known_methods: KnownMethods::from_env(),
            active_requests: false,
            body_size_metrics: false,
            request_metadata: Vec::new(),
            response_metadata: Vec::new(),
            message_events: false,
            websocket_session_spans: false,
            websocket_opt_in_metrics: false,
            websocket_message_spans: None,
            known_rpc_methods: None,
            env_error,
            env_warned: Arc::default(),
        }
    }

    /// Like [`Config::new`], but a bad value in the `OTEL_*` variables is returned as an error
    /// naming the variable.
    ///
    /// ```
    /// let config = towerlight::Config::from_env().expect("valid OTEL_* variables");
    /// # let _ = config;
    /// ```
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut config = Config::new();
        match config.env_error.take() {
            Some(e) => Err(e),
            None => Ok(config),
        }
    }

    /// Use this tracer provider instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: P) -> Config
    where
        P: TracerProvider + Send + Sync + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        if crate::common::tracer::is_noop(&provider) {
            self.tracer = TracerSource::Noop;
            return self;
        }
        #[cfg(feature = "setup")]
        if let Some(sdk) = crate::common::tracer::as_sdk(&provider) {
            self.tracer = TracerSource::Sdk(sdk);
            return self;
        }
        self.tracer = TracerSource::Provider(Arc::new(move |scope| {
            BoxedTracer::new(Box::new(provider.tracer_with_scope(scope)))
        }));
        self
    }

    /// Use this meter provider instead of the global one.
    pub fn meter_provider<P>(mut self, provider: P) -> Config
    where
        P: MeterProvider + Send + Sync + 'static,
    {
        self.meter = MeterSource::Provider(
            Arc::new(move |scope| provider.meter_with_scope(scope)),
            crate::common::bind::provider_binds::<P>(),
        );
        self
    }

    /// Use this propagator instead of the one `OTEL_PROPAGATORS` names.
    pub fn propagator(mut self, propagator: Propagator) -> Config {
        self.propagator = Some(propagator);
        if matches!(self.env_error, Some(ConfigError::Propagators(_))) {
            self.env_error = None;
        }
        self
    }

    /// Instrument only the requests for which `filter` returns `true`.
    ///
    /// Filtered-out requests get no span and no metrics, but the inbound context is still
    /// extracted and made current, so downstream calls keep the trace.
    pub fn filter<F>(mut self, filter: F) -> Config
    where
        F: Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Treat every request as coming from an untrusted client: the server span starts a new trace
    /// and carries a span link to the inbound context instead of using it as parent.
    pub fn public_endpoint(mut self, public: bool) -> Config {
        self.public_endpoint = if public {
            PublicEndpoint::Always
        } else {
            PublicEndpoint::No
        };
        self
    }

    /// Decide public-endpoint mode per request (for example, on a header set by your edge proxy).
    pub fn public_endpoint_fn<F>(mut self, is_public: F) -> Config
    where
        F: Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    {
        self.public_endpoint = PublicEndpoint::When(Arc::new(is_public));
        self
    }

    /// Format span names yourself. Keep names low-cardinality: never put raw paths or ids in them.
    pub fn span_name<F>(mut self, name: F) -> Config
    where
        F: Fn(&SpanNameInput<'_>) -> String + Send + Sync + 'static,
    {
        self.span_name = Some(Arc::new(name));
        self
    }

    /// Add attributes derived from the request head. They go on the span **and** on every metric
    /// point of the request, so keep them low-cardinality.
    pub fn request_attributes<F>(mut self, hook: F) -> Config
    where
        F: Fn(&http::request::Parts, &mut Vec<KeyValue>) + Send + Sync + 'static,
    {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Add attributes derived from the response head, on the span and on the metric points.
    pub fn response_attributes<F>(mut self, hook: F) -> Config
    where
        F: Fn(&http::response::Parts, &mut Vec<KeyValue>) + Send + Sync + 'static,
    {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Record these request headers as `http.request.header.<name>` (string arrays).
    ///
    /// Values of sensitive headers (see [`SENSITIVE_HEADERS`]) are exported as `REDACTED`.
    /// Invalid header names are ignored.
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = header_names(names);
        self
    }

    /// Record these response headers as `http.response.header.<name>` (string arrays).
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = header_names(names);
        self
    }

    /// Add header names whose values must never be exported verbatim (on top of
    /// [`SENSITIVE_HEADERS`]).
    pub fn sensitive_headers<I, S>(mut self, names: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.sensitive_headers.extend(header_names(names));
        self
    }

    /// Replace the list of query keys whose values are exported as `REDACTED` in `url.query`,
    /// `url.full` and the `http/dup` names (default: [`SENSITIVE_QUERY_PARAMS`]). Keys are
    /// compared after percent-decoding and ignoring case, as servers read them.
    pub fn sensitive_query_params<I, S>(mut self, keys: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.sensitive_query = SensitiveKeys::new(keys);
        self
    }

    /// Add query keys to redact, on top of the current list (by default
    /// [`SENSITIVE_QUERY_PARAMS`]).
    ///
    /// ```
    /// let config = towerlight::Config::new().add_sensitive_query_params(["otp", "magic_link"]);
    /// # let _ = config;
    /// ```
    pub fn add_sensitive_query_params<I, S>(mut self, keys: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.sensitive_query = self.sensitive_query.with(keys);
        self
    }

    /// Whether the tracer provider's sampler reads the attributes an HTTP server span is created
    /// with. When it may, they are built for every span, sampled or not, so a sampler can see
    /// `http.request.method`, `url.scheme`, `url.path`, `http.route`, `server.address` and
    /// `server.port`.
    ///
    /// The samplers the SDK ships (`AlwaysOn`, `AlwaysOff`, `TraceIdRatioBased`, `ParentBased`
    /// of those) and Jaeger's remote sampler decide from the parent and the trace id alone. With
    /// such a sampler, `false` builds a span's attributes only once the span records, so a request
    /// that is not sampled builds none; a sampled span ends with the same attributes either way.
    /// Leave it `true` if any sampler of the provider looks at attributes: with `false` it sees
    /// none.
    ///
    /// Default: `false` for the global provider [`crate::setup`] installed with a sampler from
    /// `OTEL_TRACES_SAMPLER` or a given sampler other than `ParentBased` (whose delegate may be
    /// the application's); `true` for any other provider.
    pub fn sampler_reads_attributes(mut self, reads: bool) -> Config {
        self.sampler_hint = Some(SamplerHint::from_reads(reads));
        self
    }

    /// What the tracer provider's sampler is, for a provider [`crate::setup`] did not install
    /// (it sets this itself): with [`SamplerHint::AlwaysOn`] or a parent-based hint a span sure
    /// to record gets all its attributes at creation, in one `Vec` the SDK keeps, instead of one
    /// call each after it. Spans end with the same attributes under every hint; a hint other
    /// than [`SamplerHint::MayReadAttributes`] says the sampler reads none.
    /// [`Config::sampler_reads_attributes`] sets the two hints that say nothing of the decision.
    ///
    /// Default: [`SamplerHint::MayReadAttributes`], or `setup`'s hint for its global provider.
    pub fn sampler_hint(mut self, hint: SamplerHint) -> Config {
        self.sampler_hint = Some(hint);
        self
    }

    /// What the resolved tracer's sampler is known to be (see [`Config::sampler_hint`]);
    /// decided with the tracer, at the first request.
    pub(crate) fn resolve_sampler_hint(&self) -> SamplerHint {
        if let Some(hint) = self.sampler_hint {
            return hint;
        }
        #[cfg(feature = "setup")]
        if matches!(self.tracer, TracerSource::Global)
            && crate::common::tracer::global_sdk().is_some()
        {
            return crate::common::tracer::global_sampler_hint();
        }
        SamplerHint::MayReadAttributes
    }

    /// The most bytes any client-controlled value may take as an attribute (user agent, path,
    /// query, addresses from headers, captured headers and metadata, original method names,
    /// `url.full`). Longer values are cut on a character boundary and end in `…`.
    ///
    /// Default: `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
    /// else [`DEFAULT_VALUE_LENGTH`] (2048).
    pub fn max_attribute_length(mut self, bytes: usize) -> Config {
        self.max_value_length = bytes;
        if matches!(self.env_error, Some(ConfigError::ValueLength { .. })) {
            self.env_error = None;
        }
        self
    }

    /// Override `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn semconv(mut self, mode: SemconvMode) -> Config {
        self.semconv = mode;
        self
    }

    /// Override `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`.
    pub fn known_methods(mut self, methods: KnownMethods) -> Config {
        self.known_methods = methods;
        self
    }

    /// Turn on every opt-in metric at once: active requests and request/response body sizes.
    pub fn opt_in_metrics(self, on: bool) -> Config {
        self.active_requests(on).body_size_metrics(on)
    }

    /// Emit `http.server.active_requests` / `http.client.active_requests` (opt-in in semconv).
    pub fn active_requests(mut self, on: bool) -> Config {
        self.active_requests = on;
        self
    }

    /// Emit the request and response body-size histograms (bytes actually transferred).
    pub fn body_size_metrics(mut self, on: bool) -> Config {
        self.body_size_metrics = on;
        self
    }

    /// Record these gRPC request metadata keys as `rpc.request.metadata.<key>` (string arrays).
    /// Sensitive keys (see [`SENSITIVE_HEADERS`]) are exported as `REDACTED`.
    pub fn capture_request_metadata<I, S>(mut self, keys: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_metadata = header_names(keys);
        self
    }

    /// Record these gRPC response metadata keys (headers and trailers) as
    /// `rpc.response.metadata.<key>`.
    pub fn capture_response_metadata<I, S>(mut self, keys: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_metadata = header_names(keys);
        self
    }

    /// Add an `rpc.message` event (SENT/RECEIVED, id, size) per gRPC message. Off by default: the
    /// events are deprecated upstream and cost one event per message.
    pub fn rpc_message_events(mut self, on: bool) -> Config {
        self.message_events = on;
        self
    }

    /// Give each WebSocket session an INTERNAL span (named after the route, a child of the
    /// handshake) with its message and byte counts, close code, reason and initiator. Off by
    /// default: sessions can last hours. With a no-op tracer (metrics only) there is none: the
    /// session runs in the handshake's context.
    pub fn websocket_session_spans(mut self, on: bool) -> Config {
        self.websocket_session_spans = on;
        self
    }

    /// Emit the opt-in WebSocket metrics: message sizes and ping round-trip times.
    pub fn websocket_opt_in_metrics(mut self, on: bool) -> Config {
        self.websocket_opt_in_metrics = on;
        self
    }

    /// Give WebSocket data messages spans (off by default): a CONSUMER span per received
    /// message, a PRODUCER span per sent one, within a per-session budget, only when the
    /// handshake was sampled (and never with a no-op tracer).
    ///
    /// ```
    /// use towerlight::ws::MessageSpans;
    /// let config = towerlight::Config::new().websocket_message_spans(MessageSpans::budget(100, 10));
    /// # let _ = config;
    /// ```
    pub fn websocket_message_spans(mut self, spans: crate::ws::MessageSpans) -> Config {
        self.websocket_message_spans = Some(spans);
        self
    }

    /// The gRPC methods the server implements; others are reported as `_OTHER`.
    pub fn known_rpc_methods(mut self, methods: KnownRpcMethods) -> Config {
        self.known_rpc_methods = Some(methods);
        self
    }

    pub(crate) fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("towerlight")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
            .build()
    }

    pub(crate) fn build_tracer(&self) -> LayerTracer {
        #[cfg(feature = "setup")]
        use opentelemetry::trace::TracerProvider as _;
        match &self.tracer {
            #[cfg(feature = "setup")]
            TracerSource::Global => match crate::common::tracer::global_sdk() {
                Some(sdk) => LayerTracer::Sdk(sdk.tracer_with_scope(Self::scope())),
                None => LayerTracer::Boxed(opentelemetry::global::tracer_with_scope(Self::scope())),
            },
            #[cfg(not(feature = "setup"))]
            TracerSource::Global => {
                LayerTracer::Boxed(opentelemetry::global::tracer_with_scope(Self::scope()))
            }
            TracerSource::Provider(f) => LayerTracer::Boxed(f(Self::scope())),
            TracerSource::Noop => LayerTracer::Noop(opentelemetry::trace::noop::NoopTracer::new()),
            #[cfg(feature = "setup")]
            TracerSource::Sdk(p) => LayerTracer::Sdk(p.tracer_with_scope(Self::scope())),
        }
    }

    pub(crate) fn build_meter(&self) -> Meter {
        match &self.meter {
            MeterSource::Global => opentelemetry::global::meter_with_scope(Self::scope()),
            MeterSource::Provider(f, _) => f(Self::scope()),
        }
    }

    /// Whether the meters of [`Config::build_meter`] bind for real (see `common::bind`).
    pub(crate) fn meter_binds(&self) -> bool {
        match &self.meter {
            MeterSource::Global => crate::common::bind::global_binds(),
            MeterSource::Provider(_, binds) => *binds,
        }
    }

    /// The propagator the layer uses, warning about a bad `OTEL_*` value once per `Config` (a
    /// layer that builds an HTTP and a gRPC instrument from it warns once, not twice).
    pub(crate) fn resolve_propagator(&self) -> Propagator {
        if let Some(err) = &self.env_error {
            if !self
                .env_warned
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                let fallback = match err {
                    ConfigError::Propagators(_) => "falling back to tracecontext,baggage",
                    _ => "using the default",
                };
                tracing::warn!(target: "towerlight", "{err}; {fallback}");
            }
        }
        self.propagator.clone().unwrap_or_else(Propagator::w3c)
    }

    pub(crate) fn is_public(&self, parts: &http::request::Parts) -> bool {
        match &self.public_endpoint {
            PublicEndpoint::No => false,
            PublicEndpoint::Always => true,
            PublicEndpoint::When(f) => f(parts),
        }
    }

    pub(crate) fn is_sensitive_header(&self, name: &HeaderName) -> bool {
        self.sensitive_headers.iter().any(|h| h == name)
    }

    pub(crate) fn default_span_name<'a>(
        &self,
        parts: &http::request::Parts,
        route: Option<&str>,
        default_name: Cow<'a, str>,
    ) -> Cow<'a, str> {
        match &self.span_name {
            None => default_name,
            Some(f) => Cow::Owned(f(&SpanNameInput {
                request: parts,
                route,
                default_name: &default_name,
            })),
        }
    }
}

/// The attribute value length limit from `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
/// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` (empty = unset), as the SDK environment specification
/// orders them. `None` when neither is set.
pub(crate) fn value_length_from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<usize>, ConfigError> {
    for variable in [
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    ] {
        let Some(value) = lookup(variable).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        return match value.trim().parse::<usize>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(ConfigError::ValueLength { variable, value }),
        };
    }
    Ok(None)
}

fn header_names<I, S>(names: I) -> Vec<HeaderName>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .filter_map(|n| {
            HeaderName::from_bytes(n.as_ref().trim().to_ascii_lowercase().as_bytes()).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_provider_s_sampler_may_read_attributes_unless_told_otherwise() {
        let sdk = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let given = Config::new().tracer_provider(sdk);
        let reads = |c: &Config| c.resolve_sampler_hint().may_read_attributes();
        assert!(reads(&given));
        assert!(!reads(&given.clone().sampler_reads_attributes(false)));
        let boxed =
            Config::new().tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
        assert!(reads(&boxed.clone().sampler_reads_attributes(true)));
        let hinted = given.sampler_hint(SamplerHint::ParentBasedAlwaysOn);
        assert_eq!(
            hinted.resolve_sampler_hint(),
            SamplerHint::ParentBasedAlwaysOn
        );
        assert_eq!(
            hinted.sampler_reads_attributes(true).resolve_sampler_hint(),
            SamplerHint::MayReadAttributes,
            "the last word counts"
        );
    }

    #[test]
    fn semconv_mode_parses_dup_entries() {
        assert_eq!(SemconvMode::parse(""), SemconvMode::STABLE);
        let m = SemconvMode::parse(" http/dup ,rpc/dup");
        assert!(m.http_dup && m.rpc_dup);
        let m = SemconvMode::parse("http,rpc");
        assert!(!m.http_dup && !m.rpc_dup);
    }

    #[test]
    fn known_methods_are_case_sensitive() {
        let k = KnownMethods::default();
        assert!(k.contains("GET") && k.contains("QUERY") && k.contains("PATCH"));
        assert!(!k.contains("get"));
        assert!(k.is_default());
        assert!(KnownMethods::new(",,,".split(','))
            .or_default()
            .is_default());
        let k = KnownMethods::new("GET, PURGE".split(','));
        assert!(k.contains("PURGE") && !k.contains("POST"));
        assert!(!k.is_default());
    }

    #[test]
    fn value_length_comes_from_the_span_variable_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(value_length_from_env(env(&[])).unwrap(), None);
        assert_eq!(
            value_length_from_env(env(&[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")])).unwrap(),
            Some(100)
        );
        assert_eq!(
            value_length_from_env(env(&[
                ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
                ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "50"),
            ]))
            .unwrap(),
            Some(50)
        );
        let err = value_length_from_env(env(&[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=\"-1\": expected a number of bytes (0 or more)"
        );
    }

    #[test]
    fn header_names_are_normalised_and_invalid_ones_dropped() {
        let names = header_names(["X-Request-Id", "bad header", " accept "]);
        assert_eq!(names, vec!["x-request-id", "accept"]);
    }
}
