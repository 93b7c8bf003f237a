//! The billing service (Actix-web): charges orders, refusing large ones with `402 Payment
//! Required` (the demo's error path).

use std::net::SocketAddr;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use towerlight::Config;

/// Orders above this many items are refused.
pub const CREDIT_LIMIT: u32 = 20;

async fn charge(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let order = path.into_inner();
    let items: u32 = req
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("items="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // Work done off the async worker keeps the request's context with towerlight_actix::block.
    let receipt = towerlight_actix::block(move || {
        tracing::info!(order = %order, "charging");
        format!("receipt-{order}")
    })
    .await
    .unwrap_or_default();
    if items > CREDIT_LIMIT {
        tracing::warn!(items, "credit limit exceeded");
        return HttpResponse::PaymentRequired().body("credit limit exceeded");
    }
    HttpResponse::Ok().body(receipt)
}

/// A running billing service (stopped when dropped).
pub struct Billing {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Billing {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Starts the billing service on its own Actix system thread, on `127.0.0.1:0`.
pub fn start(config: Config, registry: Option<towerlight::otel::prometheus::Registry>) -> Billing {
    let otel = towerlight_actix::Otel::with_config(config);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(otel.clone())
                    .route("/charge/{order}", web::post().to(charge))
                    .service(towerlight_actix::metrics_resource(registry.clone()))
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .expect("bind billing");
            let addr = server.addrs()[0];
            let server = server.run();
            let _ = tx.send((addr, server.handle()));
            server.await
        })
    });
    let (addr, handle) = rx.recv().expect("billing started");
    Billing { addr, handle }
}
