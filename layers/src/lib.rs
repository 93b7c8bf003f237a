#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod body;
mod common;
pub mod config;
mod error;
pub mod grpc;
pub mod http;
#[cfg(feature = "jsonrpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "jsonrpc")))]
pub mod jsonrpc;
pub mod propagation;
pub mod rpc;
pub mod server;
#[cfg(feature = "setup")]
#[cfg_attr(docsrs, doc(cfg(feature = "setup")))]
pub mod setup;
pub mod tarpc;
pub mod ws;

pub use config::{Config, KnownMethods, SamplerHint, SemconvMode, SpanNameInput};
pub use error::ConfigError;
pub use grpc::{GrpcClientLayer, KnownRpcMethods};
pub use http::{HttpClientLayer, ResendCount, UrlTemplate};
pub use propagation::Propagator;
pub use server::{HttpServerLayer, HttpServerService, Protocol, ServerLayer, ServerService};

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
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub use opentelemetry_appender_tracing as appender_tracing;
    #[cfg(feature = "setup")]
    #[cfg_attr(docsrs, doc(cfg(feature = "setup")))]
    pub use opentelemetry_otlp as otlp;
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub use opentelemetry_prometheus as prometheus_exporter;
    #[cfg(feature = "setup")]
    #[cfg_attr(docsrs, doc(cfg(feature = "setup")))]
    pub use opentelemetry_sdk as sdk;
    pub use opentelemetry_semantic_conventions as semconv;
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub use prometheus;
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub use tracing_opentelemetry;
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub use tracing_subscriber;
}
