#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

#[cfg(feature = "prometheus")]
mod metrics;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use metrics::{metrics_route, prometheus_handler};

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath};
use towerlight::body::{ByteCounter, CountingBody, RequestBodyMode};
use towerlight::http::RouteSlot;
use towerlight::{Config, HttpServerLayer};

/// The towerlight HTTP server layer set up for Axum, with the default [`Config`].
pub fn layer() -> HttpServerLayer<AxumBody> {
    layer_with(Config::new())
}

/// The towerlight HTTP server layer set up for Axum, with your [`Config`].
///
/// ```
/// use towerlight::Config;
///
/// let layer = towerlight_axum::layer_with(
///     Config::new().capture_request_headers(["x-request-id"]).opt_in_metrics(true),
/// );
/// # let _ = layer;
/// ```
pub fn layer_with(config: Config) -> HttpServerLayer<AxumBody> {
    adapt(HttpServerLayer::with_config(config))
}

/// Points an existing core layer at Axum's route and peer-address extensions.
pub fn adapt<M>(layer: HttpServerLayer<M>) -> HttpServerLayer<AxumBody> {
    layer
        .route_from(matched_path)
        .peer_from(connect_info)
        .late_route(true)
        .body_mode::<AxumBody>()
}

fn matched_path(parts: &http::request::Parts) -> Option<Arc<str>> {
    parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| towerlight::http::shared_route(m.as_str()))
}

fn connect_info(parts: &http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Request-body mode for Axum: the handler always gets an [`axum::body::Body`]; it is wrapped in a
/// byte counter only when body-size metrics are on.
#[derive(Debug, Clone, Copy, Default)]
pub struct AxumBody;

impl RequestBodyMode<Body> for AxumBody {
    type Body = Body;

    fn wrap(body: Body, counter: Option<ByteCounter>) -> Body {
        match counter {
            None => body,
            Some(counter) => Body::new(CountingBody::new(body, counter)),
        }
    }

    fn counts() -> bool {
        true
    }
}

/// Records the matched route for a towerlight layer that wraps the router from the outside.
///
/// Add it with `Router::route_layer` (it only runs for matched routes):
///
/// ```
/// use axum::{routing::get, Router};
/// use tower::ServiceBuilder;
///
/// let router: Router = Router::new()
///     .route("/items/{id}", get(|| async { "item" }))
///     .route_layer(towerlight_axum::RecordRoute);
/// let app = ServiceBuilder::new()
///     .layer(towerlight_axum::layer())
///     .service(router);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordRoute;

impl<S> tower_layer::Layer<S> for RecordRoute {
    type Service = RecordRouteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordRouteService { inner }
    }
}

/// The service of [`RecordRoute`].
#[derive(Debug, Clone)]
pub struct RecordRouteService<S> {
    inner: S,
}

impl<S, B> tower_service::Service<http::Request<B>> for RecordRouteService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if let (Some(slot), Some(path)) = (
            req.extensions().get::<RouteSlot>(),
            req.extensions().get::<MatchedPath>(),
        ) {
            slot.set(path.as_str());
        }
        self.inner.call(req)
    }
}
