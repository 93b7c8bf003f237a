//! WebSocket: one framework-free session instrument fed protocol-neutral events — a message
//! (direction, type, payload length), a ping sent and its pong, the close — with `Drop` as an
//! abnormal end. The handshake stays an HTTP request (its span and
//! `http.server.request.duration` end at the `101`); the session gets its own metrics and an
//! opt-in INTERNAL span, never a SERVER span lasting hours. Adapters (Axum, Actix-web,
//! tokio-tungstenite) only translate their frameworks' types into these events.

pub mod attributes;
mod instrument;
mod messages;
mod rules;

pub use instrument::{WsHandshake, WsInstrument, WsSession, WsSide};
pub use messages::MessageSpans;
pub use rules::{CloseInitiator, Direction, MessageKind};
