//! The HTTP server scenario table. Every function runs against any [`Harness`]; the
//! [`scenario_tests!`](crate::scenario_tests) macro turns each into a test.
//!
//! Assertions are on exact attribute names, values and types, span kinds, parents, status and
//! metric points.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanKind, Status, TraceId};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;
use tokio::io::AsyncReadExt;
use towerlight::{Config, SemconvMode};

use crate::client::{http, raw_request};
use crate::telemetry::{assert_no_duplicate_keys, attr_map};
use crate::{Harness, Telemetry, TestServer};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn s(v: &str) -> Value {
    Value::from(v.to_owned())
}

fn i(v: i64) -> Value {
    Value::I64(v)
}

fn strings(v: &[&str]) -> Value {
    Value::Array(Array::String(
        v.iter().map(|s| (*s).to_owned().into()).collect(),
    ))
}

fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    assert_no_duplicate_keys(span);
    attr_map(&span.attributes)
}

fn map(entries: &[(&str, Value)]) -> BTreeMap<String, Value> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

async fn start<H: Harness>(config: Config) -> TestServer {
    H::start(config).await
}

/// The attributes every request to the test server carries, given the client's address.
fn base_attrs(server: &TestServer, span: &SpanData) -> Vec<(&'static str, Value)> {
    let a = attrs(span);
    let peer_port = a
        .get("network.peer.port")
        .cloned()
        .expect("network.peer.port");
    assert!(
        matches!(peer_port, Value::I64(p) if p > 0),
        "peer port is a positive integer"
    );
    vec![
        ("url.scheme", s("http")),
        ("network.protocol.version", s("1.1")),
        ("server.address", s("127.0.0.1")),
        ("server.port", i(i64::from(server.addr.port()))),
        ("client.address", s("127.0.0.1")),
        ("network.peer.address", s("127.0.0.1")),
        ("network.peer.port", peer_port),
    ]
}

/// GET /users/42?x=1: the complete attribute set, kind, name, status, and the metric point.
pub async fn success_200_span_and_metric<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let res = http()
        .get(server.url("/users/42?x=1"))
        .header("user-agent", "scenario/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "user:42");

    let span = t.server_span().await;
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert!(span.parent_span_id == opentelemetry::trace::SpanId::INVALID);
    assert_eq!(
        attrs(&span),
        map(&users_42_attrs(&server, &span)),
        "{}",
        H::NAME
    );

    let m = t.metrics();
    assert_eq!(m.unit("http.server.request.duration"), "s");
    let points = m.histogram("http.server.request.duration");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].count, 1);
    assert_eq!(
        points[0].bounds,
        vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
    );
    assert_eq!(
        points[0].attributes,
        map(&[
            ("http.request.method", s("GET")),
            ("url.scheme", s("http")),
            ("http.response.status_code", i(200)),
            ("http.route", s("/users/{id}")),
            ("network.protocol.version", s("1.1")),
        ])
    );
    let span_secs = span
        .end_time
        .duration_since(span.start_time)
        .unwrap()
        .as_secs_f64();
    // The span and the duration metric share their start and end instants.
    assert!(points[0].sum > 0.0);
    assert!(
        (points[0].sum - span_secs).abs() < 1e-6,
        "{} vs {span_secs}",
        points[0].sum
    );
}

/// The complete attribute set of the span of `GET /users/42?x=1` with `user-agent:
/// scenario/1.0`.
fn users_42_attrs(server: &TestServer, span: &SpanData) -> Vec<(&'static str, Value)> {
    let mut expected = base_attrs(server, span);
    expected.extend([
        ("http.request.method", s("GET")),
        ("url.path", s("/users/42")),
        ("url.query", s("x=1")),
        ("http.route", s("/users/{id}")),
        ("http.response.status_code", i(200)),
        ("user_agent.original", s("scenario/1.0")),
    ]);
    expected
}

