//! Test helpers the instruments' unit tests share.

use std::sync::Arc;

use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};

use crate::config::SamplerHint;

/// A sampler that keeps every span and remembers the attribute keys it was shown.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peeking(pub(crate) Arc<std::sync::Mutex<Vec<Vec<String>>>>);

impl opentelemetry_sdk::trace::ShouldSample for Peeking {
    fn should_sample(
        &self,
        _parent: Option<&Context>,
        _trace_id: opentelemetry::trace::TraceId,
        _name: &str,
        _kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        let keys = attributes.iter().map(|kv| kv.key.to_string()).collect();
        self.0.lock().unwrap().push(keys);
        opentelemetry_sdk::trace::SamplingResult {
            decision: opentelemetry_sdk::trace::SamplingDecision::RecordAndSample,
            attributes: Vec::new(),
            trace_state: Default::default(),
        }
    }
}

/// A configuration whose tracer samples through [`Peeking`] into an in-memory exporter, given
/// `hint` of its sampler.
pub(crate) fn peeking_config(
    hint: SamplerHint,
) -> (
    crate::Config,
    Peeking,
    opentelemetry_sdk::trace::InMemorySpanExporter,
) {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let sampler = Peeking::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(sampler.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let config = crate::Config::new()
        .tracer_provider(provider)
        .sampler_hint(hint);
    (config, sampler, exporter)
}

/// What the sampler was shown, and the one finished span's attributes as (key, value) pairs in
/// key order.
pub(crate) fn peeked(
    sampler: &Peeking,
    exporter: &opentelemetry_sdk::trace::InMemorySpanExporter,
) -> (Vec<Vec<String>>, Vec<(String, String)>) {
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let mut attrs: Vec<_> = spans[0]
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    attrs.sort();
    let seen = std::mem::take(&mut *sampler.0.lock().unwrap());
    (seen, attrs)
}

/// Runs `peek` with a sampler that reads attributes, with one that does not, and with one hinted
/// to keep every span ([`SamplerHint::AlwaysOn`], which `Peeking` is); asserts the first was
/// shown `shown`, the second nothing and the third `shown` followed by `recording_only` (every
/// attribute known at creation), that all three spans end with the same set, and that the set's
/// keys are `keys` (each once, in key order); returns that set.
pub(crate) fn assert_blind_span_matches(
    peek: impl Fn(SamplerHint) -> (Vec<Vec<String>>, Vec<(String, String)>),
    shown: &[&str],
    recording_only: &[&str],
    keys: &[&str],
) -> Vec<(String, String)> {
    let (seen, reads) = peek(SamplerHint::MayReadAttributes);
    assert_eq!(seen, [shown]);
    let (seen, blind) = peek(SamplerHint::ReadsNoAttributes);
    assert_eq!(seen, [Vec::<String>::new()]);
    assert_eq!(blind, reads);
    let (seen, sure) = peek(SamplerHint::AlwaysOn);
    let at_creation = [shown, recording_only].concat();
    assert_eq!(
        seen,
        [at_creation],
        "a span sure to record: all at creation"
    );
    assert_eq!(sure, reads);
    let got: Vec<&str> = blind.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, keys, "every key once");
    blind
}

/// The value of `key` in a set [`peeked`] returned.
pub(crate) fn value_of(attrs: &[(String, String)], key: &str) -> String {
    attrs.iter().find(|(k, _)| k == key).unwrap().1.clone()
}

/// With a no-op tracer (metrics only) a call builds no span of its own: started under a
/// recording caller span, it runs in that very span — still recording, still open when the call
/// ends, and what the handler sets on the current span lands on it. `call` starts one call with
/// the configuration it is given (under the current context), ends it and returns its context.
pub(crate) fn assert_noop_call_runs_in_the_callers_span(
    call: impl FnOnce(&crate::Config) -> Context,
) {
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let caller_cx = Context::current_with_span(provider.tracer("app").start("caller"));
    let cx = {
        let _attached = caller_cx.clone().attach();
        let config = crate::Config::new()
            .tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new());
        call(&config)
    };
    assert!(caller_cx.span().is_recording(), "caller records");
    assert!(
        cx.span().is_recording(),
        "the caller's span, not a no-op one"
    );
    assert_eq!(cx.span().span_context(), caller_cx.span().span_context());
    cx.span()
        .set_attribute(KeyValue::new("set.by.handler", true));
    assert!(
        exporter.get_finished_spans().unwrap().is_empty(),
        "caller's span still open"
    );
    caller_cx.span().end();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "caller");
    assert_eq!(
        spans[0].attributes,
        vec![KeyValue::new("set.by.handler", true)]
    );
}
