//! The HTTP client instrument: the one place the HTTP client conventions live.
//!
//! `start(request head) → on_response(response head) → on_data* → end*`; `Drop` before a response
//! = cancelled. The Tower layer, the reqwest middleware and the awc extension all drive it.

use crate::common::tracer::{push, span_builder, PushSink, SpanSink};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Buf;
use http::HeaderMap;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;

use crate::body::{ByteCounter, CallObserver, ResponseObserver};
use crate::common::address::split_host_port;
use crate::common::limit::capped;
use crate::common::recent::{capped_shared, Kind};
use crate::config::Config;
use crate::http::method::MethodAttr;
use crate::http::metrics::{HttpSeries, Measured, MetricAttrs, Side};
use crate::http::progress::BodyProgress;
use crate::http::resolved::Resolved;
use crate::http::server::{protocol_version, CANCELLED};
use crate::http::url::full_url;

/// A low-cardinality template for a client request's URL (`/users/{id}`), set by the caller as a
/// request extension: it names the span (`GET /users/{id}`) and becomes `url.template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(pub Cow<'static, str>);

/// How many times this request was sent before (retries and redirects), as a request extension
/// set by the retry policy: it becomes `http.request.resend_count`.
///
/// Clones of a request share the count: attach one `ResendCount::default()` to the original
/// request and every attempt made from a clone of it numbers itself.
#[derive(Debug, Clone, Default)]
pub struct ResendCount(Arc<AtomicU32>);

impl ResendCount {
    /// Records one more attempt and returns how many came before it.
    pub fn next_attempt(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// What the caller knows about a request beyond its head.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientRequestInfo {
    /// Times this request was sent before (0 for the first attempt).
    pub resend_count: u32,
    /// Counts the request body bytes sent (body-size metrics).
    pub request_bytes: Option<ByteCounter>,
    /// The request body's size when the client knows it before sending (an in-memory body):
    /// `http.client.request.body.size` without a `Content-Length` header set by hand.
    pub body_size: Option<u64>,
}

impl ClientRequestInfo {
    /// Info for an attempt that `resend_count` attempts came before.
    pub fn new(resend_count: u32) -> ClientRequestInfo {
        ClientRequestInfo {
            resend_count,
            ..ClientRequestInfo::default()
        }
    }

    /// The request body's size, when known before sending.
    pub fn with_body_size(mut self, bytes: Option<u64>) -> ClientRequestInfo {
        self.body_size = bytes;
        self
    }
}

/// What `start` read from the request, handed to the sampler-visible attributes.
#[derive(Clone, Copy)]
struct ClientSeen<'a> {
    method: &'a MethodAttr,
    server: &'a Option<(StringValue, u16)>,
    template: &'a Option<Cow<'static, str>>,
    resend_count: u32,
}

/// Per-layer state of the HTTP client instrument, resolved once when the layer is built.
pub struct HttpClientInstrument {
    r: Resolved,
}

impl std::fmt::Debug for HttpClientInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientInstrument")
            .field("config", &self.r.config)
            .finish_non_exhaustive()
    }
}

impl HttpClientInstrument {
    /// Resolves `config`: tracer, propagator, metric instruments.
    pub fn new(config: &Config) -> HttpClientInstrument {
        HttpClientInstrument {
            r: Resolved::new(config, Side::Client),
        }
    }

    /// Whether the response headers matter (captured or seen by a hook), so adapters convert
    /// foreign header types only then.
    pub fn needs_response_headers(&self) -> bool {
        self.r.needs_response_headers()
    }

    /// Whether body-size metrics are on.
    pub fn counts_body_sizes(&self) -> bool {
        self.r.config.body_size_metrics
    }

    /// The attributes a sampler may read: method, server address and port, `url.full`,
    /// `url.template`, `http.request.resend_count`.
    fn sampler_attributes(
        &self,
        parts: &http::request::Parts,
        seen: ClientSeen<'_>,
        out: &mut impl Extend<KeyValue>,
    ) {
        let config = &self.r.config;
        push(
            out,
            KeyValue::new(attr::HTTP_REQUEST_METHOD, seen.method.value.clone()),
        );
        if let Some((host, port)) = seen.server {
            push(out, KeyValue::new(attr::SERVER_ADDRESS, host.clone()));
            push(out, KeyValue::new(attr::SERVER_PORT, i64::from(*port)));
        }
        push(
            out,
            KeyValue::new(
                attr::URL_FULL,
                full_url(&parts.uri, &config.sensitive_query, config.max_value_length),
            ),
        );
        if let Some(t) = seen.template {
            push(out, KeyValue::new(attr::URL_TEMPLATE, t.clone()));
        }
        if seen.resend_count > 0 {
            push(
                out,
                KeyValue::new(
                    attr::HTTP_REQUEST_RESEND_COUNT,
                    i64::from(seen.resend_count),
                ),
            );
        }
    }

