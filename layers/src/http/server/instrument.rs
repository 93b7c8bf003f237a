//! The HTTP server instrument: the one place the HTTP server conventions live.
//!
//! `start(request head) → on_response(response head) → on_data/on_trailers → end*`, and `Drop` of
//! an unfinished call = cancelled. The Tower service, the body wrapper and the Actix middleware are
//! thin shells that call these methods.

use crate::common::tracer::{push, span_builder, PushSink, SpanSink};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use http::{HeaderMap, Version};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;

use crate::body::{ByteCounter, CallObserver, ResponseObserver};
use crate::common::address::{self, HeadScan};
use crate::common::limit::{capped, capped_bytes};
use crate::common::recent::{capped_bytes_shared, capped_shared, Kind};
use crate::common::redact::redact_query;
use crate::common::trust::{inherits_current, server_parent};
use crate::config::Config;
use crate::http::method::MethodAttr;
use crate::http::metrics::{HttpSeries, Measured, Side};
use crate::http::progress::BodyProgress;
use crate::http::resolved::Resolved;
use crate::http::status::status_error_type;

/// `error.type` when the client went away before the response was complete.
pub const CANCELLED: &str = "cancelled";
/// `error.type` when the handler panicked.
pub const PANIC: &str = "panic";

/// What the framework knows about a request beyond its head.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The matched route template (`/users/{id}`), when the router knows it at this point.
    pub route: Option<Arc<str>>,
    /// Where a router further in will write the route once it has matched (see [`RouteSlot`]).
    pub route_slot: Option<RouteSlot>,
    /// The connection's peer address.
    pub peer: Option<SocketAddr>,
    /// Counts the request body bytes the handler reads (body-size metrics only).
    pub request_bytes: Option<ByteCounter>,
    /// The connection is TLS: `url.scheme` is `https` unless a proxy header says otherwise.
    pub secure: bool,
}

impl RequestInfo {
    /// Info with a known route and peer.
    pub fn new(route: Option<Arc<str>>, peer: Option<SocketAddr>) -> RequestInfo {
        RequestInfo {
            route,
            peer,
            ..RequestInfo::default()
        }
    }

    /// Marks the connection as TLS (or not).
    pub fn with_secure(mut self, secure: bool) -> RequestInfo {
        self.secure = secure;
        self
    }

    /// Counts the request body with `counter` (for adapters that wrap the body themselves).
    pub fn with_request_bytes(mut self, counter: Option<ByteCounter>) -> RequestInfo {
        self.request_bytes = counter;
        self
    }

    /// The route comes later, through `slot` (see [`HttpServerInstrument::needs_route_at_start`]).
    pub fn with_route_slot(mut self, slot: Option<RouteSlot>) -> RequestInfo {
        self.route_slot = slot;
        self
    }
}

/// A place for a router to record the route it matched, for a layer that sits *outside* the
/// router and so cannot see the route when the request arrives.
///
/// The server layer puts one in the request extensions when the route is not known at start;
/// routers (or the framework adapters' route recorders) call [`RouteSlot::set`]. The span name and
/// `http.route` are then fixed up when the call ends.
#[derive(Debug, Clone, Default)]
pub struct RouteSlot(Arc<OnceLock<Arc<str>>>);

impl RouteSlot {
    /// Records the matched route template. Only the first call counts. The template is the
    /// process's shared copy ([`crate::http::shared_route`]), not one allocated per request.
    pub fn set(&self, route: &str) {
        let _ = self.0.set(crate::common::intern::shared_route(route));
    }

    /// The recorded route, if any.
    pub fn get(&self) -> Option<&Arc<str>> {
        self.0.get()
    }
}

/// Per-layer state of the HTTP server instrument: configuration, tracer, propagator and metric
/// instruments, resolved once when the layer is built.
pub struct HttpServerInstrument {
    r: Resolved,
    /// The request headers the rules read, when that set is known (`None` = all of them: a
    /// user closure sees the whole head): with spans, and with the no-op tracer (metrics only).
    needed_headers: Option<[NeededHeaders; 2]>,
}

/// The request headers the metrics (and the context they run in) read: body size, content type,
/// the forwarded scheme. The propagator's fields come on top.
const METRIC_HEADERS: [&str; 4] = [
    "content-length",
    "content-type",
    "forwarded",
    "x-forwarded-proto",
];

/// The request headers only span attributes read (`server.address`, `client.address`,
/// `user_agent.original`); captured headers come on top.
const SPAN_HEADERS: [&str; 4] = ["host", "user-agent", "x-forwarded-host", "x-forwarded-for"];

/// A fixed set of lowercase header names, asked once per request header: most names a
/// request carries are not in it, and a mask of the set's name lengths turns those away
/// before any bytes are compared.
#[derive(Debug)]
struct NeededHeaders {
    /// Sorted, deduplicated.
    names: Box<[String]>,
    /// Bit `n` set: some name is `n` bytes long (63 and longer share bit 63).
    lengths: u64,
}

