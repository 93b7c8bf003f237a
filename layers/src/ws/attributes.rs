//! Every WebSocket name towerlight uses. The semantic conventions have none yet
//! (semantic-conventions#2841); these are the de-facto names (Datadog's `websocket.*` tags) and
//! registered names reused where they fit (`network.io.direction`, `http.route`, `error.type`).
//! Adopting upstream names later is a change to this file only.

/// Histogram (s): how long sessions last, from the upgrade to the close.
pub const SERVER_SESSION_DURATION: &str = "websocket.server.session.duration";
/// Histogram (s), client side.
pub const CLIENT_SESSION_DURATION: &str = "websocket.client.session.duration";
/// UpDownCounter: sessions open now.
pub const SERVER_ACTIVE_SESSIONS: &str = "websocket.server.active_sessions";
/// UpDownCounter, client side.
pub const CLIENT_ACTIVE_SESSIONS: &str = "websocket.client.active_sessions";
/// Counter: messages, by direction and type.
pub const SERVER_MESSAGES: &str = "websocket.server.messages";
/// Counter, client side.
pub const CLIENT_MESSAGES: &str = "websocket.client.messages";
/// Histogram (By, opt-in): message payload sizes.
pub const SERVER_MESSAGE_SIZE: &str = "websocket.server.message.size";
/// Histogram (By, opt-in), client side.
pub const CLIENT_MESSAGE_SIZE: &str = "websocket.client.message.size";
/// Histogram (s, opt-in): time from a ping sent to its matching pong.
pub const SERVER_PING_DURATION: &str = "websocket.server.ping.duration";
/// Histogram (s, opt-in), client side.
pub const CLIENT_PING_DURATION: &str = "websocket.client.ping.duration";

/// `text`, `binary`, `ping`, `pong`, `close`.
pub const MESSAGE_TYPE: &str = "websocket.message.type";
/// The close code (session span).
pub const CLOSE_CODE: &str = "websocket.close.code";
/// The close reason (session span only: free text).
pub const CLOSE_REASON: &str = "websocket.close.reason";
/// Which side closed first: `local` or `remote` (session span).
pub const CLOSE_INITIATOR: &str = "websocket.close.initiator";
/// Messages received / sent over the session (session span).
pub const MESSAGES_RECEIVED: &str = "websocket.messages.received";
/// Messages sent over the session (session span).
pub const MESSAGES_SENT: &str = "websocket.messages.sent";
/// Payload bytes received over the session (session span).
pub const BYTES_RECEIVED: &str = "websocket.bytes.received";
/// Payload bytes sent over the session (session span).
pub const BYTES_SENT: &str = "websocket.bytes.sent";

/// `messaging.system` of message spans (a custom value: the enum is open).
pub const MESSAGING_SYSTEM_WEBSOCKET: &str = "websocket";

/// Session durations (s): the bucket list the conventions use for long-lived sessions
/// (SignalR connections, MCP sessions).
pub const SESSION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
