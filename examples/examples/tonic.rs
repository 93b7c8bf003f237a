//! The smallest instrumented Tonic server and client: `cargo run -p towerlight-examples --example
//! tonic` serves the demo's inventory service, calls it once through an instrumented channel and
//! exits; the client and server spans print as one trace.

use tonic::transport::server::TcpIncoming;
use tonic::transport::Endpoint;
use towerlight_examples::inventory::InventoryService;
use towerlight_examples::proto::inventory_client::InventoryClient;
use towerlight_examples::proto::inventory_server::InventoryServer;
use towerlight_examples::proto::WatchRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = towerlight::setup::init()?;

    // Server: one layer on the builder.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(towerlight_tonic::server_with(telemetry.config()))
        .add_service(InventoryServer::new(InventoryService::new(
            "http://127.0.0.1:9",
        )))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);

    // Client: one layer around the channel.
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let channel = tower::ServiceBuilder::new()
        .layer(towerlight_tonic::client_for(
            endpoint.uri(),
            telemetry.config(),
        ))
        .service(endpoint.connect().await?);
    let mut client = InventoryClient::new(channel);
    let request = WatchRequest {
        sku: "widget".into(),
        updates: 3,
    };
    let mut stream = client.watch_stock(request).await?.into_inner();
    while let Some(level) = stream.message().await? {
        println!("stock level {}", level.level);
    }
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await??;
    Ok(())
}
