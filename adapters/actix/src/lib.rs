//! # towerlight-actix
//!
//! towerlight for [Actix-web](https://actix.rs): [`Otel`], an `App::wrap` middleware that drives
//! the **same** HTTP server instrument as the Tower layer (spans, metrics, propagation and
//! configuration are identical), [`block`] to keep the request's context inside
//! `web::block` closures, and [`AwcTracing`] for outgoing requests made with `awc`.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let otel = towerlight_actix::Otel::with_config(towerlight::Config::new().opt_in_metrics(true));
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(otel.clone())
//!         .route("/users/{id}", web::get().to(|| async { "user" }))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```

mod client;
mod convert;
#[cfg(feature = "prometheus")]
mod metrics;
mod server;

pub use client::{AwcTracing, TracedPayload};
#[cfg(feature = "prometheus")]
pub use metrics::metrics_resource;
pub use server::{Otel, OtelFuture, OtelMiddleware, TracedBody};

/// `actix_web::web::block`, with the caller's OpenTelemetry context current inside the closure.
///
/// Actix runs `web::block` closures on a thread pool, where the request's context is not
/// current; spans and logs made there would start new traces. This carries it over.
///
/// ```no_run
/// # async fn handler() -> Result<String, actix_web::error::BlockingError> {
/// let answer = towerlight_actix::block(|| {
///     // opentelemetry::Context::current() here is the request's context.
///     String::from("computed")
/// })
/// .await?;
/// # Ok(answer)
/// # }
/// ```
pub async fn block<F, R>(f: F) -> Result<R, actix_web::error::BlockingError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let cx = opentelemetry::Context::current();
    actix_web::web::block(move || {
        let _attached = cx.attach();
        f()
    })
    .await
}