    /// Starts the CLIENT span under `parent`: the request's context, whether the span records,
    /// and the wall-clock time it started at.
    fn start_span(
        &self,
        parts: &http::request::Parts,
        seen: ClientSeen<'_>,
        parent: Context,
        extra: &[KeyValue],
    ) -> (Context, bool, SystemTime) {
        let config = &self.r.config;
        let default_name = seen.method.span_name(seen.template.as_deref());
        let name = config.default_span_name(parts, seen.template.as_deref(), default_name);

        // As on the server: the attributes a sampler may read go in at creation only when it may
        // read them, all of them when the span records for sure, else only once it records.
        let at = self.r.sampler_hint().at_creation(&parent);
        let mut attributes = Vec::with_capacity(8);
        if at.sampler_visible() {
            self.sampler_attributes(parts, seen, &mut attributes);
        }
        if at.all() {
            self.recording_attributes(parts, seen, extra, &mut PushSink(&mut attributes));
        }
        let started_wall = SystemTime::now();
        let builder = span_builder(name, SpanKind::Client, Some(started_wall), attributes, None);
        let mut span = self.r.tracer().build_with_context(builder, &parent);
        let recording = opentelemetry::trace::Span::is_recording(&span);
        if recording && !at.all() {
            // Straight into the span, one by one as the SDK takes them: no buffer between.
            let mut more = SpanSink(&mut span);
            if !at.sampler_visible() {
                self.sampler_attributes(parts, seen, &mut more);
            }
            self.recording_attributes(parts, seen, extra, &mut more);
        }
        let cx = crate::propagation::random::context_with(&parent, span);
        (cx, recording, started_wall)
    }

    /// The attributes only a recording span gets (after the sampler-visible ones).
    fn recording_attributes(
        &self,
        parts: &http::request::Parts,
        seen: ClientSeen<'_>,
        extra: &[KeyValue],
        out: &mut impl Extend<KeyValue>,
    ) {
        if let Some(original) = &seen.method.original {
            push(
                out,
                KeyValue::new(attr::HTTP_REQUEST_METHOD_ORIGINAL, original.clone()),
            );
        }
        self.r.request_headers.capture(&parts.headers, out);
        if self.r.config.semconv.http_dup {
            self.old_attributes(parts, seen, out);
        }
        out.extend(extra.iter().cloned());
    }

    /// The old (`http/dup`) names of the span's attributes.
    #[allow(deprecated)]
    fn old_attributes(
        &self,
        parts: &http::request::Parts,
        seen: ClientSeen<'_>,
        out: &mut impl Extend<KeyValue>,
    ) {
        let config = &self.r.config;
        let max = config.max_value_length;
        push(
            out,
            KeyValue::new(attr::HTTP_METHOD, capped(parts.method.as_str(), max)),
        );
        push(
            out,
            KeyValue::new(
                attr::HTTP_URL,
                full_url(&parts.uri, &config.sensitive_query, max),
            ),
        );
        if let Some((host, port)) = seen.server {
            push(out, KeyValue::new(attr::NET_PEER_NAME, host.clone()));
            push(out, KeyValue::new(attr::NET_PEER_PORT, i64::from(*port)));
        }
    }

