//! [`GrpcClientLayer`]: instruments any gRPC client transport (a tonic `Channel`, or any
//! `Service<http::Request<_>>`) with CLIENT spans, `rpc.client.call.duration`, and context
//! injection into the request metadata.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::instrument::{GrpcCall, GrpcInstrument, RpcRequestInfo, RpcSide, RpcTarget};
use crate::body::{ByteCounter, InstrumentedBody, Passthrough, RequestBodyMode};
use crate::config::Config;
use crate::server::ResponseFuture;

/// Instruments a gRPC client transport. The span lasts until the response stream ends; the
/// status comes from the response headers or trailers; every non-OK status is an error.
///
/// ```
/// use towerlight::GrpcClientLayer;
///
/// let layer = GrpcClientLayer::new();
/// // let channel = tower::ServiceBuilder::new().layer(layer).service(channel);
/// # let _ = layer;
/// ```
pub struct GrpcClientLayer<M = Passthrough> {
    inst: Arc<GrpcInstrument>,
    target: Option<RpcTarget>,
    _mode: PhantomData<fn() -> M>,
}

impl<M> Clone for GrpcClientLayer<M> {
    fn clone(&self) -> Self {
        GrpcClientLayer {
            inst: self.inst.clone(),
            target: self.target.clone(),
            _mode: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for GrpcClientLayer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientLayer")
            .field("instrument", &self.inst)
            .finish()
    }
}

impl Default for GrpcClientLayer {
    fn default() -> Self {
        GrpcClientLayer::new()
    }
}

impl GrpcClientLayer {
    /// A layer with the default [`Config`].
    pub fn new() -> GrpcClientLayer {
        GrpcClientLayer::with_config(Config::new())
    }

    /// A layer with this configuration (resolved now).
    pub fn with_config(config: Config) -> GrpcClientLayer {
        GrpcClientLayer {
            inst: Arc::new(GrpcInstrument::new(&config, RpcSide::Client)),
            target: None,
            _mode: PhantomData,
        }
    }
}

impl<M> GrpcClientLayer<M> {
    /// Hand the transport the request body through another
    /// [`RequestBodyMode`] (needed for SENT message events).
    pub fn body_mode<M2>(self) -> GrpcClientLayer<M2> {
        GrpcClientLayer {
            inst: self.inst,
            target: self.target,
            _mode: PhantomData,
        }
    }

    /// The endpoint this client calls, for `server.address` / `server.port` when requests carry
    /// only a path (tonic's `Channel` adds the origin below the layers).
    pub fn target(mut self, endpoint: &http::Uri) -> Self {
        self.target = RpcTarget::from_uri(endpoint);
        self
    }
}

impl<S, M> Layer<S> for GrpcClientLayer<M> {
    type Service = GrpcClientService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`GrpcClientLayer`].
pub struct GrpcClientService<S, M> {
    inner: S,
    layer: GrpcClientLayer<M>,
}

impl<S: Clone, M> Clone for GrpcClientService<S, M> {
    fn clone(&self) -> Self {
        GrpcClientService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, M> std::fmt::Debug for GrpcClientService<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for GrpcClientService<S, M>
where
    M: RequestBodyMode<B>,
    S: Service<Request<M::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<InstrumentedBody<ResBody, GrpcCall>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error, GrpcCall>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let inst = &self.layer.inst;
        let counter = (M::counts() && inst.message_events()).then(ByteCounter::default);
        let info = RpcRequestInfo {
            peer: None,
            request_body: counter.clone(),
            target: self.layer.target.clone(),
        };
        let call = inst.start_client(&mut parts, info);
        let req = Request::from_parts(parts, M::wrap(body, counter));
        let future = {
            let _attached = crate::body::attach_own(&call);
            self.inner.call(req)
        };
        ResponseFuture::new(future, Some(call))
    }
}
