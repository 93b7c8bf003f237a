//! The handshake on plain hyper + Tower: `towerlight::ServerLayer` records it as a request that
//! ends at the 101, and hands the session over in the request extensions (`WsHandshake`), which
//! a hand-written upgrade turns into an instrumented stream.

use std::convert::Infallible;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use towerlight::ws::WsHandshake;
use towerlight_tests::{attr_map, Telemetry};
use towerlight_tungstenite::TracedWebSocketStream;

async fn upgrade(
    mut req: http::Request<Incoming>,
) -> Result<http::Response<Empty<Bytes>>, Infallible> {
    let key = req.headers().get("sec-websocket-key").cloned().unwrap();
    let handshake = req.extensions().get::<WsHandshake>().cloned();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = on_upgrade.await.unwrap();
        let stream =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut ws = TracedWebSocketStream::new(stream, handshake.as_ref().map(WsHandshake::start));
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() && ws.send(message).await.is_err() {
                break;
            }
        }
    });
    Ok(http::Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(Empty::new())
        .unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_handshake_ends_at_the_101_and_hands_the_session_over() {
    let t = Telemetry::new();
    let layer = towerlight::ServerLayer::with_config(t.config().websocket_session_spans(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let service = tower::ServiceBuilder::new()
            .layer(layer)
            .service(tower::service_fn(upgrade));
        let service = hyper_util::service::TowerToHyperService::new(service);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades()
            .await;
    });
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("one"));
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}

    let handshake = t.server_span().await;
    assert_eq!(
        attr_map(&handshake.attributes)["http.response.status_code"],
        Value::I64(101)
    );
    let session = t.wait_spans(SpanKind::Internal, 1).await.remove(0);
    assert_eq!(session.parent_span_id, handshake.span_context.span_id());
    assert!(handshake.end_time <= session.start_time);
    let a = attr_map(&session.attributes);
    assert_eq!(a["websocket.messages.received"], Value::I64(2));
    assert_eq!(a["websocket.close.code"], Value::I64(1005));
    let duration = t.metrics().histogram("http.server.request.duration");
    assert_eq!(
        duration[0].attributes["http.response.status_code"],
        Value::I64(101)
    );
    server.abort();
}