/// With the sampler hinted as `ParentBased(AlwaysOn)` (the test provider's own, and `setup`'s
/// default), a span sure to record is handed all its attributes at creation: a root and a child
/// of a sampled caller end with exactly the attributes of the default configuration's span, a
/// request under an unsampled caller builds no span, and the duration metric counts all three.
pub async fn a_hinted_sampler_changes_no_span<H: Harness>() {
    let t = Telemetry::new();
    let hint = towerlight::SamplerHint::ParentBasedAlwaysOn;
    let server = start::<H>(t.config().sampler_hint(hint)).await;
    for flags in [Some("00"), None, Some("01")] {
        let mut request = http()
            .get(server.url("/users/42?x=1"))
            .header("user-agent", "scenario/1.0");
        if let Some(flags) = flags {
            let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-{flags}");
            request = request.header("traceparent", traceparent);
        }
        let body = request.send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "user:42");
    }
    let mut spans = t.wait_spans(SpanKind::Server, 2).await;
    spans.sort_by_key(|span| span.parent_span_id == opentelemetry::trace::SpanId::INVALID);
    let parents: Vec<String> = spans.iter().map(|s| s.parent_span_id.to_string()).collect();
    assert_eq!(parents, [PARENT_ID, "0000000000000000"], "{}", H::NAME);
    assert_eq!(spans[0].span_context.trace_id().to_string(), TRACE_ID);
    for span in &spans {
        assert_eq!(span.name, "GET /users/{id}");
        assert_eq!(
            attrs(span),
            map(&users_42_attrs(&server, span)),
            "{}",
            H::NAME
        );
    }
    let points = t.metrics().histogram("http.server.request.duration");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].count, 3, "{}", H::NAME);
}

/// 4xx on a server is not an error: status Unset, no `error.type`.
pub async fn client_error_404_leaves_status_unset<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let res = http().get(server.url("/status/404")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /status/{code}");
    assert_eq!(span.status, Status::Unset);
    let a = attrs(&span);
    assert_eq!(a["http.response.status_code"], i(404));
    assert!(!a.contains_key("error.type"));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["http.response.status_code"], i(404));
    assert!(!p[0].attributes.contains_key("error.type"));
}

/// 5xx: status Error without description, `error.type` = the status code.
pub async fn server_error_5xx_sets_error<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let res = http().get(server.url("/status/503")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let span = t.server_span().await;
    assert_eq!(span.status, Status::error(""));
    let a = attrs(&span);
    assert_eq!(a["error.type"], s("503"));
    assert_eq!(a["http.response.status_code"], i(503));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["error.type"], s("503"));
}

/// `HEAD`: the response has no body, so the call ends with the head — as a success, never as a
/// cancellation (servers drop such bodies unpolled).
pub async fn head_request_ends_at_the_head<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().opt_in_metrics(true)).await;
    let res = http().head(server.url("/any")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let span = t.server_span().await;
    assert_eq!(span.name, "HEAD /any");
    assert_eq!(span.status, Status::Unset);
    let a = attrs(&span);
    assert!(!a.contains_key("error.type"), "{a:?}");
    assert_eq!(a["http.response.status_code"], i(200));
    let m = t.metrics();
    let p = m.histogram("http.server.request.duration");
    assert!(!p[0].attributes.contains_key("error.type"));
    assert_eq!(m.sum_i64("http.server.active_requests")[0].value, 0.0);
}

/// Unmatched requests: `{method}` name, no `http.route` on the span or the metric.
pub async fn unmatched_route_has_no_route<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let res = http()
        .get(server.url("/no/such/thing/123"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let span = t.server_span().await;
    assert_eq!(span.name, "GET");
    let a = attrs(&span);
    assert!(!a.contains_key("http.route"), "{a:?}");
    assert_eq!(a["url.path"], s("/no/such/thing/123"));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p.len(), 1);
    assert!(!p[0].attributes.contains_key("http.route"));
    assert_eq!(p[0].attributes["http.response.status_code"], i(404));
}

