//! [`TracedWebSocketStream`]: a `WebSocketStream` that reports its session's events.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use towerlight::ws::{CloseInitiator, Direction, MessageKind, WsSession};

/// A `WebSocketStream` whose messages, pings, pongs, close and failures feed a session
/// instrument; the same `Stream` + `Sink`. Dropping it ends the session (`1006` without a close).
#[derive(Debug)]
pub struct TracedWebSocketStream<S> {
    inner: WebSocketStream<S>,
    session: Option<WsSession>,
}

impl<S> TracedWebSocketStream<S> {
    /// Wraps a stream whose handshake happened elsewhere, reporting to `session` (see
    /// `towerlight::ws::WsInstrument::start`); `None` reports nothing.
    pub fn new(inner: WebSocketStream<S>, session: Option<WsSession>) -> Self {
        TracedWebSocketStream { inner, session }
    }

    /// The session's context (the handshake's trace): make it current in the task that serves
    /// the connection.
    pub fn context(&self) -> opentelemetry::Context {
        self.session
            .as_ref()
            .map(|s| s.context().clone())
            .unwrap_or_default()
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &WebSocketStream<S> {
        &self.inner
    }

    /// Sends a close frame and flushes, as `WebSocketStream::close` (recorded as this side
    /// closing).
    pub async fn close(
        &mut self,
        frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
    ) -> Result<(), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Some(session) = self.session.as_mut() {
            observe(session, Direction::Transmit, &Message::Close(frame.clone()));
        }
        self.inner.close(frame).await
    }
}

/// A bounded `error.type` for tungstenite's errors (also used by adapters of frameworks built
/// on tungstenite, such as Axum's WebSocket).
pub fn error_type(error: &WsError) -> &'static str {
    match error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "closed",
        WsError::Io(_) => "io_error",
        WsError::Tls(_) => "tls_error",
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => "message_too_big",
        WsError::Capacity(_) => "capacity",
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => "1006",
        WsError::Protocol(_) => "protocol_error",
        WsError::Utf8(_) => "invalid_utf8",
        WsError::Http(_) | WsError::HttpFormat(_) | WsError::Url(_) => "handshake_failed",
        _ => "_OTHER",
    }
}

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
        Message::Frame(f) => (MessageKind::Binary, f.len()),
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
            let code = frame.as_ref().map(|f| u16::from(f.code));
            let reason = frame.as_ref().map_or("", |f| f.reason.as_str());
            session.on_close(code, reason, initiator);
        }
        _ => {}
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for TracedWebSocketStream<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // Asking for the next message means the previous one has been processed.
        if let Some(session) = self.session.as_mut() {
            session.end_processing();
        }
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(session) = self.session.as_mut() {
            match &item {
                Some(Ok(message)) => observe(session, Direction::Receive, message),
                Some(Err(e)) => session.on_error(error_type(e)),
                None => {}
            }
        }
        Poll::Ready(item)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for TracedWebSocketStream<S> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        if let Some(session) = self.session.as_mut() {
            observe(session, Direction::Transmit, &message);
        }
        Pin::new(&mut self.inner).start_send(message)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
