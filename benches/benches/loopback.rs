//! Requests per second over loopback: a real server (Axum over hyper, and Tonic) on its own
//! single-threaded runtime and thread, driven by a load generator on another (32 HTTP/1.1
//! connections, or 32 concurrent unary calls on one HTTP/2 channel), bare against
//! towerlight-instrumented (traces + metrics, batch export into a discarding exporter). Each
//! pair is run twice, interleaved, so drift on a shared machine falls on both sides.
//!
//! `cargo bench -p towerlight-benches --bench loopback`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use opentelemetry_sdk::trace::Sampler;
use tokio::net::TcpStream;
use tonic::transport::server::TcpIncoming;
use towerlight::{Config, Propagator};
use towerlight_benches::{meter_provider, tracer_provider, users_router};
use towerlight_tests::grpc_harness::{echo, EchoService};
use towerlight_tests::proto::echo_client::EchoClient;
use towerlight_tests::proto::echo_server::EchoServer;

const CONNECTIONS: usize = 32;
const RUN: Duration = Duration::from_secs(3);

/// Which server to start.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Http,
    Grpc,
}

/// Starts the server on its own thread and runtime; answers its address. It stops with the
/// process.
fn start_server(kind: Kind, instrumented: bool) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config = Config::new()
                .tracer_provider(tracer_provider(Sampler::AlwaysOn))
                .meter_provider(meter_provider())
                .propagator(Propagator::w3c());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            match (kind, instrumented) {
                (Kind::Http, false) => axum::serve(listener, users_router()).await.unwrap(),
                (Kind::Http, true) => {
                    let app = users_router().layer(towerlight_axum::layer_with(config));
                    axum::serve(listener, app).await.unwrap()
                }
                (Kind::Grpc, false) => tonic::transport::Server::builder()
                    .add_service(EchoServer::new(EchoService))
                    .serve_with_incoming(TcpIncoming::from(listener))
                    .await
                    .unwrap(),
                (Kind::Grpc, true) => tonic::transport::Server::builder()
                    .layer(towerlight_tonic::server_with(config))
                    .add_service(EchoServer::new(EchoService))
                    .serve_with_incoming(TcpIncoming::from(listener))
                    .await
                    .unwrap(),
            }
        });
    });
    rx.recv().unwrap()
}

/// One HTTP/1.1 connection sending requests back to back until `until`; answers how many.
async fn http_connection(addr: SocketAddr, until: Instant) -> u64 {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut n = 0;
    while Instant::now() < until {
        let req = http::Request::get("/users/42?page=1")
            .header("host", addr.to_string())
            .header("user-agent", "loopback/1.0")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert!(res.status().is_success());
        res.into_body().collect().await.unwrap();
        n += 1;
    }
    n
}

/// One stream of unary calls on a shared channel until `until`; answers how many.
async fn grpc_caller(mut client: EchoClient<tonic::transport::Channel>, until: Instant) -> u64 {
    let mut n = 0;
    while Instant::now() < until {
        client.unary(echo("loopback", 1, 0, "")).await.unwrap();
        n += 1;
    }
    n
}

/// Requests per second the load generator gets from the server at `addr`.
fn load(kind: Kind, addr: SocketAddr) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let channel = match kind {
            Kind::Grpc => Some(towerlight_tests::grpc_harness::channel(addr).await),
            Kind::Http => None,
        };
        let until = Instant::now() + RUN;
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| match &channel {
                Some(ch) => tokio::spawn(grpc_caller(EchoClient::new(ch.clone()), until)),
                None => tokio::spawn(http_connection(addr, until)),
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    })
}

fn main() {
    println!("\n| loopback | bare req/s | towerlight req/s (traces + metrics) | ratio |");
    println!("|---|---:|---:|---:|");
    for (kind, name) in [(Kind::Http, "Axum, HTTP/1.1"), (Kind::Grpc, "Tonic, unary")] {
        let bare_addr = start_server(kind, false);
        let inst_addr = start_server(kind, true);
        let (mut bare, mut inst) = (0.0, 0.0);
        for _ in 0..2 {
            bare += load(kind, bare_addr);
            inst += load(kind, inst_addr);
        }
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}× |",
            bare / 2.0,
            inst / 2.0,
            inst / bare
        );
    }
}
