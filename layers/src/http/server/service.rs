//! [`HttpServerService`]: the Tower service [`HttpServerLayer`](super::HttpServerLayer) produces.

use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::instrument::{RequestInfo, RouteSlot};
use super::layer::HttpServerLayer;
use crate::body::{ByteCounter, RequestBodyMode};

/// An instrumented HTTP server service. See [`HttpServerLayer`].
pub struct HttpServerService<S, M> {
    inner: S,
    layer: HttpServerLayer<M>,
}

impl<S: Clone, M> Clone for HttpServerService<S, M> {
    fn clone(&self) -> Self {
        HttpServerService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, M> std::fmt::Debug for HttpServerService<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServerService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, M> HttpServerService<S, M> {
    pub(crate) fn new(inner: S, layer: HttpServerLayer<M>) -> Self {
        HttpServerService { inner, layer }
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for HttpServerService<S, M>
where
    M: RequestBodyMode<B>,
    S: Service<Request<M::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<crate::body::InstrumentedBody<ResBody, super::HttpServerCall>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let layer = &self.layer;

        // Nested inside another towerlight server layer (which left a route slot for us): that
        // layer owns the telemetry; just tell it the route if we know it.
        if let Some(slot) = parts.extensions.get::<RouteSlot>() {
            if let Some(route) = (layer.route)(&parts) {
                slot.set(&route);
            }
            let req = Request::from_parts(parts, M::wrap(body, None));
            return ResponseFuture::new(self.inner.call(req), None);
        }

        let route = (layer.route)(&parts);
        let route_slot = if route.is_none() && layer.late_route {
            let slot = RouteSlot::default();
            parts.extensions.insert(slot.clone());
            Some(slot)
        } else {
            None
        };
        let counter = (M::counts() && layer.inst.counts_body_sizes()).then(ByteCounter::default);
        let info = RequestInfo {
            route,
            route_slot,
            peer: (layer.peer)(&parts),
            request_bytes: counter.clone(),
        };
        let call = layer.inst.start(&parts, info);
        let req = Request::from_parts(parts, M::wrap(body, counter));
        let future = {
            let _attached = call.context().clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::new(future, Some(call))
    }
}
