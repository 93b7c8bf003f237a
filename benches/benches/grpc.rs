//! Per-call overhead of the gRPC layers on a tonic service, in process (no network): the bare
//! generated `EchoServer` against the same service behind `towerlight_tonic::server()`, and a
//! client layer in front of it. Unary calls and server-streaming calls of ten messages.
//!
//! `cargo bench -p towerlight-benches --bench grpc`

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, Criterion};
use http_body_util::BodyExt;
use opentelemetry_sdk::trace::Sampler;
use prost::Message;
use tonic::body::Body;
use tower::{Layer, Service, ServiceExt};
use towerlight::{Config, Propagator};
use towerlight_benches::{meter_provider, tracer_provider};
use towerlight_tests::grpc_harness::{echo, EchoService};
use towerlight_tests::proto::echo_server::EchoServer;

const GROUP: &str = "grpc";

/// A gRPC request as a client would send it: path, content type, one length-prefixed message.
fn request(method: &str, count: u32) -> http::Request<Body> {
    let message = echo("bench", count, 0, "").encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap());
    frame.put_slice(&message);
    http::Request::post(format!("/towerlight.test.v1.Echo/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::new(http_body_util::Full::new(Bytes::from(frame))))
        .unwrap()
}

/// Sends one call through `svc` and reads the whole response (messages and trailers).
async fn call<S, B>(svc: &S, method: &str, count: u32)
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let res = svc.clone().oneshot(request(method, count)).await.unwrap();
    let collected = res.into_body().collect().await.unwrap();
    assert!(collected.trailers().is_some());
    std::hint::black_box(collected);
}

fn config() -> Config {
    Config::new()
        .tracer_provider(tracer_provider(Sampler::AlwaysOn))
        .meter_provider(meter_provider())
        .propagator(Propagator::w3c())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(GROUP);
    let bare = EchoServer::new(EchoService);
    let server = towerlight_tonic::server_with(config()).layer(EchoServer::new(EchoService));
    let client = towerlight_tonic::client_with(config()).layer(EchoServer::new(EchoService));

    for (label, method, count) in [("unary", "Unary", 0), ("stream x10", "ServerStream", 10)] {
        group.bench_function(format!("{label} bare"), |b| {
            b.to_async(&rt).iter(|| call(&bare, method, count))
        });
        group.bench_function(format!("{label} server layer"), |b| {
            b.to_async(&rt).iter(|| call(&server, method, count))
        });
        group.bench_function(format!("{label} client layer"), |b| {
            b.to_async(&rt).iter(|| call(&client, method, count))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = towerlight_benches::criterion_config();
    targets = bench
}

fn main() {
    benches();
    towerlight_benches::finish_run(&[
        (
            GROUP,
            "unary bare",
            &["unary server layer", "unary client layer"],
        ),
        (
            GROUP,
            "stream x10 bare",
            &["stream x10 server layer", "stream x10 client layer"],
        ),
    ]);
}
