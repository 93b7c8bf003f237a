//! WebSocket sessions with actix-ws (feature `ws`): [`handle`] is `actix_ws::handle` with the
//! session instrumented — the handshake stays the HTTP request the [`Otel`](crate::Otel)
//! middleware records (ending at the `101`), and [`Session`] / [`MessageStream`] report every
//! message, ping, pong and close to towerlight's session instrument. The session ends when the
//! stream and every clone of the session are gone (`1006` if no close frame went by).
//!
//! actix-ws sessions usually run on a task of their own (`actix_web::rt::spawn`): wrap that
//! task with the session's context (`.with_context(session.context())`, from
//! `opentelemetry::context::FutureExt`) so its logs and calls carry the handshake's trace.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use actix_ws::{CloseReason, Closed, Message, ProtocolError};
use bytes::Bytes;
use futures_util::Stream;
use towerlight::ws::{CloseInitiator, Direction, MessageKind, WsHandshake, WsSession};

type Shared = Arc<Mutex<Option<WsSession>>>;

/// `actix_ws::handle`, with the session instrumented (the [`Otel`](crate::Otel) middleware
/// must wrap the route: it hands the handshake over).
pub fn handle(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, Session, MessageStream), actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    let handshake = req.extensions().get::<WsHandshake>().cloned();
    let shared: Shared = Arc::new(Mutex::new(handshake.as_ref().map(WsHandshake::start)));
    Ok((
        response,
        Session {
            inner: session,
            shared: shared.clone(),
        },
        MessageStream {
            inner: stream,
            shared,
        },
    ))
}

fn with_session(shared: &Shared, f: impl FnOnce(&mut WsSession)) {
    if let Ok(mut session) = shared.lock() {
        if let Some(session) = session.as_mut() {
            f(session);
        }
    }
}

fn context_of(shared: &Shared) -> opentelemetry::Context {
    shared
        .lock()
        .ok()
        .and_then(|s| s.as_ref().map(|s| s.context().clone()))
        .unwrap_or_default()
}

/// An instrumented `actix_ws::Session`: the same methods.
#[derive(Clone)]
pub struct Session {
    inner: actix_ws::Session,
    shared: Shared,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The session's context (the handshake's trace).
    pub fn context(&self) -> opentelemetry::Context {
        context_of(&self.shared)
    }

    /// Sends a text message.
    pub async fn text(&mut self, msg: impl Into<String>) -> Result<(), Closed> {
        let msg = msg.into();
        with_session(&self.shared, |s| {
            s.on_message(Direction::Transmit, MessageKind::Text, msg.len())
        });
        self.inner.text(msg).await
    }

    /// Sends a binary message.
    pub async fn binary(&mut self, msg: impl Into<Bytes>) -> Result<(), Closed> {
        let msg = msg.into();
        with_session(&self.shared, |s| {
            s.on_message(Direction::Transmit, MessageKind::Binary, msg.len())
        });
        self.inner.binary(msg).await
    }

    /// Sends a ping (its pong gives the round-trip time).
    pub async fn ping(&mut self, msg: &[u8]) -> Result<(), Closed> {
        with_session(&self.shared, |s| {
            s.on_message(Direction::Transmit, MessageKind::Ping, msg.len());
            s.on_ping_sent(msg);
        });
        self.inner.ping(msg).await
    }

    /// Sends a pong.
    pub async fn pong(&mut self, msg: &[u8]) -> Result<(), Closed> {
        with_session(&self.shared, |s| {
            s.on_message(Direction::Transmit, MessageKind::Pong, msg.len())
        });
        self.inner.pong(msg).await
    }

    /// Closes the session.
    pub async fn close(self, reason: Option<CloseReason>) -> Result<(), Closed> {
        with_session(&self.shared, |s| {
            let (code, text) = close_parts(reason.as_ref());
            s.on_message(Direction::Transmit, MessageKind::Close, text.len() + 2);
            s.on_close(code, text, CloseInitiator::Local);
        });
        self.inner.close(reason).await
    }
}

fn close_parts(reason: Option<&CloseReason>) -> (Option<u16>, &str) {
    match reason {
        Some(r) => (
            Some(u16::from(r.code)),
            r.description.as_deref().unwrap_or(""),
        ),
        None => (None, ""),
    }
}

/// An instrumented `actix_ws::MessageStream`: the same `Stream` and `recv`.
pub struct MessageStream {
    inner: actix_ws::MessageStream,
    shared: Shared,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream").finish_non_exhaustive()
    }
}

impl MessageStream {
    /// Receives the next message.
    pub async fn recv(&mut self) -> Option<Result<Message, ProtocolError>> {
        futures_util::StreamExt::next(self).await
    }

    /// The session's context (the handshake's trace).
    pub fn context(&self) -> opentelemetry::Context {
        context_of(&self.shared)
    }
}

fn observe(session: &mut WsSession, message: &Message) {
    let (kind, len) = match message {
        Message::Text(t) => (MessageKind::Text, t.len()),
        Message::Binary(b) => (MessageKind::Binary, b.len()),
        Message::Continuation(_) => (MessageKind::Binary, 0),
        Message::Ping(p) => (MessageKind::Ping, p.len()),
        Message::Pong(p) => (MessageKind::Pong, p.len()),
        Message::Close(r) => (MessageKind::Close, close_parts(r.as_ref()).1.len() + 2),
        Message::Nop => return,
    };
    session.on_message(Direction::Receive, kind, len);
    match message {
        Message::Pong(p) => session.on_pong(p),
        Message::Close(r) => {
            let (code, text) = close_parts(r.as_ref());
            session.on_close(code, text, CloseInitiator::Remote);
        }
        _ => {}
    }
}

/// A bounded `error.type` for actix-ws protocol errors.
fn error_type(error: &ProtocolError) -> &'static str {
    match error {
        ProtocolError::Overflow => "message_too_big",
        ProtocolError::Io(_) => "io_error",
        _ => "protocol_error",
    }
}

impl Stream for MessageStream {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // Asking for the next message means the previous one has been processed.
        with_session(&self.shared, WsSession::end_processing);
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        match &item {
            Some(Ok(message)) => with_session(&self.shared, |s| observe(s, message)),
            Some(Err(e)) => with_session(&self.shared, |s| s.on_error(error_type(e))),
            None => {}
        }
        Poll::Ready(item)
    }
}
