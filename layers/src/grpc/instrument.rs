//! The gRPC instrument: the one place the RPC conventions (v1.39+ names) live, for servers and
//! clients.
//!
//! The status is read from the response headers (trailers-only responses) *and* from the trailers
//! at the end of the stream; a stream that ends without one is `UNKNOWN`, as gRPC clients report
//! it. The span and `rpc.{server,client}.call.duration` last until the response body ends, so a
//! streaming call is measured for as long as it streams.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Buf;
use http::HeaderMap;
use opentelemetry::metrics::Histogram;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;
use opentelemetry_semantic_conventions::metric as semconv_metric;

use super::frames::FrameParser;
use super::method::RpcMethod;
use super::status;
use crate::body::{ByteCounter, CallObserver, ResponseObserver};
use crate::common::lazy::Lazy;
use crate::common::limit::capped;
use crate::config::Config;
use crate::http::address::{ip_string, split_host_port, HeadScan};
use crate::http::headers::HeaderCapture;
use crate::http::metrics::{DURATION_BUCKETS, OLD_DURATION_BUCKETS_MS};
use crate::propagation::Propagator;
use crate::trust::server_parent;

/// `rpc.system.name` for gRPC.
const GRPC: &str = "grpc";
/// `error.type` when user code panicked.
const PANIC: &str = "panic";

/// Which end of the call an instrument describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcSide {
    /// The server handling the call (span kind SERVER).
    Server,
    /// The client making the call (span kind CLIENT).
    Client,
}

/// What the transport knows about a call beyond its head.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RpcRequestInfo {
    /// The connection's peer address.
    pub peer: Option<SocketAddr>,
    /// The request body's tap, when the layer wraps the request body (message events).
    pub request_body: Option<ByteCounter>,
    /// A client's configured target (`server.address` / `server.port`), when the request URI
    /// does not carry it (tonic adds the origin below the client layers).
    pub target: Option<RpcTarget>,
}

/// The server a client is configured to call: `server.address` and `server.port`.
#[derive(Debug, Clone)]
pub struct RpcTarget {
    host: StringValue,
    port: Option<u16>,
}

impl RpcTarget {
    /// From an endpoint URI such as `http://orders.internal:50051` (default ports from the
    /// scheme). `None` when the URI has no host.
    pub fn from_uri(uri: &http::Uri) -> Option<RpcTarget> {
        let authority = uri.authority()?.as_str();
        // Never export `user:password@`.
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(host_port)?;
        Some(RpcTarget {
            host: StringValue::from(Arc::<str>::from(host)),
            port: port.or(default_port(uri)),
        })
    }
}

/// Per-layer state of the gRPC instrument, resolved once when the layer is built.
pub struct GrpcInstrument {
    side: RpcSide,
    config: Config,
    /// The tracer and duration histograms, resolved at the first call.
    lazy: Lazy<RpcMetrics>,
    propagator: Propagator,
    request_metadata: HeaderCapture,
    response_metadata: HeaderCapture,
    /// Methods proven to exist, when no known-method list is configured (servers only).
    learned: Option<LearnedMethods>,
}

/// The gRPC methods a server has seen a handler answer, so their names can be used in metrics
/// without a configured list. Bounded: past the cap, new names stay `_OTHER`.
struct LearnedMethods {
    names: std::sync::RwLock<std::collections::HashSet<Box<str>>>,
}

impl LearnedMethods {
    const CAP: usize = 4096;

    /// Whether a handler has already proven `method`.
    fn contains(&self, method: &str) -> bool {
        self.names.read().is_ok_and(|names| names.contains(method))
    }

    /// Whether `method` may be reported by name; learns it first when `handler_ran`.
    fn confirm(&self, method: &str, handler_ran: bool) -> bool {
        let known = self.names.read().is_ok_and(|names| names.contains(method));
        if known || !handler_ran {
            return known;
        }
        if let Ok(mut names) = self.names.write() {
            if names.len() < Self::CAP {
                names.insert(method.into());
                return true;
            }
        }
        false
    }
}