/// Methods outside the known set: `_OTHER`, the original kept, span name `HTTP {route}`.
pub async fn unknown_method_is_other<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let method = reqwest::Method::from_bytes(b"FOO").unwrap();
    let res = http()
        .request(method, server.url("/any"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let span = t.server_span().await;
    assert_eq!(span.name, "HTTP /any");
    let a = attrs(&span);
    assert_eq!(a["http.request.method"], s("_OTHER"));
    assert_eq!(a["http.request.method_original"], s("FOO"));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["http.request.method"], s("_OTHER"));
    assert!(!p[0].attributes.contains_key("http.request.method_original"));
}

/// A route inside a nested router is reported as the full template.
pub async fn nested_router_route<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let res = http()
        .get(server.url("/api/v1/users/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /api/v1/users/{id}");
    assert_eq!(attrs(&span)["http.route"], s("/api/v1/users/{id}"));
}

/// Sensitive query values are replaced with `REDACTED`, keys and order kept.
pub async fn query_values_redacted<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let url = server.url("/users/1?sig=secret&keep=1&X-Amz-Signature=abc&AWSAccessKeyId=k");
    http().get(url).send().await.unwrap();
    let span = t.server_span().await;
    assert_eq!(
        attrs(&span)["url.query"],
        s("sig=REDACTED&keep=1&X-Amz-Signature=REDACTED&AWSAccessKeyId=REDACTED")
    );
}

/// The span and the duration cover the whole streamed body, not just the headers.
pub async fn streamed_body_span_ends_after_last_chunk<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let started = Instant::now();
    let res = http().get(server.url("/stream")).send().await.unwrap();
    let headers_after = started.elapsed();
    assert_eq!(res.text().await.unwrap(), "abc");
    let span = t.server_span().await;
    let span_len = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        span_len >= Duration::from_millis(190),
        "span lasted {span_len:?}, headers came after {headers_after:?}"
    );
    assert!(span_len > headers_after);
    let p = t.metrics().histogram("http.server.request.duration");
    assert!(p[0].sum >= 0.19, "duration {}", p[0].sum);
}

/// A client that goes away mid-body: span ended as cancelled, active requests back to zero.
pub async fn client_disconnect_mid_body_is_cancelled<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().opt_in_metrics(true)).await;
    let req = "GET /endless HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let (stream, head) = raw_request(server.addr, req, 64).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(stream);
    let span = t.server_span().await;
    assert_eq!(span.status, Status::error(""));
    let a = attrs(&span);
    assert_eq!(a["error.type"], s("cancelled"));
    assert_eq!(a["http.response.status_code"], i(200));
    let m = t.metrics();
    let active = m.sum_i64("http.server.active_requests");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value, 0.0);
    let p = m.histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["error.type"], s("cancelled"));
}

/// A panicking handler: span Error with `error.type = panic`, counts restored, server still up.
pub async fn handler_panic_is_recorded_and_restored<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().opt_in_metrics(true)).await;
    let res = http().get(server.url("/panic")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /panic");
    assert_eq!(span.status, Status::error(""));
    assert_eq!(attrs(&span)["error.type"], s("panic"));
    let m = t.metrics();
    assert_eq!(m.sum_i64("http.server.active_requests")[0].value, 0.0);
    let p = m.histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["error.type"], s("panic"));
    // The server survives.
    let res = http().get(server.url("/users/1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// An inbound sampled `traceparent` becomes the remote parent.
pub async fn incoming_parent_and_sampled_flag<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let tp = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let body = http()
        .get(server.url("/context"))
        .header("traceparent", tp)
        .header("tracestate", "vendor=abc")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_span_is_remote);
    assert!(span.span_context.is_sampled());
    assert_eq!(span.span_context.trace_state().header(), "vendor=abc");
    assert!(body.contains(&format!("trace={TRACE_ID}")), "{body}");
    assert!(body.contains("sampled=true"), "{body}");
}

