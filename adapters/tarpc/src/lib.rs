#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

mod client;
mod server;

pub use client::{ClientTracing, TracedClientTransport, TracedStub};
pub use server::{execute, InFlight, ServerTracing, TracedServerTransport};

use tarpc::trace::{Context as TraceContext, SamplingDecision};
use towerlight::tarpc::WireContext;

/// tarpc's trace context as towerlight's wire context.
fn to_wire(cx: &TraceContext) -> WireContext {
    WireContext {
        trace_id: u128::from(cx.trace_id),
        span_id: u64::from(cx.span_id),
        sampled: cx.sampling_decision == SamplingDecision::Sampled,
    }
}

/// towerlight's wire context as tarpc's.
fn from_wire(wire: WireContext) -> TraceContext {
    TraceContext {
        trace_id: wire.trace_id.into(),
        span_id: wire.span_id.into(),
        sampling_decision: if wire.sampled {
            SamplingDecision::Sampled
        } else {
            SamplingDecision::Unsampled
        },
    }
}

/// A bounded `error.type` for a server error: its `io::ErrorKind` (a closed set).
fn kind_name(kind: std::io::ErrorKind) -> String {
    format!("{kind:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        let wire = WireContext {
            trace_id: 7,
            span_id: 9,
            sampled: true,
        };
        assert_eq!(to_wire(&from_wire(wire)), wire);
        assert_eq!(kind_name(std::io::ErrorKind::InvalidInput), "InvalidInput");
    }
}
