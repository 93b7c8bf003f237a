//! gRPC over loopback: a real tonic server with `towerlight_tonic::server()`, a real tonic client
//! through `towerlight_tonic::client()`, in-memory exporters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;
use towerlight::SemconvMode;
use towerlight_tests::grpc_harness::{client, echo, serve_grpc, SERVICE};
use towerlight_tests::proto::EchoRequest;
use towerlight_tests::{attr_map, Telemetry};

fn s(v: &str) -> Value {
    Value::from(v.to_owned())
}

fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    attr_map(&span.attributes)
}

fn method(name: &str) -> String {
    format!("{SERVICE}/{name}")
}

/// The echo service's methods, from its descriptor: exact names from the first call.
fn known() -> towerlight::KnownRpcMethods {
    towerlight_tonic::known_methods_from_descriptor(towerlight_tests::proto::DESCRIPTOR).unwrap()
}

/// Server and client spans of one call (waits for both).
async fn pair(t: &Telemetry) -> (SpanData, SpanData) {
    let server = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    let client = t.wait_spans(SpanKind::Client, 1).await.remove(0);
    (server, client)
}

fn duration(span: &SpanData) -> Duration {
    span.end_time.duration_since(span.start_time).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn unary_ok_spans_metrics_and_propagation() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let reply = c.unary(echo("hi", 0, 0, "")).await.unwrap().into_inner();
    assert_eq!(reply.message, "hi");

    let (srv, cli) = pair(&t).await;
    let port = i64::from(server.addr.port());
    assert_eq!(srv.name, method("Unary"));
    assert_eq!(cli.name, method("Unary"));
    assert_eq!(srv.status, Status::Unset);
    assert_eq!(cli.status, Status::Unset);
    // One trace: client span → server span.
    assert_eq!(srv.span_context.trace_id(), cli.span_context.trace_id());
    assert_eq!(srv.parent_span_id, cli.span_context.span_id());
    assert!(srv.parent_span_is_remote);

    let a = attrs(&srv);
    let peer_port = a["network.peer.port"].clone();
    assert!(matches!(peer_port, Value::I64(p) if p > 0));
    assert_eq!(
        a,
        [
            ("rpc.system.name", s("grpc")),
            ("rpc.method", s(&method("Unary"))),
            ("rpc.response.status_code", s("OK")),
            ("server.address", s("127.0.0.1")),
            ("server.port", Value::I64(port)),
            ("network.peer.address", s("127.0.0.1")),
            ("network.peer.port", peer_port),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    );
    assert_eq!(
        attrs(&cli),
        [
            ("rpc.system.name", s("grpc")),
            ("rpc.method", s(&method("Unary"))),
            ("rpc.response.status_code", s("OK")),
            ("server.address", s("127.0.0.1")),
            ("server.port", Value::I64(port)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    );

    let m = t.metrics();
    assert_eq!(m.unit("rpc.server.call.duration"), "s");
    let sp = m.histogram("rpc.server.call.duration");
    assert_eq!(sp.len(), 1);
    assert_eq!(sp[0].count, 1);
    assert_eq!(sp[0].bounds[0], 0.005);
    assert_eq!(
        sp[0].attributes,
        [
            ("rpc.system.name", s("grpc")),
            ("rpc.method", s(&method("Unary"))),
            ("rpc.response.status_code", s("OK")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    );
    let cp = m.histogram("rpc.client.call.duration");
    assert_eq!(cp.len(), 1);
    assert_eq!(cp[0].attributes["server.address"], s("127.0.0.1"));
    assert_eq!(cp[0].attributes["server.port"], Value::I64(port));
    assert_eq!(cp[0].attributes["rpc.response.status_code"], s("OK"));
    // Nothing HTTP about a gRPC call.
    assert!(!m.has("http.server.request.duration"));
}

#[tokio::test(flavor = "current_thread")]
async fn handler_sees_the_server_span_as_current() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let reply = c
        .unary(echo("context", 0, 0, ""))
        .await
        .unwrap()
        .into_inner();
    let (srv, _) = pair(&t).await;
    let expected = format!(
        "trace={} span={}",
        srv.span_context.trace_id(),
        srv.span_context.span_id()
    );
    assert!(reply.message.starts_with(&expected), "{}", reply.message);
}

#[tokio::test(flavor = "current_thread")]
async fn status_in_trailers_after_stream() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let mut stream = c
        .server_stream(echo("x", 2, 0, "trailers"))
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let err = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("expected an error status"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 2);
    assert_eq!(err.code(), tonic::Code::Internal);
    let (srv, cli) = pair(&t).await;
    for span in [&srv, &cli] {
        assert_eq!(span.status, Status::error(""), "{:?}", span.span_kind);
        let a = attrs(span);
        assert_eq!(a["rpc.response.status_code"], s("INTERNAL"));
        assert_eq!(a["error.type"], s("INTERNAL"));
    }
    let p = t.metrics().histogram("rpc.server.call.duration");
    assert_eq!(p[0].attributes["rpc.response.status_code"], s("INTERNAL"));
    assert_eq!(p[0].attributes["error.type"], s("INTERNAL"));
}

#[tokio::test(flavor = "current_thread")]
async fn trailers_only_status_not_an_error_on_the_server() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config().known_rpc_methods(known())).await;
    let mut c = client(server.addr, t.config()).await;
    let err = c.unary(echo("x", 0, 0, "trailers_only")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let (srv, cli) = pair(&t).await;
    // NOT_FOUND is the client's problem: unset on the server, an error on the client.
    assert_eq!(srv.status, Status::Unset);
    let sa = attrs(&srv);
    assert_eq!(sa["rpc.response.status_code"], s("NOT_FOUND"));
    assert!(!sa.contains_key("error.type"));
    assert_eq!(cli.status, Status::error(""));
    assert_eq!(attrs(&cli)["error.type"], s("NOT_FOUND"));
    // The same for a streaming call answered trailers-only.
    let err = c
        .server_stream(echo("x", 3, 0, "unavailable"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let streamed = servers
        .iter()
        .find(|s| s.name == method("ServerStream"))
        .unwrap();
    assert_eq!(
        attrs(streamed)["rpc.response.status_code"],
        s("UNAVAILABLE")
    );
    assert_eq!(streamed.status, Status::error(""));
}

#[tokio::test(flavor = "current_thread")]
async fn unimplemented_method_is_other() {
    for known in [false, true] {
        let t = Telemetry::new();
        let mut config = t.config();
        if known {
            let methods = towerlight_tonic::known_methods_from_descriptor(
                towerlight_tests::proto::DESCRIPTOR,
            )
            .unwrap();
            assert!(methods.contains(&method("Bidi")));
            config = config.known_rpc_methods(methods);
        }
        let server = serve_grpc(config).await;
        let channel = tower::ServiceBuilder::new()
            .layer(towerlight_tonic::client_with(t.config()))
            .service(towerlight_tests::grpc_harness::channel(server.addr).await);
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static("/towerlight.test.v1.Echo/Missing");
        let codec = tonic_prost::ProstCodec::<EchoRequest, EchoRequest>::default();
        let err = grpc
            .unary(tonic::Request::new(echo("x", 0, 0, "")), path, codec)
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        let (srv, cli) = pair(&t).await;
        assert_eq!(srv.name, "grpc", "known={known}");
        let a = attrs(&srv);
        assert_eq!(a["rpc.method"], s("_OTHER"));
        assert_eq!(a["rpc.method_original"], s(&method("Missing")));
        assert_eq!(a["rpc.response.status_code"], s("UNIMPLEMENTED"));
        assert_eq!(a["error.type"], s("UNIMPLEMENTED"));
        assert_eq!(srv.status, Status::error(""));
        // The client knows what it called.
        assert_eq!(cli.name, method("Missing"));
        let p = t.metrics().histogram("rpc.server.call.duration");
        assert_eq!(p[0].attributes["rpc.method"], s("_OTHER"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn panic_in_handler() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let err = c.unary(echo("x", 0, 0, "panic")).await.unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok);
    let (srv, cli) = pair(&t).await;
    assert_eq!(srv.status, Status::error(""));
    let a = attrs(&srv);
    assert_eq!(a["error.type"], s("panic"));
    assert_eq!(a["rpc.response.status_code"], s("INTERNAL"));
    assert_eq!(cli.status, Status::error(""));
    // The server keeps serving.
    assert_eq!(
        c.unary(echo("ok", 0, 0, ""))
            .await
            .unwrap()
            .into_inner()
            .message,
        "ok"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn deadline_exceeded_on_both_sides() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let mut req = tonic::Request::new(echo("slow", 0, 500, ""));
    req.set_timeout(Duration::from_millis(50));
    let started = Instant::now();
    let err = c.unary(req).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the deadline cut the call"
    );
    assert_ne!(err.code(), tonic::Code::Ok);
    let (srv, cli) = pair(&t).await;
    for span in [&srv, &cli] {
        assert_deadline_exceeded(span);
        assert!(duration(span) < Duration::from_millis(400));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn client_cancels_a_stream() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    let mut stream = c
        .server_stream(echo("x", 1000, 10, ""))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    stream.message().await.unwrap().unwrap();
    drop(stream);
    let (srv, cli) = pair(&t).await;
    assert_eq!(attrs(&cli)["rpc.response.status_code"], s("CANCELLED"));
    assert_eq!(cli.status, Status::error(""));
    let a = attrs(&srv);
    assert_eq!(a["rpc.response.status_code"], s("CANCELLED"));
    // CANCELLED is not the server's fault.
    assert_eq!(srv.status, Status::Unset);
    assert!(!a.contains_key("error.type"));
    assert!(
        duration(&srv) < Duration::from_secs(5),
        "not left in flight"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn streams_last_the_whole_call() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;

    // Server streaming: five replies 50 ms apart.
    let stream = c
        .server_stream(echo("s", 5, 50, ""))
        .await
        .unwrap()
        .into_inner();
    let replies: Vec<_> = stream.collect().await;
    assert_eq!(replies.len(), 5);

    // Client streaming: five requests 50 ms apart.
    let outgoing = futures_util::stream::unfold(0, |i| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((echo(&format!("m{i}"), 0, 0, ""), i + 1))
    });
    let reply = c.client_stream(outgoing).await.unwrap().into_inner();
    assert_eq!(reply.index, 5);

    // Bidirectional: five requests 50 ms apart, each echoed.
    let outgoing = futures_util::stream::unfold(0, |i| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((echo(&format!("b{i}"), 0, 0, ""), i + 1))
    });
    let replies: Vec<_> = c.bidi(outgoing).await.unwrap().into_inner().collect().await;
    assert_eq!(replies.len(), 5);

    let servers = t.wait_spans(SpanKind::Server, 3).await;
    let clients = t.wait_spans(SpanKind::Client, 3).await;
    for name in ["ServerStream", "ClientStream", "Bidi"] {
        for spans in [&servers, &clients] {
            let span = spans.iter().find(|s| s.name == method(name)).unwrap();
            assert!(
                duration(span) >= Duration::from_millis(240),
                "{name} {:?} lasted {:?}",
                span.span_kind,
                duration(span)
            );
            assert_eq!(attrs(span)["rpc.response.status_code"], s("OK"));
        }
    }
    let m = t.metrics();
    let points = m.histogram("rpc.server.call.duration");
    assert_eq!(points.len(), 3);
    assert!(points.iter().all(|p| p.sum >= 0.24), "{points:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn message_events_and_metadata_are_opt_in() {
    let t = Telemetry::new();
    let config = t
        .config()
        .rpc_message_events(true)
        .capture_request_metadata(["x-tenant", "authorization"])
        .capture_response_metadata(["grpc-status"]);
    let server = serve_grpc(config.clone()).await;
    let mut c = client(server.addr, config).await;
    let mut req = tonic::Request::new(echo("hello", 2, 0, ""));
    req.metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    req.metadata_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    let replies: Vec<_> = c
        .server_stream(req)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(replies.len(), 2);
    let (srv, cli) = pair(&t).await;
    let a = attrs(&srv);
    let strings = |v: &[&str]| {
        Value::Array(Array::String(
            v.iter().map(|s| (*s).to_owned().into()).collect(),
        ))
    };
    assert_eq!(a["rpc.request.metadata.x-tenant"], strings(&["acme"]));
    assert_eq!(
        a["rpc.request.metadata.authorization"],
        strings(&["REDACTED"])
    );
    assert_eq!(a["rpc.response.metadata.grpc-status"], strings(&["0"]));
    let events = |span: &SpanData| -> Vec<(String, i64)> {
        span.events
            .iter()
            .filter(|e| e.name == "rpc.message")
            .map(|e| {
                let m = attr_map(&e.attributes);
                (
                    m["rpc.message.type"].as_str().into_owned(),
                    match m["rpc.message.id"] {
                        Value::I64(id) => id,
                        _ => -1,
                    },
                )
            })
            .collect()
    };
    let mut server_events = events(&srv);
    server_events.sort();
    assert_eq!(
        server_events,
        vec![
            ("RECEIVED".to_owned(), 1),
            ("SENT".to_owned(), 1),
            ("SENT".to_owned(), 2)
        ]
    );
    let mut client_events = events(&cli);
    client_events.sort();
    assert_eq!(
        client_events,
        vec![
            ("RECEIVED".to_owned(), 1),
            ("RECEIVED".to_owned(), 2),
            ("SENT".to_owned(), 1)
        ]
    );
    let sent = srv
        .events
        .iter()
        .find(|e| attr_map(&e.attributes)["rpc.message.type"].as_str() == "SENT");
    let size = attr_map(&sent.unwrap().attributes)["rpc.message.uncompressed_size"].clone();
    assert!(matches!(size, Value::I64(n) if n > 0));

    // Off by default.
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    c.unary(echo("x", 0, 0, "")).await.unwrap();
    let (srv, cli) = pair(&t).await;
    assert!(srv.events.is_empty() && cli.events.is_empty());
    assert!(attrs(&srv)
        .keys()
        .all(|k| !k.starts_with("rpc.request.metadata")));
}

/// The server and client span attributes of one unary call under `rpc/dup` (the ports, which
/// differ per server and connection, checked and left out), with the sampler hinted as `hint`.
async fn dup_call_attributes(hint: towerlight::SamplerHint) -> [BTreeMap<String, Value>; 2] {
    let t = Telemetry::new();
    let config = t
        .config()
        .semconv(SemconvMode::parse("rpc/dup"))
        .known_rpc_methods(known())
        .sampler_hint(hint);
    let server = serve_grpc(config.clone()).await;
    let mut c = client(server.addr, config).await;
    c.unary(echo("hi", 0, 0, "")).await.unwrap();
    let (srv, cli) = pair(&t).await;
    let port = Value::I64(i64::from(server.addr.port()));
    [srv, cli].map(|span| {
        let mut a = attrs(&span);
        a.remove("network.peer.port");
        assert_eq!(a.remove("server.port"), Some(port.clone()));
        a
    })
}

/// With the sampler hinted as the test provider's own (`ParentBased(AlwaysOn)`), the client's
/// root span and the server's sampled child get every attribute at creation — the system's,
/// the old names — and end with exactly the set the default configuration gives.
#[tokio::test(flavor = "current_thread")]
async fn a_hinted_sampler_changes_no_grpc_span() {
    let default = dup_call_attributes(towerlight::SamplerHint::MayReadAttributes).await;
    let hinted = dup_call_attributes(towerlight::SamplerHint::ParentBasedAlwaysOn).await;
    assert_eq!(hinted, default);
    let keys = |a: &BTreeMap<String, Value>| a.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&hinted[0]),
        [
            "network.peer.address",
            "rpc.grpc.status_code",
            "rpc.method",
            "rpc.response.status_code",
            "rpc.service",
            "rpc.system",
            "rpc.system.name",
            "server.address",
        ]
    );
    assert_eq!(hinted[1]["rpc.service"], s(SERVICE));
}

#[tokio::test(flavor = "current_thread")]
async fn rpc_dup_adds_old_names() {
    let t = Telemetry::new();
    let config = t
        .config()
        .semconv(SemconvMode::parse("rpc/dup"))
        .known_rpc_methods(known());
    let server = serve_grpc(config.clone()).await;
    let mut c = client(server.addr, config).await;
    c.unary(echo("x", 0, 0, "trailers_only")).await.unwrap_err();
    let (srv, _) = pair(&t).await;
    let a = attrs(&srv);
    assert_eq!(a["rpc.system"], s("grpc"));
    assert_eq!(a["rpc.system.name"], s("grpc"));
    assert_eq!(a["rpc.service"], s(SERVICE));
    assert_eq!(a["rpc.grpc.status_code"], Value::I64(5));
    assert_eq!(a["rpc.response.status_code"], s("NOT_FOUND"));
    let m = t.metrics();
    assert_eq!(m.unit("rpc.server.duration"), "ms");
    let old = m.histogram("rpc.server.duration");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].attributes["rpc.method"], s("Unary"));
    assert_eq!(old[0].attributes["rpc.service"], s(SERVICE));
    assert_eq!(old[0].attributes["rpc.grpc.status_code"], Value::I64(5));
    assert_eq!(m.histogram("rpc.client.duration").len(), 1);
    let new = m.histogram("rpc.server.call.duration");
    assert!((old[0].sum / 1000.0 - new[0].sum).abs() < 1e-6);
}

#[tokio::test(flavor = "current_thread")]
async fn interceptor_only_injects_the_current_context() {
    use opentelemetry::context::FutureExt as _;
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let channel = towerlight_tests::grpc_harness::channel(server.addr).await;
    let injector =
        towerlight_tonic::ContextInjector::with_propagator(towerlight::Propagator::w3c());
    let mut c =
        towerlight_tests::proto::echo_client::EchoClient::with_interceptor(channel, injector);
    let parent = t.tracer_provider.tracer("test").start("caller");
    let parent_cx = opentelemetry::Context::current_with_span(parent);
    let parent_sc = parent_cx.span().span_context().clone();
    c.unary(echo("x", 0, 0, ""))
        .with_context(parent_cx.clone())
        .await
        .unwrap();
    let srv = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    assert_eq!(srv.span_context.trace_id(), parent_sc.trace_id());
    assert_eq!(srv.parent_span_id, parent_sc.span_id());
    // No client span: the interceptor only propagates.
    assert!(t.spans().iter().all(|s| s.span_kind != SpanKind::Client));
    parent_cx.span().end();
}

#[tokio::test(flavor = "current_thread")]
async fn public_endpoint_grpc_server_starts_a_linked_root() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config().public_endpoint(true)).await;
    let mut c = client(server.addr, t.config()).await;
    c.unary(echo("x", 0, 0, "")).await.unwrap();
    let (srv, cli) = pair(&t).await;
    assert_ne!(srv.span_context.trace_id(), cli.span_context.trace_id());
    assert_eq!(srv.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(srv.links.links.len(), 1);
    assert_eq!(
        srv.links.links[0].span_context.span_id(),
        cli.span_context.span_id()
    );
}

/// Without a known-method list, a method is named once a handler proved it exists; failures
/// before that (and calls that never reach a handler) stay `_OTHER`.
#[tokio::test(flavor = "current_thread")]
async fn method_names_are_learned_from_handlers() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let mut c = client(server.addr, t.config()).await;
    c.unary(echo("x", 0, 0, "trailers_only")).await.unwrap_err();
    c.unary(echo("x", 0, 0, "")).await.unwrap();
    c.unary(echo("x", 0, 0, "trailers_only")).await.unwrap_err();
    let servers = t.wait_spans(SpanKind::Server, 3).await;
    let mut seen: Vec<(std::time::SystemTime, String, String)> = servers
        .iter()
        .map(|s| {
            let a = attrs(s);
            (
                s.start_time,
                a["rpc.method"].as_str().into_owned(),
                a["rpc.response.status_code"].as_str().into_owned(),
            )
        })
        .collect();
    seen.sort();
    let seen: Vec<(&str, &str)> = seen
        .iter()
        .map(|(_, m, c)| (m.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("_OTHER", "NOT_FOUND"),
            ("towerlight.test.v1.Echo/Unary", "OK"),
            ("towerlight.test.v1.Echo/Unary", "NOT_FOUND"),
        ]
    );
    let first = servers.iter().min_by_key(|s| s.start_time).unwrap();
    assert_eq!(first.name, "grpc");
    assert_eq!(attrs(first)["rpc.method_original"], s(&method("Unary")));
}

/// gRPC-Web (tonic-web inside the towerlight layer): the status travels in a trailer frame at
/// the end of the body, and is read from there.
#[tokio::test(flavor = "current_thread")]
async fn grpc_web_status_from_the_body_trailer_frame() {
    use prost::Message;
    let t = Telemetry::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = t.config().known_rpc_methods(known());
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .accept_http1(true)
            .layer(towerlight_tonic::server_with(config))
            .layer(tonic_web::GrpcWebLayer::new())
            .add_service(towerlight_tests::proto::echo_server::EchoServer::new(
                towerlight_tests::grpc_harness::EchoService,
            ))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let frame = |req: EchoRequest| {
        let msg = req.encode_to_vec();
        let mut body = vec![0u8];
        body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        body.extend_from_slice(&msg);
        body
    };
    let http = towerlight_tests::client::http();
    for (name, req) in [
        ("Unary", echo("web", 0, 0, "")),
        ("ServerStream", echo("web", 2, 0, "trailers")),
    ] {
        let res = http
            .post(format!("http://{addr}/{SERVICE}/{name}"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(frame(req))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.bytes().await.unwrap();
        assert!(body.windows(12).any(|w| w == b"grpc-status:"), "{body:?}");
    }
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let unary = spans.iter().find(|s| s.name == method("Unary")).unwrap();
    assert_eq!(attrs(unary)["rpc.response.status_code"], s("OK"));
    assert_eq!(unary.status, Status::Unset);
    let stream = spans
        .iter()
        .find(|s| s.name == method("ServerStream"))
        .unwrap();
    assert_eq!(attrs(stream)["rpc.response.status_code"], s("INTERNAL"));
    assert_eq!(attrs(stream)["error.type"], s("INTERNAL"));
    server.abort();
}

/// tonic answers an expired `grpc-timeout` itself with `grpc-status: 1`; whichever timer fires
/// first, an expired deadline is DEADLINE_EXCEEDED on both sides, never CANCELLED. Many calls
/// at once, because which timer wins is a race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_deadlines_are_deadline_exceeded_whoever_answers() {
    const CALLS: usize = 40;
    let t = Telemetry::new();
    let server = serve_grpc(t.config()).await;
    let c = client(server.addr, t.config()).await;
    let calls = (0..CALLS).map(|i| {
        let mut c = c.clone();
        async move {
            let mut req = tonic::Request::new(echo("slow", 0, 300, ""));
            req.set_timeout(Duration::from_millis(20 + (i as u64 % 5)));
            c.unary(req).await.unwrap_err()
        }
    });
    futures_util::future::join_all(calls).await;
    let servers = t.wait_spans(SpanKind::Server, CALLS).await;
    let clients = t.wait_spans(SpanKind::Client, CALLS).await;
    servers
        .iter()
        .chain(&clients)
        .for_each(assert_deadline_exceeded);
}

/// A span of a call its deadline cut: DEADLINE_EXCEEDED, an error on either side.
fn assert_deadline_exceeded(span: &SpanData) {
    let a = attrs(span);
    assert_eq!(
        a["rpc.response.status_code"],
        s("DEADLINE_EXCEEDED"),
        "{:?}",
        span.span_kind
    );
    assert_eq!(a["error.type"], s("DEADLINE_EXCEEDED"));
    assert_eq!(span.status, Status::error(""));
}

/// Without a known-method list, a method is reported once a handler proved it: the first
/// call's span gets `rpc.method` once (at the end), a probe of a path no handler serves gets
/// `_OTHER` once, with the original capped.
#[tokio::test(flavor = "current_thread")]
async fn rpc_method_is_set_once_and_probes_are_capped() {
    let t = Telemetry::new();
    let server = serve_grpc(t.config().max_attribute_length(100)).await;
    let mut c = client(server.addr, t.config()).await;
    c.unary(echo("ok", 0, 0, "")).await.unwrap();
    let srv = t.wait_spans(SpanKind::Server, 1).await.remove(0);
    assert_eq!(srv.name, method("Unary"));
    let a = attrs(&srv);
    assert_eq!(a["rpc.method"], s(&method("Unary")));
    assert!(!a.contains_key("rpc.method_original"));

    // A probe: a gRPC request to a path nobody serves, with a huge method name.
    let path = format!("/{SERVICE}/{}", "x".repeat(5000));
    let status = grpc_probe(server.addr, &path).await;
    assert_eq!(status.as_deref(), Some("12"), "UNIMPLEMENTED");
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let probe = &spans[1];
    assert_eq!(probe.name, "grpc");
    let a = attrs(probe);
    assert_eq!(a["rpc.method"], s("_OTHER"));
    let Value::String(original) = &a["rpc.method_original"] else {
        panic!("rpc.method_original is not a string");
    };
    assert_eq!(original.as_str().len(), 100);
    assert!(original.as_str().starts_with(&format!("{SERVICE}/xxx")));
    assert!(original.as_str().ends_with('…'));
}

/// Sends one empty unary gRPC request over HTTP/2 with hyper and returns the `grpc-status`.
async fn grpc_probe(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(bytes::Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    let from_headers = res.headers().get("grpc-status").cloned();
    let collected = res.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .and_then(|t| t.get("grpc-status").cloned());
    from_headers
        .or(trailers)
        .map(|v| v.to_str().unwrap().to_owned())
}
