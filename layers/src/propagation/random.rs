//! Keeping the W3C Level 2 random-trace-id flag (`0x02`) that the SDK cannot keep itself.
//!
//! `opentelemetry_sdk` 0.33 builds a span's flags from its parent's, so a *sampled* child of a
//! `-02`/`-03` parent keeps the bit, but a span the sampler drops gets default flags (`-02` in,
//! `-00` out — the specification says the flag MUST be propagated), and a new root never has it
//! although its trace id is random. `TraceFlags` has no such constant and a sampler cannot set
//! flags, so the instruments mark the context instead ([`mark`]) and [`W3cTraceContext`]
//! (`super::W3cTraceContext`) adds the bit when it injects a span of a marked trace.
//!
//! A context value costs three allocations per request (the context's map, its `Arc`, the
//! value's `Arc`). So a *sampled* span whose trace is random goes into its context with its own
//! span context flagged instead ([`context_with`], [`Flagged`]): the context then says `-03`
//! itself, and the SDK copies the parent's flags into every sampled child, so the bit reaches
//! the children too. Only unsampled spans, whose children the SDK gives default flags, still
//! get the context value. (The SDK's exported span keeps its own flags.)

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{Span, SpanContext, Status, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{Context, KeyValue};

/// The random-trace-id flag.
pub(crate) const RANDOM: u8 = 0x02;

/// This trace's id is random (a context value; inherited by every context derived from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RandomTrace(TraceId);

/// Marks `cx` (which holds the span just started under `parent`) when its trace id is random
/// but its flags cannot say so: a new root (the SDK's ids are random), or a span whose parent
/// had the flag that the SDK dropped with the span.
pub(crate) fn mark(parent: &Context, cx: Context) -> Context {
    match random_trace(parent, &cx) {
        Some(trace_id) => cx.with_value(RandomTrace(trace_id)),
        None => cx,
    }
}

/// The context for `span`, just started under `parent`, saying that its trace id is random
/// where [`mark`] would: a sampled span through its own flags ([`Flagged`], no context value),
/// an unsampled one through the mark.
///
/// A span that records nothing (the sampler dropped it) goes in as its span context alone: such
/// a span keeps no data, so ending or dropping it does nothing, and every reader of the context
/// (its span context, `is_recording`, `end`, attributes) sees the same — without boxing the
/// span or moving it there (one allocation less on every unsampled request).
pub(crate) fn context_with<S: Span + Send + Sync + 'static>(parent: &Context, span: S) -> Context {
    if !span.is_recording() {
        let sc = span.span_context().clone();
        drop(span);
        return mark(parent, parent.with_remote_span_context(sc));
    }
    let sc = span.span_context();
    if !sc.is_sampled() || !sc.is_valid() || sc.trace_flags().to_u8() & RANDOM != 0 {
        return mark(parent, parent.with_span(span));
    }
    if !trace_is_random(parent, sc.trace_id()) {
        return parent.with_span(span);
    }
    let context = SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        TraceFlags::new(sc.trace_flags().to_u8() | RANDOM),
        sc.is_remote(),
        sc.trace_state().clone(),
    );
    parent.with_span(Flagged { span, context })
}

/// A span whose span context carries the random-trace-id flag its own flags lack; everything
/// else is the span's.
#[derive(Debug)]
pub(crate) struct Flagged<S> {
    span: S,
    context: SpanContext,
}

impl<S: Span> Span for Flagged<S> {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        self.span
            .add_event_with_timestamp(name, timestamp, attributes)
    }
    fn span_context(&self) -> &SpanContext {
        &self.context
    }
    fn is_recording(&self) -> bool {
        self.span.is_recording()
    }
    fn set_attribute(&mut self, attribute: KeyValue) {
        self.span.set_attribute(attribute)
    }
    fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.span.set_attributes(attributes)
    }
    fn set_status(&mut self, status: Status) {
        self.span.set_status(status)
    }
    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.span.update_name(new_name)
    }
    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.span.add_link(span_context, attributes)
    }
    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.span.end_with_timestamp(timestamp)
    }
}

/// The trace id of the span in `cx` (just started under `parent`) when [`mark`] must mark it.
fn random_trace(parent: &Context, cx: &Context) -> Option<TraceId> {
    let (valid, flags, trace_id) = {
        let span = cx.span();
        let sc = span.span_context();
        (sc.is_valid(), sc.trace_flags().to_u8(), sc.trace_id())
    };
    if !valid || flags & RANDOM != 0 {
        return None;
    }
    trace_is_random(parent, trace_id).then_some(trace_id)
}