impl NeededHeaders {
    fn new(mut names: Vec<String>) -> NeededHeaders {
        names.sort_unstable();
        names.dedup();
        let lengths = names.iter().fold(0, |m, n| m | length_bit(n));
        NeededHeaders {
            names: names.into_boxed_slice(),
            lengths,
        }
    }

    /// Whether `name` is in the set, or is one of Jaeger's `uberctx-*` baggage headers.
    fn contains(&self, name: &str) -> bool {
        if name.starts_with("uberctx-") {
            return true;
        }
        self.lengths & length_bit(name) != 0
            && self
                .names
                .binary_search_by(|n| n.as_str().cmp(name))
                .is_ok()
    }
}

fn length_bit(name: &str) -> u64 {
    1 << name.len().min(63)
}

impl std::fmt::Debug for HttpServerInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServerInstrument")
            .field("config", &self.r.config)
            .finish_non_exhaustive()
    }
}

impl HttpServerInstrument {
    /// Resolves `config`: looks up the tracer, the meter's instruments and the propagator.
    pub fn new(config: &Config) -> HttpServerInstrument {
        let r = Resolved::new(config, Side::Server);
        let closures_see_head = config.request_hook.is_some()
            || config.filter.is_some()
            || config.span_name.is_some()
            || matches!(
                config.public_endpoint,
                crate::config::PublicEndpoint::When(_)
            );
        let needed_headers = (!closures_see_head).then(|| {
            use opentelemetry::propagation::TextMapPropagator;
            let propagated = || r.propagator.fields().map(|f| f.to_ascii_lowercase());
            let metrics = METRIC_HEADERS.iter().map(|n| (*n).to_owned());
            let traced = metrics
                .clone()
                .chain(SPAN_HEADERS.iter().map(|n| (*n).to_owned()))
                .chain(config.request_headers.iter().map(|h| h.as_str().to_owned()));
            [
                NeededHeaders::new(traced.chain(propagated()).collect()),
                NeededHeaders::new(metrics.chain(propagated()).collect()),
            ]
        });
        HttpServerInstrument { r, needed_headers }
    }

    /// The configuration this instrument was built from.
    pub fn config(&self) -> &Config {
        &self.r.config
    }

    /// Whether the rules read request header `name` (lowercase). Adapters whose header types
    /// differ from `http`'s convert only these; `true` for every header when a configured
    /// closure (filter, hooks, span name, public-endpoint predicate) sees the whole head.
    /// With the no-op tracer (metrics only) the headers only span attributes read (host,
    /// user agent, forwarded host and client, captured headers) do not count. Jaeger's
    /// `uberctx-*` baggage headers always count.
    pub fn needs_request_header(&self, name: &str) -> bool {
        self.request_header_filter()(name)
    }