/// An unsampled parent: no span exported (parent-based sampling), but the trace still flows.
pub async fn unsampled_parent_propagates_without_span<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let body = http()
        .get(server.url("/context"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-00"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(&format!("trace={TRACE_ID}")), "{body}");
    assert!(body.contains("sampled=false"), "{body}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(t.spans().iter().all(|s| s.span_kind != SpanKind::Server));
    // Metrics do not depend on sampling.
    assert_eq!(
        t.metrics().histogram("http.server.request.duration")[0].count,
        1
    );
}

/// The W3C Level-2 random-trace-id flag (0x02) survives extraction.
pub async fn level2_random_flag_kept<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().filter(|_| false)).await;
    let body = http()
        .get(server.url("/context"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-03"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("flags=03 out=03"), "{body}");
}

/// The random flag is propagated when the span is not sampled (`-02` in, `-02` out: a MUST of
/// Level 2), and a new root trace carries it (`-03`): its trace id is random.
pub async fn level2_random_flag_unsampled_and_roots<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let get = |traceparent: Option<String>| {
        let mut req = http().get(server.url("/context"));
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let body = get(Some(format!("00-{TRACE_ID}-{PARENT_ID}-02"))).await;
    assert!(body.contains(&format!("trace={TRACE_ID}")), "{body}");
    assert!(body.contains("sampled=false"), "{body}");
    assert!(body.contains("out=02"), "{body}");
    let body = get(Some(format!("00-{TRACE_ID}-{PARENT_ID}-00"))).await;
    assert!(body.contains("out=00"), "{body}");
    let body = get(None).await;
    assert!(body.contains("sampled=true"), "{body}");
    assert!(body.contains("out=03"), "{body}");
}

/// Garbage, oversized and repeated trace headers start a fresh trace and never change the
/// response.
pub async fn malformed_trace_headers_ignored<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let huge = "x".repeat(16 * 1024);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![("traceparent", "garbage".into())],
        vec![(
            "traceparent",
            format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase()),
        )],
        vec![
            ("traceparent", huge.clone()),
            ("tracestate", huge.clone()),
            ("baggage", huge),
        ],
        vec![
            ("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01")),
            ("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01")),
        ],
    ];
    let n = cases.len();
    for headers in cases {
        let mut req = http().get(server.url("/users/1"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "user:1");
    }
    let spans = t.wait_spans(SpanKind::Server, n).await;
    for span in spans {
        assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
        assert!(span.parent_span_id == opentelemetry::trace::SpanId::INVALID);
    }
}

/// Header values that are not UTF-8 (user agent, trace context, baggage, captured headers)
/// never fail the request; the user agent is exported lossily.
pub async fn invalid_utf8_headers_are_harmless<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().capture_request_headers(["x-raw"])).await;
    let raw = |bytes: &[u8]| reqwest::header::HeaderValue::from_bytes(bytes).unwrap();
    let res = http()
        .get(server.url("/users/1"))
        .header("user-agent", raw(b"agent/\xff\xfe"))
        .header("traceparent", raw(b"00-\xff\xff-00f067aa0ba902b7-01"))
        .header("baggage", raw(b"k=\xff"))
        .header("x-raw", raw(b"caf\xe9"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "user:1");
    let span = t.server_span().await;
    let a = attrs(&span);
    assert_eq!(a["user_agent.original"], s("agent/\u{fffd}\u{fffd}"));
    assert_eq!(a["http.request.header.x-raw"], strings(&["caf\u{fffd}"]));
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

/// Public-endpoint mode: new root trace, linked to the inbound context.
pub async fn public_endpoint_starts_root_with_link<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().public_endpoint(true)).await;
    http()
        .get(server.url("/users/1"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_ne!(span.span_context.trace_id(), TraceId::INVALID);
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(span.links.links.len(), 1);
    let link = &span.links.links[0].span_context;
    assert_eq!(link.trace_id().to_string(), TRACE_ID);
    assert_eq!(link.span_id().to_string(), PARENT_ID);
}

/// W3C baggage reaches the handler, percent-decoded; invalid members dropped alone.
pub async fn baggage_current_in_handler<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let body = http()
        .get(server.url("/context"))
        .header("baggage", "user=alice,tenant=a%20b;prop=1,bad member,x=%ZZ")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.ends_with("baggage=tenant=a b,user=alice"), "{body}");
}

