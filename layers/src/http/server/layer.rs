//! [`HttpServerLayer`]: the Tower layer for HTTP servers.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use tower_layer::Layer;

use super::instrument::HttpServerInstrument;
use super::service::HttpServerService;
use crate::body::Passthrough;
use crate::config::Config;

/// Reads the matched route template from a request head (framework-specific).
pub type RouteFn = fn(&http::request::Parts) -> Option<Arc<str>>;
/// Reads the connection's peer address from a request head (framework-specific).
pub type PeerFn = fn(&http::request::Parts) -> Option<SocketAddr>;

/// The connection's peer address, for servers that put it in the request extensions
/// (read by default; framework adapters read their own types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

fn peer_from_extension(parts: &http::request::Parts) -> Option<SocketAddr> {
    parts.extensions.get::<PeerAddr>().map(|p| p.0)
}

fn no_route(_: &http::request::Parts) -> Option<Arc<str>> {
    None
}

/// Instruments any `Service<http::Request<B>>` as an HTTP server: one SERVER span and the HTTP
/// server metrics per request, with the inbound context extracted and current while the inner
/// service and the response body are polled.
///
/// `M` chooses how the request body reaches the inner service (see
/// [`RequestBodyMode`](crate::body::RequestBodyMode)); the default leaves it untouched.
///
/// ```
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder};
/// use towerlight::HttpServerLayer;
///
/// let service = ServiceBuilder::new()
///     .layer(HttpServerLayer::new())
///     .service(service_fn(|_req: http::Request<String>| async {
///         Ok::<_, Infallible>(http::Response::new(String::from("hello")))
///     }));
/// # let _ = service;
/// ```
pub struct HttpServerLayer<M = Passthrough> {
    pub(crate) inst: Arc<HttpServerInstrument>,
    pub(crate) route: RouteFn,
    pub(crate) peer: PeerFn,
    pub(crate) late_route: bool,
    _mode: PhantomData<fn() -> M>,
}

impl<M> Clone for HttpServerLayer<M> {
    fn clone(&self) -> Self {
        HttpServerLayer {
            inst: self.inst.clone(),
            route: self.route,
            peer: self.peer,
            late_route: self.late_route,
            _mode: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for HttpServerLayer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServerLayer")
            .field("instrument", &self.inst)
            .field("late_route", &self.late_route)
            .finish_non_exhaustive()
    }
}

impl Default for HttpServerLayer {
    fn default() -> Self {
        HttpServerLayer::new()
    }
}

impl HttpServerLayer {
    /// A layer with the default [`Config`] (global providers, propagator from the environment).
    pub fn new() -> HttpServerLayer {
        HttpServerLayer::with_config(Config::new())
    }

    /// A layer with this configuration. The tracer, instruments and propagator are resolved now.
    pub fn with_config(config: Config) -> HttpServerLayer {
        HttpServerLayer {
            inst: Arc::new(HttpServerInstrument::new(&config)),
            route: no_route,
            peer: peer_from_extension,
            late_route: false,
            _mode: PhantomData,
        }
    }
}

impl<M> HttpServerLayer<M> {
    /// Read the route template with `route` (framework adapters set this).
    pub fn route_from(mut self, route: RouteFn) -> Self {
        self.route = route;
        self
    }

    /// Read the peer address with `peer` (framework adapters set this; the default reads the
    /// [`PeerAddr`] extension).
    pub fn peer_from(mut self, peer: PeerFn) -> Self {
        self.peer = peer;
        self
    }

    /// When the route is unknown at the start of a request, put a
    /// [`RouteSlot`](super::RouteSlot) in the request extensions for a router further in to fill.
    pub fn late_route(mut self, on: bool) -> Self {
        self.late_route = on;
        self
    }

    /// Hand the inner service the request body through another [`RequestBodyMode`](crate::body::RequestBodyMode).
    pub fn body_mode<M2>(self) -> HttpServerLayer<M2> {
        HttpServerLayer {
            inst: self.inst,
            route: self.route,
            peer: self.peer,
            late_route: self.late_route,
            _mode: PhantomData,
        }
    }

    /// The instrument this layer drives (for adapters that are not Tower-based).
    pub fn instrument(&self) -> &Arc<HttpServerInstrument> {
        &self.inst
    }
}

impl<S, M> Layer<S> for HttpServerLayer<M> {
    type Service = HttpServerService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpServerService::new(inner, self.clone())
    }
}
