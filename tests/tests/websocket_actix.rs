//! WebSocket sessions on Actix-web with actix-ws: the handshake ends at the 101 in the `Otel`
//! middleware, the session is measured by the same instrument as on Axum.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{SinkExt, StreamExt};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as TMessage;
use towerlight_tests::actix_harness::serve_actix;
use towerlight_tests::{attr_map, Telemetry};

async fn echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = towerlight_actix::ws::handle(&req, body)?;
    let cx = session.context();
    actix_web::rt::spawn(
        async move {
            while let Some(Ok(message)) = stream.recv().await {
                match message {
                    actix_ws::Message::Text(text)
                        if session.text(text.to_string()).await.is_err() =>
                    {
                        break;
                    }
                    // actix-ws leaves pings to the handler.
                    actix_ws::Message::Ping(bytes) if session.pong(&bytes).await.is_err() => {
                        break;
                    }
                    actix_ws::Message::Close(reason) => {
                        let _ = session.close(reason).await;
                        break;
                    }
                    _ => {}
                }
            }
        }
        .with_context(cx),
    );
    Ok(response)
}

/// An Actix app serving `echo` on `/ws`, with session spans on.
fn serve_echo(t: &Telemetry) -> towerlight_tests::TestServer {
    serve_actix(
        |cfg: &mut web::ServiceConfig| {
            cfg.route("/ws", web::get().to(echo));
        },
        towerlight_actix::Otel::with_config(t.config().websocket_session_spans(true)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_ws_sessions_are_measured() {
    let t = Telemetry::new();
    let server = serve_echo(&t);
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    for text in ["a", "bb"] {
        ws.send(TMessage::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text(text));
    }
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
    .await
    .unwrap();
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {}

    let handshake = t.server_span().await;
    assert_eq!(handshake.name, "GET /ws");
    assert_eq!(
        attr_map(&handshake.attributes)["http.response.status_code"],
        Value::I64(101)
    );
    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    assert_eq!(session.name, "/ws");
    assert_eq!(session.parent_span_id, handshake.span_context.span_id());
    let a = attr_map(&session.attributes);
    assert_eq!(a["websocket.messages.received"], Value::I64(3));
    assert_eq!(a["websocket.messages.sent"], Value::I64(3));
    assert_eq!(a["websocket.bytes.received"], Value::I64(1 + 2 + 2));
    assert_eq!(a["websocket.close.code"], Value::I64(1000));
    assert_eq!(a["websocket.close.initiator"], Value::from("remote"));
    assert!(!a.contains_key("error.type"));
    let m = t.metrics();
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
    let handshake_duration = m.histogram("http.server.request.duration");
    assert_eq!(
        handshake_duration[0].attributes["http.response.status_code"],
        Value::I64(101)
    );
    assert!(
        handshake_duration[0].sum < 1.0,
        "the handshake, not the session"
    );
}

/// Python's `websockets` against the Actix server: the handshake continues its trace, the close
/// code and the 123-byte reason reach the session span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_actix() {
    let t = Telemetry::new();
    let server = serve_echo(&t);
    towerlight_tests::python::run(
        towerlight_tests::python::WEBSOCKETS_CLIENT,
        &[&format!("ws://{}/ws", server.addr)],
    )
    .await;
    let handshake = t.server_span().await;
    assert_eq!(
        handshake.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    let a = attr_map(&session.attributes);
    assert_eq!(a["websocket.close.code"], Value::I64(4000));
    assert_eq!(a["websocket.close.reason"], Value::from("r".repeat(123)));
    assert_eq!(a["error.type"], Value::from("4xxx"));
}

/// A frame above actix-ws's limit (64 KiB by default): the stream fails with `Overflow`, the
/// session ends as `message_too_big` (not as a bare 1006) and nothing of the payload is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_ends_the_session_with_a_bounded_error() {
    let t = Telemetry::new();
    let server = serve_echo(&t);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    ws.send(TMessage::text("small")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("small"));
    let _ = ws.send(TMessage::text("token=".repeat(12_000))).await;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {}

    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    let a = attr_map(&session.attributes);
    assert_eq!(a["error.type"], Value::from("message_too_big"));
    assert_eq!(a["websocket.messages.received"], Value::I64(1));
    assert!(!format!("{session:?}").contains("token=token="));
    t.metrics()
        .assert_one_server_session_ended_as("message_too_big");
}

/// towerlight's tokio-tungstenite client against the Actix server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traced_tungstenite_client_against_actix() {
    let t = Telemetry::new();
    let server = serve_echo(&t);
    let url = format!("ws://{}/ws", server.addr);
    towerlight_tests::ws_client::traced_client_round_trip(&t, &url, "GET /ws").await;
}