    /// [`needs_request_header`](Self::needs_request_header) for one request's headers: the set
    /// (by tracer) is chosen once, not per header.
    pub fn request_header_filter(&self) -> impl Fn(&str) -> bool + '_ {
        let needed =
            self.needed_headers
                .as_ref()
                .map(|[traced, metrics]| match self.r.tracer().is_noop() {
                    false => traced,
                    true => metrics,
                });
        move |name| needed.is_none_or(|needed| needed.contains(name))
    }

    /// Whether the rules read the request target's path and query (span attributes: `url.path`,
    /// `url.query`; every closure that sees the head). With the no-op tracer and no such
    /// closure they do not, and an adapter whose types differ from `http`'s may leave an
    /// origin-form target (`/path?query`) out of the head it converts; an absolute-form one
    /// still counts (its scheme is `url.scheme`).
    pub fn needs_request_target(&self) -> bool {
        self.needed_headers.is_none() || !self.r.tracer().is_noop()
    }

    /// Whether the response headers matter (captured or seen by a hook); adapters whose header
    /// types differ from `http`'s convert them only then.
    pub fn needs_response_headers(&self) -> bool {
        self.r.needs_response_headers()
    }

    /// Whether the route must be known when the call starts: a sampler may read `http.route`
    /// there, or a custom span name be made from it. Otherwise the route matters only at the end
    /// (the span's final name and `http.route`, the metrics), and an adapter whose framework
    /// would have to route the request a second time to know it early (Actix) reports it
    /// once the router has run ([`HttpServerCall::on_route`], or a [`RouteSlot`] through
    /// [`RequestInfo::with_route_slot`]): the span and metrics end exactly as with the route
    /// known at start.
    pub fn needs_route_at_start(&self) -> bool {
        route_at_start(
            self.r.tracer().is_noop(),
            self.r.sampler_hint().may_read_attributes(),
            self.r.config.span_name.is_some(),
        )
    }

    /// Whether body-size metrics are on (so callers know to count request bytes).
    pub fn counts_body_sizes(&self) -> bool {
        self.r.config.body_size_metrics
    }

    /// Starts a call: extracts the inbound context, starts the SERVER span (unless filtered out)
    /// and counts the request as active.
    pub fn start(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        info: RequestInfo,
    ) -> HttpServerCall {
        self.start_scanned(parts, info, &HeadScan::new(&parts.headers))
    }

    /// [`HttpServerInstrument::start`] with the request head already scanned (the server layer
    /// scans it once, to tell gRPC and WebSocket upgrades apart too).
    pub(crate) fn start_scanned<'a>(
        self: &Arc<Self>,
        parts: &'a http::request::Parts,
        info: RequestInfo,
        head: &HeadScan<'a>,
    ) -> HttpServerCall {
        let inbound = Context::map_current(|cx| {
            self.r
                .propagator
                .extract_scanned(cx, &parts.headers, head.context)
        });
        let head_fields = head.context.seen;
        // Trust is decided before filtering: a filtered-out request on a public endpoint must
        // not hand the caller's trace to downstream calls either.
        let (parent, links) = server_parent(&self.r.config, parts, inbound);
        if let Some(filter) = &self.r.config.filter {
            if !filter(parts) {
                return HttpServerCall::passthrough(self.clone(), parent);
            }
        }
        let config = &self.r.config;
        let max = config.max_value_length;
        let method = MethodAttr::new(&parts.method, &config.known_methods, max);
        let scheme = head.scheme(parts, info.secure);
        let route = info.route;
        // One clock reading serves the span and the duration metric, so they agree exactly.
        let started = Instant::now();
        // The wall clock only dates the span: a no-op tracer (metrics only) builds none.
        let started_wall = match self.r.tracer().is_noop() {
            true => SystemTime::UNIX_EPOCH,
            false => SystemTime::now(),
        };
        let mut extra = Vec::new();
        if let Some(hook) = &config.request_hook {
            hook(parts, &mut extra);
        }
        let seen = Seen {
            head,
            scheme,
            server: None,
            peer: info.peer,
        };
        let start = SpanStart {
            method: &method,
            route: route.as_ref(),
            seen,
            started_wall,
            extra: &extra,
        };
        let (cx, recording) = self.start_span(parts, start, parent, links);
        let inherits = inherits_current(
            config,
            self.r.tracer().is_noop(),
            self.r.propagator.reads_any(head_fields),
        );

        self.r
            .metrics()
            .add_active(1, || active_attributes(&method, scheme));
        let request_bytes = match (&self.r.metrics().request_size, info.request_bytes) {
            (None, _) => RequestBytes::Off,
            (Some(_), Some(counter)) => RequestBytes::Counted(counter),
            (Some(_), None) => RequestBytes::ContentLength(head.content_length),
        };
        HttpServerCall {
            inst: self.clone(),
            cx,
            state: Some(Box::new(CallState {
                start: started,
                start_wall: started_wall,
                method,
                scheme,
                version: protocol_version(parts.version),
                route,
                route_slot: info.route_slot,
                late_route: None,
                status: None,
                extra,
                request_bytes,
                recording,
                inherits,
                body: BodyProgress::new(&parts.method),
            })),
        }
    }

    /// Starts the SERVER span under `parent`: the request's context and whether the span
    /// records. With a no-op tracer nothing is built and the context is the parent's.
    fn start_span(
        &self,
        parts: &http::request::Parts,
        start: SpanStart<'_>,
        parent: Context,
        links: Option<Vec<opentelemetry::trace::Link>>,
    ) -> (Context, bool) {
        let tracer = self.r.tracer();
        if tracer.is_noop() {
            return (parent, false);
        }
        let config = &self.r.config;
        let max = config.max_value_length;
        let SpanStart {
            method,
            route,
            mut seen,
            started_wall,
            extra,
        } = start;
        let default_name = method.span_name(route.map(|r| &**r));
        let name = config.default_span_name(parts, route.map(|r| &**r), default_name);

        // Attributes a sampler may want go in at creation (unless the configuration says the
        // sampler reads none), and all of them when the span records for sure; the rest only if
        // the span records. The SDK keeps this Vec as the span's own: its capacity leaves room
        // for the rest, so adding them does not grow it.
        let at = self.r.sampler_hint().at_creation(&parent);
        let mut attributes = Vec::with_capacity(self.span_capacity(extra.len()));
        if at.sampler_visible() {
            seen.server = seen.head.server_address(parts);
            sampler_attributes(parts, method, route, &seen, max, &mut attributes);
        }
        if at.all() {
            self.recording_attributes_at_creation(parts, seen, method, extra, &mut attributes);
        }
        let builder = span_builder(
            name,
            SpanKind::Server,
            Some(started_wall),
            attributes,
            links,
        );
        let mut span = tracer.build_with_context(builder, &parent);
        let recording = opentelemetry::trace::Span::is_recording(&span);
        if recording && !at.all() {
            // Straight into the span, one by one as the SDK takes them: no buffer between.
            let mut more = SpanSink(&mut span);
            if !at.sampler_visible() {
                seen.server = seen.head.server_address(parts);
                sampler_attributes(parts, method, route, &seen, max, &mut more);
            }
            self.request_attributes(parts, seen, method, &mut more);
            more.extend(extra.iter().cloned());
        }
        let cx = crate::propagation::random::context_with(&parent, span);
        (cx, recording)
    }

    /// The recording-only attributes of a span sure to record, at its creation (through
    /// [`PushSink`], and not inlined: the span start of every other span compiles as before).
    #[inline(never)]
    fn recording_attributes_at_creation(
        &self,
        parts: &http::request::Parts,
        seen: Seen<'_>,
        method: &MethodAttr,
        extra: &[KeyValue],
        out: &mut Vec<KeyValue>,
    ) {
        let mut out = PushSink(out);
        self.request_attributes(parts, seen, method, &mut out);
        out.extend(extra.iter().cloned());
    }

    /// The span attribute Vec's capacity (the SDK keeps it as the span's own, so it should
    /// not grow): the default set's most, plus room for what the configuration adds. The
    /// default's 16 stay within the allocator's per-thread cache (glibc's holds blocks up to
    /// 1 KiB); the 24 it used to be missed it on every request.
    fn span_capacity(&self, extra: usize) -> usize {
        let configured = if self.r.adds_span_attributes {
            CONFIGURED_ATTRIBUTES
        } else {
            0
        };
        SPAN_ATTRIBUTES + extra + configured
    }

    /// The span attributes that only matter when the span records.
    fn request_attributes(
        &self,
        parts: &http::request::Parts,
        seen: Seen<'_>,
        method: &MethodAttr,
        out: &mut impl Extend<KeyValue>,
    ) {
        let Seen {
            head,
            scheme,
            server,
            peer,
        } = seen;
        if let Some(original) = &method.original {
            push(
                out,
                KeyValue::new(attr::HTTP_REQUEST_METHOD_ORIGINAL, original.clone()),
            );
        }
        let max = self.r.config.max_value_length;
        if let Some(q) = parts.uri.query() {
            let q = redact_query(q, &self.r.config.sensitive_query);
            push(out, KeyValue::new(attr::URL_QUERY, capped(&q, max)));
        }
        let version = protocol_version(parts.version);
        push(out, KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, version));
        let client = head.client_address();
        // One allocation for the peer address, shared by both attributes that carry it.
        let peer_ip = peer.map(|p| StringValue::from(address::ip_arc(p.ip())));
        match (client, &peer_ip) {
            (Some(c), _) => push(out, KeyValue::new(attr::CLIENT_ADDRESS, capped(c, max))),
            (None, Some(ip)) => push(out, KeyValue::new(attr::CLIENT_ADDRESS, ip.clone())),
            (None, None) => {}
        }
        if let (Some(p), Some(ip)) = (peer, &peer_ip) {
            push(out, KeyValue::new(attr::NETWORK_PEER_ADDRESS, ip.clone()));
            push(
                out,
                KeyValue::new(attr::NETWORK_PEER_PORT, i64::from(p.port())),
            );
        }
        if let Some(ua) = head.user_agent {
            push(
                out,
                KeyValue::new(
                    attr::USER_AGENT_ORIGINAL,
                    capped_bytes_shared(Kind::UserAgent, ua.as_bytes(), max),
                ),
            );
        }
        if !self.r.request_headers.is_empty() {
            self.r.request_headers.capture(&parts.headers, out);
        }
        if self.r.config.semconv.http_dup {
            #[allow(deprecated)]
            {
                push(
                    out,
                    KeyValue::new(attr::HTTP_METHOD, capped(parts.method.as_str(), max)),
                );
                push(out, KeyValue::new(attr::HTTP_SCHEME, scheme));
                let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                let target = match target.split_once('?') {
                    Some((path, q)) => {
                        format!("{path}?{}", redact_query(q, &self.r.config.sensitive_query))
                    }
                    None => target.to_owned(),
                };
                push(out, KeyValue::new(attr::HTTP_TARGET, capped(&target, max)));
                push(out, KeyValue::new(attr::HTTP_FLAVOR, version));
                if let Some((host, port)) = server {
                    push(out, KeyValue::new(attr::NET_HOST_NAME, capped(host, max)));
                    if let Some(port) = port {
                        push(out, KeyValue::new(attr::NET_HOST_PORT, i64::from(port)));
                    }
                }
                if let Some(ua) = head.user_agent {
                    push(
                        out,
                        KeyValue::new(attr::HTTP_USER_AGENT, capped_bytes(ua.as_bytes(), max)),
                    );
                }
                if let Some(c) = client {
                    push(out, KeyValue::new(attr::HTTP_CLIENT_IP, capped(c, max)));
                }
                if let (Some(p), Some(ip)) = (peer, peer_ip) {
                    push(out, KeyValue::new(attr::NET_SOCK_PEER_ADDR, ip));
                    push(
                        out,
                        KeyValue::new(attr::NET_SOCK_PEER_PORT, i64::from(p.port())),
                    );
                }
            }
        }
    }
}

