//! [`HttpServerLayer`]: the Tower layer for HTTP servers.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::ServerService;
use crate::body::Passthrough;
use crate::config::Config;
use crate::grpc::{GrpcInstrument, RpcSide};
use crate::http::server::HttpServerInstrument;

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

/// Which instrument a [`ServerLayer`] applies to a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC requests (`content-type: application/grpc*`) get RPC spans and metrics, everything
    /// else HTTP spans and metrics: one layer for routers that serve both.
    #[default]
    Auto,
    /// Every request is a plain HTTP request.
    Http,
    /// Every request is a gRPC call.
    Grpc,
}

/// Instruments any `Service<http::Request<B>>` as a server: one SERVER span and the server
/// metrics per request (HTTP, or RPC for gRPC calls), with the inbound context extracted and
/// current while the inner service and the response body are polled.
///
/// `M` chooses how the request body reaches the inner service (see
/// [`RequestBodyMode`](crate::body::RequestBodyMode)); the default leaves it untouched.
///
/// ```
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder};
/// use towerlight::ServerLayer;
///
/// let service = ServiceBuilder::new()
///     .layer(ServerLayer::new())
///     .service(service_fn(|_req: http::Request<String>| async {
///         Ok::<_, Infallible>(http::Response::new(String::from("hello")))
///     }));
/// # let _ = service;
/// ```
pub struct ServerLayer<M = Passthrough> {
    /// Shared by every service the layer makes: a framework that clones its service per request
    /// (Axum does) then clones one `Arc`, not one per instrument.
    pub(crate) s: Arc<LayerSettings>,
    _mode: PhantomData<fn() -> M>,
}

/// What a [`ServerLayer`] holds.
#[derive(Clone)]
pub(crate) struct LayerSettings {
    pub(crate) http: Option<Arc<HttpServerInstrument>>,
    pub(crate) ws: Arc<crate::ws::WsInstrument>,
    pub(crate) grpc: Option<Arc<GrpcInstrument>>,
    pub(crate) route: RouteFn,
    pub(crate) peer: PeerFn,
    pub(crate) late_route: bool,
    pub(crate) secure: bool,
    pub(crate) expose_context: bool,
}

/// The same layer under its HTTP name, for discoverability.
pub type HttpServerLayer<M = Passthrough> = ServerLayer<M>;

impl<M> Clone for ServerLayer<M> {
    fn clone(&self) -> Self {
        ServerLayer {
            s: self.s.clone(),
            _mode: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for ServerLayer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("http", &self.s.http)
            .field("grpc", &self.s.grpc)
            .field("late_route", &self.s.late_route)
            .finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        ServerLayer::new()
    }
}

impl ServerLayer {
    /// A layer with the default [`Config`] (global providers, propagator from the environment).
    pub fn new() -> ServerLayer {
        ServerLayer::with_config(Config::new())
    }

    /// A layer with this configuration, for HTTP and gRPC ([`Protocol::Auto`]). The tracer,
    /// instruments and propagator are resolved now.
    pub fn with_config(config: Config) -> ServerLayer {
        ServerLayer::for_protocol(config, Protocol::Auto)
    }

    /// A layer for one protocol (or [`Protocol::Auto`]).
    pub fn for_protocol(config: Config, protocol: Protocol) -> ServerLayer {
        let http =
            (protocol != Protocol::Grpc).then(|| Arc::new(HttpServerInstrument::new(&config)));
        let grpc = (protocol != Protocol::Http)
            .then(|| Arc::new(GrpcInstrument::new(&config, RpcSide::Server)));
        let s = LayerSettings {
            http,
            ws: Arc::new(crate::ws::WsInstrument::new(
                &config,
                crate::ws::WsSide::Server,
            )),
            grpc,
            route: no_route,
            peer: peer_from_extension,
            late_route: false,
            secure: false,
            expose_context: false,
        };
        ServerLayer {
            s: Arc::new(s),
            _mode: PhantomData,
        }
    }
}

impl<M> ServerLayer<M> {
    /// Read the route template with `route` (framework adapters set this).
    pub fn route_from(mut self, route: RouteFn) -> Self {
        Arc::make_mut(&mut self.s).route = route;
        self
    }

    /// Read the peer address with `peer` (framework adapters set this; the default reads the
    /// [`PeerAddr`] extension).
    pub fn peer_from(mut self, peer: PeerFn) -> Self {
        Arc::make_mut(&mut self.s).peer = peer;
        self
    }

    /// When the route is unknown at the start of a request, put a
    /// [`RouteSlot`](crate::http::server::RouteSlot) in the request extensions for a router further in to fill.
    pub fn late_route(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.s).late_route = on;
        self
    }

    /// The server terminates TLS itself: `url.scheme` is `https` unless a proxy header says
    /// otherwise (a layer cannot see the connection, so it has to be told).
    pub fn secure(mut self, secure: bool) -> Self {
        Arc::make_mut(&mut self.s).secure = secure;
        self
    }

    /// Put the request's context in its extensions as a
    /// [`TransportContext`](super::TransportContext), for instruments further in that cannot see
    /// the request (JSON-RPC middleware; messages on a WebSocket connection). Off by default: it
    /// costs an allocation per request.
    pub fn expose_context(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.s).expose_context = on;
        self
    }

    /// Hand the inner service the request body through another [`RequestBodyMode`](crate::body::RequestBodyMode).
    pub fn body_mode<M2>(self) -> ServerLayer<M2> {
        ServerLayer {
            s: self.s,
            _mode: PhantomData,
        }
    }

    /// The HTTP instrument this layer drives (for adapters that are not Tower-based).
    pub fn http_instrument(&self) -> Option<&Arc<HttpServerInstrument>> {
        self.s.http.as_ref()
    }

    /// The gRPC instrument this layer drives.
    pub fn grpc_instrument(&self) -> Option<&Arc<GrpcInstrument>> {
        self.s.grpc.as_ref()
    }
}

impl<S, M> Layer<S> for ServerLayer<M> {
    type Service = ServerService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService::new(inner, self.clone())
    }
}
