//! The inventory service (Tonic): reserves stock for an order — charging it through the pricing
//! service over JSON-RPC — and streams stock levels.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use towerlight::Config;

use crate::pricing::{Charge, ChargeError};
use crate::proto::inventory_server::{Inventory, InventoryServer};
use crate::proto::{ReserveReply, ReserveRequest, StockLevel, WatchRequest};

/// The service: a JSON-RPC client to pricing.
#[derive(Clone)]
pub struct InventoryService {
    pricing: Charge,
}

impl InventoryService {
    /// A service that charges orders through the pricing service at `pricing` (an untraced
    /// client: see [`start`] for the instrumented one).
    pub fn new(pricing: &str) -> InventoryService {
        InventoryService {
            pricing: crate::pricing::client(pricing, None),
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
        let receipt = (self.pricing)(req.order_id.clone(), req.items)
            .await
            .map_err(|e| match e {
                ChargeError::Refused(receipt) => Status::failed_precondition(receipt),
                ChargeError::Unavailable(why) => Status::unavailable(why),
            })?;
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

/// Starts the inventory gRPC server on `127.0.0.1:0`, charging through pricing at `pricing`.
pub async fn start(config: Config, pricing: String) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = InventoryService {
        pricing: crate::pricing::client(&pricing, Some(config.clone())),
    };
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