/// [`HttpServerInstrument::needs_route_at_start`]: only a span's start reads the route, and
/// only a sampler that reads attributes or a custom span name reads it there.
fn route_at_start(noop_tracer: bool, sampler_reads: bool, custom_name: bool) -> bool {
    !noop_tracer && (sampler_reads || custom_name)
}

/// What [`HttpServerInstrument::start_span`] needs beyond the request head.
struct SpanStart<'a> {
    method: &'a MethodAttr,
    route: Option<&'a Arc<str>>,
    seen: Seen<'a>,
    started_wall: SystemTime,
    extra: &'a [KeyValue],
}

/// What `start` already read from the request head, handed to the recording-only attributes.
#[derive(Clone, Copy)]
struct Seen<'a> {
    head: &'a HeadScan<'a>,
    scheme: &'static str,
    server: Option<(&'a str, Option<u16>)>,
    peer: Option<SocketAddr>,
}

enum RequestBytes {
    Off,
    Counted(ByteCounter),
    ContentLength(Option<u64>),
}

struct CallState {
    start: Instant,
    start_wall: SystemTime,
    method: MethodAttr,
    scheme: &'static str,
    version: &'static str,
    route: Option<Arc<str>>,
    route_slot: Option<RouteSlot>,
    /// The route the adapter reported once the router had run ([`HttpServerCall::on_route`]).
    late_route: Option<Arc<str>>,
    status: Option<u16>,
    extra: Vec<KeyValue>,
    request_bytes: RequestBytes,
    recording: bool,
    /// The context is the one current at the start ([`inherits_current`]).
    inherits: bool,
    /// The response body against what its head promised.
    body: BodyProgress,
}

