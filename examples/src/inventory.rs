//! The inventory service (Tonic): reserves stock for an order — charging it with the billing
//! service over HTTP — and streams stock levels.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use towerlight::Config;

use crate::proto::inventory_server::{Inventory, InventoryServer};
use crate::proto::{ReserveReply, ReserveRequest, StockLevel, WatchRequest};

/// The service: an instrumented HTTP client to billing.
#[derive(Clone)]
pub struct InventoryService {
    billing: String,
    http: reqwest_middleware::ClientWithMiddleware,
}

impl InventoryService {
    /// A service that charges orders at `billing` (an untraced client: see [`start`] for the
    /// instrumented one).
    pub fn new(billing: impl Into<String>) -> InventoryService {
        InventoryService {
            billing: billing.into(),
            http: reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build(),
        }
    }
}

type LevelStream = Pin<Box<dyn Stream<Item = Result<StockLevel, Status>> + Send>>;

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let req = request.into_inner();
        if req.items == 0 {
            return Err(Status::invalid_argument("an order needs at least one item"));
        }
        let url = format!(
            "{}/charge/{}?items={}",
            self.billing, req.order_id, req.items
        );
        let response = self
            .http
            .post(url)
            .send()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let status = response.status();
        let receipt = response
            .text()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if status == reqwest::StatusCode::PAYMENT_REQUIRED {
            return Err(Status::failed_precondition(receipt));
        }
        Ok(Response::new(ReserveReply {
            reservation: format!("rsv-{}", req.order_id),
            receipt,
        }))
    }

    type WatchStockStream = LevelStream;

    async fn watch_stock(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<LevelStream>, Status> {
        let req = request.into_inner();
        let stream = futures_util::stream::unfold(0u32, move |i| {
            let sku = req.sku.clone();
            let updates = req.updates;
            async move {
                if i >= updates {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
                let level = StockLevel {
                    sku,
                    level: 100 - i * 7,
                };
                Some((Ok(level), i + 1))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Starts the inventory gRPC server on `127.0.0.1:0`, calling billing at `billing`.
pub async fn start(config: Config, billing: String) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(towerlight_reqwest::OtelMiddleware::with_config(
            config.clone(),
        ))
        .build();
    let service = InventoryService { billing, http };
    tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .layer(towerlight_tonic::server_with(config))
            .add_service(InventoryServer::new(service))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "inventory server stopped");
        }
    });
    Ok(addr)
}