/// Allow-listed headers as string arrays; sensitive ones redacted; others absent.
pub async fn headers_allow_listed_and_sensitive<H: Harness>() {
    let t = Telemetry::new();
    let config = t
        .config()
        .capture_request_headers(["X-Request-Id", "authorization", "cookie"])
        .capture_response_headers(["x-served-by"]);
    let server = start::<H>(config).await;
    http()
        .get(server.url("/users/1"))
        .header("x-request-id", "r1")
        .header("x-request-id", "r2")
        .header("authorization", "Bearer secret-token")
        .header("x-other", "not captured")
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    let a = attrs(&span);
    assert_eq!(
        a["http.request.header.x-request-id"],
        strings(&["r1", "r2"])
    );
    assert_eq!(
        a["http.request.header.authorization"],
        strings(&["REDACTED"])
    );
    assert_eq!(a["http.response.header.x-served-by"], strings(&["test"]));
    assert!(!a.contains_key("http.request.header.cookie"));
    assert!(!a.contains_key("http.request.header.x-other"));
    assert!(span
        .attributes
        .iter()
        .all(|kv| !kv.value.as_str().contains("secret-token")));
    // Header values never reach metrics.
    let p = t.metrics().histogram("http.server.request.duration");
    assert!(p[0]
        .attributes
        .keys()
        .all(|k| !k.starts_with("http.request.header")));
}

/// `opentelemetry::Context::current()` in a handler is the server span.
pub async fn context_current_in_handler<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    let body = http()
        .get(server.url("/context"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let span = t.server_span().await;
    let expected = format!(
        "trace={} span={} sampled=true",
        span.span_context.trace_id(),
        span.span_context.span_id()
    );
    assert!(body.starts_with(&expected), "{body} vs {expected}");
}

/// A `tracing` span created in a handler (tracing-opentelemetry installed) is a child of the
/// server span.
pub async fn tracing_span_nests_under_server_span<H: Harness>() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let t = Telemetry::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(t.tracer_provider.tracer("handler")));
    // The test runs on a current-thread runtime: the server's tasks run on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = start::<H>(t.config()).await;
    http().get(server.url("/context")).send().await.unwrap();
    let server_span = t.server_span().await;
    let inner = t.wait_spans(SpanKind::Internal, 1).await;
    let work = inner
        .iter()
        .find(|s| s.name == "handler.work")
        .expect("handler.work span");
    assert_eq!(
        work.span_context.trace_id(),
        server_span.span_context.trace_id()
    );
    assert_eq!(work.parent_span_id, server_span.span_context.span_id());
}

/// Opt-in metrics: active requests and body sizes (bytes actually transferred), exact points.
pub async fn opt_in_metrics_exact_points<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().opt_in_metrics(true)).await;
    let res = http()
        .post(server.url("/echo"))
        .body("hello world")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello world");
    t.server_span().await;
    let m = t.metrics();
    let expected = map(&[
        ("http.request.method", s("POST")),
        ("url.scheme", s("http")),
        ("http.response.status_code", i(200)),
        ("http.route", s("/echo")),
        ("network.protocol.version", s("1.1")),
    ]);
    for name in [
        "http.server.request.body.size",
        "http.server.response.body.size",
    ] {
        assert_eq!(m.unit(name), "By");
        let p = m.histogram(name);
        assert_eq!(p.len(), 1, "{name}");
        assert_eq!(p[0].attributes, expected, "{name}");
        assert_eq!(p[0].count, 1);
        assert_eq!(p[0].sum, 11.0, "{name}");
    }
    assert_eq!(m.unit("http.server.active_requests"), "{request}");
    let active = m.sum_i64("http.server.active_requests");
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0].attributes,
        map(&[
            ("http.request.method", s("POST")),
            ("url.scheme", s("http"))
        ])
    );
    assert_eq!(active[0].value, 0.0);
}