/// The RPC duration histograms of one side.
struct RpcMetrics {
    duration: Histogram<f64>,
    old_duration: Option<Histogram<f64>>,
}

impl RpcMetrics {
    fn new(meter: &Meter, config: &Config, side: RpcSide) -> RpcMetrics {
        let (name, old_name, word) = match side {
            RpcSide::Server => (
                semconv_metric::RPC_SERVER_CALL_DURATION,
                OLD_RPC_SERVER_DURATION,
                "server",
            ),
            RpcSide::Client => (
                semconv_metric::RPC_CLIENT_CALL_DURATION,
                OLD_RPC_CLIENT_DURATION,
                "client",
            ),
        };
        RpcMetrics {
            duration: meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(format!("Duration of RPC calls, {word} side."))
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            old_duration: config.semconv.rpc_dup.then(|| {
                meter
                    .f64_histogram(old_name)
                    .with_unit("ms")
                    .with_description(format!("Duration of RPC calls, {word} side (deprecated)."))
                    .with_boundaries(OLD_DURATION_BUCKETS_MS.to_vec())
                    .build()
            }),
        }
    }
}

impl std::fmt::Debug for GrpcInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcInstrument")
            .field("side", &self.side)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GrpcInstrument {
    /// Resolves `config` for one side: the propagator now, the tracer and the duration
    /// histograms at the first call.
    pub fn new(config: &Config, side: RpcSide) -> GrpcInstrument {
        let sensitive = |n: &http::HeaderName| config.is_sensitive_header(n);
        let build: fn(&Meter, &Config) -> RpcMetrics = match side {
            RpcSide::Server => |meter, config| RpcMetrics::new(meter, config, RpcSide::Server),
            RpcSide::Client => |meter, config| RpcMetrics::new(meter, config, RpcSide::Client),
        };
        GrpcInstrument {
            side,
            lazy: Lazy::new(config, build),
            propagator: config.resolve_propagator(),
            request_metadata: HeaderCapture::new(
                attr::RPC_REQUEST_METADATA,
                &config.request_metadata,
                sensitive,
                config.max_value_length,
            ),
            response_metadata: HeaderCapture::new(
                attr::RPC_RESPONSE_METADATA,
                &config.response_metadata,
                sensitive,
                config.max_value_length,
            ),
            learned: (side == RpcSide::Server && config.known_rpc_methods.is_none()).then(|| {
                LearnedMethods {
                    names: std::sync::RwLock::new(std::collections::HashSet::new()),
                }
            }),
            config: config.clone(),
        }
    }

    /// The side this instrument describes.
    pub fn side(&self) -> RpcSide {
        self.side
    }

    /// Whether `rpc.message` events are on (so the request body should be tapped).
    pub fn message_events(&self) -> bool {
        self.config.message_events
    }

    /// Starts a server call: extracts the inbound context and starts the SERVER span.
    pub fn start_server(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        info: RpcRequestInfo,
    ) -> GrpcCall {
        let inbound =
            Context::map_current(|cx| self.propagator.extract_with_context(cx, &parts.headers));
        // Trust first: a filtered-out call on a public endpoint must not continue the caller's
        // trace downstream either.
        let (parent, links) = server_parent(&self.config, parts, inbound);
        if let Some(filter) = &self.config.filter {
            if !filter(parts) {
                return GrpcCall::passthrough(self.clone(), parent);
            }
        }
        let head = HeadScan::new(&parts.headers);
        let server = head.server_address(parts).map(|(h, p)| RpcTarget {
            host: capped(h, self.config.max_value_length),
            port: p,
        });
        self.start(parts, info, parent, links, server)
    }

    /// Starts a client call: a CLIENT span under the current context, injected into the
    /// request headers with the layer's propagator.
    pub fn start_client(
        self: &Arc<Self>,
        parts: &mut http::request::Parts,
        info: RpcRequestInfo,
    ) -> GrpcCall {
        let parent = Context::current();
        if let Some(filter) = &self.config.filter {
            if !filter(parts) {
                self.propagator.inject(&parent, &mut parts.headers);
                return GrpcCall::passthrough(self.clone(), parent);
            }
        }
        // The channel's target, as configured: never a reverse lookup of the peer.
        let target = RpcTarget::from_uri(&parts.uri).or_else(|| info.target.clone());
        let call = self.start(parts, info, parent, None, target);
        self.propagator.inject(&call.cx, &mut parts.headers);
        call
    }

    fn start(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        info: RpcRequestInfo,
        parent: Context,
        links: Option<Vec<opentelemetry::trace::Link>>,
        server: Option<RpcTarget>,
    ) -> GrpcCall {
        let known = match self.side {
            RpcSide::Server => self.config.known_rpc_methods.as_ref(),
            RpcSide::Client => None,
        };
        let method = RpcMethod::from_path(parts.uri.path(), known, self.config.max_value_length);
        // Without a known list, a server reports a method by name only once a handler has
        // proven it: until then the name is client-controlled, so `rpc.method` (set once, at the
        // end) and the span name (`grpc` until then) wait for the outcome.
        let provisional = !method.is_other()
            && self
                .learned
                .as_ref()
                .is_some_and(|learned| !learned.contains(method.value.as_str()));
        let mut attributes = Vec::with_capacity(8);
        attributes.push(KeyValue::new(attr::RPC_SYSTEM_NAME, GRPC));
        if !provisional {
            attributes.push(KeyValue::new(attr::RPC_METHOD, method.value.clone()));
        }
        if let Some(target) = &server {
            attributes.push(KeyValue::new(attr::SERVER_ADDRESS, target.host.clone()));
            if let Some(port) = target.port {
                attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
            }
        }
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let kind = match self.side {
            RpcSide::Server => SpanKind::Server,
            RpcSide::Client => SpanKind::Client,
        };
        let span_name = if provisional {
            GRPC.to_owned()
        } else {
            method.span_name()
        };
        let mut builder = SpanBuilder::from_name(span_name)
            .with_kind(kind)
            .with_start_time(started_wall)
            .with_attributes(attributes);
        builder.links = links;
        let mut span = self.lazy.tracer().build_with_context(builder, &parent);
        let recording = opentelemetry::trace::Span::is_recording(&span);

        let mut extra = Vec::new();
        if let Some(hook) = &self.config.request_hook {
            hook(parts, &mut extra);
        }
        if recording {
            let mut more = Vec::with_capacity(6 + extra.len());
            if let Some(original) = &method.original {
                more.push(KeyValue::new(attr::RPC_METHOD_ORIGINAL, original.clone()));
            }
            if let Some(peer) = info.peer {
                more.push(KeyValue::new(
                    attr::NETWORK_PEER_ADDRESS,
                    ip_string(peer.ip()),
                ));
                more.push(KeyValue::new(
                    attr::NETWORK_PEER_PORT,
                    i64::from(peer.port()),
                ));
            }
            self.request_metadata.capture(&parts.headers, &mut more);
            if self.config.semconv.rpc_dup {
                #[allow(deprecated)]
                more.push(KeyValue::new(attr::RPC_SYSTEM, GRPC));
                if !provisional {
                    method.push_service(&mut more);
                }
            }
            more.extend(extra.iter().cloned());
            opentelemetry::trace::Span::set_attributes(&mut span, more);
        }
        let cx = crate::propagation::random::mark(&parent, parent.with_span(span));

        let events = self.config.message_events && recording;
        if events {
            if let Some(body) = &info.request_body {
                let kind = match self.side {
                    RpcSide::Server => RECEIVED,
                    RpcSide::Client => SENT,
                };
                body.tap_messages(MessageTap::new(cx.clone(), kind));
            }
        }
        let response_kind = match self.side {
            RpcSide::Server => SENT,
            RpcSide::Client => RECEIVED,
        };
        GrpcCall {
            inst: self.clone(),
            state: Some(Box::new(GrpcState {
                start: started,
                start_wall: started_wall,
                method,
                provisional,
                server,
                deadline: grpc_timeout(&parts.headers),
                status: None,
                extra,
                recording,
                responses: events.then(|| MessageTap::new(cx.clone(), response_kind)),
                response_bytes: 0,
                grpc_response: false,
                web_trailers: None,
            })),
            cx,
        }
    }
}

