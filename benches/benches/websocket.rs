//! Per-message overhead of the WebSocket session instrument: one text message written by a
//! client stream and read by a server stream over an in-memory pipe, with a bare server stream,
//! with towerlight's session (default metrics), and with message spans on every message.
//! Session start and end (handshake hand-off to the close metrics) are measured apart.
//!
//! `cargo bench -p towerlight-benches --bench websocket`

use std::sync::Arc;

use criterion::{criterion_group, Criterion};
use futures_util::{SinkExt, StreamExt};
use opentelemetry_sdk::trace::Sampler;
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use towerlight::ws::{MessageSpans, WsInstrument, WsSide};
use towerlight::{Config, Propagator};
use towerlight_benches::{meter_provider, tracer_provider};
use towerlight_tungstenite::TracedWebSocketStream;

const GROUP: &str = "websocket";
const FLOOR: &str = "sdk floor (counter point)";

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

/// A connected (client, server) pair over an in-memory pipe.
async fn pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
    let server = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    (client, server)
}

/// A server stream reporting to a session of `instrument`, started in a sampled trace.
async fn traced(
    instrument: &Arc<WsInstrument>,
) -> (
    WebSocketStream<DuplexStream>,
    TracedWebSocketStream<DuplexStream>,
) {
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
    let (client, server) = pair().await;
    let handshake = tracer_provider(Sampler::AlwaysOn)
        .tracer("bench")
        .start("handshake");
    let cx = opentelemetry::Context::new().with_span(handshake);
    let session = instrument.start(&cx, Some(Arc::from("/ws")));
    (client, TracedWebSocketStream::new(server, Some(session)))
}

/// The client sends one message; the server reads it.
async fn round_trip<S>(client: &mut WebSocketStream<DuplexStream>, server: &mut S, message: Message)
where
    S: futures_util::Stream + Unpin,
{
    client.send(message).await.unwrap();
    std::hint::black_box(server.next().await);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);
    let message = Message::text("hello");

    let (mut client, mut server) = rt.block_on(pair());
    group.bench_function("message bare", |b| {
        b.iter(|| rt.block_on(round_trip(&mut client, &mut server, message.clone())))
    });

    let metrics_only = Arc::new(WsInstrument::new(&config(), WsSide::Server));
    let (mut client, mut server) = rt.block_on(traced(&metrics_only));
    group.bench_function("message instrumented", |b| {
        b.iter(|| rt.block_on(round_trip(&mut client, &mut server, message.clone())))
    });

    let spans = Arc::new(WsInstrument::new(
        &config().websocket_message_spans(MessageSpans::budget(u64::MAX, 1)),
        WsSide::Server,
    ));
    let (mut client, mut server) = rt.block_on(traced(&spans));
    group.bench_function("message with message spans", |b| {
        b.iter(|| rt.block_on(round_trip(&mut client, &mut server, message.clone())))
    });

    // The SDK floor of a message's metric: one counter point with the same three attributes.
    let floor = {
        use opentelemetry::metrics::MeterProvider;
        meter_provider().meter("floor").u64_counter("floor").build()
    };
    let attrs = [
        opentelemetry::KeyValue::new("http.route", "/ws"),
        opentelemetry::KeyValue::new("network.io.direction", "receive"),
        opentelemetry::KeyValue::new("websocket.message.type", "text"),
    ];
    group.bench_function(FLOOR, |b| b.iter(|| floor.add(1, &attrs)));

    let handshake = opentelemetry::Context::new();
    group.bench_function("session start + end", |b| {
        b.iter(|| metrics_only.start(&handshake, None).end())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run_with(
        Some((GROUP, FLOOR)),
        &[(
            GROUP,
            "message bare",
            &["message instrumented", "message with message spans"],
        )],
    );
}
