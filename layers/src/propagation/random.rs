//! Keeping the W3C Level 2 random-trace-id flag (`0x02`) that the SDK cannot keep itself.
//!
//! `opentelemetry_sdk` 0.33 builds a span's flags from its parent's, so a *sampled* child of a
//! `-02`/`-03` parent keeps the bit, but a span the sampler drops gets default flags (`-02` in,
//! `-00` out — the specification says the flag MUST be propagated), and a new root never has it
//! although its trace id is random. `TraceFlags` has no such constant and a sampler cannot set
//! flags, so the instruments mark the context instead ([`mark`]) and [`W3cTraceContext`]
//! (`super::W3cTraceContext`) adds the bit when it injects a span of a marked trace.

use opentelemetry::trace::{TraceContextExt, TraceFlags, TraceId};
use opentelemetry::Context;

/// The random-trace-id flag.
pub(crate) const RANDOM: u8 = 0x02;

/// This trace's id is random (a context value; inherited by every context derived from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RandomTrace(TraceId);

/// Marks `cx` (which holds the span just started under `parent`) when its trace id is random
/// but its flags cannot say so: a new root (the SDK's ids are random), or a span whose parent
/// had the flag that the SDK dropped with the span.
pub(crate) fn mark(parent: &Context, cx: Context) -> Context {
    let (valid, flags, trace_id) = {
        let span = cx.span();
        let sc = span.span_context();
        (sc.is_valid(), sc.trace_flags().to_u8(), sc.trace_id())
    };
    if !valid || flags & RANDOM != 0 {
        return cx;
    }
    let parent_sc = parent.span().span_context().clone();
    let random = if parent_sc.is_valid() {
        parent_sc.trace_flags().to_u8() & RANDOM != 0
            && parent_sc.trace_id() == trace_id
            && !is_marked(parent, trace_id)
    } else {
        true
    };
    if random {
        cx.with_value(RandomTrace(trace_id))
    } else {
        cx
    }
}

fn is_marked(cx: &Context, trace_id: TraceId) -> bool {
    cx.get::<RandomTrace>().is_some_and(|r| r.0 == trace_id)
}

/// The flags to write for the span in `cx`: its own, plus the random bit for a marked trace.
pub(crate) fn flags(cx: &Context, own: TraceFlags, trace_id: TraceId) -> u8 {
    if is_marked(cx, trace_id) {
        own.to_u8() | RANDOM
    } else {
        own.to_u8()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceState};

    fn with_span(cx: &Context, flags: u8, remote: bool) -> Context {
        cx.with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::new(flags),
            remote,
            TraceState::default(),
        ))
    }

    fn out(cx: &Context) -> u8 {
        let sc = cx.span().span_context().clone();
        flags(cx, sc.trace_flags(), sc.trace_id())
    }

    #[test]
    fn roots_are_marked_random() {
        let root = mark(&Context::new(), with_span(&Context::new(), 0x01, false));
        assert_eq!(out(&root), 0x03);
        let dropped_root = mark(&Context::new(), with_span(&Context::new(), 0x00, false));
        assert_eq!(out(&dropped_root), 0x02);
    }

    #[test]
    fn a_dropped_child_of_a_random_parent_keeps_the_flag() {
        let parent = with_span(&Context::new(), 0x02, true);
        let child = mark(&parent, with_span(&parent, 0x00, false));
        assert_eq!(out(&child), 0x02);
        // A grandchild inherits the mark.
        let grandchild = mark(&child, with_span(&child, 0x00, false));
        assert_eq!(out(&grandchild), 0x02);
    }

    #[test]
    fn a_parent_without_the_flag_adds_nothing() {
        let parent = with_span(&Context::new(), 0x01, true);
        let child = mark(&parent, with_span(&parent, 0x01, false));
        assert_eq!(out(&child), 0x01);
        // A span of another trace is not marked by an inherited mark.
        let root = mark(&Context::new(), with_span(&Context::new(), 0x01, false));
        let other = root.with_remote_span_context(SpanContext::new(
            TraceId::from(8),
            SpanId::from(1),
            TraceFlags::new(0x01),
            true,
            TraceState::default(),
        ));
        assert_eq!(out(&other), 0x01);
    }
}
