//! JSON-RPC through jsonrpsee: server and client middleware over HTTP and WebSocket, batches,
//! notifications, errors, `params._meta`, and hostile input — exact spans, parents, links and
//! metric points.

use std::collections::BTreeMap;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use towerlight_tests::jsonrpc_harness::serve_jsonrpc;
use towerlight_tests::{attr_map, client, Telemetry};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn s(v: &str) -> Value {
    Value::from(v.to_owned())
}

fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    attr_map(&span.attributes)
}

fn find<'a>(spans: &'a [SpanData], kind: SpanKind, name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.span_kind == kind && s.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind:?} span {name:?} in {:?}",
                spans
                    .iter()
                    .map(|s| (&s.name, &s.span_kind))
                    .collect::<Vec<_>>()
            )
        })
}

/// POSTs a raw JSON-RPC body and returns the response body.
async fn post(url: &str, body: &str) -> serde_json::Value {
    client::http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn http_call_is_one_trace_from_client_to_server() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let url = server.http_url();
    let client = HttpClientBuilder::default()
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(towerlight::HttpClientLayer::with_config(t.config())),
        )
        .set_rpc_middleware(RpcServiceBuilder::new().layer(
            towerlight_jsonrpsee::ClientLayer::new(t.config()).target(&url.parse().unwrap()),
        ))
        .build(&url)
        .unwrap();
    let sum: i64 = client.request("add", rpc_params![2, 3]).await.unwrap();
    assert_eq!(sum, 5);

    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let all = t.spans();
    let rpc_client = find(&all, SpanKind::Client, "add");
    let http_client = find(&all, SpanKind::Client, "POST");
    let http_server = find(&spans, SpanKind::Server, "POST");
    let rpc_server = find(&spans, SpanKind::Server, "add");
    // One trace: RPC client → HTTP client → HTTP server → RPC server.
    assert_eq!(
        http_client.parent_span_id,
        rpc_client.span_context.span_id()
    );
    assert_eq!(
        http_server.parent_span_id,
        http_client.span_context.span_id()
    );
    assert_eq!(
        rpc_server.parent_span_id,
        http_server.span_context.span_id()
    );
    let port = i64::from(server.addr.port());
    assert_eq!(
        attrs(rpc_server),
        [
            ("jsonrpc.protocol.version", s("2.0")),
            ("jsonrpc.request.id", s("0")),
            ("rpc.method", s("add")),
            ("rpc.system.name", s("jsonrpc")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    );
    assert_eq!(rpc_server.status, Status::Unset);
    let a = attrs(rpc_client);
    assert_eq!(a["rpc.method"], s("add"));
    assert_eq!(a["server.address"], s("127.0.0.1"));
    assert_eq!(a["server.port"], Value::I64(port));
    assert_eq!(a["jsonrpc.request.id"], s("0"));

    let metrics = t.metrics();
    let server_points = metrics.histogram("rpc.server.call.duration");
    assert_eq!(server_points.len(), 1);
    assert_eq!(server_points[0].count, 1);
    assert_eq!(server_points[0].attributes["rpc.system.name"], s("jsonrpc"));
    assert_eq!(server_points[0].attributes["rpc.method"], s("add"));
    assert_eq!(server_points[0].attributes.len(), 2);
    let client_points = metrics.histogram("rpc.client.call.duration");
    assert_eq!(client_points[0].attributes["server.port"], Value::I64(port));
}

#[tokio::test(flavor = "current_thread")]
async fn error_codes_and_unknown_methods() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let url = server.http_url();
    let client = HttpClientBuilder::default()
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer(towerlight_jsonrpsee::ClientLayer::new(t.config())),
        )
        .build(&url)
        .unwrap();
    let err = client
        .request::<(), _>("fail", rpc_params![])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("out of stock"), "{err}");
    let _ = client
        .request::<(), _>("nope", rpc_params![])
        .await
        .unwrap_err();

    let servers = t.wait_spans(SpanKind::Server, 4).await;
    let fail = find(&servers, SpanKind::Server, "fail");
    let a = attrs(fail);
    assert_eq!(a["rpc.response.status_code"], s("-32001"));
    assert_eq!(a["error.type"], s("-32001"));
    assert_eq!(fail.status, Status::error("out of stock"));
    let unknown = find(&servers, SpanKind::Server, "jsonrpc");
    let a = attrs(unknown);
    assert_eq!(a["rpc.method"], s("_OTHER"));
    assert_eq!(a["rpc.method_original"], s("nope"));
    assert_eq!(a["rpc.response.status_code"], s("-32601"));
    let clients: Vec<SpanData> = t
        .spans()
        .into_iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    let client_fail = find(&clients, SpanKind::Client, "fail");
    assert_eq!(attrs(client_fail)["error.type"], s("-32001"));
    assert_eq!(client_fail.status, Status::error("out of stock"));
    // A client names the method it called (its own code chose it).
    assert_eq!(
        attrs(find(&clients, SpanKind::Client, "nope"))["rpc.method"],
        s("nope")
    );
}

