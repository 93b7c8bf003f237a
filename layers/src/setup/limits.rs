//! Size limits on the export path: no span is larger than a collector accepts, and no export
//! request is either, so one oversized span can never take a batch of ordinary spans down with
//! it (a collector refuses a whole request that is too large: gRPC `OutOfRange`, HTTP 413).
//!
//! The SDK has no attribute value length limit, so `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` /
//! `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` are applied here, to every span (the application's own
//! included), before a span takes a queue slot. Sizes are estimated from the strings a span
//! carries, which dominate its encoded size.

use std::borrow::Cow;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::common::limit::truncate;

/// The most one span may weigh once limited: 512 KiB.
pub(crate) const MAX_SPAN_BYTES: usize = 512 << 10;
/// The most one export request may weigh: 1 MiB, well under what receivers accept by default
/// (4 MiB for OTLP/gRPC, 2 MiB for many HTTP servers' body limit, 20 MiB for the Collector's
/// OTLP/HTTP), leaving room for the resource, the scope and the encoding's overhead.
pub(crate) const MAX_EXPORT_BYTES: usize = 1 << 20;
/// What a span weighs besides its strings (ids, times, kind, status), and each attribute's
/// framing.
const SPAN_OVERHEAD: usize = 96;
const ATTRIBUTE_OVERHEAD: usize = 8;

/// Applies the configured value length limit, then cuts string values further if the span still
/// weighs more than [`MAX_SPAN_BYTES`].
pub(crate) fn limit_span(span: &mut SpanData, value_limit: Option<usize>) {
    if let Some(max) = value_limit {
        cut_strings(span, max);
    }
    let size = span_size(span);
    if size > MAX_SPAN_BYTES {
        let strings = string_count(span).max(1);
        cut_strings(span, (MAX_SPAN_BYTES / 2 / strings).max(16));
    }
}

/// The estimated encoded size of a span.
pub(crate) fn span_size(span: &SpanData) -> usize {
    let attrs = |list: &[KeyValue]| -> usize {
        list.iter()
            .map(|kv| ATTRIBUTE_OVERHEAD + kv.key.as_str().len() + value_size(&kv.value))
            .sum()
    };
    SPAN_OVERHEAD
        + span.name.len()
        + attrs(&span.attributes)
        + span
            .events
            .iter()
            .map(|e| SPAN_OVERHEAD / 4 + e.name.len() + attrs(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| SPAN_OVERHEAD / 2 + attrs(&l.attributes))
            .sum::<usize>()
        + match &span.status {
            opentelemetry::trace::Status::Error { description } => description.len(),
            _ => 0,
        }
}

/// Splits a batch into export requests of at most [`MAX_EXPORT_BYTES`] each (a single span is
/// never split: [`limit_span`] keeps it below that).
pub(crate) fn split_batch(batch: Vec<SpanData>, max_bytes: usize) -> Vec<Vec<SpanData>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut weight = 0;
    for span in batch {
        let size = span_size(&span);
        if !current.is_empty() && weight + size > max_bytes {
            chunks.push(std::mem::take(&mut current));
            weight = 0;
        }
        weight += size;
        current.push(span);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.as_str().len(),
        Value::Array(Array::String(list)) => list.iter().map(|s| s.as_str().len() + 2).sum(),
        Value::Array(Array::Bool(list)) => list.len(),
        Value::Array(Array::I64(list)) => list.len() * 8,
        Value::Array(Array::F64(list)) => list.len() * 8,
        _ => 8,
    }
}

fn string_count(span: &SpanData) -> usize {
    let count = |list: &[KeyValue]| -> usize {
        list.iter()
            .map(|kv| match &kv.value {
                Value::String(_) => 1,
                Value::Array(Array::String(l)) => l.len(),
                _ => 0,
            })
            .sum()
    };
    count(&span.attributes)
        + span
            .events
            .iter()
            .map(|e| count(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| count(&l.attributes))
            .sum::<usize>()
}

fn cut_strings(span: &mut SpanData, max: usize) {
    if span.name.len() > max {
        span.name = Cow::Owned(truncate(&span.name, max).into_owned());
    }
    cut_all(&mut span.attributes, max);
    for event in span.events.events.iter_mut() {
        cut_all(&mut event.attributes, max);
    }
    for link in span.links.links.iter_mut() {
        cut_all(&mut link.attributes, max);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status {
        if description.len() > max {
            *description = Cow::Owned(truncate(description, max).into_owned());
        }
    }
}

fn cut_all(list: &mut [KeyValue], max: usize) {
    for kv in list {
        match &mut kv.value {
            Value::String(s) => cut_one(s, max),
            Value::Array(Array::String(values)) => values.iter_mut().for_each(|s| cut_one(s, max)),
            _ => {}
        }
    }
}

fn cut_one(s: &mut StringValue, max: usize) {
    if let Cow::Owned(cut) = truncate(s.as_str(), max) {
        *s = StringValue::from(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    fn span_with(attrs: Vec<KeyValue>) -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let mut span = provider.tracer("t").start("s");
        span.set_attributes(attrs);
        span.add_event("e", vec![KeyValue::new("big", "z".repeat(5000))]);
        span.end();
        exporter.get_finished_spans().unwrap().remove(0)
    }

    fn str_len(span: &SpanData, key: &str) -> usize {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().len())
            .unwrap()
    }

    #[test]
    fn the_value_limit_applies_to_attributes_events_and_arrays() {
        let mut span = span_with(vec![
            KeyValue::new("a", "x".repeat(1000)),
            KeyValue::new("n", 7),
            KeyValue::new(
                "arr",
                Value::Array(Array::String(vec!["y".repeat(500).into(), "ok".into()])),
            ),
        ]);
        limit_span(&mut span, Some(100));
        assert_eq!(str_len(&span, "a"), 100);
        let arr = span.attributes.iter().find(|kv| kv.key.as_str() == "arr");
        let Value::Array(Array::String(values)) = &arr.unwrap().value else {
            panic!("not an array");
        };
        assert_eq!(values[0].as_str().len(), 100);
        assert_eq!(values[1].as_str(), "ok");
        assert_eq!(
            span.events.events[0].attributes[0].value.as_str().len(),
            100
        );
    }

    #[test]
    fn without_a_limit_only_oversized_spans_are_cut() {
        let mut ordinary = span_with(vec![KeyValue::new("a", "x".repeat(100_000))]);
        limit_span(&mut ordinary, None);
        assert_eq!(str_len(&ordinary, "a"), 100_000);

        let mut huge = span_with(
            (0..20)
                .map(|i| KeyValue::new(format!("k{i}"), "x".repeat(350_000)))
                .collect(),
        );
        assert!(span_size(&huge) > 7_000_000);
        limit_span(&mut huge, None);
        assert!(span_size(&huge) <= MAX_SPAN_BYTES, "{}", span_size(&huge));
        assert!(huge.attributes[0].value.as_str().ends_with('…'));
    }

    #[test]
    fn batches_split_under_the_request_budget() {
        let spans: Vec<SpanData> = (0..10)
            .map(|_| span_with(vec![KeyValue::new("a", "x".repeat(400_000))]))
            .collect();
        let chunks = split_batch(spans, MAX_EXPORT_BYTES);
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 10);
        assert_eq!(chunks.len(), 5, "two 400 KB spans per 1 MiB request");
        for chunk in &chunks {
            assert!(chunk.iter().map(span_size).sum::<usize>() <= MAX_EXPORT_BYTES);
        }
        assert!(split_batch(Vec::new(), 10).is_empty());
    }
}
