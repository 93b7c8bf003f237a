//! Opt-in message spans, in the messaging conventions' shape: a CONSUMER `process {route}` span
//! per received data message, covering its processing (until the next message is read or the
//! session ends), and a PRODUCER `send {route}` span per sent data message. By default each
//! received message is its own trace with a link to the handshake (the messaging conventions'
//! recommendation when processing happens in the scope of a long-lived context); they exist
//! only when the handshake was sampled, and a per-session budget bounds them: the first N
//! messages of each direction, then one in K.

use crate::common::sampling::SamplerHint;
use crate::common::tracer::span_builder;
use std::borrow::Cow;

use opentelemetry::trace::{Link, Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as attr;

use super::attributes as names;
use super::rules::{Direction, MessageKind};

/// Which messages get spans, and where they go (see [`Config::websocket_message_spans`]).
///
/// [`Config::websocket_message_spans`]: crate::Config::websocket_message_spans
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSpans {
    first: u64,
    then_one_in: u64,
    as_children: bool,
}

impl MessageSpans {
    /// Spans for the first `first` data messages of each direction of a session, then for one
    /// in `then_one_in` (0: no more).
    pub fn budget(first: u64, then_one_in: u64) -> MessageSpans {
        MessageSpans {
            first,
            then_one_in,
            as_children: false,
        }
    }

    /// Received messages as children of the session (its span, or the handshake's) instead of
    /// traces of their own linked to it: for short sessions read as one story.
    pub fn as_children(mut self, on: bool) -> MessageSpans {
        self.as_children = on;
        self
    }

    /// Whether the `n`th data message (from 1) of a direction gets a span.
    pub(crate) fn allows(&self, n: u64) -> bool {
        n <= self.first
            || (self.then_one_in > 0 && (n - self.first).is_multiple_of(self.then_one_in))
    }
}

/// The span of one message, or `None` when it gets none.
pub(crate) struct MessageSpan<'a> {
    pub(crate) tracer: &'a crate::common::tracer::LayerTracer,
    /// What the tracer's sampler is known to be (see `Config::sampler_hint`).
    pub(crate) sampler: SamplerHint,
    pub(crate) options: MessageSpans,
    pub(crate) session: &'a Context,
    pub(crate) route: Option<&'a KeyValue>,
    pub(crate) direction: Direction,
    pub(crate) kind: MessageKind,
    pub(crate) len: i64,
}

impl MessageSpan<'_> {
    /// Starts the span: its context (the span ends when the context's span is ended).
    pub(crate) fn start(self) -> Context {
        let (operation, kind) = match self.direction {
            Direction::Receive => ("process", SpanKind::Consumer),
            Direction::Transmit => ("send", SpanKind::Producer),
        };
        let destination = self.route.map(|r| r.value.as_str());
        let name: Cow<'static, str> = match &destination {
            Some(d) => crate::common::intern::joined_name(operation, d),
            None => Cow::Borrowed(operation),
        };
        // All of a message span's attributes are sampler-visible: at creation, unless the
        // sampler reads none and may drop the span (then only once the span records, as for
        // HTTP).
        let handshake = self.session.span().span_context().clone();
        let (parent, links) = match self.direction {
            Direction::Receive if !self.options.as_children => {
                (Context::new(), Some(vec![Link::with_context(handshake)]))
            }
            Direction::Receive => (self.session.clone(), None),
            // A sent message belongs to whatever sends it; the session is linked.
            Direction::Transmit => (
                Context::current(),
                Some(vec![Link::with_context(handshake)]),
            ),
        };
        let mut attributes = Vec::new();
        let at = self.sampler.at_creation(&parent);
        if at.sampler_visible() {
            self.push_attributes(operation, &mut attributes);
        }
        let builder = span_builder(name, kind, None, attributes, links);
        let mut span = self.tracer.build_with_context(builder, &parent);
        if !at.sampler_visible() && span.is_recording() {
            let mut attributes = Vec::with_capacity(6);
            self.push_attributes(operation, &mut attributes);
            span.set_attributes(attributes);
        }
        parent.with_span(span)
    }

    fn push_attributes(&self, operation: &'static str, out: &mut Vec<KeyValue>) {
        out.extend([
            KeyValue::new(attr::MESSAGING_SYSTEM, names::MESSAGING_SYSTEM_WEBSOCKET),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, operation),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, operation),
            KeyValue::new(attr::MESSAGING_MESSAGE_BODY_SIZE, self.len),
            KeyValue::new(names::MESSAGE_TYPE, self.kind.as_str()),
        ]);
        if let Some(route) = self.route {
            out.push(KeyValue::new(
                attr::MESSAGING_DESTINATION_NAME,
                route.value.clone(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_takes_the_first_then_one_in_k() {
        let b = MessageSpans::budget(2, 3);
        let taken: Vec<u64> = (1..=11).filter(|n| b.allows(*n)).collect();
        assert_eq!(taken, vec![1, 2, 5, 8, 11]);
        let only_first = MessageSpans::budget(1, 0);
        assert_eq!((1..=5).filter(|n| only_first.allows(*n)).count(), 1);
    }
}