enum Outcome {
    Done,
    Error(Cow<'static, str>),
}

/// One HTTP server request in flight: owns its span, its metric attributes and its timing.
///
/// Finish it with [`HttpServerCall::end`], [`end_with_error`](HttpServerCall::end_with_error) or
/// [`end_with_panic`](HttpServerCall::end_with_panic); dropping it unfinished records the request
/// as cancelled (`error.type = "cancelled"`), so nothing is ever left in flight.
pub struct HttpServerCall {
    inst: Arc<HttpServerInstrument>,
    cx: Context,
    /// `None` once finished, or for a filtered-out request (propagation only).
    state: Option<Box<CallState>>,
}

impl std::fmt::Debug for HttpServerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::body::debug_call(f, "HttpServerCall", &self.cx, self.state.is_none())
    }
}

impl HttpServerCall {
    fn passthrough(inst: Arc<HttpServerInstrument>, cx: Context) -> HttpServerCall {
        HttpServerCall {
            inst,
            cx,
            state: None,
        }
    }

    /// The request's context: the server span (or, for a filtered-out request, the inbound
    /// context). Make it current while user code runs.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The route template the framework's router matched, known only once it has run (an
    /// adapter that reads it from the answered request, as Actix's does, instead of routing
    /// the request a second time at the start): the span is renamed and gets `http.route` at
    /// the end, and the metrics carry it, exactly as with the route known at start. Ignored
    /// when the call already has a route.
    pub fn on_route(&mut self, route: &str) {
        if let Some(state) = self.state.as_mut().filter(|s| s.route.is_none()) {
            state.late_route = Some(crate::common::intern::shared_route(route));
        }
    }

    /// Records the response head: status code, allow-listed headers, the response hook.
    pub fn on_response(&mut self, response: &http::response::Parts) {
        self.on_response_with_length(response, None);
    }

