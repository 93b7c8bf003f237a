//! The instrumented tokio-tungstenite client against any echo server: one scenario, asserted the
//! same way whatever framework serves it.

use futures_util::{SinkExt, StreamExt};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use towerlight_tungstenite::WsClient;

use crate::{attr_map, Telemetry};

/// Connects `WsClient` to the echo server at `url` inside a caller span, echoes one text
/// message, closes with 4000 and asserts both sides: the server handshake (named
/// `server_span_name`) is the child of the client's, each session is the child of its own
/// handshake with the right close code, initiator and counts, and no session stays active.
pub async fn traced_client_round_trip(t: &Telemetry, url: &str, server_span_name: &str) {
    let client = WsClient::new(t.config().websocket_session_spans(true));
    let parent = t.tracer_provider.tracer("test").start("caller");
    let cx = opentelemetry::Context::current_with_span(parent);
    let (mut ws, response) = {
        let _attached = cx.clone().attach();
        client.connect(url).await.unwrap()
    };
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Library(4000),
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
    cx.span().end();

    let server_handshake = t.server_span().await;
    let client_handshake = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    assert_eq!(client_handshake.name, "GET");
    assert_eq!(server_handshake.name, server_span_name);
    assert_eq!(
        server_handshake.parent_span_id,
        client_handshake.span_context.span_id()
    );
    let sessions = t.wait_spans(SpanKind::Internal, 2).await;
    let child_of = |parent: &opentelemetry_sdk::trace::SpanData| {
        let session = sessions
            .iter()
            .find(|s| s.parent_span_id == parent.span_context.span_id())
            .expect("a session under the handshake");
        attr_map(&session.attributes)
    };
    let server = child_of(&server_handshake);
    assert_eq!(server["websocket.close.code"], Value::I64(4000));
    assert_eq!(server["websocket.close.initiator"], Value::from("remote"));
    assert_eq!(server["error.type"], Value::from("4xxx"));
    assert_eq!(server["websocket.messages.received"], Value::I64(2));
    let client = child_of(&client_handshake);
    assert_eq!(client["websocket.close.initiator"], Value::from("local"));
    assert_eq!(client["websocket.messages.sent"], Value::I64(2));
    let m = t.metrics();
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
    assert_eq!(m.sum_i64("websocket.client.active_sessions")[0].value, 0.0);
    assert_eq!(m.histogram("websocket.client.session.duration")[0].count, 1);
}
