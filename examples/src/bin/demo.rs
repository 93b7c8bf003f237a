//! The towerlight demo: five services in one process on loopback — a storefront (Axum), an
//! inventory service (Tonic gRPC), a pricing service (JSON-RPC, jsonrpsee), a ledger (tarpc)
//! and a billing service (Actix-web) — that call each other in that order, so one trace crosses
//! all five. It drives some traffic through them (successes, an
//! error path across all three, a gRPC stream, an unmatched route) and prints what towerlight
//! saw: every trace as a tree, log lines with their trace ids, and a request summary at exit.
//! No collector needed.
//!
//! `cargo run --bin demo -- --serve` keeps the services running and prints their URLs
//! (including `/metrics`). The usual variables apply: with
//! `OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317` the same run goes
//! to a collector.

use std::net::SocketAddr;

use towerlight::setup::{Exporter, Setup};
use towerlight_examples::{billing, inventory, ledger, pricing, storefront};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve_forever = std::env::args().any(|a| a == "--serve");

    // Everything from the OTEL_* environment; with nothing set, the console view (and, so that
    // `/metrics` has something to show, a Prometheus registry next to it).
    let mut setup = Setup::new()
        .service_name("towerlight-demo")
        .service_version(env!("CARGO_PKG_VERSION"))
        .with_tracing(true)
        .log_filter("info,opentelemetry=warn,actix_server=warn");
    if std::env::var_os("OTEL_METRICS_EXPORTER").is_none() {
        setup = setup.metrics_exporters([Exporter::Console, Exporter::Prometheus]);
    }
    let telemetry = setup.install()?;
    let config = telemetry
        .config()
        .opt_in_metrics(true)
        .websocket_session_spans(true)
        .websocket_message_spans(towerlight::ws::MessageSpans::budget(10, 10));

    let billing = billing::start(config.clone(), telemetry.prometheus_registry().cloned());
    let ledger_addr = ledger::start(config.clone(), format!("http://{}", billing.addr)).await?;
    let ledger_client = ledger::client(ledger_addr, config.clone()).await?;
    let (pricing_addr, pricing_server) = pricing::start(config.clone(), ledger_client).await?;
    let inventory_addr = inventory::start(config.clone(), format!("http://{pricing_addr}")).await?;
    let inventory = storefront::inventory_client(inventory_addr, config.clone()).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = storefront::app(config, inventory, &telemetry);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let base = format!("http://{addr}");

    if serve_forever {
        println!("towerlight demo");
        println!("  storefront (Axum)  {base}   try {base}/api/users/7, {base}/api/stock/widget");
        println!("                     WebSocket ws://{addr}/api/live: send a SKU, get its levels");
        println!("                     POST {base}/api/orders with {{\"id\":\"o-9\",\"items\":3}}");
        println!("  inventory  (Tonic) http://{inventory_addr}   towerlight.demo.v1.Inventory");
        println!("  pricing    (JSON-RPC) http://{pricing_addr}   charge(order, items)");
        println!("  ledger     (tarpc) {ledger_addr}   Ledger.charge");
        println!("  billing    (Actix) http://{}", billing.addr);
        println!(
            "  metrics            {base}/metrics   http://{}/metrics",
            billing.addr
        );
        println!("Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    } else {
        drive_traffic(&base).await?;
    }
    server.abort();
    let _ = pricing_server.stop();
    drop(billing);

    // Flushing prints the traces still buffered and the request summary; it blocks, so it runs
    // off the async workers. A collector that cannot be reached is reported, not fatal.
    if let Err(e) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await? {
        eprintln!("{e}");
    }
    Ok(())
}

/// The demo's traffic: a health check, users (with a remote parent and baggage), orders that
/// succeed and fail (at the gRPC service and at billing), a gRPC stream, an unmatched route.
async fn drive_traffic(base: &str) -> Result<(), reqwest::Error> {
    let client = reqwest::Client::new();
    client.get(format!("{base}/health")).send().await?;
    client.get(format!("{base}/api/users/7")).send().await?;
    client
        .get(format!("{base}/api/users/8?sig=s3cr3t&page=2"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("baggage", "tenant=acme")
        .send()
        .await?;
    client.get(format!("{base}/api/users/0")).send().await?;
    for (id, items) in [("o-1", 3), ("o-2", 0), ("o-3", 50)] {
        let response = client
            .post(format!("{base}/api/orders"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"id": "{id}", "items": {items}}}"#))
            .send()
            .await?;
        response.text().await?;
    }
    client
        .get(format!("{base}/api/stock/widget"))
        .send()
        .await?
        .text()
        .await?;
    client.get(format!("{base}/nowhere")).send().await?;
    live_stock(base).await;
    Ok(())
}

/// A WebSocket client asking for live stock levels of two SKUs, then closing.
async fn live_stock(base: &str) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/api/live", base.replacen("http", "ws", 1));
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
        eprintln!("the WebSocket endpoint did not answer");
        return;
    };
    for sku in ["widget", "gadget"] {
        if ws.send(Message::text(sku)).await.is_err() {
            return;
        }
        for _ in 0..3 {
            if ws.next().await.is_none() {
                return;
            }
        }
    }
    let _ = ws.close(None).await;
    while ws.next().await.is_some() {}
}