    /// [`on_response`](Self::on_response) with the body's exact length, for a framework that
    /// knows it but writes no `Content-Length` into the head it hands over (Actix): the call
    /// then ends on the body's last byte, as with that header.
    pub fn on_response_with_length(
        &mut self,
        response: &http::response::Parts,
        body_length: Option<u64>,
    ) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let code = response.status.as_u16();
        state.status = Some(code);
        state
            .body
            .on_head_sized(response.status, &response.headers, body_length);
        let mut hooked = Vec::new();
        if let Some(hook) = &self.inst.r.config.response_hook {
            hook(response, &mut hooked);
        }
        if state.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            if self.inst.r.config.semconv.http_dup {
                #[allow(deprecated)]
                span.set_attribute(KeyValue::new(attr::HTTP_STATUS_CODE, i64::from(code)));
            }
            if !self.inst.r.response_headers.is_empty() {
                let mut captured = Vec::new();
                self.inst
                    .r
                    .response_headers
                    .capture(&response.headers, &mut captured);
                span.set_attributes(captured);
            }
            if !hooked.is_empty() {
                span.set_attributes(hooked.iter().cloned());
            }
        }
        state.extra.extend(hooked);
    }

    /// Whether the response head has been seen and everything it promised has gone out (no
    /// body expected, or the declared length sent).
    pub fn is_complete(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.body.is_complete())
    }

    /// Response body bytes went out.
    pub fn on_data(&mut self, len: u64) {
        if let Some(state) = self.state.as_mut() {
            state.body.on_bytes(len);
        }
    }

    /// The call finished normally (the response body ended).
    pub fn end(mut self) {
        self.finish(Outcome::Done);
    }

    /// The call failed with a bounded `error_type` (inner service error, body error).
    pub fn end_with_error(mut self, error_type: impl Into<Cow<'static, str>>) {
        self.finish(Outcome::Error(error_type.into()));
    }

    /// The handler panicked.
    pub fn end_with_panic(mut self) {
        self.finish(Outcome::Error(Cow::Borrowed(PANIC)));
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        let elapsed_time = state.start.elapsed();
        let elapsed = elapsed_time.as_secs_f64();
        let status = state.status;
        let error_type: Option<Cow<'static, str>> = match outcome {
            Outcome::Error(e) => Some(e),
            Outcome::Done => match status {
                Some(code) if code >= 500 => Some(status_error_type(code)),
                _ => None,
            },
        };
        // Known at start, or reported late: through a slot (a router further in) or by the
        // adapter itself (`on_route`).
        let late_route = match &state.route {
            Some(_) => None,
            None => (state.route_slot.as_ref())
                .and_then(|slot| slot.get().cloned())
                .or_else(|| state.late_route.take()),
        };
        // Moved out, not cloned: the metric series is the route's last user.
        let route = state.route.take().or_else(|| late_route.clone());

        let span = self.cx.span();
        if state.recording {
            if let Some(r) = &late_route {
                // A custom formatter decided the name at start; keep it.
                if self.inst.r.config.span_name.is_none() {
                    span.update_name(state.method.span_name(Some(r)));
                }
                span.set_attribute(KeyValue::new(
                    attr::HTTP_ROUTE,
                    StringValue::from(r.clone()),
                ));
            }
            if let Some(e) = &error_type {
                span.set_attribute(KeyValue::new(attr::ERROR_TYPE, e.clone()));
                span.set_status(Status::error(""));
            }
        }
        self.inst
            .r
            .tracer()
            .end_call_span(&span, state.start_wall + elapsed_time);

        let metrics = self.inst.r.metrics();
        let request_size = match &state.request_bytes {
            RequestBytes::Counted(c) => Some(c.get()),
            RequestBytes::ContentLength(n) => *n,
            RequestBytes::Off => None,
        };
        let measured = Measured {
            duration: elapsed,
            request_size,
            response_size: Some(state.body.bytes()),
        };
        let series = HttpSeries {
            method: state.method.value.clone(),
            scheme: state.scheme,
            server: None,
            status,
            route: route.map(StringValue::from),
            version: Some(state.version),
            error: error_type,
        };
        metrics.record(&series, &state.extra, measured);
        metrics.add_active(-1, || active_attributes(&state.method, state.scheme));
        if let Some(old) = &metrics.old_duration {
            #[allow(deprecated)]
            let mut old_attrs = vec![
                KeyValue::new(attr::HTTP_METHOD, state.method.value.clone()),
                KeyValue::new(attr::HTTP_SCHEME, state.scheme),
                KeyValue::new(attr::HTTP_FLAVOR, state.version),
            ];
            #[allow(deprecated)]
            if let Some(code) = status {
                old_attrs.push(KeyValue::new(attr::HTTP_STATUS_CODE, i64::from(code)));
            }
            if let Some(r) = &series.route {
                old_attrs.push(KeyValue::new(attr::HTTP_ROUTE, r.clone()));
            }
            old.record(elapsed * 1000.0, &old_attrs);
        }
    }
}

impl Drop for HttpServerCall {
    fn drop(&mut self) {
        if self.state.is_some() {
            if std::thread::panicking() {
                self.finish(Outcome::Error(Cow::Borrowed(PANIC)));
            } else if self.is_complete() {
                // Everything promised went out; the server just never polled for the end.
                self.finish(Outcome::Done);
            } else {
                self.finish(Outcome::Error(Cow::Borrowed(CANCELLED)));
            }
        }
    }
}

impl ResponseObserver for HttpServerCall {
    fn on_response(&mut self, response: &http::response::Parts) {
        HttpServerCall::on_response(self, response);
    }
}

impl CallObserver for HttpServerCall {
    fn context(&self) -> &Context {
        &self.cx
    }
    fn inherits_current(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.inherits)
    }
    fn on_data<D: bytes::Buf>(&mut self, data: &D) {
        HttpServerCall::on_data(self, data.remaining() as u64);
    }
    fn on_trailers(&mut self, _trailers: &HeaderMap) {}
    fn is_complete(&self) -> bool {
        HttpServerCall::is_complete(self)
    }
    fn end(self) {
        HttpServerCall::end(self);
    }
    fn end_with_error(self, error_type: Cow<'static, str>) {
        HttpServerCall::end_with_error(self, error_type);
    }
    fn end_with_panic(self) {
        HttpServerCall::end_with_panic(self);
    }
}

