//! The towerlight demo: an instrumented Axum service on loopback that drives a few requests at
//! itself. `towerlight::setup` with nothing configured prints every trace as a tree, the log lines
//! with their trace ids, and a request summary at exit. No collector needed.
//!
//! `cargo run --bin demo` runs the traffic and exits; `cargo run --bin demo -- --serve` keeps the
//! service running and prints its URL. The usual variables apply: with
//! `OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318` the same run goes
//! to a collector.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use towerlight::setup::Setup;
use towerlight::Config;

async fn user(Path(id): Path<u32>) -> Result<String, StatusCode> {
    load_user(id).await.ok_or(StatusCode::NOT_FOUND)
}

/// Application code traced with `tracing`: a child span of the request, and a log line that
/// carries the request's trace id.
#[tracing::instrument]
async fn load_user(id: u32) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if id == 0 {
        tracing::warn!("no user 0");
        return None;
    }
    tracing::info!("user found");
    Some(format!("user {id}"))
}

async fn create_order(Json(order): Json<serde_json::Value>) -> (StatusCode, String) {
    let items = order.get("items").and_then(|i| i.as_u64()).unwrap_or(0);
    (StatusCode::CREATED, format!("order for {items} item(s)"))
}

async fn fail() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

fn app(config: Config) -> Router {
    let api = Router::new()
        .route("/users/{id}", get(user))
        .route("/orders", post(create_order));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/fail", get(fail))
        .nest("/api", api)
        .layer(towerlight_axum::layer_with(config))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve_forever = std::env::args().any(|a| a == "--serve");

    // Everything from the OTEL_* environment; with nothing set, the console view.
    let telemetry = Setup::new()
        .service_name("towerlight-demo")
        .service_version(env!("CARGO_PKG_VERSION"))
        .with_tracing(true)
        .install()?;
    let config = telemetry.config().opt_in_metrics(true);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app(config).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let base = format!("http://{addr}");

    if serve_forever {
        println!("towerlight demo listening on {base} (try {base}/api/users/7); Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    } else {
        drive_traffic(&base).await?;
    }
    server.abort();

    // Flushing prints the traces still buffered and the request summary; it blocks, so it runs
    // off the async workers. A collector that cannot be reached is reported, not fatal.
    if let Err(e) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await? {
        eprintln!("{e}");
    }
    Ok(())
}

/// A few requests: success, a remote parent, a client error, a server error, an unmatched
/// route, a redacted query, a JSON POST.
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
    client.get(format!("{base}/fail")).send().await?;
    client.get(format!("{base}/nowhere")).send().await?;
    client
        .post(format!("{base}/api/orders"))
        .header("content-type", "application/json")
        .body(r#"{"items": 3}"#)
        .send()
        .await?;
    Ok(())
}