/// The old (pre-1.39) duration metric names, emitted under `rpc/dup`.
const OLD_RPC_SERVER_DURATION: &str = "rpc.server.duration";
const OLD_RPC_CLIENT_DURATION: &str = "rpc.client.duration";

const SENT: &str = "SENT";
const RECEIVED: &str = "RECEIVED";

/// Records an `rpc.message` event for every message of one direction of a call.
#[derive(Debug)]
pub(crate) struct MessageTap {
    parser: FrameParser,
    cx: Context,
    kind: &'static str,
    next_id: i64,
}

impl MessageTap {
    fn new(cx: Context, kind: &'static str) -> MessageTap {
        MessageTap {
            parser: FrameParser::default(),
            cx,
            kind,
            next_id: 1,
        }
    }

    /// Feeds a data frame; adds one event per message header completed in it.
    pub(crate) fn feed<D: Buf>(&mut self, data: &D) {
        if data.chunk().len() == data.remaining() {
            self.feed_slice(data.chunk());
            return;
        }
        // A buffer in several pieces (rare: hyper and tonic hand out `Bytes`): walk them
        // without consuming the caller's buffer.
        let mut slices = [std::io::IoSlice::new(&[]); 64];
        let n = data.chunks_vectored(&mut slices);
        for slice in &slices[..n] {
            self.feed_slice(slice);
        }
    }

