//! The storefront (Axum): the HTTP entry point. Orders go to the inventory service over gRPC.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use tonic::transport::{Channel, Endpoint};
use towerlight::setup::TelemetryGuard;
use towerlight::Config;

use crate::proto::inventory_client::InventoryClient;
use crate::proto::{ReserveRequest, WatchRequest};

/// The instrumented gRPC client type.
pub type Inventory =
    InventoryClient<towerlight::grpc::GrpcClientService<Channel, towerlight_tonic::TonicBody>>;

async fn user(Path(id): Path<u32>) -> Result<String, StatusCode> {
    load_user(id).await.ok_or(StatusCode::NOT_FOUND)
}

/// Application code traced with `tracing`: a child span of the request, and log lines that
/// carry the request's trace id.
/// `user.id` is a registered attribute name (a string); a bare `#[instrument]` would record
/// the argument as `id`, which is not.
#[tracing::instrument(skip_all, fields(user.id = %id))]
async fn load_user(id: u32) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if id == 0 {
        tracing::warn!("no user 0");
        return None;
    }
    tracing::info!("user found");
    Some(format!("user {id}"))
}

async fn create_order(
    State(mut inventory): State<Inventory>,
    Json(order): Json<serde_json::Value>,
) -> (StatusCode, String) {
    let items = order
        .get("items")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let order_id = order
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("o-1")
        .to_owned();
    match inventory.reserve(ReserveRequest { order_id, items }).await {
        Ok(reply) => {
            let reply = reply.into_inner();
            (
                StatusCode::CREATED,
                format!("{} ({})", reply.reservation, reply.receipt),
            )
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, status.message().to_owned())
        }
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            (StatusCode::CONFLICT, status.message().to_owned())
        }
        Err(status) => (StatusCode::BAD_GATEWAY, status.message().to_owned()),
    }
}

/// Live stock levels over a WebSocket: each text message names a SKU, answered with its levels
/// from the inventory's gRPC stream, one message per level.
async fn live_stock(
    State(inventory): State<Inventory>,
    upgrade: towerlight_axum::ws::WebSocketUpgrade,
) -> axum::response::Response {
    upgrade.on_upgrade(move |mut socket| async move {
        use axum::extract::ws::Message;
        use opentelemetry::context::FutureExt as _;
        while let Some(Ok(Message::Text(sku))) = socket.recv().await {
            let mut inventory = inventory.clone();
            let request = WatchRequest {
                sku: sku.to_string(),
                updates: 3,
            };
            // The gRPC call nests under the message's span.
            let cx = socket.message_context();
            let levels = match inventory.watch_stock(request).with_context(cx).await {
                Ok(stream) => {
                    stream
                        .into_inner()
                        .filter_map(|l| async move { l.ok() })
                        .collect::<Vec<_>>()
                        .await
                }
                Err(_) => Vec::new(),
            };
            for level in levels {
                let text = format!("{} {}", level.sku, level.level);
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    })
}

async fn stock(State(mut inventory): State<Inventory>, Path(sku): Path<String>) -> String {
    let request = WatchRequest { sku, updates: 4 };
    match inventory.watch_stock(request).await {
        Ok(stream) => {
            let levels: Vec<String> = stream
                .into_inner()
                .filter_map(|level| async move { level.ok() })
                .map(|level| level.level.to_string())
                .collect()
                .await;
            levels.join(",")
        }
        Err(status) => status.message().to_owned(),
    }
}

/// An instrumented client to the inventory service at `addr`.
pub async fn inventory_client(
    addr: std::net::SocketAddr,
    config: Config,
) -> Result<Inventory, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let channel = endpoint.connect().await?;
    let channel = tower::ServiceBuilder::new()
        .layer(towerlight_tonic::client_for(endpoint.uri(), config))
        .service(channel);
    Ok(InventoryClient::new(channel))
}

/// The storefront router: `/metrics` plus the API, instrumented with one `.layer(..)` that
/// leaves Prometheus scrapes out.
pub fn app(config: Config, inventory: Inventory, telemetry: &TelemetryGuard) -> Router {
    let api = Router::new()
        .route("/users/{id}", get(user))
        .route("/orders", post(create_order))
        .route("/stock/{sku}", get(stock))
        .route("/live", get(live_stock));
    let config = config.filter(|parts| parts.uri.path() != "/metrics");
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest("/api", api)
        .with_state(inventory)
        .merge(towerlight_axum::metrics_route(telemetry))
        .layer(towerlight_axum::layer_with(config))
}