/// A batch: one SERVER span per entry (the notification without an id), all children of the
/// HTTP request's span, which carries the batch size.
#[tokio::test(flavor = "current_thread")]
async fn batch_entries_and_notifications() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let body = r#"[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},
                   {"jsonrpc":"2.0","method":"add","params":[3,4]},
                   {"jsonrpc":"2.0","id":"x","method":"nope"}]"#;
    let response = post(&server.http_url(), body).await;
    let answers = response.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{response}");
    assert_eq!(answers[0]["result"], 3);
    assert_eq!(answers[1]["error"]["code"], -32601);

    let servers = t.wait_spans(SpanKind::Server, 4).await;
    let http = find(&servers, SpanKind::Server, "POST");
    assert_eq!(attrs(http)["jsonrpc.batch.size"], Value::I64(3));
    let rpc: Vec<&SpanData> = servers.iter().filter(|s| s.name != "POST").collect();
    assert_eq!(rpc.len(), 3);
    for span in &rpc {
        assert_eq!(span.parent_span_id, http.span_context.span_id());
    }
    let ids: Vec<Option<Value>> = rpc
        .iter()
        .map(|s| attrs(s).get("jsonrpc.request.id").cloned())
        .collect();
    assert!(ids.contains(&Some(s("1"))) && ids.contains(&Some(s("x"))) && ids.contains(&None));
    let notification = rpc
        .iter()
        .find(|s| !attrs(s).contains_key("jsonrpc.request.id"))
        .unwrap();
    assert_eq!(notification.name, "add");
    assert_eq!(notification.status, Status::Unset);
    assert!(!attrs(notification).contains_key("rpc.response.status_code"));
}

/// `params._meta` carries the caller's context: the server span continues it and links the
/// transport span; the handler runs with it current.
#[tokio::test(flavor = "current_thread")]
async fn meta_context_is_the_parent() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"context","params":{{"_meta":{{"traceparent":"00-{TRACE_ID}-{PARENT_ID}-01","baggage":"user=alice"}}}}}}"#
    );
    let response = post(&server.http_url(), &body).await;
    let described = response["result"].as_str().unwrap();
    assert!(
        described.contains(&format!("trace={TRACE_ID}")),
        "{described}"
    );
    assert!(described.ends_with("baggage=user=alice"), "{described}");

    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let http = find(&servers, SpanKind::Server, "POST");
    let rpc = find(&servers, SpanKind::Server, "context");
    assert_eq!(rpc.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(rpc.parent_span_id.to_string(), PARENT_ID);
    assert!(rpc.parent_span_is_remote);
    let links: Vec<_> = rpc.links.iter().map(|l| l.span_context.span_id()).collect();
    assert_eq!(links, vec![http.span_context.span_id()]);

    // Malformed `_meta`: ignored, the HTTP span stays the parent; the response is unchanged.
    let body =
        r#"{"jsonrpc":"2.0","id":10,"method":"add","params":{"_meta":{"traceparent":"zz"}}}"#;
    let response = post(&server.http_url(), body).await;
    assert_eq!(response["error"]["code"], -32602);
}

/// Over a WebSocket the connection outlives its calls: each call starts its own trace, linked
/// to the handshake's span, which ended at the 101.
#[tokio::test(flavor = "current_thread")]
async fn websocket_calls_link_to_the_handshake() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let client = WsClientBuilder::default()
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer(towerlight_jsonrpsee::ClientLayer::new(t.config())),
        )
        .build(server.ws_url())
        .await
        .unwrap();
    let sum: i64 = client.request("add", rpc_params![20, 22]).await.unwrap();
    assert_eq!(sum, 42);
    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let handshake = find(&servers, SpanKind::Server, "GET");
    assert_eq!(
        attrs(handshake)["http.response.status_code"],
        Value::I64(101)
    );
    let rpc = find(&servers, SpanKind::Server, "add");
    assert_ne!(
        rpc.span_context.trace_id(),
        handshake.span_context.trace_id()
    );
    let links: Vec<_> = rpc.links.iter().map(|l| l.span_context.span_id()).collect();
    assert_eq!(links, vec![handshake.span_context.span_id()]);
}