/// Attributes set on a span at its start and when it records: capacity for all of them, so the
/// span's attribute list is allocated once.
/// The span attributes a sampler may read: method, scheme, path, route and server address.
fn sampler_attributes(
    parts: &http::request::Parts,
    method: &MethodAttr,
    route: Option<&Arc<str>>,
    seen: &Seen<'_>,
    max: usize,
    out: &mut impl Extend<KeyValue>,
) {
    out.extend([
        KeyValue::new(attr::HTTP_REQUEST_METHOD, method.value.clone()),
        KeyValue::new(attr::URL_SCHEME, seen.scheme),
        KeyValue::new(attr::URL_PATH, capped(parts.uri.path(), max)),
    ]);
    if let Some(r) = route {
        out.extend([KeyValue::new(
            attr::HTTP_ROUTE,
            StringValue::from(r.clone()),
        )]);
    }
    if let Some((host, port)) = seen.server {
        out.extend([KeyValue::new(
            attr::SERVER_ADDRESS,
            capped_shared(Kind::Host, host, max),
        )]);
        if let Some(port) = port {
            out.extend([KeyValue::new(attr::SERVER_PORT, i64::from(port))]);
        }
    }
}

/// The most attributes a span of the default configuration ends with: the sampler's six, the
/// recording-only seven, and at the end the status code, error type and original method.
const SPAN_ATTRIBUTES: usize = 16;

/// Room for what a configuration adds beyond [`SPAN_ATTRIBUTES`]: captured headers, the
/// duplicated old names (`OTEL_SEMCONV_STABILITY_OPT_IN=http/dup`); hook attributes are counted
/// where they are known.
const CONFIGURED_ATTRIBUTES: usize = 16;

/// `http.server.active_requests` attributes.
fn active_attributes(method: &MethodAttr, scheme: &'static str) -> [KeyValue; 2] {
    [
        KeyValue::new(attr::HTTP_REQUEST_METHOD, method.value.clone()),
        KeyValue::new(attr::URL_SCHEME, scheme),
    ]
}

/// `network.protocol.version` for an HTTP version.
pub(crate) fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[cfg(all(test, feature = "setup"))]
mod tests {
    use super::*;
    use crate::common::testing::{assert_blind_span_matches, peeked, peeking_config, value_of};
    use crate::config::SamplerHint;

    #[test]
    fn metrics_only_needs_no_header_that_only_spans_read() {
        use opentelemetry::trace::noop::NoopTracerProvider;
        let traced_config = Config::new()
            .tracer_provider(opentelemetry_sdk::trace::SdkTracerProvider::builder().build())
            .propagator(crate::Propagator::w3c())
            .capture_request_headers(["x-request-id"]);
        let metrics_config = traced_config
            .clone()
            .tracer_provider(NoopTracerProvider::new());
        let traced = HttpServerInstrument::new(&traced_config);
        let metrics = HttpServerInstrument::new(&metrics_config);
        for name in [
            "content-length",
            "content-type",
            "forwarded",
            "x-forwarded-proto",
        ] {
            assert!(traced.needs_request_header(name) && metrics.needs_request_header(name));
        }
        for name in ["traceparent", "tracestate", "baggage", "uberctx-a"] {
            assert!(traced.needs_request_header(name) && metrics.needs_request_header(name));
        }
        for name in [
            "host",
            "user-agent",
            "x-forwarded-host",
            "x-forwarded-for",
            "x-request-id",
        ] {
            assert!(traced.needs_request_header(name), "{name}");
            assert!(!metrics.needs_request_header(name), "{name}");
        }
        assert!(!traced.needs_request_header("accept"));
        assert!(traced.needs_request_target() && !metrics.needs_request_target());
        // A hook sees the whole head, whatever the tracer.
        let hooked = HttpServerInstrument::new(&metrics_config.request_attributes(|_, _| {}));
        assert!(hooked.needs_request_header("host") && hooked.needs_request_header("accept"));
        assert!(hooked.needs_request_target());
    }

    #[test]
    fn needed_headers_are_found_by_exact_name_and_others_turned_away() {
        let long = "x-a-very-long-header-name-that-is-longer-than-sixty-three-bytes-long";
        let needed = NeededHeaders::new(
            ["host", "traceparent", "host", "x-request-id", long]
                .map(String::from)
                .to_vec(),
        );
        for name in ["host", "traceparent", "x-request-id", long, "uberctx-user"] {
            assert!(needed.contains(name), "{name}");
        }
        let other_long = "x-another-very-long-header-name-longer-than-sixty-three-bytes-too";
        for name in ["hosx", "accept", "x-request-ie", "", "uberctx", other_long] {
            assert!(!needed.contains(name), "{name}");
        }
        assert_eq!(needed.names.len(), 4, "deduplicated");
    }