/// Whether a span of `trace_id` started under `parent` belongs to a random trace that its
/// flags cannot show: a new root (the SDK's ids are random), or the child of a parent with the
/// flag that is not already marked.
fn trace_is_random(parent: &Context, trace_id: TraceId) -> bool {
    let span = parent.span();
    let parent_sc = span.span_context();
    if !parent_sc.is_valid() {
        return true;
    }
    parent_sc.trace_flags().to_u8() & RANDOM != 0
        && parent_sc.trace_id() == trace_id
        && !is_marked(parent, trace_id)
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

#[cfg(all(test, feature = "setup"))]
mod sdk_tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceState, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};

    fn provider(
        sampler: impl opentelemetry_sdk::trace::ShouldSample + 'static,
    ) -> (SdkTracerProvider, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(exporter.clone())
            .build();
        (provider, exporter)
    }

    /// The flags a W3C injection of `cx` writes.
    fn out(cx: &Context) -> String {
        let mut headers = std::collections::HashMap::new();
        opentelemetry::propagation::TextMapPropagator::inject_context(
            &super::super::W3cTraceContext::new(),
            cx,
            &mut headers,
        );
        headers["traceparent"]
            .rsplit('-')
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_sampled_root_says_random_through_its_own_flags_without_a_context_value() {
        let (provider, exporter) = provider(Sampler::AlwaysOn);
        let tracer = provider.tracer("t");
        let parent = Context::new();
        let mut span = tracer.start_with_context("root", &parent);
        span.set_attribute(KeyValue::new("k", "v"));
        let cx = context_with(&parent, span);
        assert!(cx.get::<RandomTrace>().is_none());
        assert_eq!(cx.span().span_context().trace_flags().to_u8(), 0x03);
        assert_eq!(out(&cx), "03");
        // The SDK copies the parent's flags into a sampled child.
        let child = tracer.start_with_context("child", &cx);
        assert_eq!(child.span_context().trace_flags().to_u8(), 0x03);
        assert_eq!(out(&cx.with_span(child)), "03");
        // Everything else is the span's own: attributes recorded, end exports it.
        cx.span().set_attribute(KeyValue::new("late", 1));
        cx.span().end();
        let spans = exporter.get_finished_spans().unwrap();
        let root = spans.iter().find(|s| s.name == "root").unwrap();
        assert_eq!(
            root.attributes,
            [KeyValue::new("k", "v"), KeyValue::new("late", 1)]
        );
    }

    #[test]
    fn an_unsampled_root_is_marked_and_its_children_keep_the_flag() {
        let (provider, _) = provider(Sampler::AlwaysOff);
        let tracer = provider.tracer("t");
        let parent = Context::new();
        let cx = context_with(&parent, tracer.start_with_context("root", &parent));
        assert!(cx.get::<RandomTrace>().is_some());
        assert_eq!(out(&cx), "02");
        let child = tracer.start_with_context("child", &cx);
        assert_eq!(out(&cx.with_span(child)), "02");
    }

    #[test]
    fn an_unsampled_span_goes_in_as_its_span_context() {
        let (dropping, exporter) = provider(Sampler::AlwaysOff);
        let tracer = dropping.tracer("t");
        let parent = Context::new();
        let span = tracer.start_with_context("dropped", &parent);
        let sc = span.span_context().clone();
        assert!(sc.is_valid() && !sc.is_sampled());
        let cx = context_with(&parent, span);
        assert_eq!(cx.span().span_context(), &sc, "the same span to readers");
        assert!(!cx.span().span_context().is_remote());
        assert!(!cx.span().is_recording());
        cx.span().set_attribute(KeyValue::new("k", "v"));
        cx.span().end();
        assert!(exporter.get_finished_spans().unwrap().is_empty());
        // A span that records without being sampled keeps its span.
        let (recording, _) = provider(RecordOnly);
        let tracer = recording.tracer("t");
        let cx = context_with(&parent, tracer.start_with_context("kept", &parent));
        assert!(cx.span().is_recording());
        assert!(!cx.span().span_context().is_sampled());
    }

    /// Records every span without sampling it.
    #[derive(Debug, Clone)]
    struct RecordOnly;

    impl opentelemetry_sdk::trace::ShouldSample for RecordOnly {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &opentelemetry::trace::SpanKind,
            _: &[KeyValue],
            _: &[opentelemetry::trace::Link],
        ) -> opentelemetry_sdk::trace::SamplingResult {
            opentelemetry_sdk::trace::SamplingResult {
                decision: opentelemetry_sdk::trace::SamplingDecision::RecordOnly,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            }
        }
    }

    #[test]
    fn a_sampled_child_of_a_parent_without_the_flag_says_nothing_more() {
        let (provider, _) = provider(Sampler::AlwaysOn);
        let tracer = provider.tracer("t");
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let cx = context_with(&parent, tracer.start_with_context("child", &parent));
        assert!(cx.get::<RandomTrace>().is_none());
        assert_eq!(cx.span().span_context().trace_flags().to_u8(), 0x01);
        assert_eq!(out(&cx), "01");
    }
}
