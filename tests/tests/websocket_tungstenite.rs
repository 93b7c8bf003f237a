//! tokio-tungstenite server and client, instrumented: handshake spans on both sides (the
//! client's context injected, the server's extracted), session metrics on both sides, and the
//! protocol failures a client can cause ending the session with the right `error.type`.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use towerlight_tests::axum_harness::AbortOnDrop;
use towerlight_tests::Telemetry;
use towerlight_tungstenite::WsServer;

/// An echo server accepting with towerlight's handshake instrumentation.
async fn serve(server: WsServer) -> (SocketAddr, AbortOnDrop) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = server.accept(tcp, Some("/echo")).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    (addr, AbortOnDrop(task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_context_and_sessions_on_both_sides() {
    let t = Telemetry::new();
    let (addr, _server) = serve(WsServer::new(t.config().websocket_session_spans(true))).await;
    let url = format!("ws://{addr}/echo");
    towerlight_tests::ws_client::traced_client_round_trip(&t, &url, "GET /echo").await;
}

/// A text frame that is not UTF-8: the server's session ends as `invalid_utf8`, nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_ends_the_session_with_its_error() {
    // FIN + text, masked with a zero key, payload 0xff 0xfe.
    raw_frame_ends_the_session_as(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe], "invalid_utf8").await;
}

/// Protocol violations a client can send: a reserved opcode, an unmasked client frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_end_the_session_as_protocol_errors() {
    raw_frame_ends_the_session_as(&[0x83, 0x80, 0, 0, 0, 0], "protocol_error").await;
    raw_frame_ends_the_session_as(&[0x81, 0x01, b'a'], "protocol_error").await;
}

/// Sends `frame` right after a raw handshake; the server's session must end with `error_type`
/// and leave nothing active.
async fn raw_frame_ends_the_session_as(frame: &[u8], error_type: &str) {
    let t = Telemetry::new();
    let (addr, _server) = serve(WsServer::new(t.config())).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /echo HTTP/1.1\r\nhost: {addr}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = [0u8; 512];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    tcp.write_all(frame).await.unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest).await;
    let mut m = t.metrics();
    for _ in 0..500 {
        if !m.histogram("websocket.server.session.duration").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        m = t.metrics();
    }
    let durations = m.histogram("websocket.server.session.duration");
    assert_eq!(
        durations[0].attributes["error.type"],
        Value::from(error_type.to_owned())
    );
    assert_eq!(durations[0].attributes["http.route"], Value::from("/echo"));
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
}

/// Python's `websockets` against the tungstenite server: the handshake continues its trace, the
/// client's ping is counted, the close code reaches the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_tungstenite() {
    let t = Telemetry::new();
    let (addr, _server) = serve(WsServer::new(t.config().websocket_session_spans(true))).await;
    towerlight_tests::python::run(
        towerlight_tests::python::WEBSOCKETS_CLIENT,
        &[&format!("ws://{addr}/echo")],
    )
    .await;
    let handshake = t.server_span().await;
    assert_eq!(
        handshake.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    let a = towerlight_tests::attr_map(&session.attributes);
    assert_eq!(a["websocket.close.code"], Value::I64(4000));
    assert_eq!(a["error.type"], Value::from("4xxx"));
    let m = t.metrics();
    let pings = m
        .sum_u64("websocket.server.messages")
        .into_iter()
        .find(|p| p.attributes["websocket.message.type"] == Value::from("ping"))
        .map(|p| p.value);
    assert_eq!(pings, Some(1.0));
}
