//! The HTTP server instrument, [`HttpServerInstrument`], which the protocol-neutral server shell
//! ([`crate::server::ServerLayer`]) drives for plain HTTP requests. The shell's types are
//! re-exported here under their HTTP names, for discoverability.

mod instrument;

pub use crate::server::{
    HttpServerLayer, HttpServerService, PeerAddr, PeerFn, Protocol, ResponseFuture, RouteFn,
    ServerCall, ServerLayer, ServerService,
};
pub(crate) use instrument::protocol_version;
pub use instrument::{
    HttpServerCall, HttpServerInstrument, RequestInfo, RouteSlot, CANCELLED, PANIC,
};
