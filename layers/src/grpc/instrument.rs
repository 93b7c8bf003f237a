//! The gRPC instrument: gRPC's wire rules — the request path, `grpc-timeout`, the status read
//! from the response headers (trailers-only responses) *and* from the trailers at the end of the
//! stream (or gRPC-Web's trailer frame), metadata capture and message events — on top of the
//! protocol-neutral [`RpcCall`](crate::rpc::RpcCall), which owns the span, the metrics and every
//! rule RPC systems share. A stream that ends without a status is `UNKNOWN`, as gRPC clients
//! report it; the span and `rpc.{server,client}.call.duration` last until the response body ends.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use http::HeaderMap;
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;

use super::events::{MessageTap, RECEIVED, SENT};
use super::frames::FrameParser;
use super::status;
use crate::body::{ByteCounter, CallObserver, ResponseObserver};
use crate::common::address::{ip_arc, HeadScan};
use crate::common::headers::HeaderCapture;
use crate::common::recent::{capped_shared, Kind};
use crate::common::trust::{client_inherits_current, inherits_current, server_parent};
use crate::config::Config;
use crate::propagation::Propagator;
use crate::rpc::{
    deadline_reached, RpcCall, RpcInstrument, RpcOutcome, RpcStart, StartAttrs, SystemAttributes,
    PANIC,
};

pub use crate::rpc::{RpcSide, RpcTarget};

/// `rpc.system.name` for gRPC.
const GRPC: &str = "grpc";

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

/// Per-layer state of the gRPC instrument: the RPC core for one side, the propagator and the
/// metadata capture lists.
pub struct GrpcInstrument {
    rpc: Arc<RpcInstrument>,
    propagator: Propagator,
    request_metadata: HeaderCapture,
    response_metadata: HeaderCapture,
}

impl std::fmt::Debug for GrpcInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcInstrument")
            .field("rpc", &self.rpc)
            .finish_non_exhaustive()
    }
}

impl GrpcInstrument {
    /// Resolves `config` for one side: the propagator now, the tracer and the duration
    /// histograms at the first call.
    pub fn new(config: &Config, side: RpcSide) -> GrpcInstrument {
        let sensitive = |n: &http::HeaderName| config.is_sensitive_header(n);
        GrpcInstrument {
            rpc: Arc::new(RpcInstrument::new(config, GRPC, side)),
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
        }
    }

    /// The side this instrument describes.
    pub fn side(&self) -> RpcSide {
        self.rpc.side()
    }

    fn config(&self) -> &Config {
        self.rpc.config()
    }

    /// Whether `rpc.message` events are on (so the request body should be tapped).
    pub fn message_events(&self) -> bool {
        self.config().message_events
    }

    /// Starts a server call: extracts the inbound context and starts the SERVER span.
    pub fn start_server(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        info: RpcRequestInfo,
    ) -> GrpcCall {
        self.start_server_scanned(parts, info, &HeadScan::new(&parts.headers))
    }

