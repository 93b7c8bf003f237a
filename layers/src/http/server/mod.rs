//! The HTTP server side: [`HttpServerLayer`] (Tower) and the [`HttpServerInstrument`] it drives.

mod future;
mod instrument;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use instrument::{
    HttpServerCall, HttpServerInstrument, RequestInfo, RouteSlot, CANCELLED, PANIC,
};
pub use layer::{HttpServerLayer, PeerAddr, PeerFn, RouteFn};
pub use service::HttpServerService;