    #[allow(deprecated)] // the rpc.message.* attributes are deprecated upstream (opt-in here)
    fn feed_slice(&mut self, bytes: &[u8]) {
        let (cx, kind, next_id) = (&self.cx, self.kind, &mut self.next_id);
        self.parser.feed(bytes, |message| {
            let size_key = if message.compressed {
                attr::RPC_MESSAGE_COMPRESSED_SIZE
            } else {
                attr::RPC_MESSAGE_UNCOMPRESSED_SIZE
            };
            #[allow(deprecated)]
            let attributes = vec![
                KeyValue::new(attr::RPC_MESSAGE_TYPE, kind),
                KeyValue::new(attr::RPC_MESSAGE_ID, *next_id),
                KeyValue::new(size_key, i64::from(message.len)),
            ];
            cx.span().add_event("rpc.message", attributes);
            *next_id += 1;
        });
    }
}

struct GrpcState {
    start: Instant,
    start_wall: SystemTime,
    method: RpcMethod,
    /// `rpc.method` is not on the span yet: it is decided at the end.
    provisional: bool,
    server: Option<RpcTarget>,
    deadline: Option<Duration>,
    status: Option<u16>,
    extra: Vec<KeyValue>,
    recording: bool,
    responses: Option<MessageTap>,
    /// Response body bytes seen (any data frame means a handler produced messages).
    response_bytes: u64,
    /// The response was a gRPC response (`content-type: application/grpc*`).
    grpc_response: bool,
    /// For gRPC-Web responses: reads the trailer frame at the end of the body.
    web_trailers: Option<FrameParser>,
}

enum Outcome {
    /// The response ended: the status is whatever was read (none = missing).
    Ended,
    /// The transport or the inner service failed before a status arrived (bounded error type).
    Failed(Cow<'static, str>),
    /// Dropped before the end: the client went away, or the deadline passed.
    Cancelled,
    Panicked,
}

/// One gRPC call in flight (either side): owns its span, metric attributes and timing.
///
/// Finish it with [`GrpcCall::end`] (after the trailers), [`end_with_error`](GrpcCall::end_with_error)
/// or [`end_with_panic`](GrpcCall::end_with_panic); dropping it unfinished records `CANCELLED`
/// (or `DEADLINE_EXCEEDED` when the call's `grpc-timeout` had passed).
pub struct GrpcCall {
    inst: Arc<GrpcInstrument>,
    cx: Context,
    state: Option<Box<GrpcState>>,
}

impl std::fmt::Debug for GrpcCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::body::debug_call(f, "GrpcCall", &self.cx, self.state.is_none())
    }
}

