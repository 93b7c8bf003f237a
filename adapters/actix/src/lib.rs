#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

mod client;
mod convert;
#[cfg(feature = "prometheus")]
mod metrics;
mod server;

pub use client::{AwcTracing, TracedPayload};
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
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
