//! The server side: a transport wrapper that starts and ends the calls, and an executor that
//! runs each handler with its call's context current.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures_util::{Sink, Stream, StreamExt};
use opentelemetry::context::FutureExt as _;
use opentelemetry::Context;
use tarpc::server::{Channel, Serve};
use tarpc::{ClientMessage, RequestName, Response};
use towerlight::rpc::RpcSide;
use towerlight::tarpc::{TarpcCall, TarpcInstrument};
use towerlight::Config;

/// Instruments tarpc servers: wrap each connection's transport with
/// [`ServerTracing::transport`] and run its requests with [`execute`].
#[derive(Debug, Clone)]
pub struct ServerTracing {
    inst: Arc<TarpcInstrument>,
}

impl ServerTracing {
    /// With `config`.
    pub fn new(config: Config) -> ServerTracing {
        ServerTracing {
            inst: Arc::new(TarpcInstrument::new(&config, RpcSide::Server)),
        }
    }

    /// Wraps one connection's transport.
    pub fn transport<T>(&self, transport: T) -> TracedServerTransport<T> {
        TracedServerTransport {
            inner: transport,
            inst: self.inst.clone(),
            in_flight: InFlight::default(),
        }
    }
}

/// The calls in flight on one connection, by request id.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<u64, (TarpcCall, Instant)>>>);

impl InFlight {
    fn insert(&self, id: u64, call: TarpcCall, deadline: Instant) {
        if let Ok(mut calls) = self.0.lock() {
            calls.insert(id, (call, deadline));
        }
    }

    fn take(&self, id: u64) -> Option<TarpcCall> {
        self.0.lock().ok()?.remove(&id).map(|(call, _)| call)
    }

    /// The context of request `id` (empty when it is unknown).
    pub fn context(&self, id: u64) -> Context {
        self.0
            .lock()
            .ok()
            .and_then(|calls| calls.get(&id).map(|(call, _)| call.context().clone()))
            .unwrap_or_default()
    }

    /// tarpc sends nothing for a request it aborted at its deadline: once the handler is gone
    /// and the deadline has passed, the call ends (as `deadline_exceeded`).
    fn end_if_abandoned(&self, id: u64) {
        let expired = self
            .0
            .lock()
            .ok()
            .is_some_and(|calls| calls.get(&id).is_some_and(|(_, d)| Instant::now() >= *d));
        if expired {
            drop(self.take(id));
        }
    }
}

pin_project_lite::pin_project! {
    /// A server transport whose requests start SERVER calls (parent: the caller's span id from
    /// the request's trace context) and whose responses end them.
    #[derive(Debug)]
    pub struct TracedServerTransport<T> {
        #[pin]
        inner: T,
        inst: Arc<TarpcInstrument>,
        in_flight: InFlight,
    }
}

impl<T> TracedServerTransport<T> {
    /// The calls in flight, for [`execute`].
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }
}

impl<T, Req, E> Stream for TracedServerTransport<T>
where
    T: Stream<Item = Result<ClientMessage<Req>, E>>,
    Req: RequestName,
{
    type Item = Result<ClientMessage<Req>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = std::task::ready!(this.inner.poll_next(cx));
        match item {
            Some(Ok(ClientMessage::Request(mut request))) => {
                let deadline = request.context.deadline;
                let call = this.inst.start_server(
                    crate::to_wire(&request.context.trace_context),
                    request.message.name(),
                    deadline.checked_duration_since(Instant::now()),
                );
                // Downstream tarpc calls from the handler continue this span's trace.
                request.context.trace_context = crate::from_wire(call.wire());
                this.in_flight.insert(request.id, call, deadline);
                Poll::Ready(Some(Ok(ClientMessage::Request(request))))
            }
            Some(Ok(ClientMessage::Cancel {
                trace_context,
                request_id,
            })) => {
                if let Some(call) = this.in_flight.take(request_id) {
                    call.end_cancelled();
                }
                Poll::Ready(Some(Ok(ClientMessage::Cancel {
                    trace_context,
                    request_id,
                })))
            }
            other => Poll::Ready(other),
        }
    }
}

impl<T, Resp> Sink<Response<Resp>> for TracedServerTransport<T>
where
    T: Sink<Response<Resp>>,
{
    type Error = T::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, response: Response<Resp>) -> Result<(), T::Error> {
        let this = self.project();
        if let Some(call) = this.in_flight.take(response.request_id) {
            match &response.message {
                Ok(_) => call.end_ok(),
                Err(e) => call.end_with_error(crate::kind_name(e.kind)),
            }
        }
        this.inner.start_send(response)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), T::Error>> {
        self.project().inner.poll_close(cx)
    }
}

/// Like `channel.execute(serve)`: one future per request, each running its handler with the
/// call's context current (so the handler's own spans, logs and outgoing calls nest under it).
pub fn execute<C, S>(
    channel: C,
    serve: S,
    in_flight: InFlight,
) -> impl Stream<Item = impl Future<Output = ()>>
where
    C: Channel,
    C::Req: RequestName,
    S: Serve<Req = C::Req, Resp = C::Resp> + Clone,
{
    channel
        .requests()
        .filter_map(|request| std::future::ready(request.ok()))
        .map(move |request| {
            let id = request.get().id;
            let cx = in_flight.context(id);
            let in_flight = in_flight.clone();
            let handler = request.execute(serve.clone()).with_context(cx);
            async move {
                handler.await;
                in_flight.end_if_abandoned(id);
            }
        })
}