    #[test]
    fn the_route_is_needed_at_start_only_by_a_span_that_a_sampler_or_custom_name_reads_it_for() {
        assert!(!route_at_start(true, true, true), "metrics only: no span");
        assert!(
            !route_at_start(false, false, false),
            "blind sampler, default name"
        );
        assert!(
            route_at_start(false, true, false),
            "the sampler may read http.route"
        );
        assert!(
            route_at_start(false, false, true),
            "a custom name sees the route"
        );
    }
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    fn parts() -> http::request::Parts {
        http::Request::get("/users/7")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    /// One request through an instrument whose sampler peeks: what the sampler saw, and the
    /// span's attributes as (key, value) pairs in key order.
    fn peeked_span(hint: SamplerHint) -> (Vec<Vec<String>>, Vec<(String, String)>) {
        let (config, sampler, exporter) = peeking_config(hint);
        let inst = Arc::new(HttpServerInstrument::new(&config));
        let parts = http::Request::get("/users/7?page=2")
            .header("host", "example.com:8080")
            .header("user-agent", "t/1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let info = RequestInfo::new(Some(Arc::from("/users/{id}")), None);
        inst.start(&parts, info).end();
        peeked(&sampler, &exporter)
    }

    /// The span's name and attributes when the route is known at start (`start_route`) and
    /// reported late as `late`.
    fn routed_span(start_route: Option<&str>, late: &str) -> (String, Vec<(String, String)>) {
        let (config, sampler, exporter) = peeking_config(SamplerHint::ReadsNoAttributes);
        let inst = Arc::new(HttpServerInstrument::new(&config));
        let parts = http::Request::get("/users/7")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let info = RequestInfo::new(start_route.map(Arc::from), None);
        let mut call = inst.start(&parts, info);
        call.on_route(late);
        call.end();
        let name = exporter.get_finished_spans().unwrap()[0].name.to_string();
        (name, peeked(&sampler, &exporter).1)
    }

    #[test]
    fn a_route_reported_late_names_the_span_once_and_never_replaces_one_known_at_start() {
        let routes = |attrs: &[(String, String)]| -> Vec<String> {
            let route = attrs.iter().filter(|(k, _)| k == "http.route");
            route.map(|(_, v)| v.clone()).collect()
        };
        let (name, attrs) = routed_span(None, "/users/{id}");
        let mut keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        keys.dedup();
        assert_eq!(keys.len(), attrs.len(), "every key once: {attrs:?}");
        assert_eq!(name, "GET /users/{id}");
        assert_eq!(routes(&attrs), ["/users/{id}"]);
        let (name, attrs) = routed_span(Some("/users/{user}"), "/users/{id}");
        assert_eq!(name, "GET /users/{user}");
        assert_eq!(routes(&attrs), ["/users/{user}"]);
    }

    #[test]
    fn a_sampler_that_reads_no_attributes_is_shown_none_and_the_span_ends_with_the_same_set() {
        let blind = assert_blind_span_matches(
            peeked_span,
            &[
                "http.request.method",
                "url.scheme",
                "url.path",
                "http.route",
                "server.address",
                "server.port",
            ],
            &[
                "url.query",
                "network.protocol.version",
                "user_agent.original",
            ],
            &[
                "http.request.method",
                "http.route",
                "network.protocol.version",
                "server.address",
                "server.port",
                "url.path",
                "url.query",
                "url.scheme",
                "user_agent.original",
            ],
        );
        let value = |k: &str| value_of(&blind, k);
        assert_eq!(value("url.path"), "/users/7");
        assert_eq!(value("server.address"), "example.com");
        assert_eq!(value("server.port"), "8080");
    }

    #[test]
    fn with_a_noop_tracer_the_request_runs_in_the_callers_span_and_leaves_it_open() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let caller = provider.tracer("app").start("caller");
        let caller_cx = Context::current_with_span(caller);
        let _attached = caller_cx.clone().attach();
        let config =
            Config::new().tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
        let inst = Arc::new(HttpServerInstrument::new(&config));
        let call = inst.start(&parts(), RequestInfo::default());
        assert_eq!(
            call.context().span().span_context(),
            caller_cx.span().span_context()
        );
        call.end();
        assert!(
            exporter.get_finished_spans().unwrap().is_empty(),
            "caller's span still open"
        );
        caller_cx.span().end();
        assert_eq!(exporter.get_finished_spans().unwrap().len(), 1);
    }

    #[test]
    fn the_sdk_tracer_is_used_directly_and_records_the_server_span() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let config = Config::new().tracer_provider(provider);
        let inst = Arc::new(HttpServerInstrument::new(&config));
        assert!(matches!(
            inst.r.tracer(),
            crate::common::tracer::LayerTracer::Sdk(_)
        ));
        inst.start(&parts(), RequestInfo::default()).end();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "GET");
        assert_eq!(spans[0].span_kind, SpanKind::Server);
    }
}