impl GrpcCall {
    fn passthrough(inst: Arc<GrpcInstrument>, cx: Context) -> GrpcCall {
        GrpcCall {
            inst,
            cx,
            state: None,
        }
    }

    /// The call's context (its span, or the inbound context when filtered out).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the response head: metadata, and the status of a trailers-only response (or, on a
    /// client, the status a non-200 HTTP answer maps to).
    pub fn on_response(&mut self, response: &http::response::Parts) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        state.grpc_response = super::is_grpc(&response.headers);
        if state.grpc_response && super::is_grpc_web(&response.headers) {
            state.web_trailers = Some(FrameParser::default());
        }
        if let Some(code) = status::from_headers(&response.headers) {
            state.status = Some(code);
        } else if self.inst.side == RpcSide::Client && response.status != http::StatusCode::OK {
            state.status = Some(status::from_http_status(response.status));
        }
        let mut hooked = Vec::new();
        if let Some(hook) = &self.inst.config.response_hook {
            hook(response, &mut hooked);
        }
        if state.recording {
            let mut captured = Vec::new();
            self.inst
                .response_metadata
                .capture(&response.headers, &mut captured);
            captured.extend(hooked.iter().cloned());
            if !captured.is_empty() {
                self.cx.span().set_attributes(captured);
            }
        }
        state.extra.extend(hooked);
    }

    /// A response data frame went through.
    pub fn on_data<D: Buf>(&mut self, data: &D) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        state.response_bytes += data.remaining() as u64;
        if let Some(tap) = state.responses.as_mut() {
            tap.feed(data);
        }
        if let Some(parser) = state.web_trailers.as_mut() {
            // gRPC-Web: the status is in a trailer frame inside the body.
            let mut found = None;
            let mut slices = [std::io::IoSlice::new(&[]); 64];
            let n = data.chunks_vectored(&mut slices);
            for slice in &slices[..n] {
                parser.feed_frames(
                    slice,
                    |_| {},
                    |block| {
                        found = status::from_web_trailers(block).or(found);
                    },
                );
            }
            if let Some(code) = found {
                state.status = Some(code);
            }
        }
    }

    /// The trailers arrived: the final status and trailing metadata.
    pub fn on_trailers(&mut self, trailers: &HeaderMap) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if let Some(code) = status::from_headers(trailers) {
            state.status = Some(code);
        }
        if state.recording {
            let mut captured = Vec::new();
            self.inst.response_metadata.capture(trailers, &mut captured);
            if !captured.is_empty() {
                self.cx.span().set_attributes(captured);
            }
        }
    }

    /// The response ended. No status by now = `UNKNOWN` (the stream was cut).
    pub fn end(mut self) {
        self.finish(Outcome::Ended);
    }

    /// The transport or inner service failed; the status is what a client would see
    /// (`UNAVAILABLE`, or `DEADLINE_EXCEEDED` once the deadline has passed).
    pub fn end_with_error(mut self, error_type: impl Into<Cow<'static, str>>) {
        self.finish(Outcome::Failed(error_type.into()));
    }

    /// User code panicked.
    pub fn end_with_panic(mut self) {
        self.finish(Outcome::Panicked);
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(state) = self.state.take() else {
            return;
        };
        let elapsed = state.start.elapsed();
        let past_deadline = state
            .deadline
            .is_some_and(|deadline| deadline_reached(elapsed, deadline));
        let side = self.inst.side;
        let (code, error_type): (u16, Option<Cow<'static, str>>) = match outcome {
            // tonic answers an expired `grpc-timeout` itself, with CANCELLED: past the deadline
            // that is DEADLINE_EXCEEDED, whichever side's timer fired first.
            Outcome::Ended if past_deadline && state.status == Some(status::CANCELLED) => {
                (status::DEADLINE_EXCEEDED, None)
            }
            Outcome::Ended => (state.status.unwrap_or(status::UNKNOWN), None),
            Outcome::Failed(_) if past_deadline => (status::DEADLINE_EXCEEDED, None),
            // No status arrived: a client generates UNAVAILABLE for a transport failure; a
            // server's error becomes UNKNOWN on the wire unless it carried a status. The error's
            // own type says what happened.
            Outcome::Failed(e) => match (side, state.status) {
                (_, Some(code)) => (code, None),
                (RpcSide::Client, None) => (status::UNAVAILABLE, Some(e)),
                (RpcSide::Server, None) => (status::UNKNOWN, Some(e)),
            },
            Outcome::Cancelled if past_deadline => (status::DEADLINE_EXCEEDED, None),
            Outcome::Cancelled => (state.status.unwrap_or(status::CANCELLED), None),
            // What the peer sees when the handler's stream is reset mid-call.
            Outcome::Panicked => (status::INTERNAL, Some(Cow::Borrowed(PANIC))),
        };
        let name = status::name(code);
        let is_error = error_type.is_some()
            || match side {
                RpcSide::Server => status::is_server_error(code),
                RpcSide::Client => code != status::OK,
            };
        let error_type: Option<Cow<'static, str>> =
            is_error.then(|| error_type.unwrap_or(Cow::Borrowed(name)));

        // Bounded `rpc.method` without a known-method list: a method name is kept once a gRPC
        // handler has proven it exists (an OK status or response messages); until then a
        // failing call is `_OTHER`, so scanners probing random paths cannot add series.
        let mut method = state.method.clone();
        let handler_ran = state.grpc_response && (code == status::OK || state.response_bytes > 0);
        let unknown_now = side == RpcSide::Server
            && !method.is_other()
            && self
                .inst
                .learned
                .as_ref()
                .is_some_and(|learned| !learned.confirm(method.value.as_str(), handler_ran));
        if unknown_now {
            method = RpcMethod::other(method.value.as_str(), self.inst.config.max_value_length);
        }

        let span = self.cx.span();
        if state.recording {
            if state.provisional {
                // Set once: every key appears once on a span (the SDK appends, never replaces).
                span.update_name(method.span_name());
                let mut decided = vec![KeyValue::new(attr::RPC_METHOD, method.value.clone())];
                if let Some(original) = &method.original {
                    decided.push(KeyValue::new(attr::RPC_METHOD_ORIGINAL, original.clone()));
                }
                if self.inst.config.semconv.rpc_dup {
                    method.push_service(&mut decided);
                }
                span.set_attributes(decided);
            }
            span.set_attribute(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, name));
            if self.inst.config.semconv.rpc_dup {
                #[allow(deprecated)]
                span.set_attribute(KeyValue::new(attr::RPC_GRPC_STATUS_CODE, i64::from(code)));
            }
            if let Some(e) = &error_type {
                span.set_attribute(KeyValue::new(attr::ERROR_TYPE, e.clone()));
                span.set_status(Status::error(""));
            }
        }
        span.end_with_timestamp(state.start_wall + elapsed);

        let mut attrs = Vec::with_capacity(6 + state.extra.len());
        attrs.push(KeyValue::new(attr::RPC_SYSTEM_NAME, GRPC));
        attrs.push(KeyValue::new(attr::RPC_METHOD, method.value.clone()));
        attrs.push(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, name));
        if let Some(e) = error_type {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, e));
        }
        if side == RpcSide::Client {
            if let Some(target) = &state.server {
                attrs.push(KeyValue::new(attr::SERVER_ADDRESS, target.host.clone()));
                if let Some(port) = target.port {
                    attrs.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
                }
            }
        }
        attrs.extend(state.extra.iter().cloned());
        let metrics = self.inst.lazy.metrics();
        metrics.duration.record(elapsed.as_secs_f64(), &attrs);

        if let Some(old) = &metrics.old_duration {
            #[allow(deprecated)]
            let mut old_attrs = vec![
                KeyValue::new(attr::RPC_SYSTEM, GRPC),
                KeyValue::new(attr::RPC_GRPC_STATUS_CODE, i64::from(code)),
            ];
            if let Some((service, short)) = &method.parts {
                #[allow(deprecated)]
                old_attrs.push(KeyValue::new(attr::RPC_SERVICE, service.clone()));
                old_attrs.push(KeyValue::new(attr::RPC_METHOD, short.clone()));
            }
            old.record(elapsed.as_secs_f64() * 1000.0, &old_attrs);
        }
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        if self.state.is_some() {
            let outcome = if std::thread::panicking() {
                Outcome::Panicked
            } else {
                Outcome::Cancelled
            };
            self.finish(outcome);
        }
    }
}

