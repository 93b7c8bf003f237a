//! The client side: a stub wrapper that makes the CLIENT span, and a transport wrapper that puts
//! that span's ids on the wire.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures_util::{Sink, Stream};
use opentelemetry::context::FutureExt as _;
use tarpc::client::stub::Stub;
use tarpc::client::RpcError;
use tarpc::{context, ClientMessage, RequestName};
use towerlight::rpc::{RpcSide, RpcTarget};
use towerlight::tarpc::{TarpcCall, TarpcInstrument, DEADLINE_EXCEEDED};
use towerlight::Config;

/// Span ids waiting for their request to reach the transport, by (trace id, deadline).
///
/// tarpc's `Channel::call` replaces the caller's trace context with a child of it (same trace
/// id, a *random* span id) unless its own pinned `tracing-opentelemetry` bridge is installed, and
/// hands the request to a dispatch task: the transport cannot see the caller. The stub records
/// the CLIENT span's id under the request's trace id and deadline (which tarpc keeps as they
/// are); the transport puts it back. Siblings with the same deadline in the same trace are
/// matched first-in, first-out.
type Pending = Arc<Mutex<HashMap<(u128, Instant), VecDeque<u64>>>>;

/// Instruments tarpc clients: wrap the transport with [`ClientTracing::transport`] and the
/// client's channel with [`ClientTracing::stub`].
#[derive(Debug, Clone)]
pub struct ClientTracing {
    inst: Arc<TarpcInstrument>,
    pending: Pending,
    target: Option<RpcTarget>,
}

impl ClientTracing {
    /// With `config`.
    pub fn new(config: Config) -> ClientTracing {
        ClientTracing {
            inst: Arc::new(TarpcInstrument::new(&config, RpcSide::Client)),
            pending: Pending::default(),
            target: None,
        }
    }

    /// The server called, for `server.address` / `server.port`.
    pub fn target(mut self, target: RpcTarget) -> ClientTracing {
        self.target = Some(target);
        self
    }

    /// Wraps the client transport.
    pub fn transport<T>(&self, transport: T) -> TracedClientTransport<T> {
        TracedClientTransport {
            inner: transport,
            pending: self.pending.clone(),
        }
    }

    /// Wraps the client's stub (its `Channel`, or a retrying stub around it, to cover retries in
    /// one call): `WorldClient::from(tracing.stub(channel))`.
    pub fn stub<S>(&self, stub: S) -> TracedStub<S> {
        TracedStub {
            inner: stub,
            tracing: self.clone(),
        }
    }

    fn register(&self, key: (u128, Instant), span_id: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.entry(key).or_default().push_back(span_id);
        }
    }

    /// Forgets `span_id` if the transport never took it (the request was never sent).
    fn forget(&self, key: (u128, Instant), span_id: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            if let Some(ids) = pending.get_mut(&key) {
                ids.retain(|id| *id != span_id);
                if ids.is_empty() {
                    pending.remove(&key);
                }
            }
        }
    }
}

/// A stub that makes one CLIENT span per call, under the caller's context.
#[derive(Debug, Clone)]
pub struct TracedStub<S> {
    inner: S,
    tracing: ClientTracing,
}

impl<S> Stub for TracedStub<S>
where
    S: Stub,
{
    type Req = S::Req;
    type Resp = S::Resp;

    async fn call(&self, mut ctx: context::Context, request: S::Req) -> Result<S::Resp, RpcError> {
        let remaining = ctx.deadline.checked_duration_since(Instant::now());
        let call =
            self.tracing
                .inst
                .start_client(request.name(), remaining, self.tracing.target.clone());
        let wire = call.wire();
        let key = (wire.trace_id, ctx.deadline);
        if wire.trace_id != 0 {
            ctx.trace_context = crate::from_wire(wire);
            self.tracing.register(key, wire.span_id);
        }
        let cx = call.context().clone();
        let result = self.inner.call(ctx, request).with_context(cx).await;
        self.tracing.forget(key, wire.span_id);
        finish(call, &result);
        result
    }
}

fn finish<T>(call: TarpcCall, result: &Result<T, RpcError>) {
    match result {
        Ok(_) => call.end_ok(),
        Err(RpcError::DeadlineExceeded) => call.end_with_error(DEADLINE_EXCEEDED),
        Err(RpcError::Server(e)) => call.end_with_error(crate::kind_name(e.kind)),
        Err(RpcError::Shutdown) => call.end_with_error("shutdown"),
        Err(RpcError::Send(_)) => call.end_with_error("send"),
        Err(RpcError::Channel(_)) => call.end_with_error("channel"),
    }
}

pin_project_lite::pin_project! {
    /// A client transport that writes each request's CLIENT span id into its trace context.
    #[derive(Debug)]
    pub struct TracedClientTransport<T> {
        #[pin]
        inner: T,
        pending: Pending,
    }
}

impl<T, Req> Sink<ClientMessage<Req>> for TracedClientTransport<T>
where
    T: Sink<ClientMessage<Req>>,
{
    type Error = T::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, mut message: ClientMessage<Req>) -> Result<(), T::Error> {
        let this = self.project();
        if let ClientMessage::Request(request) = &mut message {
            let trace = &mut request.context.trace_context;
            let key = (u128::from(trace.trace_id), request.context.deadline);
            let span_id = this.pending.lock().ok().and_then(|mut pending| {
                let ids = pending.get_mut(&key)?;
                let id = ids.pop_front();
                if ids.is_empty() {
                    pending.remove(&key);
                }
                id
            });
            if let Some(span_id) = span_id {
                trace.span_id = span_id.into();
            }
        }
        this.inner.start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_close(cx)
    }
}

impl<T: Stream> Stream for TracedClientTransport<T> {
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<T::Item>> {
        self.project().inner.poll_next(cx)
    }
}