/// Without the opt-in, only the duration histogram is emitted.
pub async fn opt_in_metrics_off_by_default<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config()).await;
    http()
        .post(server.url("/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    t.server_span().await;
    let m = t.metrics();
    assert!(m.has("http.server.request.duration"));
    assert!(!m.has("http.server.active_requests"));
    assert!(!m.has("http.server.request.body.size"));
    assert!(!m.has("http.server.response.body.size"));
    assert!(!m.has("http.server.duration"));
}

/// A filtered-out request gets no span and no metrics, but its context still propagates.
pub async fn filter_skips_but_propagates<H: Harness>() {
    let t = Telemetry::new();
    let server = start::<H>(t.config().filter(|p| p.uri.path() != "/context")).await;
    let body = http()
        .get(server.url("/context"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains(&format!("trace={TRACE_ID} span={PARENT_ID}")),
        "{body}"
    );
    http().get(server.url("/users/1")).send().await.unwrap();
    let spans = t.wait_spans(SpanKind::Server, 1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /users/{id}");
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].attributes["http.route"], s("/users/{id}"));
}

/// `http/dup`: the old attribute names and the old millisecond histogram as well.
pub async fn http_dup_emits_old_names<H: Harness>() {
    let t = Telemetry::new();
    let mode = SemconvMode::parse("http/dup");
    let server = start::<H>(t.config().semconv(mode)).await;
    http()
        .get(server.url("/users/5?q=1"))
        .header("user-agent", "ua")
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    let a = attrs(&span);
    assert_eq!(a["http.request.method"], s("GET"));
    assert_eq!(a["http.method"], s("GET"));
    assert_eq!(a["http.status_code"], i(200));
    assert_eq!(a["http.response.status_code"], i(200));
    assert_eq!(a["http.target"], s("/users/5?q=1"));
    assert_eq!(a["http.scheme"], s("http"));
    assert_eq!(a["http.flavor"], s("1.1"));
    assert_eq!(a["net.host.name"], s("127.0.0.1"));
    assert_eq!(a["http.user_agent"], s("ua"));
    let m = t.metrics();
    assert_eq!(m.unit("http.server.duration"), "ms");
    let old = m.histogram("http.server.duration");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].attributes["http.method"], s("GET"));
    assert_eq!(old[0].attributes["http.status_code"], i(200));
    assert_eq!(old[0].attributes["http.route"], s("/users/{id}"));
    let new = m.histogram("http.server.request.duration");
    assert!((old[0].sum / 1000.0 - new[0].sum).abs() < 1e-6);
}

/// Custom span names and request/response attribute hooks (on the span and the metrics).
pub async fn span_name_formatter_and_hooks<H: Harness>() {
    use opentelemetry::KeyValue;
    let t = Telemetry::new();
    let config = t
        .config()
        .span_name(|input| format!("handle {}", input.route.unwrap_or("unknown")))
        .request_attributes(|parts, out| {
            let tenant = if parts.headers.contains_key("x-tenant") {
                "known"
            } else {
                "none"
            };
            out.push(KeyValue::new("app.tenant_kind", tenant));
        })
        .response_attributes(|parts, out| {
            out.push(KeyValue::new(
                "app.cached",
                parts.headers.contains_key("x-cache"),
            ));
        });
    let server = start::<H>(config).await;
    http()
        .get(server.url("/users/9"))
        .header("x-tenant", "t1")
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    // Frameworks that only learn the route after routing still honour the custom name.
    assert!(span.name.starts_with("handle "), "{}", span.name);
    let a = attrs(&span);
    assert_eq!(a["app.tenant_kind"], s("known"));
    assert_eq!(a["app.cached"], Value::Bool(false));
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["app.tenant_kind"], s("known"));
    assert_eq!(p[0].attributes["app.cached"], Value::Bool(false));
}

