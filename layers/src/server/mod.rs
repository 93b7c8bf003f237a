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

/// The context of the request that carried a message, for instruments further in that cannot
/// see the request itself (JSON-RPC middleware behind a framework's own routing, WebSocket
/// sessions): the server layer puts it in the request extensions when asked to
/// ([`ServerLayer::expose_context`]).
#[derive(Debug, Clone)]
pub struct TransportContext {
    /// The request's context: its SERVER span (or the inbound context when filtered out).
    pub cx: opentelemetry::Context,
    /// The request is a WebSocket upgrade: the connection outlives it, so messages on it are
    /// linked to this context rather than children of it.
    pub upgraded: bool,
}