impl ResponseObserver for GrpcCall {
    fn on_response(&mut self, response: &http::response::Parts) {
        GrpcCall::on_response(self, response);
    }
}

impl CallObserver for GrpcCall {
    fn context(&self) -> &Context {
        &self.cx
    }
    fn on_data<D: Buf>(&mut self, data: &D) {
        GrpcCall::on_data(self, data);
    }
    fn on_trailers(&mut self, trailers: &HeaderMap) {
        GrpcCall::on_trailers(self, trailers);
    }
    fn end(self) {
        GrpcCall::end(self);
    }
    fn end_with_error(self, error_type: Cow<'static, str>) {
        GrpcCall::end_with_error(self, error_type);
    }
    fn end_with_panic(self) {
        GrpcCall::end_with_panic(self);
    }
}

/// The `grpc-timeout` request header: up to 8 digits and a unit (H, M, S, m, u, n).
/// Whether a call cut (or answered CANCELLED) after `elapsed` was cut by its `deadline`.
///
/// Our clock starts after the caller's: the `grpc-timeout` a server reads was the time left when
/// the client sent the request, and transit plus scheduling (several milliseconds on loopback
/// under load) pass before the server's span starts. The client's timer therefore fires, and its
/// reset arrives, a little *before* the server's elapsed time reaches the deadline. A call cut
/// within a slack of 10 % of the deadline (at least 10 ms, at most 100 ms) was cut by it.
fn deadline_reached(elapsed: Duration, deadline: Duration) -> bool {
    let slack = (deadline / 10).clamp(Duration::from_millis(10), Duration::from_millis(100));
    elapsed + slack >= deadline
}

fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn default_port(uri: &http::Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_never_carry_credentials() {
        let uri: http::Uri = "http://user:pw@orders.internal:50051".parse().unwrap();
        let t = RpcTarget::from_uri(&uri).unwrap();
        assert_eq!(t.host.as_str(), "orders.internal");
        assert_eq!(t.port, Some(50051));
        let uri: http::Uri = "https://tok@api.example".parse().unwrap();
        let t = RpcTarget::from_uri(&uri).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("api.example", Some(443)));
    }

    #[test]
    fn deadlines_count_with_a_bounded_slack() {
        let ms = Duration::from_millis;
        assert!(deadline_reached(ms(11), ms(20)));
        assert!(!deadline_reached(ms(9), ms(20)));
        assert!(deadline_reached(ms(900), ms(1000)));
        assert!(!deadline_reached(ms(899), ms(1000)));
        assert!(deadline_reached(ms(9_900), ms(10_000)));
        assert!(!deadline_reached(ms(9_000), ms(10_000)));
        assert!(deadline_reached(ms(30), ms(20)));
    }

    #[test]
    fn grpc_timeouts() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_timeout(&h), None);
        for (v, d) in [
            ("100m", Duration::from_millis(100)),
            ("2S", Duration::from_secs(2)),
            ("1H", Duration::from_secs(3600)),
            ("5u", Duration::from_micros(5)),
        ] {
            h.insert("grpc-timeout", v.parse().unwrap());
            assert_eq!(grpc_timeout(&h), Some(d), "{v}");
        }
        for bad in ["m", "123456789m", "10x", "-1S"] {
            h.insert("grpc-timeout", bad.parse().unwrap());
            assert_eq!(grpc_timeout(&h), None, "{bad}");
        }
    }
}