/// Hostile input: invalid JSON, wrong types, a huge id, 10 000 random method names. The server
/// answers as it always does, ids are capped and the metric series stay bounded.
#[tokio::test(flavor = "current_thread")]
async fn hostile_input_stays_bounded() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let url = server.http_url();
    let response = post(&url, "{not json").await;
    assert_eq!(response["error"]["code"], -32700);
    let response = post(
        &url,
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":["a"]}"#,
    )
    .await;
    assert_eq!(response["error"]["code"], -32602);
    let huge_id = "i".repeat(100_000);
    let body = format!(r#"{{"jsonrpc":"2.0","id":"{huge_id}","method":"add","params":[1,1]}}"#);
    let response = post(&url, &body).await;
    assert_eq!(response["result"], 2);
    for chunk in 0..20 {
        let batch: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"m{chunk}_{i}"}}"#))
            .collect();
        let response = post(&url, &format!("[{}]", batch.join(","))).await;
        assert_eq!(response.as_array().unwrap().len(), 500);
    }
    let spans = t.spans();
    let capped = spans
        .iter()
        .filter_map(|s| match attrs(s).get("jsonrpc.request.id") {
            Some(Value::String(v)) if v.as_str().len() > 100 => Some(v.as_str().len()),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(capped, vec![2048]);
    let points = t.metrics().histogram("rpc.server.call.duration");
    let mut methods: Vec<String> = points
        .iter()
        .map(|p| p.attributes["rpc.method"].as_str().into_owned())
        .collect();
    methods.sort();
    // `add` answered and `add` with bad params, and one `_OTHER` series for 10 000 names.
    assert_eq!(methods, vec!["_OTHER", "add", "add"]);
}

/// `rpc/dup` adds the pre-1.39 names for dashboards in transition.
#[tokio::test(flavor = "current_thread")]
async fn rpc_dup_adds_the_old_names() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(
        t.config()
            .semconv(towerlight::SemconvMode::parse("rpc/dup")),
    )
    .await;
    let response = post(
        &server.http_url(),
        r#"{"jsonrpc":"2.0","id":4,"method":"fail"}"#,
    )
    .await;
    assert_eq!(response["error"]["code"], -32001);
    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let a = attrs(find(&servers, SpanKind::Server, "fail"));
    assert_eq!(a["rpc.system"], s("jsonrpc"));
    assert_eq!(a["rpc.jsonrpc.version"], s("2.0"));
    assert_eq!(a["rpc.jsonrpc.request_id"], s("4"));
    assert_eq!(a["rpc.jsonrpc.error_code"], Value::I64(-32001));
    assert_eq!(a["rpc.jsonrpc.error_message"], s("out of stock"));
    assert_eq!(a["rpc.response.status_code"], s("-32001"));
    let old = t.metrics().histogram("rpc.server.duration");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].attributes["rpc.method"], s("fail"));
    assert_eq!(
        old[0].attributes["rpc.jsonrpc.error_code"],
        Value::I64(-32001)
    );
    assert!(!old[0].attributes.contains_key("rpc.jsonrpc.error_message"));
}

/// On a public endpoint `_meta` is not trusted: the call starts a new trace linked to it (and to
/// the transport span).
#[tokio::test(flavor = "current_thread")]
async fn public_endpoint_only_links_meta() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config().public_endpoint(true)).await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"context","params":{{"_meta":{{"traceparent":"00-{TRACE_ID}-{PARENT_ID}-01"}}}}}}"#
    );
    post(&server.http_url(), &body).await;
    let servers = t.wait_spans(SpanKind::Server, 2).await;
    let http = find(&servers, SpanKind::Server, "POST");
    let rpc = find(&servers, SpanKind::Server, "context");
    assert_ne!(rpc.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(rpc.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    let links: Vec<String> = rpc
        .links
        .iter()
        .map(|l| l.span_context.span_id().to_string())
        .collect();
    assert_eq!(
        links,
        vec![
            PARENT_ID.to_owned(),
            http.span_context.span_id().to_string()
        ]
    );
}
