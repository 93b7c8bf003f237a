//! [`ServerService`]: the Tower service [`ServerLayer`](super::ServerLayer) produces.

use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::call::ServerCall;
use super::future::ResponseFuture;
use super::layer::ServerLayer;
use crate::body::{ByteCounter, InstrumentedBody, RequestBodyMode};
use crate::common::address::HeadScan;
use crate::grpc::RpcRequestInfo;
use crate::http::server::{RequestInfo, RouteSlot};

/// An instrumented server service. See [`ServerLayer`].
pub struct ServerService<S, M> {
    inner: S,
    layer: ServerLayer<M>,
}

/// The same service under its HTTP name.
pub type HttpServerService<S, M> = ServerService<S, M>;

impl<S: Clone, M> Clone for ServerService<S, M> {
    fn clone(&self) -> Self {
        ServerService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, M> std::fmt::Debug for ServerService<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, M> ServerService<S, M> {
    pub(crate) fn new(inner: S, layer: ServerLayer<M>) -> Self {
        ServerService { inner, layer }
    }
}

/// What [`ServerService::start`] began for a request.
#[derive(Default)]
struct Started {
    call: Option<ServerCall>,
    counter: Option<ByteCounter>,
    /// The request asks to become a WebSocket.
    upgraded: bool,
}

impl<S, M> ServerService<S, M> {
    /// Starts the call for this request (HTTP or gRPC), preparing the request body. The head is
    /// scanned once, for the protocol, the upgrade and the instrument's rules.
    fn start<B>(&self, parts: &mut http::request::Parts) -> Started
    where
        M: RequestBodyMode<B>,
    {
        let layer = &*self.layer.s;
        let peer = (layer.peer)(parts);
        let head = HeadScan::new(&parts.headers);
        let upgraded = head.is_websocket_upgrade(parts);
        let grpc = match (&layer.http, &layer.grpc) {
            (Some(_), Some(_)) => head.is_grpc(),
            (None, Some(_)) => true,
            _ => false,
        };
        if let (true, Some(inst)) = (grpc, &layer.grpc) {
            let counter = (M::counts() && inst.message_events()).then(ByteCounter::default);
            let info = RpcRequestInfo {
                peer,
                request_body: counter.clone(),
                target: None,
            };
            let call = inst.start_server_scanned(parts, info, &head);
            if layer.late_route {
                // Mark the request as instrumented, so a towerlight layer further in (the same
                // layer added both outside and via `Router::layer`) passes it through.
                parts.extensions.insert(RouteSlot::default());
            }
            return Started {
                call: Some(ServerCall::Grpc(Box::new(call))),
                counter,
                upgraded,
            };
        }
        let Some(inst) = &layer.http else {
            return Started::default();
        };
        let route = (layer.route)(parts);
        let route_slot = (route.is_none() && layer.late_route).then(RouteSlot::default);
        let counter = (M::counts() && inst.counts_body_sizes()).then(ByteCounter::default);
        let info = RequestInfo {
            route,
            route_slot: route_slot.clone(),
            peer,
            request_bytes: counter.clone(),
            secure: layer.secure,
        };
        let call = inst.start_scanned(parts, info, &head);
        if let Some(slot) = route_slot {
            parts.extensions.insert(slot);
        }
        Started {
            call: Some(ServerCall::Http(call)),
            counter,
            upgraded,
        }
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for ServerService<S, M>
where
    M: RequestBodyMode<B>,
    S: Service<Request<M::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<InstrumentedBody<ResBody, ServerCall>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error, ServerCall>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();

        // Nested inside another towerlight server layer (which left a route slot for us): that
        // layer owns the telemetry; just tell it the route if we know it.
        if let Some(slot) = parts.extensions.get::<RouteSlot>() {
            if let Some(route) = (self.layer.s.route)(&parts) {
                slot.set(&route);
            }
            let req = Request::from_parts(parts, M::wrap(body, None));
            return ResponseFuture::new(self.inner.call(req), None);
        }

        let Started {
            call,
            counter,
            upgraded,
        } = self.start::<B>(&mut parts);
        if let Some(call) = &call {
            let cx = crate::body::CallObserver::context(call);
            if upgraded {
                // For the session that follows: framework adapters start it from this.
                parts.extensions.insert(crate::ws::WsHandshake {
                    instrument: self.layer.s.ws.clone(),
                    cx: cx.clone(),
                    route: (self.layer.s.route)(&parts),
                });
            }
            if self.layer.s.expose_context {
                parts.extensions.insert(super::TransportContext {
                    cx: cx.clone(),
                    upgraded,
                });
            }
        }
        let req = Request::from_parts(parts, M::wrap(body, counter));
        let future = match &call {
            Some(call) => {
                let _attached = crate::body::attach_own(call);
                self.inner.call(req)
            }
            None => self.inner.call(req),
        };
        ResponseFuture::new(future, call)
    }
}

#[cfg(test)]
mod poll_context_tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    use bytes::Bytes;
    use http_body::{Body, Frame};
    use http_body_util::BodyExt as _;
    use opentelemetry::context::FutureExt as _;
    use opentelemetry::trace::{SpanId, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry::Context;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    use crate::{Config, ServerLayer};

    fn current_span_id() -> SpanId {
        Context::map_current(|cx| cx.span().span_context().span_id())
    }

    /// One data frame: the id of the span current when it is polled.
    struct CurrentSpanBody(bool);

    impl Body for CurrentSpanBody {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if std::mem::replace(&mut self.0, true) {
                return Poll::Ready(None);
            }
            let id = current_span_id().to_string();
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(id)))))
        }
    }

    /// What the handler and the response body saw as the current span.
    #[derive(Debug, PartialEq)]
    struct Seen {
        handler: SpanId,
        body: String,
    }

    /// Calls a layered service outside any context, then polls the call and its body under
    /// `poller`.
    async fn seen(config: Config, headers: &[(&str, &str)], poller: &Context) -> Seen {
        let mut service = ServerLayer::with_config(config).layer(tower::service_fn(|_req| async {
            let mut response = http::Response::new(CurrentSpanBody(false));
            response.extensions_mut().insert(current_span_id());
            Ok::<_, Infallible>(response)
        }));
        let mut req = http::Request::get("http://h/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
        // `call` here, outside any context; the future is polled under `poller` only.
        let future = service.ready().await.unwrap().call(req);
        let response = future.with_context(poller.clone()).await.unwrap();
        let handler = *response.extensions().get::<SpanId>().unwrap();
        let body = response.into_body().collect().with_context(poller.clone());
        let body = String::from_utf8(body.await.unwrap().to_bytes().to_vec()).unwrap();
        Seen { handler, body }
    }

    fn metrics_only() -> Config {
        Config::new().tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new())
    }

    fn poller() -> (Context, SpanId) {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let cx = Context::new().with_span(provider.tracer("app").start("poller"));
        let id = cx.span().span_context().span_id();
        (cx, id)
    }

    /// Metrics only and nothing extracted: the call has no context of its own, so it runs in
    /// whichever context polls it, as it would without the layer (an outer `with_context`
    /// is not hidden behind the context current when `call` ran).
    #[tokio::test]
    async fn a_call_without_a_context_of_its_own_runs_in_the_pollers() {
        let (cx, id) = poller();
        for headers in [&[][..], &[("content-type", "application/grpc")]] {
            let seen = seen(metrics_only(), headers, &cx).await;
            let expected = Seen {
                handler: id,
                body: id.to_string(),
            };
            assert_eq!(seen, expected, "{headers:?}");
        }
    }

    /// A call with a context of its own (an extracted parent, or its span) runs in it, whoever
    /// polls it.
    #[tokio::test]
    async fn a_call_with_a_context_of_its_own_runs_in_it() {
        let (cx, poller_id) = poller();
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let extracted = seen(metrics_only(), &[("traceparent", parent)], &cx).await;
        let remote = SpanId::from_hex("b7ad6b7169203331").unwrap();
        assert_eq!(
            extracted,
            Seen {
                handler: remote,
                body: remote.to_string()
            }
        );
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        // A clone kept: the provider's shutdown (when the layer drops) empties the exporter.
        let traced = seen(Config::new().tracer_provider(provider.clone()), &[], &cx).await;
        let ours = exporter.get_finished_spans().unwrap()[0]
            .span_context
            .span_id();
        assert_ne!(ours, poller_id);
        assert_eq!(
            traced,
            Seen {
                handler: ours,
                body: ours.to_string()
            }
        );
    }
}

