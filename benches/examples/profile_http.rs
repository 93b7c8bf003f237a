//! Runs many requests through the Axum router in one mode, for callgrind/perf profiling:
//! `bare`, `minimal` (a pass-through layer of the same shape, no telemetry), `full` (traces + metrics, the default), `metrics` (no-op tracer), `unsampled`
//! (AlwaysOff + metrics), `blind` (the same, told the sampler reads no attributes), or `floor` (no router: the SDK floor, one span with the same thirteen
//! attributes in a context and one histogram point). The gRPC modes run one unary `Echo` call
//! each: `grpc_bare`, `grpc_server` (the server layer), `grpc_client` (the client layer in front
//! of the bare server) and `grpc_floor` (three span and three metric attributes). The JSON-RPC
//! modes run one `add` call through jsonrpsee's HTTP service: `jsonrpc_bare`, `jsonrpc_traced`
//! (towerlight's HTTP layer and RPC middleware: two spans) and `jsonrpc_floor` (two spans and
//! two points with the gRPC floor's three attributes, as the `rpc` bench's floor). The HTTP
//! client modes send one request through an in-memory answer: `client_bare`, `client` (the
//! HTTP client layer in front) and `client_floor` (its six span and six metric attributes).
//! The Actix modes send the `actix` bench's request: `actix_bare`, `actix_traced` (the `Otel`
//! middleware; its floor is `floor`, as in that bench). `parented` is `full` with a sampled `traceparent` on every request (a traced caller's), `dropped` the same with an unsampled one. A
//! protocol's mode followed by `_metrics`, `_unsampled` or `_blind` runs with that tracing
//! instead (`grpc_server_metrics`, `client_unsampled`, `jsonrpc_traced_metrics`); `_quiet` keeps
//! every span sampled but tells the layer the sampler reads no attributes (what a ratio
//! sampler's hint says), e.g. `actix_traced_quiet`; `_hinted` runs `setup`'s default sampler,
//! `ParentBased(AlwaysOn)`, with its hint, so a span sure to record gets every attribute at
//! creation (`hinted` alone on Axum, `parented_hinted` with the sampled caller), and a span sure
//! to be dropped none (`dropped_hinted`: the unsampled caller).
//! `cargo build --profile profiling -p towerlight-benches --example profile_http`, then
//! `valgrind --tool=callgrind target/profiling/examples/profile_http 20000 full`.

use opentelemetry_sdk::trace::Sampler;
use towerlight::{Config, Propagator};
use towerlight_benches::{
    actix_call, actix_route, axum_call, axum_send, client_answer, client_call,
    client_floor_metric_attributes, client_floor_span_attributes, echo_server,
    floor_metric_attributes, floor_span_attributes, grpc_call, grpc_floor_attributes, jsonrpc_bare,
    jsonrpc_call, jsonrpc_traced, meter_provider, tracer_provider, users_router,
};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    if mode == "floor" {
        return floor(n, floor_span_attributes, &floor_metric_attributes());
    }
    if mode == "grpc_floor" {
        return floor(n, grpc_floor_attributes, &grpc_floor_attributes());
    }
    if mode == "client_floor" {
        return floor(
            n,
            client_floor_span_attributes,
            &client_floor_metric_attributes(),
        );
    }
    if mode == "jsonrpc_floor" {
        return floor(2 * n, grpc_floor_attributes, &grpc_floor_attributes());
    }
    let config = Config::new()
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c());
    // `grpc_server_metrics`, `client_unsampled`, …: a protocol's mode with another tracing.
    let (mode, tracing) = match mode.rsplit_once('_') {
        Some((base, t @ ("metrics" | "unsampled" | "blind" | "quiet" | "hinted"))) => (base, t),
        _ => (mode.as_str(), mode.as_str()),
    };
    let config = match tracing {
        "metrics" => config.tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new()),
        "unsampled" => config.tracer_provider(tracer_provider(Sampler::AlwaysOff)),
        "blind" => config
            .tracer_provider(tracer_provider(Sampler::AlwaysOff))
            .sampler_reads_attributes(false),
        // Every span sampled by a sampler declared not to read attributes (as `setup`'s are).
        "quiet" => config
            .tracer_provider(tracer_provider(Sampler::AlwaysOn))
            .sampler_reads_attributes(false),
        // `setup`'s default: the specification's default sampler, and the hint that says so.
        "hinted" => config
            .tracer_provider(tracer_provider(Sampler::ParentBased(Box::new(
                Sampler::AlwaysOn,
            ))))
            .sampler_hint(towerlight::SamplerHint::ParentBasedAlwaysOn),
        _ => config.tracer_provider(tracer_provider(Sampler::AlwaysOn)),
    };
    if let Some(side) = mode.strip_prefix("grpc_") {
        return grpc(n, side, config);
    }
    if let Some(side) = mode.strip_prefix("client") {
        return client(n, side, config);
    }
    if let Some(side) = mode.strip_prefix("jsonrpc_") {
        return jsonrpc(n, side, config);
    }
    if let Some(side) = mode.strip_prefix("actix_") {
        return actix(n, side, config);
    }
    let app = users_router();
    let app = if mode == "bare" {
        app
    } else if mode == "minimal" {
        app.layer(towerlight_benches::MinimalLayer)
    } else {
        app.layer(towerlight_axum::layer_with(config))
    };
    if mode == "parented" {
        repeat(n, || parented_call(&app, SAMPLED_CALLER));
    } else if mode == "dropped" {
        repeat(n, || parented_call(&app, UNSAMPLED_CALLER));
    } else {
        repeat(n, || axum_call(&app));
    }
}