    /// [`GrpcInstrument::start_server`] with the request head already scanned.
    pub(crate) fn start_server_scanned<'a>(
        self: &Arc<Self>,
        parts: &'a http::request::Parts,
        info: RpcRequestInfo,
        head: &HeadScan<'a>,
    ) -> GrpcCall {
        let inbound = Context::map_current(|cx| {
            self.propagator
                .extract_scanned(cx, &parts.headers, head.context)
        });
        // Trust first: a filtered-out call on a public endpoint must not continue the caller's
        // trace downstream either.
        let (parent, links) = server_parent(self.config(), parts, inbound);
        if let Some(filter) = &self.config().filter {
            if !filter(parts) {
                return self.passthrough(parent);
            }
        }
        let max = self.config().max_value_length;
        // The host a connection repeats on every call: shared, as HTTP's `server.address` is.
        // Only the span carries it on this side (the server's metrics do not), so metrics
        // only never reads it.
        let server = (!self.rpc.is_noop())
            .then(|| head.server_address(parts))
            .flatten()
            .map(|(h, p)| RpcTarget {
                host: capped_shared(Kind::Host, h, max),
                port: p,
            });
        let call = Started {
            parent,
            links,
            target: server,
            deadline: timeout_value(head.grpc_timeout),
            inherits: inherits_current(
                self.config(),
                self.rpc.is_noop(),
                self.propagator.reads_any(head.context.seen),
            ),
        };
        self.start(parts, info, call)
    }

    /// Starts a client call: a CLIENT span under the current context, injected into the
    /// request headers with the layer's propagator.
    pub fn start_client(
        self: &Arc<Self>,
        parts: &mut http::request::Parts,
        info: RpcRequestInfo,
    ) -> GrpcCall {
        let parent = Context::current();
        if let Some(filter) = &self.config().filter {
            if !filter(parts) {
                self.propagator.inject(&parent, &mut parts.headers);
                return self.passthrough(parent);
            }
        }
        // The channel's target, as configured: never a reverse lookup of the peer.
        let target = RpcTarget::from_uri(&parts.uri).or_else(|| info.target.clone());
        let call = Started {
            parent,
            links: None,
            target,
            deadline: grpc_timeout(&parts.headers),
            inherits: client_inherits_current(self.rpc.is_noop()),
        };
        let call = self.start(parts, info, call);
        self.propagator.inject(call.context(), &mut parts.headers);
        call
    }

    fn passthrough(self: &Arc<Self>, cx: Context) -> GrpcCall {
        GrpcCall {
            inst: self.clone(),
            rpc: RpcCall::passthrough(self.rpc.clone(), cx),
            state: GrpcState::default(),
        }
    }

    fn start(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        info: RpcRequestInfo,
        call: Started,
    ) -> GrpcCall {
        let Started {
            parent,
            links,
            target,
            deadline,
            inherits,
        } = call;
        let (method, method_split) = method_from_path(parts.uri.path());
        let mut extra = Vec::new();
        if let Some(hook) = &self.config().request_hook {
            hook(parts, &mut extra);
        }
        let peer = info.peer;
        let make = |attributes: &mut StartAttrs| self.push_attributes(parts, peer, attributes);
        let attributes = SystemAttributes {
            // The peer's two, the captured headers' one each. Tight: the span's `Vec` is sized
            // by it, and its size class decides what the allocator's free lists cost.
            most: 2 * usize::from(peer.is_some()) + self.request_metadata.len(),
            make: &make,
        };
        let rpc = self.rpc.start(RpcStart {
            parent,
            links,
            method,
            method_split,
            target,
            attributes,
            extra,
        });
        let events = self.message_events() && rpc.is_recording();
        let (request_kind, response_kind) = match self.side() {
            RpcSide::Server => (RECEIVED, SENT),
            RpcSide::Client => (SENT, RECEIVED),
        };
        if events {
            if let Some(body) = &info.request_body {
                body.tap_messages(MessageTap::new(rpc.context().clone(), request_kind));
            }
        }
        GrpcCall {
            inst: self.clone(),
            state: GrpcState {
                deadline,
                inherits,
                responses: events
                    .then(|| Box::new(MessageTap::new(rpc.context().clone(), response_kind))),
                ..GrpcState::default()
            },
            rpc,
        }
    }

    /// The call's gRPC span attributes: the peer's address and port, the captured metadata.
    fn push_attributes(
        &self,
        parts: &http::request::Parts,
        peer: Option<SocketAddr>,
        attributes: &mut StartAttrs,
    ) {
        if let Some(peer) = peer {
            attributes.push(KeyValue::new(
                attr::NETWORK_PEER_ADDRESS,
                opentelemetry::StringValue::from(ip_arc(peer.ip())),
            ));
            attributes.push(KeyValue::new(
                attr::NETWORK_PEER_PORT,
                i64::from(peer.port()),
            ));
        }
        self.request_metadata.capture(&parts.headers, attributes);
    }
}

/// Where a call starts, as its side decided: the parent, links, target and deadline.
struct Started {
    parent: Context,
    links: Option<Vec<opentelemetry::trace::Link>>,
    target: Option<RpcTarget>,
    deadline: Option<Duration>,
    /// The parent is the context current at the start ([`inherits_current`]).
    inherits: bool,
}

/// `package.Service/Method` from a request path `/package.Service/Method`, split; a path of
/// another shape keeps no parts (and is never known).
fn method_from_path(path: &str) -> (&str, Option<usize>) {
    let full = path.strip_prefix('/').unwrap_or(path);
    // On bytes: `str`'s pattern searchers cost several times more on paths this short, and
    // `/` is ASCII, so the cut is at a character boundary.
    let bytes = full.as_bytes();
    let split = bytes
        .iter()
        .position(|&b| b == b'/')
        .filter(|&i| i > 0 && i + 1 < bytes.len() && !bytes[i + 1..].contains(&b'/'));
    (full, split)
}

