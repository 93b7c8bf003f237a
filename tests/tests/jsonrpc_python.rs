//! JSON-RPC against real Python peers: `jsonrpcclient` calling the instrumented jsonrpsee
//! server (a batch with a notification, an error code, a `_meta` parent), and towerlight's
//! jsonrpsee client calling a Python `jsonrpcserver` — which rejects `_meta` it does not expect,
//! the reason client-side injection is opt-in.

use std::process::Stdio;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::http_client::HttpClientBuilder;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use towerlight_tests::jsonrpc_harness::serve_jsonrpc;
use towerlight_tests::{attr_map, python, Telemetry};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

/// jsonrpcclient builds the requests and parses the answers; urllib sends them.
const CLIENT: &str = r#"
import json, sys, urllib.request
from jsonrpcclient import request, notification, parse, Ok, Error
url = sys.argv[1]
def post(body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
batch = [request("add", params=(1, 2), id=1), notification("add", params=(3, 4)), request("fail", id=2)]
out = []
for r in parse(post(batch)):
    out.append(("ok", r.result) if isinstance(r, Ok) else ("error", r.code, r.message))
meta = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
r = parse(post(request("context", params={"_meta": meta}, id=3)))
out.append(("ok", r.result) if isinstance(r, Ok) else ("error", r.code, r.message))
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_the_jsonrpsee_server() {
    let t = Telemetry::new();
    let server = serve_jsonrpc(t.config()).await;
    let out = python::run(CLIENT, &[&server.http_url()]).await;
    let results: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(results[0], serde_json::json!(["ok", 3]));
    assert_eq!(
        results[1],
        serde_json::json!(["error", -32001, "out of stock"])
    );
    assert!(
        results[2][1].as_str().unwrap().contains(TRACE_ID),
        "{results}"
    );

    let servers = t.wait_spans(SpanKind::Server, 6).await;
    let rpc: Vec<_> = servers.iter().filter(|s| s.name != "POST").collect();
    assert_eq!(rpc.len(), 4, "add, the add notification, fail, context");
    let fail = rpc.iter().find(|s| s.name == "fail").unwrap();
    let a = attr_map(&fail.attributes);
    assert_eq!(a["rpc.response.status_code"], Value::from("-32001"));
    assert_eq!(a["jsonrpc.request.id"], Value::from("2"));
    assert_eq!(fail.status, Status::error("out of stock"));
    let context = rpc.iter().find(|s| s.name == "context").unwrap();
    assert_eq!(context.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(context.parent_span_id.to_string(), PARENT_ID);
    let notifications = rpc
        .iter()
        .filter(|s| !attr_map(&s.attributes).contains_key("jsonrpc.request.id"))
        .count();
    assert_eq!(notifications, 1);
}

/// A JSON-RPC server with jsonrpcserver on the standard library's HTTP server; prints its port.
const SERVER: &str = r#"
import http.server, sys
from jsonrpcserver import method, Success, dispatch
@method
def add(a, b):
    return Success(a + b)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        answer = dispatch(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn towerlight_client_against_a_python_server_injects_meta_only_when_asked() {
    let mut child = tokio::process::Command::new(python::python())
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let t = Telemetry::new();
    let params = || {
        let mut p = ObjectParams::new();
        p.insert("a", 1).unwrap();
        p.insert("b", 2).unwrap();
        p
    };

    // By default nothing is injected: an ordinary server answers.
    let plain = HttpClientBuilder::default()
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer(towerlight_jsonrpsee::ClientLayer::new(t.config())),
        )
        .build(&url)
        .unwrap();
    let sum: i64 = plain.request("add", params()).await.unwrap();
    assert_eq!(sum, 3);

    // With `_meta` injected, the same server rejects the unexpected parameter.
    let injecting = HttpClientBuilder::default()
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer(towerlight_jsonrpsee::ClientLayer::new(t.config()).inject_meta(true)),
        )
        .build(&url)
        .unwrap();
    let err = injecting
        .request::<i64, _>("add", params())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Invalid params"), "{err}");

    let spans = t.wait_spans(SpanKind::Client, 2).await;
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(
        attr_map(&spans[1].attributes)["error.type"],
        Value::from("-32602")
    );
    child.kill().await.unwrap();
}