/// Reads a chunked body until the connection closes (helper for raw clients).
pub async fn read_to_end(mut stream: tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Secrets in the query are redacted whatever their case or encoding, with the OAuth 2, API-key
/// and password names as well as the semconv list — in `url.query` and in `http/dup`'s
/// `http.target`.
pub async fn query_secrets_redacted_decoded_any_case<H: Harness>() {
    let t = Telemetry::new();
    let config = t.config().semconv(SemconvMode::parse("http/dup"));
    let server = start::<H>(config).await;
    let query = "access_token=a&token=b&password=c&api_key=d&client_secret=e&code=f&SIG=g\
                 &x-amz-signature=h&%73ig=i&page=2";
    http()
        .get(server.url(&format!("/users/1?{query}")))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    let a = attrs(&span);
    let redacted = "access_token=REDACTED&token=REDACTED&password=REDACTED&api_key=REDACTED\
                    &client_secret=REDACTED&code=REDACTED&SIG=REDACTED\
                    &x-amz-signature=REDACTED&%73ig=REDACTED&page=2";
    assert_eq!(a["url.query"], s(redacted));
    assert_eq!(a["http.target"], s(&format!("/users/1?{redacted}")));
}

/// Every value the client controls is capped (here at a configured 64 bytes), cut on a
/// character boundary and marked with `…`; the response is unchanged.
pub async fn client_values_are_capped<H: Harness>() {
    let t = Telemetry::new();
    let config = t
        .config()
        .max_attribute_length(64)
        .capture_request_headers(["x-id"])
        .semconv(SemconvMode::parse("http/dup"));
    let server = start::<H>(config).await;
    let long = "é".repeat(150);
    let ascii = "a".repeat(300);
    let req = format!(
        "GET /users/{ascii}?q={ascii} HTTP/1.1\r\nhost: h{ascii}.example\r\n\
         user-agent: {long}\r\nx-forwarded-for: {ascii}\r\nx-id: {ascii}\r\nx-id: 2\r\n\
         connection: close\r\n\r\n"
    );
    let (_stream, head) = raw_request(server.addr, &req, 12).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let span = t.server_span().await;
    let a = attrs(&span);
    let cut = |prefix: &str| {
        let mut v = prefix.to_owned();
        while v.len() + "a".len() + "…".len() <= 64 {
            v.push('a');
        }
        v.push('…');
        v
    };
    assert_eq!(a["url.path"], s(&cut("/users/")));
    assert_eq!(a["url.query"], s(&cut("q=")));
    assert_eq!(a["server.address"], s(&cut("h")));
    assert_eq!(a["client.address"], s(&cut("")));
    assert_eq!(a["user_agent.original"], s(&format!("{}…", "é".repeat(30))));
    assert_eq!(a["http.request.header.x-id"], strings(&[&cut(""), "2"]));
    for key in [
        "http.target",
        "http.user_agent",
        "net.host.name",
        "http.client_ip",
    ] {
        let Value::String(v) = &a[key] else {
            panic!("{key} is not a string");
        };
        assert!(v.as_str().len() <= 64 && v.as_str().ends_with('…'), "{key}");
    }
    // Every string on the span stays within the cap.
    for kv in &span.attributes {
        if let Value::String(v) = &kv.value {
            assert!(
                v.as_str().len() <= 64,
                "{} is {} bytes",
                kv.key,
                v.as_str().len()
            );
        }
    }

    // An extension method longer than the cap: `_OTHER`, the original capped.
    let method = "M".repeat(500);
    let req = format!("{method} /any HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n");
    let _ = raw_request(server.addr, &req, 12).await;
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let a = attrs(&spans[1]);
    assert_eq!(a["http.request.method"], s("_OTHER"));
    assert_eq!(
        a["http.request.method_original"],
        s(&format!("{}…", "M".repeat(61)))
    );
}
