//! WebSocket sessions on Axum: the handshake ends at the 101, the session has its own span and
//! metrics with exact message counts and sizes, close codes on both sides, ping round-trip
//! times, the handshake's context in the session task, and active sessions back to 0 after a
//! storm of abrupt disconnects. Clients: tokio-tungstenite and Python `websockets`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::ws::Message;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as TMessage;
use towerlight::Config;
use towerlight_axum::ws::{WebSocket, WebSocketUpgrade};
use towerlight_tests::axum_harness::AbortOnDrop;
use towerlight_tests::{python, Telemetry};

/// Echoes text and binary messages; `ping-me` makes the server ping; `context` answers with
/// the context current in the session task; stops at the close.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(t) if t.as_str() == "ping-me" => Message::Ping("rtt".into()),
            Message::Text(t) if t.as_str() == "context" => {
                Message::Text(towerlight_tests::describe_current_context().into())
            }
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

async fn serve(config: Config) -> (SocketAddr, AbortOnDrop) {
    let app = Router::new()
        .route(
            "/ws",
            get(|upgrade: WebSocketUpgrade| async { upgrade.on_upgrade(echo) }),
        )
        .layer(towerlight_axum::layer_with(config));
    serve_app(app).await
}

/// Serves `app` (with the peer address) on a free local port.
async fn serve_app(app: Router) -> (SocketAddr, AbortOnDrop) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (addr, AbortOnDrop(task))
}

fn attrs(span: &opentelemetry_sdk::trace::SpanData) -> BTreeMap<String, Value> {
    towerlight_tests::attr_map(&span.attributes)
}

fn config(t: &Telemetry) -> Config {
    t.config()
        .websocket_session_spans(true)
        .websocket_opt_in_metrics(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_measured_apart_from_its_handshake() {
    let t = Telemetry::new();
    let (addr, _server) = serve(config(&t)).await;
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    ws.send(TMessage::text("a")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("a"));
    ws.send(TMessage::text("bb")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("bb"));
    ws.send(TMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        TMessage::binary(vec![1u8, 2, 3])
    );
    // The server pings; reading lets tungstenite answer with a pong.
    ws.send(TMessage::text("ping-me")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        TMessage::Ping("rtt".into())
    );
    ws.send(TMessage::text("x")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("x"));
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }))
    .await
    .unwrap();
    while ws.next().await.is_some() {}

    let spans = t.wait_spans(SpanKind::Internal, 1).await;
    let session = &spans[0];
    let handshake = t.server_span().await;
    assert_eq!(handshake.name, "GET /ws");
    assert_eq!(
        attrs(&handshake)["http.response.status_code"],
        Value::I64(101)
    );
    assert_eq!(session.name, "/ws");
    assert_eq!(session.parent_span_id, handshake.span_context.span_id());
    let a = attrs(session);
    // Received: a, bb, [1,2,3], ping-me, pong, x, close; sent: a, bb, [1,2,3], ping, x.
    assert_eq!(a["websocket.messages.received"], Value::I64(7));
    assert_eq!(a["websocket.messages.sent"], Value::I64(5));
    assert_eq!(a["websocket.bytes.sent"], Value::I64(1 + 2 + 3 + 3 + 1));
    assert_eq!(a["websocket.close.code"], Value::I64(1000));
    assert_eq!(a["websocket.close.reason"], Value::from("done"));
    assert_eq!(a["websocket.close.initiator"], Value::from("remote"));
    assert_eq!(a["http.route"], Value::from("/ws"));
    assert!(!a.contains_key("error.type"));
    assert_eq!(session.status, Status::Unset);
    // The handshake is measured as a request, not as the session.
    assert!(handshake.end_time <= session.start_time + std::time::Duration::from_millis(50));

    let m = t.metrics();
    let count = |dir: &str, kind: &str| {
        m.sum_u64("websocket.server.messages")
            .iter()
            .find(|p| {
                p.attributes["network.io.direction"] == Value::from(dir.to_owned())
                    && p.attributes["websocket.message.type"] == Value::from(kind.to_owned())
            })
            .map(|p| p.value)
    };
    assert_eq!(count("receive", "text"), Some(4.0));
    assert_eq!(count("receive", "binary"), Some(1.0));
    assert_eq!(count("receive", "pong"), Some(1.0));
    assert_eq!(count("receive", "close"), Some(1.0));
    assert_eq!(count("transmit", "text"), Some(3.0));
    assert_eq!(count("transmit", "ping"), Some(1.0));
    let durations = m.histogram("websocket.server.session.duration");
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].count, 1);
    let span_len = session.end_time.duration_since(session.start_time).unwrap();
    assert!(
        (durations[0].sum - span_len.as_secs_f64()).abs() < 1e-9,
        "one clock"
    );
    let rtt = m.histogram("websocket.server.ping.duration");
    assert_eq!(rtt[0].count, 1);
    let active = m.sum_i64("websocket.server.active_sessions");
    assert_eq!(active[0].value, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_task_runs_in_the_handshake_trace() {
    let t = Telemetry::new();
    let (addr, _server) = serve(t.config()).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = http::Request::get(format!("ws://{addr}/ws"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("host", addr.to_string())
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(())
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(TMessage::text("context")).await.unwrap();
    let described = ws.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(described.contains(&format!("trace={trace}")), "{described}");
    drop(ws);
}

/// 1,000 clients that vanish without a close frame: every session ends as `1006`, and the
/// active count returns to exactly 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_disconnects_leave_nothing_active() {
    const CLIENTS: usize = 1000;
    let t = Telemetry::new();
    let (addr, _server) = serve(config(&t)).await;
    for _ in 0..(CLIENTS / 100) {
        let batch = (0..100).map(|_| async {
            let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .unwrap();
            drop(ws.into_inner());
        });
        futures_util::future::join_all(batch).await;
    }
    let sessions = t.wait_spans(SpanKind::Internal, CLIENTS).await;
    assert!(sessions
        .iter()
        .all(|s| attrs(s)["error.type"] == Value::from("1006")));
    let m = t.metrics();
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
    let durations = m.histogram("websocket.server.session.duration");
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].count, CLIENTS as u64);
    assert_eq!(durations[0].attributes["error.type"], Value::from("1006"));
}

