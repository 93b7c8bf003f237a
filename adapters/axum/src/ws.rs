//! WebSocket sessions on Axum (feature `ws`): [`WebSocketUpgrade`] is a drop-in for axum's
//! extractor whose `on_upgrade` hands the callback a [`WebSocket`] (the same `Stream` + `Sink`
//! API) that reports every message, ping, pong and close to towerlight's session instrument,
//! and runs the callback with the session's context current — axum spawns it on a new task,
//! where the handshake's context would otherwise be lost.
//!
//! The handshake itself is an ordinary request through `towerlight_axum::layer()`: its span and
//! `http.server.request.duration` end at the `101`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use axum::extract::ws::{self, CloseFrame, Message};
use axum::extract::FromRequestParts;
use axum::response::Response;
use futures_util::{Sink, Stream};
use opentelemetry::context::FutureExt as _;
use towerlight::ws::{CloseInitiator, Direction, MessageKind, WsHandshake, WsSession};

/// A drop-in for [`axum::extract::ws::WebSocketUpgrade`] (the towerlight layer must be on the
/// route: it hands the handshake over).
#[derive(Debug)]
pub struct WebSocketUpgrade {
    inner: ws::WebSocketUpgrade,
    handshake: Option<WsHandshake>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = <ws::WebSocketUpgrade as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let handshake = parts.extensions.get::<WsHandshake>().cloned();
        let inner = ws::WebSocketUpgrade::from_request_parts(parts, state).await?;
        Ok(WebSocketUpgrade { inner, handshake })
    }
}

impl WebSocketUpgrade {
    /// The subprotocols the server supports, as axum's `protocols`.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<std::borrow::Cow<'static, str>>,
    {
        self.inner = self.inner.protocols(protocols);
        self
    }

    /// The largest message accepted, as axum's `max_message_size`.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.inner = self.inner.max_message_size(max);
        self
    }

    /// The largest frame accepted, as axum's `max_frame_size`.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.inner = self.inner.max_frame_size(max);
        self
    }

    /// Finishes the upgrade: `callback` runs on its own task with the session's context
    /// current, and gets the instrumented socket.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handshake = self.handshake;
        self.inner.on_upgrade(move |socket| {
            let session = handshake.as_ref().map(WsHandshake::start);
            let cx = session
                .as_ref()
                .map(|s| s.context().clone())
                .unwrap_or_default();
            callback(WebSocket {
                inner: socket,
                session,
            })
            .with_context(cx)
        })
    }
}

/// An instrumented [`axum::extract::ws::WebSocket`]: the same `Stream` + `Sink`, `recv` and
/// `send`. Dropping it ends the session (abnormally, `1006`, if no close frame went by).
#[derive(Debug)]
pub struct WebSocket {
    inner: ws::WebSocket,
    session: Option<WsSession>,
}

impl WebSocket {
    /// Receives the next message, as axum's `recv`.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        futures_util::StreamExt::next(self).await
    }

    /// Sends a message, as axum's `send`.
    pub async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        futures_util::SinkExt::send(self, message).await
    }

    /// The subprotocol the server chose, as axum's `protocol`.
    pub fn protocol(&self) -> Option<&http::HeaderValue> {
        self.inner.protocol()
    }

    /// The context of the message last received, with message spans on
    /// (`Config::websocket_message_spans`): run its handling in it
    /// (`handle(message).with_context(socket.message_context())`) so the work nests under the
    /// message's span. The session's context otherwise.
    pub fn message_context(&self) -> opentelemetry::Context {
        match &self.session {
            Some(s) => s.message_context().unwrap_or(s.context()).clone(),
            None => opentelemetry::Context::default(),
        }
    }

    /// The session's context (the handshake's trace), for work started outside the callback.
    pub fn context(&self) -> opentelemetry::Context {
        self.session
            .as_ref()
            .map(|s| s.context().clone())
            .unwrap_or_default()
    }

    fn observe(&mut self, direction: Direction, message: &Message) {
        if let Some(session) = self.session.as_mut() {
            observe(session, direction, message);
        }
    }
}

/// Translates one axum message into the session's events.
fn observe(session: &mut WsSession, direction: Direction, message: &Message) {
    let (kind, len) = match message {
        Message::Text(t) => (MessageKind::Text, t.len()),
        Message::Binary(b) => (MessageKind::Binary, b.len()),
        Message::Ping(p) => (MessageKind::Ping, p.len()),
        Message::Pong(p) => (MessageKind::Pong, p.len()),
        Message::Close(frame) => (
            MessageKind::Close,
            frame.as_ref().map_or(0, |f| f.reason.len() + 2),
        ),
    };
    session.on_message(direction, kind, len);
    match (message, direction) {
        (Message::Ping(p), Direction::Transmit) => session.on_ping_sent(p),
        (Message::Pong(p), Direction::Receive) => session.on_pong(p),
        (Message::Close(frame), _) => {
            let initiator = match direction {
                Direction::Receive => CloseInitiator::Remote,
                Direction::Transmit => CloseInitiator::Local,
            };
            let (code, reason) = close_parts(frame.as_ref());
            session.on_close(code, reason, initiator);
        }
        _ => {}
    }
}

/// A bounded `error.type` for a failed read: tungstenite's error inside axum's, classified
/// once (in `towerlight-tungstenite`); anything else is `_OTHER`.
fn error_type(error: &axum::Error) -> &'static str {
    use std::error::Error as _;
    error
        .source()
        .and_then(|e| {
            e.downcast_ref::<towerlight_tungstenite::tokio_tungstenite::tungstenite::Error>()
        })
        .map_or("_OTHER", towerlight_tungstenite::error_type)
}

fn close_parts(frame: Option<&CloseFrame>) -> (Option<u16>, &str) {
    match frame {
        Some(f) => (Some(f.code), f.reason.as_str()),
        None => (None, ""),
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // Asking for the next message means the previous one has been processed.
        if let Some(session) = self.session.as_mut() {
            session.end_processing();
        }
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        match &item {
            Some(Ok(message)) => self.observe(Direction::Receive, message),
            Some(Err(e)) => {
                if let Some(session) = self.session.as_mut() {
                    session.on_error(error_type(e));
                }
            }
            None => {}
        }
        Poll::Ready(item)
    }
}

impl Sink<Message> for WebSocket {
    type Error = axum::Error;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        self.observe(Direction::Transmit, &message);
        Pin::new(&mut self.inner).start_send(message)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
