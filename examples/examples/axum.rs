//! The smallest instrumented Axum service: `cargo run -p towerlight-examples --example axum`,
//! then `curl localhost:3000/users/7`. Traces print on the console (no collector needed).

use std::net::SocketAddr;

use axum::{extract::Path, routing::get, Router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = towerlight::setup::init()?;
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .layer(towerlight_axum::layer_with(telemetry.config()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000/users/7 (Ctrl-C to stop)");
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    tokio::select! {
        result = server => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
