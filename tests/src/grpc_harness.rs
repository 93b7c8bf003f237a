//! The gRPC test service (`towerlight.test.v1.Echo`) and helpers to serve and call it over
//! loopback with real tonic servers and clients.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};
use towerlight::Config;

use crate::proto::echo_client::EchoClient;
use crate::proto::echo_server::{Echo, EchoServer};
use crate::proto::{EchoReply, EchoRequest};
use crate::{describe_current_context, TestServer};

/// The fully-qualified service name.
pub const SERVICE: &str = "towerlight.test.v1.Echo";

/// Replies as `EchoRequest` asks: `count` replies `delay_ms` apart, failing as `fail_with` says.
/// A unary request whose message is `context` answers [`describe_current_context`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

fn fail_early(req: &EchoRequest) -> Result<(), Status> {
    match req.fail_with.as_str() {
        "trailers_only" => Err(Status::not_found("no such echo")),
        "unavailable" => Err(Status::unavailable("try later")),
        "panic" => panic!("echo handler panicked on purpose"),
        _ => Ok(()),
    }
}

fn replies(req: EchoRequest) -> ReplyStream {
    let delay = Duration::from_millis(u64::from(req.delay_ms));
    let fail_after = req.fail_with == "trailers";
    let stream = futures_util::stream::unfold(0u32, move |i| {
        let message = req.message.clone();
        let count = req.count;
        async move {
            if i < count {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Some((Ok(EchoReply { message, index: i }), i + 1))
            } else if i == count && fail_after {
                Some((Err(Status::internal("failed after the replies")), i + 1))
            } else {
                None
            }
        }
    });
    Box::pin(stream)
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let req = request.into_inner();
        fail_early(&req)?;
        if req.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(req.delay_ms))).await;
        }
        if req.fail_with == "trailers" {
            return Err(Status::internal("failed"));
        }
        let message = if req.message == "context" {
            describe_current_context()
        } else {
            req.message
        };
        Ok(Response::new(EchoReply { message, index: 0 }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let req = request.into_inner();
        fail_early(&req)?;
        Ok(Response::new(replies(req)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut count = 0;
        let mut last = String::new();
        while let Some(req) = stream.message().await? {
            fail_early(&req)?;
            count += 1;
            last = req.message;
        }
        Ok(Response::new(EchoReply {
            message: last,
            index: count,
        }))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = request.into_inner().enumerate().map(|(i, req)| {
            req.map(|r| EchoReply {
                message: r.message,
                index: u32::try_from(i).unwrap_or(u32::MAX),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Serves the echo service with `towerlight_tonic::server_with(config)` on `127.0.0.1:0`.
pub async fn serve_grpc(config: Config) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(towerlight_tonic::server_with(config))
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    TestServer {
        addr,
        stop: Box::new(crate::axum_harness::AbortOnDrop(task)),
    }
}

/// The endpoint of a test server.
pub fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}")).unwrap()
}

/// A channel to `addr` (connected now).
pub async fn channel(addr: SocketAddr) -> Channel {
    endpoint(addr).connect().await.unwrap()
}

/// The instrumented client type.
pub type InstrumentedClient =
    EchoClient<towerlight::grpc::GrpcClientService<Channel, towerlight_tonic::TonicBody>>;

/// An echo client whose channel is wrapped in `towerlight_tonic::client_with(config)`.
pub async fn client(addr: SocketAddr, config: Config) -> InstrumentedClient {
    let channel = tower::ServiceBuilder::new()
        .layer(towerlight_tonic::client_for(endpoint(addr).uri(), config))
        .service(channel(addr).await);
    EchoClient::new(channel)
}

/// A request.
pub fn echo(message: &str, count: u32, delay_ms: u32, fail_with: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        count,
        delay_ms,
        fail_with: fail_with.to_owned(),
    }
}
