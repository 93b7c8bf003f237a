//! tarpc over loopback TCP (serde transport, JSON): the server's span has the caller's real
//! span as parent and the client's span id is what travels; a stock tarpc client (trace id 0)
//! starts a new trace; cancellation, deadline and server errors end calls with their own
//! `error.type`; the call-duration metrics carry `rpc.system.name = "tarpc"`.

use std::future::ready;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::Value;
use tarpc::server::BaseChannel;
use tarpc::tokio_serde::formats::Json;
use tarpc::{client, context, ServerError};
use towerlight_tarpc::{execute, ClientTracing, ServerTracing};
use towerlight_tests::{attr_map, Telemetry};

#[tarpc::service]
trait World {
    /// Answers with the context current in the handler.
    async fn hello(name: String) -> String;
    /// Sleeps, then answers.
    async fn slow(ms: u64);
}

#[derive(Clone)]
struct WorldServer;

impl World for WorldServer {
    async fn hello(self, _: context::Context, name: String) -> String {
        format!("{name}: {}", towerlight_tests::describe_current_context())
    }

    async fn slow(self, _: context::Context, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Serves `$serve` on loopback with towerlight's server tracing `$tracing`; evaluates to the
/// address. (A macro: the handler futures of `async fn` in traits are `Send` only for a
/// concrete service.)
macro_rules! serve {
    ($tracing:expr, $serve:expr) => {{
        let tracing: ServerTracing = $tracing;
        let service = $serve;
        let mut listener = tarpc::serde_transport::tcp::listen("127.0.0.1:0", Json::default)
            .await
            .unwrap();
        listener.config_mut().max_frame_length(usize::MAX);
        let addr: SocketAddr = listener.local_addr();
        tokio::spawn(
            listener
                .filter_map(|r| ready(r.ok()))
                .for_each(move |transport| {
                    let transport = tracing.transport(transport);
                    let in_flight = transport.in_flight();
                    let channel = BaseChannel::with_defaults(transport);
                    tokio::spawn(execute(channel, service.clone(), in_flight).for_each(
                        |handler| async move {
                            tokio::spawn(handler);
                        },
                    ));
                    ready(())
                }),
        );
        addr
    }};
}

/// A WorldClient whose stub and transport are traced.
async fn traced_client(
    addr: SocketAddr,
    tracing: &ClientTracing,
) -> WorldClient<towerlight_tarpc::TracedStub<client::Channel<WorldRequest, WorldResponse>>> {
    let transport = tarpc::serde_transport::tcp::connect(addr, Json::default)
        .await
        .unwrap();
    let channel = client::new(client::Config::default(), tracing.transport(transport)).spawn();
    WorldClient::from(tracing.stub(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_continue_both_ways() {
    let t = Telemetry::new();
    let addr = serve!(ServerTracing::new(t.config()), WorldServer.serve());
    let tracing = ClientTracing::new(t.config());
    let client = traced_client(addr, &tracing).await;
    let caller = t.tracer_provider.tracer("test").start("caller");
    let cx = opentelemetry::Context::current_with_span(caller);
    let answer = {
        let _attached = cx.clone().attach();
        client.hello(context::current(), "a".into()).await.unwrap()
    };
    cx.span().end();

    let server = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    let client_span = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    let caller = t.spans().into_iter().find(|s| s.name == "caller").unwrap();
    assert_eq!(client_span.name, "World/hello");
    assert_eq!(client_span.parent_span_id, caller.span_context.span_id());
    // The server's parent is the client span itself: its id is what went on the wire.
    assert_eq!(server.name, "World/hello");
    assert_eq!(server.parent_span_id, client_span.span_context.span_id());
    assert_eq!(
        server.span_context.trace_id(),
        caller.span_context.trace_id()
    );
    assert!(server.parent_span_is_remote);
    // The handler ran with the server span current.
    let expected = format!("span={}", server.span_context.span_id());
    assert!(answer.contains(&expected), "{answer}");
    let a = attr_map(&server.attributes);
    assert_eq!(a["rpc.system.name"], Value::from("tarpc"));
    assert_eq!(a["rpc.method"], Value::from("World/hello"));
    assert!(!a.contains_key("rpc.response.status_code"));
    assert_eq!(server.status, Status::Unset);
    let points = t.metrics().histogram("rpc.server.call.duration");
    assert_eq!(points.len(), 1);
    assert_eq!(
        points[0].attributes["rpc.system.name"],
        Value::from("tarpc")
    );
    assert_eq!(
        points[0].attributes["rpc.method"],
        Value::from("World/hello")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_client_without_opentelemetry_starts_a_new_trace() {
    let t = Telemetry::new();
    let addr = serve!(ServerTracing::new(t.config()), WorldServer.serve());
    let transport = tarpc::serde_transport::tcp::connect(addr, Json::default)
        .await
        .unwrap();
    let stock = WorldClient::new(client::Config::default(), transport).spawn();
    stock.hello(context::current(), "b".into()).await.unwrap();
    let server = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    // Trace id 0 on the wire: no parent, a valid new trace.
    assert!(!server.parent_span_id.to_string().chars().any(|c| c != '0'));
    assert!(server.span_context.is_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_and_deadline_have_their_own_error_types() {
    let t = Telemetry::new();
    let addr = serve!(ServerTracing::new(t.config()), WorldServer.serve());
    let tracing = ClientTracing::new(t.config());
    let client = traced_client(addr, &tracing).await;

    // Cancelled: the caller drops the call.
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        client.slow(context::current(), 2_000),
    )
    .await;
    assert!(dropped.is_err());
    let mut servers = t.wait_spans(SpanKind::Server, 1).await;
    let clients = t.wait_spans(SpanKind::Client, 1).await;
    assert_eq!(
        attr_map(&clients[0].attributes)["error.type"],
        Value::from("cancelled")
    );
    assert_eq!(
        attr_map(&servers.remove(0).attributes)["error.type"],
        Value::from("cancelled")
    );

    // Deadline: 50 ms for a 500 ms handler.
    let mut ctx = context::current();
    ctx.deadline = Instant::now() + Duration::from_millis(50);
    let err = client.slow(ctx, 500).await.unwrap_err();
    assert!(matches!(err, client::RpcError::DeadlineExceeded), "{err:?}");
    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let clients = t.wait_spans(SpanKind::Client, 2).await;
    assert_eq!(
        attr_map(&clients[1].attributes)["error.type"],
        Value::from("deadline_exceeded")
    );
    assert_eq!(
        attr_map(&servers[1].attributes)["error.type"],
        Value::from("deadline_exceeded")
    );
    assert_eq!(servers[1].status, Status::error(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_mapped_by_kind() {
    let t = Telemetry::new();
    let failing = tarpc::server::serve(|_: context::Context, _: String| async {
        Err::<String, _>(ServerError::new(
            std::io::ErrorKind::InvalidInput,
            "bad".into(),
        ))
    });
    let addr = serve!(ServerTracing::new(t.config()), failing);
    let tracing = ClientTracing::new(t.config());
    let transport = tarpc::serde_transport::tcp::connect(addr, Json::default)
        .await
        .unwrap();
    let channel: client::Channel<String, String> =
        client::new(client::Config::default(), tracing.transport(transport)).spawn();
    let stub = tracing.stub(channel);
    let err = tarpc::client::stub::Stub::call(&stub, context::current(), "x".into())
        .await
        .unwrap_err();
    assert!(matches!(err, client::RpcError::Server(_)), "{err:?}");
    let server = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    let client_span = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    for span in [&server, &client_span] {
        assert_eq!(
            attr_map(&span.attributes)["error.type"],
            Value::from("InvalidInput")
        );
        assert_eq!(span.status, Status::error(""));
    }
    assert_eq!(server.parent_span_id, client_span.span_context.span_id());
}