#[cfg(test)]
mod tests {
    fn is_websocket_upgrade(parts: &http::request::Parts) -> bool {
        crate::common::address::HeadScan::new(&parts.headers).is_websocket_upgrade(parts)
    }

    fn parts(
        method: &str,
        version: http::Version,
        headers: &[(&str, &str)],
    ) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).version(version);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn websocket_bootstraps() {
        use http::Version;
        let h1 = [("upgrade", "WebSocket"), ("connection", "upgrade")];
        assert!(is_websocket_upgrade(&parts("GET", Version::HTTP_11, &h1)));
        let h2 = [("sec-websocket-version", "13")];
        assert!(is_websocket_upgrade(&parts(
            "CONNECT",
            Version::HTTP_2,
            &h2
        )));
        assert!(
            !is_websocket_upgrade(&parts("CONNECT", Version::HTTP_2, &[])),
            "a tunnel"
        );
        assert!(
            !is_websocket_upgrade(&parts("CONNECT", Version::HTTP_11, &h2)),
            "h1 CONNECT"
        );
        assert!(!is_websocket_upgrade(&parts("GET", Version::HTTP_2, &h2)));
        let h2c = [("upgrade", "h2c")];
        assert!(!is_websocket_upgrade(&parts("GET", Version::HTTP_11, &h2c)));
    }
}