/// Python's `websockets` closes with an application code (4000) and a reason at the 123-byte
/// limit: the session span keeps both, the metrics a bounded `4xxx`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_closes_with_an_application_code() {
    let t = Telemetry::new();
    let (addr, _server) = serve(config(&t)).await;
    let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1]) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await ws.close(code=4000, reason="r" * 123)
asyncio.run(main())
"#;
    python::run(script, &[&format!("ws://{addr}/ws")]).await;
    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    let a = attrs(&session);
    assert_eq!(a["websocket.close.code"], Value::I64(4000));
    assert_eq!(a["websocket.close.reason"], Value::from("r".repeat(123)));
    assert_eq!(a["error.type"], Value::from("4xxx"));
    assert_eq!(session.status, Status::error(""));
    let durations = t.metrics().histogram("websocket.server.session.duration");
    assert_eq!(durations[0].attributes["error.type"], Value::from("4xxx"));
}

/// Message spans: each received data message is a CONSUMER span in a trace of its own, linked
/// to the handshake; each echo a PRODUCER span; the budget (first 2, then 1 in 3) holds; the
/// handler's work nests under its message when run in `message_context()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_spans_are_linked_budgeted_and_current() {
    use opentelemetry::context::FutureExt as _;
    async fn traced_echo(mut socket: WebSocket) {
        while let Some(Ok(message)) = socket.recv().await {
            let cx = socket.message_context();
            let reply = async { towerlight_tests::describe_current_context() }
                .with_context(cx)
                .await;
            match message {
                Message::Text(_) => {
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    }
    let t = Telemetry::new();
    let config = t
        .config()
        .websocket_message_spans(towerlight::ws::MessageSpans::budget(2, 3));
    let app = Router::new()
        .route(
            "/ws",
            get(|upgrade: WebSocketUpgrade| async { upgrade.on_upgrade(traced_echo) }),
        )
        .layer(towerlight_axum::layer_with(config));
    let (addr, _server) = serve_app(app).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let mut replies = Vec::new();
    for i in 0..8 {
        ws.send(TMessage::text(format!("m{i}"))).await.unwrap();
        replies.push(
            ws.next()
                .await
                .unwrap()
                .unwrap()
                .into_text()
                .unwrap()
                .to_string(),
        );
    }
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}

    let handshake = t.server_span().await;
    let consumers = t.wait_spans(SpanKind::Consumer, 4).await;
    assert_eq!(consumers.len(), 4, "messages 1, 2, 5 and 8");
    for span in &consumers {
        assert_eq!(span.name, "process /ws");
        assert_ne!(
            span.span_context.trace_id(),
            handshake.span_context.trace_id()
        );
        let links: Vec<_> = span
            .links
            .iter()
            .map(|l| l.span_context.span_id())
            .collect();
        assert_eq!(links, vec![handshake.span_context.span_id()]);
        let a = attrs(span);
        assert_eq!(a["messaging.system"], Value::from("websocket"));
        assert_eq!(a["messaging.operation.type"], Value::from("process"));
        assert_eq!(a["messaging.message.body.size"], Value::I64(2));
        assert_eq!(a["websocket.message.type"], Value::from("text"));
    }
    // The handler's work ran in the message's context.
    let first = &consumers.iter().min_by_key(|s| s.start_time).unwrap();
    assert!(
        replies[0].contains(&format!("span={}", first.span_context.span_id())),
        "{}",
        replies[0]
    );
    // Message 3 had no span: its work ran in the session's (handshake's) trace.
    assert!(
        replies[2].contains(&format!("trace={}", handshake.span_context.trace_id())),
        "{}",
        replies[2]
    );
    let producers = t.wait_spans(SpanKind::Producer, 4).await;
    assert!(producers.iter().all(|s| s.name == "send /ws"));

    // An unsampled handshake: no message spans at all.
    let t = Telemetry::new();
    let config = t
        .config()
        .websocket_message_spans(towerlight::ws::MessageSpans::budget(100, 1));
    let app = Router::new()
        .route(
            "/ws",
            get(|upgrade: WebSocketUpgrade| async { upgrade.on_upgrade(echo) }),
        )
        .layer(towerlight_axum::layer_with(config));
    let (addr, _server) = serve_app(app).await;
    let request = http::Request::get(format!("ws://{addr}/ws"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .header("host", addr.to_string())
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(())
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(TMessage::text("x")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    let m = t.metrics();
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
    assert!(t.spans().iter().all(|s| s.span_kind != SpanKind::Consumer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_ends_the_session_with_a_bounded_error() {
    let t = Telemetry::new();
    let app = Router::new()
        .route(
            "/ws",
            get(|upgrade: WebSocketUpgrade| async {
                upgrade.max_message_size(1024).on_upgrade(echo)
            }),
        )
        .layer(towerlight_axum::layer_with(config(&t)));
    let (addr, _server) = serve_app(app).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws.send(TMessage::text("small")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("small"));
    let secret = format!("password={}", "s".repeat(4096));
    // The server refuses the message and drops the connection; the client sees the end.
    let _ = ws.send(TMessage::text(secret.clone())).await;
    while let Some(Ok(_)) = ws.next().await {}

    let spans = t.wait_spans(SpanKind::Internal, 1).await;
    let a = attrs(&spans[0]);
    assert_eq!(a["error.type"], Value::from("message_too_big"));
    assert_eq!(a["websocket.messages.received"], Value::I64(1));
    assert_eq!(spans[0].status, Status::error(""));
    t.metrics()
        .assert_one_server_session_ended_as("message_too_big");
    assert!(
        !format!("{:?}", t.spans()).contains("sssssssss"),
        "no payload in telemetry"
    );
}

/// RFC 8441: the handshake is an HTTP/2 extended CONNECT answered with a 200. It is measured as
/// the request (ending at the 200) and hands the session over like a 101 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_extended_connect_handshake_ends_at_the_200() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let t = Telemetry::new();
    let app = Router::new()
        .route(
            "/ws",
            axum::routing::any(|upgrade: WebSocketUpgrade| async { upgrade.on_upgrade(echo) }),
        )
        .layer(towerlight_axum::layer_with(config(&t)));
    let (addr, _server) = serve_app(app).await;
    let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    let (mut send, mut conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .unwrap();
    // Drive the connection until the server's SETTINGS (extended CONNECT allowed) arrive.
    while !conn.is_extended_connect_protocol_enabled() {
        tokio::select! {
            biased;
            end = &mut conn => panic!("connection ended: {end:?}"),
            _ = tokio::task::yield_now() => {}
        }
    }
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let request = http::Request::builder()
        .method(http::Method::CONNECT)
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .uri(format!("http://{addr}/ws"))
        .header("sec-websocket-version", "13")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await;
    ws.send(TMessage::text("over h2")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text("over h2"));
    // The server answers the close and ends the h2 stream: our flush may find it gone already.
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}

    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    let handshake = t.server_span().await;
    assert_eq!(handshake.name, "CONNECT /ws");
    let h = attrs(&handshake);
    assert_eq!(h["http.response.status_code"], Value::I64(200));
    assert_eq!(h["network.protocol.version"], Value::from("2"));
    assert_eq!(session.parent_span_id, handshake.span_context.span_id());
    assert!(handshake.end_time <= session.start_time + std::time::Duration::from_millis(50));
    let a = attrs(&session);
    assert_eq!(a["websocket.messages.received"], Value::I64(2));
    assert_eq!(a["websocket.close.code"], Value::I64(1005));
    let m = t.metrics();
    let handshakes = m.histogram("http.server.request.duration");
    assert_eq!(handshakes.len(), 1);
    assert_eq!(
        handshakes[0].attributes["http.request.method"],
        Value::from("CONNECT")
    );
    let session_duration = session.end_time.duration_since(session.start_time).unwrap();
    assert!(handshakes[0].sum < session_duration.as_secs_f64() + 0.05);
    assert_eq!(m.sum_i64("websocket.server.active_sessions")[0].value, 0.0);
}

/// towerlight's tokio-tungstenite client against the Axum server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traced_tungstenite_client_against_axum() {
    let t = Telemetry::new();
    let (addr, _server) = serve(t.config().websocket_session_spans(true)).await;
    let url = format!("ws://{addr}/ws");
    towerlight_tests::ws_client::traced_client_round_trip(&t, &url, "GET /ws").await;
}