#[derive(Default)]
struct GrpcState {
    deadline: Option<Duration>,
    /// The call's context is the one current at the start.
    inherits: bool,
    status: Option<u16>,
    /// Boxed, as `web_trailers`: both are rare (message events are opt-in, gRPC-Web is one
    /// transport), and inline they made every call 144 bytes larger to move.
    responses: Option<Box<MessageTap>>,
    /// Response body bytes seen (any data frame means a handler produced messages).
    response_bytes: u64,
    /// The response was a gRPC response (`content-type: application/grpc*`).
    grpc_response: bool,
    /// For gRPC-Web responses: reads the trailer frame at the end of the body.
    web_trailers: Option<Box<FrameParser>>,
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

/// One gRPC call in flight (either side): reads the status and hands the outcome to its
/// [`RpcCall`], which owns the span, the metric attributes and the timing.
///
/// Finish it with [`GrpcCall::end`] (after the trailers), [`end_with_error`](GrpcCall::end_with_error)
/// or [`end_with_panic`](GrpcCall::end_with_panic); dropping it unfinished records `CANCELLED`
/// (or `DEADLINE_EXCEEDED` when the call's `grpc-timeout` had passed).
pub struct GrpcCall {
    inst: Arc<GrpcInstrument>,
    rpc: RpcCall,
    state: GrpcState,
}

impl std::fmt::Debug for GrpcCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::body::debug_call(f, "GrpcCall", self.rpc.context(), !self.rpc.is_open())
    }
}

impl GrpcCall {
    /// The call's context (its span, or the inbound context when filtered out).
    pub fn context(&self) -> &Context {
        self.rpc.context()
    }

    /// Records the response head: metadata, and the status of a trailers-only response (or, on a
    /// client, the status a non-200 HTTP answer maps to).
    pub fn on_response(&mut self, response: &http::response::Parts) {
        if !self.rpc.is_open() {
            return;
        }
        let state = &mut self.state;
        let head = super::response_head(&response.headers);
        state.grpc_response = head.grpc;
        if head.web {
            state.web_trailers = Some(Box::default());
        }
        if let Some(code) = head.status {
            state.status = Some(code);
        } else if self.inst.side() == RpcSide::Client && response.status != http::StatusCode::OK {
            state.status = Some(status::from_http_status(response.status));
        }
        let mut hooked = Vec::new();
        if let Some(hook) = &self.inst.config().response_hook {
            hook(response, &mut hooked);
        }
        if self.rpc.is_recording() {
            let mut captured = Vec::new();
            self.inst
                .response_metadata
                .capture(&response.headers, &mut captured);
            self.rpc.add_span_attributes(captured);
        }
        self.rpc.add_extra(hooked);
    }

    /// A response data frame went through.
    pub fn on_data<D: Buf>(&mut self, data: &D) {
        if !self.rpc.is_open() {
            return;
        }
        let state = &mut self.state;
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
        if !self.rpc.is_open() {
            return;
        }
        if let Some(code) = status::from_headers(trailers) {
            self.state.status = Some(code);
        }
        if self.rpc.is_recording() {
            let mut captured = Vec::new();
            self.inst.response_metadata.capture(trailers, &mut captured);
            self.rpc.add_span_attributes(captured);
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

    /// gRPC's status policy: the code from what happened, then whether it is an error on this
    /// side (servers: `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`,
    /// `UNAVAILABLE`, `DATA_LOSS`; clients: anything but `OK`).
    fn finish(&mut self, outcome: Outcome) {
        let Some(elapsed) = self.rpc.elapsed() else {
            return;
        };
        let state = &self.state;
        let past_deadline = state
            .deadline
            .is_some_and(|deadline| deadline_reached(elapsed, deadline));
        let side = self.inst.side();
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
        // A gRPC handler answered: an OK status, or response messages in a gRPC response.
        let handler_ran = state.grpc_response && (code == status::OK || state.response_bytes > 0);
        // The old names only under `rpc/dup`: otherwise no Vec is allocated.
        let dup = match self.inst.config().semconv.rpc_dup {
            #[allow(deprecated)]
            true => vec![KeyValue::new(attr::RPC_GRPC_STATUS_CODE, i64::from(code))],
            false => Vec::new(),
        };
        let dup_metric = match dup.is_empty() {
            true => Vec::new(),
            false => dup.clone(),
        };
        self.rpc.finish(RpcOutcome {
            status_code: Some(StringValue::from(name)),
            error_type: is_error.then(|| error_type.unwrap_or(Cow::Borrowed(name))),
            description: Cow::Borrowed(""),
            handler_ran,
            dup_span: dup,
            dup_metric,
            elapsed: Some(elapsed),
        });
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        if self.rpc.is_open() {
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
        self.rpc.context()
    }
    fn inherits_current(&self) -> bool {
        self.state.inherits
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
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    timeout_value(super::first_named(headers, "grpc-timeout"))
}

/// [`grpc_timeout`] from the header's (first) value.
fn timeout_value(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let value = value?.to_str().ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        let (full, parts) = method_from_path("/pkg.Svc/Do");
        assert_eq!(full, "pkg.Svc/Do");
        assert_eq!(
            parts.map(|i| (&full[..i], &full[i + 1..])),
            Some(("pkg.Svc", "Do"))
        );
        for bad in ["/", "/nope", "//x", "/a/b/c", "/a/", ""] {
            assert_eq!(method_from_path(bad).1, None, "{bad}");
        }
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
