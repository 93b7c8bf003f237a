//! The smallest instrumented Actix-web service: `cargo run -p towerlight-examples --example
//! actix`, then `curl localhost:3001/users/7`. Traces print on the console.

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = towerlight::setup::init()?;
    let otel = towerlight_actix::Otel::with_config(telemetry.config());
    println!("listening on http://127.0.0.1:3001/users/7 (Ctrl-C to stop)");
    HttpServer::new(move || {
        App::new().wrap(otel.clone()).route(
            "/users/{id}",
            web::get().to(|id: web::Path<u32>| async move { format!("user {id}") }),
        )
    })
    .bind(("127.0.0.1", 3001))?
    .run()
    .await?;
    Ok(())
}
