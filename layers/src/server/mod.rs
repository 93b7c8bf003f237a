//! The protocol-neutral Tower server shell: [`ServerLayer`] picks the instrument for each request
//! (HTTP, or gRPC by content type), and one future and one body wrapper serve every protocol.
//! No protocol's rules live here: the instruments own them.

mod call;
mod future;
mod layer;
mod service;

pub use call::ServerCall;
pub use future::ResponseFuture;
pub use layer::{HttpServerLayer, PeerAddr, PeerFn, Protocol, RouteFn, ServerLayer};
pub use service::{HttpServerService, ServerService};
