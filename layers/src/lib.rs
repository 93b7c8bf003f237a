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
pub mod config;
mod error;
mod future;
pub mod grpc;
pub mod http;
pub mod propagation;
mod trust;

pub use config::{Config, KnownMethods, SemconvMode, SpanNameInput};
pub use error::ConfigError;
pub use grpc::{GrpcClientLayer, KnownRpcMethods};
pub use http::{
    HttpClientLayer, HttpServerLayer, HttpServerService, Protocol, ResendCount, ServerLayer,
    ServerService, UrlTemplate,
};
pub use propagation::Propagator;

/// The OpenTelemetry crates towerlight is built on, re-exported so versions always match.
pub mod otel {
    pub use opentelemetry as api;
    pub use opentelemetry_semantic_conventions as semconv;
}