    /// Starts a client call under the current context and injects it into `parts.headers`.
    pub fn start(
        self: &Arc<Self>,
        parts: &mut http::request::Parts,
        info: ClientRequestInfo,
    ) -> HttpClientCall {
        let parent = Context::current();
        if let Some(filter) = &self.r.config.filter {
            if !filter(parts) {
                self.r.propagator.inject(&parent, &mut parts.headers);
                return HttpClientCall {
                    inst: self.clone(),
                    cx: parent,
                    state: None,
                };
            }
        }
        let config = &self.r.config;
        let max = config.max_value_length;
        let method = MethodAttr::new(&parts.method, &config.known_methods, max);
        let scheme: &'static str = match parts.uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let server = match parts.uri.authority() {
            Some(a) => {
                let (_, host_port) = crate::common::redact::split_userinfo(a.as_str());
                split_host_port(host_port)
            }
            // A path-only request: the Host header names the target (forwarding headers on an
            // outgoing request describe someone else's request, not this one's target).
            None => parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(split_host_port),
        }
        .map(|(host, port)| {
            let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
            // The target a client repeats on every request: shared, with the metric set too.
            (capped_shared(Kind::Target, host, max), port)
        });
        let template = parts.extensions.get::<UrlTemplate>().map(|t| t.0.clone());
        let seen = ClientSeen {
            method: &method,
            server: &server,
            template: &template,
            resend_count: info.resend_count,
        };
        let mut extra = Vec::new();
        if let Some(hook) = &config.request_hook {
            hook(parts, &mut extra);
        }
        let started = Instant::now();
        // A no-op tracer (metrics only) builds no span: the request goes out in the caller's
        // context, as the server's runs in its parent's, and the wall clock is not read.
        let noop = self.r.tracer().is_noop();
        let inherits = crate::common::trust::client_inherits_current(noop);
        let (cx, recording, started_wall) = match noop {
            true => (parent, false, SystemTime::UNIX_EPOCH),
            false => self.start_span(parts, seen, parent, &extra),
        };
        self.r.propagator.inject(&cx, &mut parts.headers);

        // One shared copy of the strings the metric sets carry, cloned per set for free.
        let series = HttpSeries {
            method: method.value.clone(),
            scheme,
            server: server.clone(),
            status: None,
            route: template.as_ref().map(|t| match t {
                Cow::Borrowed(s) => StringValue::from(*s),
                Cow::Owned(s) => StringValue::from(Arc::<str>::from(s.as_str())),
            }),
            version: None,
            error: None,
        };
        // The active-requests attributes: the set without status, version and error, with
        // `url.template` (opt-in there) when the caller named one.
        let opt_in = self.r.metrics().active.is_some().then(|| {
            let set = series.attributes(Side::Client, &[]).0;
            self.r.metrics().add_active(1, || &set);
            set
        });
        let request_size = match (&self.r.metrics().request_size, info.request_bytes) {
            (None, _) => RequestSize::Off,
            (Some(_), Some(counter)) => RequestSize::Counted(counter),
            (Some(_), None) => RequestSize::Known(
                parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .or(info.body_size),
            ),
        };
        HttpClientCall {
            inst: self.clone(),
            cx,
            state: Some(Box::new(ClientState {
                start: started,
                start_wall: started_wall,
                method,
                series,
                opt_in,
                status: None,
                version: None,
                extra,
                recording,
                inherits,
                request_size,
                body: BodyProgress::new(&parts.method),
            })),
        }
    }
}

enum RequestSize {
    Off,
    Counted(ByteCounter),
    Known(Option<u64>),
}

struct ClientState {
    start: Instant,
    start_wall: SystemTime,
    method: MethodAttr,
    /// The metric set so far (method, server, scheme, template); the rest is set at the end.
    series: HttpSeries,
    /// The active-requests attributes, when that (opt-in) metric is on.
    opt_in: Option<MetricAttrs>,
    status: Option<u16>,
    version: Option<&'static str>,
    extra: Vec<KeyValue>,
    recording: bool,
    /// The context is the caller's, current at the start (a no-op tracer).
    inherits: bool,
    request_size: RequestSize,
    /// The response body against what its head promised.
    body: BodyProgress,
}

/// One outgoing HTTP request in flight.
///
/// Dropped before a response arrived = cancelled (`error.type = "cancelled"`); dropped after the
/// response head (the caller stopped reading the body) = ended with the response's outcome.
pub struct HttpClientCall {
    inst: Arc<HttpClientInstrument>,
    cx: Context,
    state: Option<Box<ClientState>>,
}

impl std::fmt::Debug for HttpClientCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::body::debug_call(f, "HttpClientCall", &self.cx, self.state.is_none())
    }
}

