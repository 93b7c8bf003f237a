//! Context propagation: reading a remote parent and baggage from incoming
//! headers, and writing them into outgoing ones.
//!
//! # Why this module
//!
//! - **Strict W3C.** [`W3cTraceContext`] and [`W3cBaggage`] follow the W3C
//!   Trace Context Level 2 and Baggage specifications to the letter, and pass
//!   every case of the official trace-context test suite, while
//!   `opentelemetry_sdk`'s `TraceContextPropagator` fails 14 of its 40 test
//!   methods (listed, and checked by a test, in `w3c.rs`). A malformed `traceparent` starts a new trace instead of
//!   continuing a wrong one; a malformed `tracestate` is dropped without
//!   losing the parent; the Level 2 random-trace-id flag is propagated.
//! - **Resolved once per layer.** A [`Propagator`] is built once — from
//!   `OTEL_PROPAGATORS` with [`Propagator::from_env`], or in code — and each
//!   layer holds a cheap clone (one `Arc`).
//! - **No global lock per request.** `opentelemetry::global::get_text_map_propagator`
//!   takes a read lock on every call; a layer's own [`Propagator`] is used
//!   directly.
//!
//! [`HeaderExtractor`] and [`HeaderInjector`] adapt [`http::HeaderMap`] to the
//! OpenTelemetry carrier traits, and [`JaegerPropagator`] reads and writes
//! Jaeger's `uber-trace-id`.

mod baggage;
mod carrier;
mod composite;
mod error;
mod hex;
mod jaeger;
pub(crate) mod random;
mod traceparent;
mod tracestate;
mod w3c;

#[cfg(test)]
mod fuzz_tests;

pub use baggage::W3cBaggage;
pub use carrier::{HeaderExtractor, HeaderInjector};
pub(crate) use composite::ContextFields;
pub use composite::Propagator;
pub use error::PropagationError;
pub use jaeger::JaegerPropagator;
pub use w3c::W3cTraceContext;
