//! [`HttpClientLayer`]: instruments any HTTP client that is a `Service<http::Request<_>>`
//! (for example `hyper_util::client::legacy::Client`).

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::instrument::{ClientRequestInfo, HttpClientCall, HttpClientInstrument, ResendCount};
use crate::body::{ByteCounter, InstrumentedBody, Passthrough, RequestBodyMode};
use crate::config::Config;
use crate::server::ResponseFuture;

/// Instruments an HTTP client: one CLIENT span and `http.client.request.duration` per request,
/// the current context injected into the request headers. The span ends when the response body
/// ends.
///
/// ```
/// use towerlight::HttpClientLayer;
///
/// let layer = HttpClientLayer::new();
/// // let client = tower::ServiceBuilder::new().layer(layer).service(hyper_client);
/// # let _ = layer;
/// ```
pub struct HttpClientLayer<M = Passthrough> {
    inst: Arc<HttpClientInstrument>,
    _mode: PhantomData<fn() -> M>,
}

impl<M> Clone for HttpClientLayer<M> {
    fn clone(&self) -> Self {
        HttpClientLayer {
            inst: self.inst.clone(),
            _mode: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for HttpClientLayer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientLayer")
            .field("instrument", &self.inst)
            .finish()
    }
}

impl Default for HttpClientLayer {
    fn default() -> Self {
        HttpClientLayer::new()
    }
}

impl HttpClientLayer {
    /// A layer with the default [`Config`].
    pub fn new() -> HttpClientLayer {
        HttpClientLayer::with_config(Config::new())
    }

    /// A layer with this configuration (resolved now).
    pub fn with_config(config: Config) -> HttpClientLayer {
        HttpClientLayer {
            inst: Arc::new(HttpClientInstrument::new(&config)),
            _mode: PhantomData,
        }
    }
}

impl<M> HttpClientLayer<M> {
    /// Hand the inner client the request body through another [`RequestBodyMode`] (to count the
    /// bytes actually sent).
    pub fn body_mode<M2>(self) -> HttpClientLayer<M2> {
        HttpClientLayer {
            inst: self.inst,
            _mode: PhantomData,
        }
    }

    /// The instrument this layer drives (for clients that are not Tower services).
    pub fn instrument(&self) -> &Arc<HttpClientInstrument> {
        &self.inst
    }
}

impl<S, M> Layer<S> for HttpClientLayer<M> {
    type Service = HttpClientService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClientService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`HttpClientLayer`].
pub struct HttpClientService<S, M> {
    inner: S,
    layer: HttpClientLayer<M>,
}

impl<S: Clone, M> Clone for HttpClientService<S, M> {
    fn clone(&self) -> Self {
        HttpClientService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, M> std::fmt::Debug for HttpClientService<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, M, B, ResBody> Service<Request<B>> for HttpClientService<S, M>
where
    B: http_body::Body,
    M: RequestBodyMode<B>,
    S: Service<Request<M::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<InstrumentedBody<ResBody, HttpClientCall>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error, HttpClientCall>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let inst = &self.layer.inst;
        let counter = (M::counts() && inst.counts_body_sizes()).then(ByteCounter::default);
        let resend_count = parts
            .extensions
            .get::<ResendCount>()
            .map_or(0, ResendCount::next_attempt);
        let info = ClientRequestInfo {
            resend_count,
            request_bytes: counter.clone(),
            body_size: http_body::Body::size_hint(&body).exact(),
        };
        let call = inst.start(&mut parts, info);
        let req = Request::from_parts(parts, M::wrap(body, counter));
        let future = {
            let _attached = crate::body::attach_own(&call);
            self.inner.call(req)
        };
        ResponseFuture::new(future, Some(call))
    }
}