impl HttpClientCall {
    /// The call's context (the CLIENT span).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the response head.
    pub fn on_response(&mut self, response: &http::response::Parts) {
        self.on_response_head(response.status, response.version, &response.headers);
        if let Some(hook) = &self.inst.r.config.response_hook {
            let mut hooked = Vec::new();
            hook(response, &mut hooked);
            if let Some(state) = self.state.as_mut() {
                if state.recording && !hooked.is_empty() {
                    self.cx.span().set_attributes(hooked.iter().cloned());
                }
                state.extra.extend(hooked);
            }
        }
    }

    /// Records the response status, version and headers (for clients whose response type is
    /// not an `http::Response`).
    pub fn on_response_head(
        &mut self,
        status: http::StatusCode,
        version: http::Version,
        headers: &HeaderMap,
    ) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        state.status = Some(status.as_u16());
        state.version = Some(protocol_version(version));
        state.body.on_head(status, headers);
        if state.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status.as_u16()),
            ));
            span.set_attribute(KeyValue::new(
                attr::NETWORK_PROTOCOL_VERSION,
                protocol_version(version),
            ));
            if self.inst.r.config.semconv.http_dup {
                #[allow(deprecated)]
                span.set_attribute(KeyValue::new(
                    attr::HTTP_STATUS_CODE,
                    i64::from(status.as_u16()),
                ));
            }
            let mut captured = Vec::new();
            self.inst.r.response_headers.capture(headers, &mut captured);
            if !captured.is_empty() {
                span.set_attributes(captured);
            }
        }
    }

    /// Whether the response head arrived and everything it promised has been received (no
    /// body expected, or the declared length read): adapters end the call right there.
    pub fn is_complete(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.body.is_complete())
    }

    /// Response body bytes arrived.
    pub fn on_body_bytes(&mut self, len: u64) {
        if let Some(state) = self.state.as_mut() {
            state.body.on_bytes(len);
        }
    }

    /// The response body ended.
    pub fn end(mut self) {
        self.finish(None);
    }

    /// The request failed (transport error, body error) with a bounded `error_type`.
    pub fn end_with_error(mut self, error_type: impl Into<Cow<'static, str>>) {
        self.finish(Some(error_type.into()));
    }

    fn finish(&mut self, error: Option<Cow<'static, str>>) {
        let Some(state) = self.state.take() else {
            return;
        };
        let elapsed = state.start.elapsed();
        let error_type = error.or_else(|| match state.status {
            Some(code) if code >= 400 => Some(crate::http::status::status_error_type(code)),
            _ => None,
        });
        let span = self.cx.span();
        if state.recording {
            if let Some(e) = &error_type {
                span.set_attribute(KeyValue::new(attr::ERROR_TYPE, e.clone()));
                span.set_status(Status::error(""));
            }
        }
        self.inst
            .r
            .tracer()
            .end_call_span(&span, state.start_wall + elapsed);

        let metrics = self.inst.r.metrics();
        let request_size = match &state.request_size {
            RequestSize::Counted(c) => Some(c.get()),
            RequestSize::Known(n) => *n,
            RequestSize::Off => None,
        };
        let measured = Measured {
            duration: elapsed.as_secs_f64(),
            request_size,
            response_size: state.status.map(|_| state.body.bytes()),
        };
        let series = HttpSeries {
            status: state.status,
            version: state.version,
            error: error_type,
            ..state.series
        };
        metrics.record(&series, &state.extra, measured);
        if let Some(set) = &state.opt_in {
            metrics.add_active(-1, || set);
        }
        if let Some(old) = &metrics.old_duration {
            #[allow(deprecated)]
            let mut old_attrs = vec![KeyValue::new(attr::HTTP_METHOD, state.method.value.clone())];
            #[allow(deprecated)]
            if let Some(code) = state.status {
                old_attrs.push(KeyValue::new(attr::HTTP_STATUS_CODE, i64::from(code)));
            }
            old.record(elapsed.as_secs_f64() * 1000.0, &old_attrs);
        }
    }
}

impl Drop for HttpClientCall {
    fn drop(&mut self) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        if state.status.is_some() {
            // The caller stopped reading the body: the request itself completed.
            self.finish(None);
        } else {
            let outcome = if std::thread::panicking() {
                "panic"
            } else {
                CANCELLED
            };
            self.finish(Some(Cow::Borrowed(outcome)));
        }
    }
}

impl ResponseObserver for HttpClientCall {
    fn on_response(&mut self, response: &http::response::Parts) {
        HttpClientCall::on_response(self, response);
    }
}

