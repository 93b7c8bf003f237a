//! # towerlight
//!
//! Production-grade OpenTelemetry for Tower-based services: traces, metrics and context
//! propagation with current semantic conventions, spans that last as long as the response body,
//! and safe defaults (no secrets, bounded cardinality, untrusted context handled).
//!
//! ```no_run
//! use towerlight::{Config, HttpServerLayer};
//!
//! // Built once: the tracer, meter instruments and propagator are resolved here.
//! let layer = HttpServerLayer::with_config(Config::new().opt_in_metrics(true));
//! # let _ = layer;
//! ```
//!
//! The design: each protocol has one *instrument* (a small state machine owning a call's span,
//! metric attributes and timing); the Tower types and the framework adapters are thin shells
//! around it. See `ARCHITECTURE.md` in the repository.

pub mod body;
mod common;
pub mod config;
mod error;
mod future;
pub mod grpc;
pub mod http;
pub mod propagation;
#[cfg(feature = "setup")]
pub mod setup;
mod trust;

pub use config::{Config, KnownMethods, SemconvMode, SpanNameInput};
pub use error::ConfigError;
pub use grpc::{GrpcClientLayer, KnownRpcMethods};
pub use http::{
    HttpClientLayer, HttpServerLayer, HttpServerService, Protocol, ResendCount, ServerLayer,
    ServerService, UrlTemplate,
};
pub use propagation::Propagator;

/// The OpenTelemetry crates towerlight is built on, re-exported so versions always match: use
/// `towerlight::otel::sdk::trace::Sampler` rather than adding `opentelemetry_sdk` yourself and
/// risking a second, incompatible version.
///
/// Always: `api` (opentelemetry 0.33) and `semconv` (opentelemetry-semantic-conventions 0.33).
/// With the `setup` feature: `sdk` (opentelemetry_sdk 0.33), `otlp` (opentelemetry-otlp 0.33).
/// With `prometheus`: `prometheus_exporter` (opentelemetry-prometheus 0.33) and `prometheus`
/// (prometheus 0.14, whose `Registry` the guard hands out). With `tracing`:
/// `tracing_opentelemetry` (0.34), `appender_tracing` (opentelemetry-appender-tracing 0.33) and
/// `tracing_subscriber` (0.3).
pub mod otel {
    pub use opentelemetry as api;
    #[cfg(feature = "tracing")]
    pub use opentelemetry_appender_tracing as appender_tracing;
    #[cfg(feature = "setup")]
    pub use opentelemetry_otlp as otlp;
    #[cfg(feature = "prometheus")]
    pub use opentelemetry_prometheus as prometheus_exporter;
    #[cfg(feature = "setup")]
    pub use opentelemetry_sdk as sdk;
    pub use opentelemetry_semantic_conventions as semconv;
    #[cfg(feature = "prometheus")]
    pub use prometheus;
    #[cfg(feature = "tracing")]
    pub use tracing_opentelemetry;
    #[cfg(feature = "tracing")]
    pub use tracing_subscriber;
}