/// A sampled caller's `traceparent`, checked once, at compile time, as the header a server's
/// request parser hands over (`HeaderValue::from_static` at run time would check its 55 bytes
/// on every request: about 600 instructions no server spends).
const SAMPLED_CALLER: http::HeaderValue =
    http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// A caller's `traceparent` that did not sample the trace.
const UNSAMPLED_CALLER: http::HeaderValue =
    http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");

/// One Axum request from a traced caller: [`towerlight_benches::request`] with the caller's
/// `traceparent`, which the layer extracts and continues.
async fn parented_call(app: &axum::Router, traceparent: http::HeaderValue) {
    // A parsed name, as the server's request parser makes it: not parsed again per request here.
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    let mut req = towerlight_benches::request();
    req.headers_mut().insert(TRACEPARENT, traceparent);
    axum_send(app, req).await
}

/// `n` unary gRPC calls: through the bare server, the server layer or the client layer.
fn grpc(n: usize, side: &str, config: Config) {
    use tower::Layer as _;
    match side {
        "server" => {
            let server = towerlight_tonic::server_with(config).layer(echo_server());
            repeat(n, || grpc_call(&server, "Unary", 0));
        }
        "client" => {
            let client = towerlight_tonic::client_with(config).layer(echo_server());
            repeat(n, || grpc_call(&client, "Unary", 0));
        }
        _ => {
            let bare = echo_server();
            repeat(n, || grpc_call(&bare, "Unary", 0));
        }
    }
}

/// `n` HTTP client requests: to the bare answer, or through the client layer (`side` empty).
fn client(n: usize, side: &str, config: Config) {
    use tower::Layer as _;
    if side.is_empty() {
        let traced = towerlight::HttpClientLayer::with_config(config).layer(client_answer());
        repeat(n, || client_call(&traced));
    } else {
        let bare = client_answer();
        repeat(n, || client_call(&bare));
    }
}

/// `n` JSON-RPC calls: through the bare jsonrpsee service or the instrumented one.
fn jsonrpc(n: usize, side: &str, config: Config) {
    if side == "traced" {
        let svc = jsonrpc_traced(config);
        repeat(n, || jsonrpc_call(&svc));
    } else {
        let svc = jsonrpc_bare();
        repeat(n, || jsonrpc_call(&svc));
    }
}

/// `n` Actix requests (`actix_call`): the bare app, or the app wrapped in the middleware
/// (`side == "traced"`).
fn actix(n: usize, side: &str, config: Config) {
    use actix_web::{test, App};
    actix_rt::Runtime::new().unwrap().block_on(async {
        if side == "traced" {
            let app = App::new().wrap(towerlight_actix::Otel::with_config(config));
            let app = test::init_service(app.route("/users/{id}", actix_route())).await;
            for _ in 0..n {
                actix_call(&app).await;
            }
        } else {
            let app = test::init_service(App::new().route("/users/{id}", actix_route())).await;
            for _ in 0..n {
                actix_call(&app).await;
            }
        }
    });
}

/// Runs `call` `n` times, one after the other, on [`runtime`].
fn repeat<F: std::future::Future<Output = ()>>(n: usize, mut call: impl FnMut() -> F) {
    runtime().block_on(async {
        for _ in 0..n {
            call().await;
        }
    });
}

/// The single-threaded runtime every mode runs on (timers on: Tonic and jsonrpsee use them).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The SDK floor, `n` times, with the span attributes `span` makes and `metric` attributes.
fn floor(n: usize, span: fn() -> Vec<opentelemetry::KeyValue>, metric: &[opentelemetry::KeyValue]) {
    let sdk_floor = towerlight_benches::Floor::new();
    for _ in 0..n {
        sdk_floor.once(span(), metric);
    }
}
