//! The server side: [`ServerLayer`] (Tower; HTTP and gRPC) and the [`HttpServerInstrument`] it
//! drives for plain HTTP requests (gRPC calls go to [`crate::grpc::GrpcInstrument`]).

mod call;
mod instrument;
mod layer;
mod service;

pub use crate::future::ResponseFuture;
pub use call::ServerCall;
pub(crate) use instrument::protocol_version;
pub use instrument::{
    HttpServerCall, HttpServerInstrument, RequestInfo, RouteSlot, CANCELLED, PANIC,
};
pub use layer::{HttpServerLayer, PeerAddr, PeerFn, Protocol, RouteFn, ServerLayer};
pub use service::{HttpServerService, ServerService};