impl CallObserver for HttpClientCall {
    fn context(&self) -> &Context {
        &self.cx
    }
    fn inherits_current(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.inherits)
    }
    fn on_data<D: Buf>(&mut self, data: &D) {
        self.on_body_bytes(data.remaining() as u64);
    }
    fn on_trailers(&mut self, _trailers: &HeaderMap) {}
    fn is_complete(&self) -> bool {
        HttpClientCall::is_complete(self)
    }
    fn end(self) {
        HttpClientCall::end(self);
    }
    fn end_with_error(self, error_type: Cow<'static, str>) {
        HttpClientCall::end_with_error(self, error_type);
    }
    fn end_with_panic(self) {
        HttpClientCall::end_with_error(self, "panic");
    }
}

#[cfg(all(test, feature = "setup"))]
mod tests {
    use super::*;
    use crate::common::testing::{assert_blind_span_matches, peeked, peeking_config, value_of};
    use crate::config::SamplerHint;

    /// One request through a client instrument whose sampler peeks.
    fn peeked_call(hint: SamplerHint) -> (Vec<Vec<String>>, Vec<(String, String)>) {
        let (config, sampler, exporter) = peeking_config(hint);
        let inst = Arc::new(HttpClientInstrument::new(&config));
        let mut request = http::Request::get("https://api.example.com:8443/users/7?sig=s3cret")
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(UrlTemplate(Cow::Borrowed("/users/{id}")));
        let mut parts = request.into_parts().0;
        let call = inst.start(&mut parts, ClientRequestInfo::new(1));
        assert!(parts.headers.contains_key("traceparent"));
        call.end();
        peeked(&sampler, &exporter)
    }

    #[test]
    fn under_http_dup_the_span_also_carries_the_old_names_once() {
        let (config, sampler, exporter) = peeking_config(SamplerHint::MayReadAttributes);
        let config = config.semconv(crate::config::SemconvMode::parse("http/dup"));
        let inst = Arc::new(HttpClientInstrument::new(&config));
        let mut parts = http::Request::post("https://api.example.com:8443/users/7?sig=s3cret")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        inst.start(&mut parts, ClientRequestInfo::new(0)).end();
        let (_, attrs) = peeked(&sampler, &exporter);
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        let mut unique = keys.clone();
        unique.dedup();
        assert_eq!(keys, unique, "every key once");
        let value = |k: &str| value_of(&attrs, k);
        assert_eq!(value("http.method"), "POST");
        assert_eq!(
            value("http.url"),
            "https://api.example.com:8443/users/7?sig=REDACTED"
        );
        assert_eq!(value("net.peer.name"), "api.example.com");
        assert_eq!(value("net.peer.port"), "8443");
        assert_eq!(value("http.request.method"), "POST");
    }

    #[test]
    fn with_a_noop_tracer_a_request_runs_in_the_callers_span() {
        crate::common::testing::assert_noop_call_runs_in_the_callers_span(|config| {
            let inst = Arc::new(HttpClientInstrument::new(config));
            let mut parts = http::Request::get("http://example.com/users/7")
                .body(())
                .unwrap()
                .into_parts()
                .0;
            let call = inst.start(&mut parts, ClientRequestInfo::new(0));
            let caller = Context::current().span().span_context().clone();
            let injected = parts.headers["traceparent"].to_str().unwrap().to_owned();
            assert_eq!(
                injected,
                format!("00-{}-{}-01", caller.trace_id(), caller.span_id()),
                "the caller's span is propagated"
            );
            let cx = call.context().clone();
            call.end();
            cx
        });
    }

    #[test]
    fn a_client_sampler_that_reads_no_attributes_is_shown_none_and_the_span_ends_with_the_same_set()
    {
        let blind = assert_blind_span_matches(
            peeked_call,
            &[
                "http.request.method",
                "server.address",
                "server.port",
                "url.full",
                "url.template",
                "http.request.resend_count",
            ],
            &[],
            &[
                "http.request.method",
                "http.request.resend_count",
                "server.address",
                "server.port",
                "url.full",
                "url.template",
            ],
        );
        let value = |k: &str| value_of(&blind, k);
        assert_eq!(
            value("url.full"),
            "https://api.example.com:8443/users/7?sig=REDACTED"
        );
        assert_eq!(value("server.port"), "8443");
        assert_eq!(value("http.request.resend_count"), "1");
    }
}
