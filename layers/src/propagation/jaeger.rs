//! Jaeger propagator: the `uber-trace-id` header, plus `uberctx-{key}`
//! baggage headers (extracted only).
//!
//! ```text
//! uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}
//! ```
//!
//! Ids are hex; the trace id has 1 to 32 digits and the span ids 1 to 16,
//! left-padded with zeroes. The parent span id is deprecated and ignored
//! (`0` is written). Flags are 1 or 2 hex digits: bit `0x01` is sampled and
//! bit `0x02` debug. The `:` separators may arrive URL-encoded as `%3A`.
//!
//! # Why hand-written
//!
//! `opentelemetry-jaeger-propagator` has no release for opentelemetry 0.33:
//! its latest version, 0.32, depends on opentelemetry 0.32, whose types are
//! not those of 0.33.

use super::hex;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use percent_encoding::percent_decode_str;
use std::sync::OnceLock;

const UBER_TRACE_ID: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &[u8] = b"uberctx-";
const SAMPLED: u8 = 0x01;
const DEBUG: u8 = 0x02;

/// The debug flag, kept in [`TraceFlags`] so that re-injecting as Jaeger
/// keeps it. `0x04` is unused by W3C Trace Context (Level 2 uses `0x01` and
/// `0x02`) and is never written into a `traceparent`.
const TRACE_FLAG_DEBUG: u8 = 0x04;

fn fields() -> &'static [String; 1] {
    static FIELDS: OnceLock<[String; 1]> = OnceLock::new();
    FIELDS.get_or_init(|| [UBER_TRACE_ID.to_owned()])
}

/// Jaeger propagator for `uber-trace-id` (extract and inject) and
/// `uberctx-{key}` baggage (extract only).
///
/// A debug flag also sets sampled. Extracted `uberctx-` entries are added to
/// the context's baggage (replacing entries of the same key).
#[derive(Debug, Clone, Default)]
pub struct JaegerPropagator {
    _private: (),
}

impl JaegerPropagator {
    /// Creates the propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Splits `value` into exactly four parts on `sep`.
fn split4<'a>(value: &'a str, sep: &str) -> Option<[&'a str; 4]> {
    let mut parts = value.split(sep);
    let out = [parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    parts.next().is_none().then_some(out)
}

fn parse_trace_id(value: &str) -> Option<SpanContext> {
    let value = value.trim_matches([' ', '\t']);
    let [trace, span, parent, flags] = if value.contains(':') {
        split4(value, ":")
    } else if value.contains("%3A") {
        split4(value, "%3A")
    } else {
        split4(value, "%3a")
    }?;
    let trace_id = hex::any_case_u128(trace.as_bytes())?;
    let span_id = id64(span)?;
    id64(parent)?;
    if flags.len() > 2 || trace_id == 0 || span_id == 0 {
        return None;
    }
    let flags = u8::try_from(hex::any_case_u128(flags.as_bytes())?).ok()?;
    let trace_flags = if flags & DEBUG != 0 {
        SAMPLED | TRACE_FLAG_DEBUG
    } else {
        flags & SAMPLED
    };
    Some(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(trace_flags),
        true,
        TraceState::default(),
    ))
}

/// 1 to 16 hex digits.
fn id64(digits: &str) -> Option<u64> {
    if digits.len() > 16 {
        return None;
    }
    u64::try_from(hex::any_case_u128(digits.as_bytes())?).ok()
}

/// `uberctx-{key}` headers, percent-decoded. Invalid entries are skipped.
fn baggage_entries(extractor: &dyn Extractor) -> Vec<KeyValueMetadata> {
    let mut entries = Vec::new();
    for name in extractor.keys() {
        let bytes = name.as_bytes();
        let is_baggage = bytes
            .get(..BAGGAGE_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(BAGGAGE_PREFIX));
        let Some(key) = name.get(BAGGAGE_PREFIX.len()..) else {
            continue;
        };
        if !is_baggage || key.is_empty() {
            continue;
        }
        let Some(raw) = extractor.get(name) else {
            continue;
        };
        let Ok(value) = percent_decode_str(raw.trim_matches([' ', '\t'])).decode_utf8() else {
            continue;
        };
        entries.push(KeyValueMetadata::new(
            key.to_ascii_lowercase(),
            value.into_owned(),
            "",
        ));
    }
    entries
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let flags = span_context.trace_flags().to_u8();
        let flags = match (flags & SAMPLED != 0, flags & TRACE_FLAG_DEBUG != 0) {
            (true, true) => "3",
            (true, false) => "1",
            (false, _) => "0",
        };
        let mut value = String::with_capacity(32 + 1 + 16 + 3 + 1);
        hex::push_lower(&mut value, &span_context.trace_id().to_bytes());
        value.push(':');
        hex::push_lower(&mut value, &span_context.span_id().to_bytes());
        value.push_str(":0:");
        value.push_str(flags);
        injector.set(UBER_TRACE_ID, value);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut cx = match extractor.get(UBER_TRACE_ID).and_then(parse_trace_id) {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        };
        let entries = baggage_entries(extractor);
        if !entries.is_empty() {
            let existing = cx.baggage().iter().map(|(key, (value, metadata))| {
                KeyValueMetadata::new(key.clone(), value.clone(), metadata.clone())
            });
            let merged: Vec<KeyValueMetadata> = existing.chain(entries).collect();
            cx = cx.with_baggage(merged);
        }
        cx
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::carrier::{HeaderExtractor, HeaderInjector};
    use http::header::{HeaderName, HeaderValue};
    use http::HeaderMap;
    use opentelemetry::KeyValue;

    const TRACE: u128 = 0x0000_0000_0000_004d_0000_0000_0000_0016;
    const SPAN: u64 = 0x0000_0000_0001_7c29;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn extract(value: &str) -> Option<SpanContext> {
        let map = headers(&[(UBER_TRACE_ID, value)]);
        let cx =
            JaegerPropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(&map));
        let sc = cx.span().span_context().clone();
        sc.is_valid().then_some(sc)
    }

    #[test]
    fn extracts_full_and_short_ids() {
        for value in [
            "000000000000004d0000000000000016:0000000000017c29:0:1",
            "4d0000000000000016:17c29:0:1",
            "4D0000000000000016:17C29:0:01",
            " 4d0000000000000016:17c29:0:1 ",
            "4d0000000000000016%3A17c29%3A0%3A1",
            "4d0000000000000016%3a17c29%3a0%3a1",
        ] {
            let sc = extract(value).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(sc.trace_id(), TraceId::from(TRACE), "{value}");
            assert_eq!(sc.span_id(), SpanId::from(SPAN), "{value}");
            assert!(sc.is_sampled(), "{value}");
            assert!(sc.is_remote());
        }
    }

    #[test]
    fn flags() {
        let flags = |f: &str| {
            extract(&format!("4d:17c29:0:{f}"))
                .unwrap()
                .trace_flags()
                .to_u8()
        };
        assert_eq!(flags("0"), 0);
        assert_eq!(flags("1"), SAMPLED);
        assert_eq!(flags("2"), SAMPLED | TRACE_FLAG_DEBUG);
        assert_eq!(flags("3"), SAMPLED | TRACE_FLAG_DEBUG);
        assert_eq!(flags("ff"), SAMPLED | TRACE_FLAG_DEBUG);
        assert_eq!(flags("08"), 0);
    }

    #[test]
    fn rejects_invalid() {
        for value in [
            "",
            "4d:17c29:0",
            "4d:17c29:0:1:extra",
            "0:17c29:0:1",
            "4d:0:0:1",
            "4d::0:1",
            ":17c29:0:1",
            "4d:17c29::1",
            "4d:17c29:0:",
            "4d:17c29:0:100",
            "4d:17c29:0:x",
            "000000000000004d00000000000000160:17c29:0:1",
            "4d:00000000000017c29:0:1",
            "4d:17c29:00000000000000000:1",
            "4g:17c29:0:1",
            "4d:17c29:0:1%3A",
            "é:17c29:0:1",
        ] {
            assert_eq!(extract(value), None, "{value:?}");
        }
    }

    #[test]
    fn injects() {
        let cx = |flags: u8| {
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(TRACE),
                SpanId::from(SPAN),
                TraceFlags::new(flags),
                true,
                TraceState::default(),
            ))
        };
        for (flags, expected) in [
            (0, "0"),
            (1, "1"),
            (SAMPLED | TRACE_FLAG_DEBUG, "3"),
            (TRACE_FLAG_DEBUG, "0"),
            (0x02, "0"),
        ] {
            let mut map = HeaderMap::new();
            JaegerPropagator::new().inject_context(&cx(flags), &mut HeaderInjector(&mut map));
            assert_eq!(
                map[UBER_TRACE_ID],
                format!("000000000000004d0000000000000016:0000000000017c29:0:{expected}")
            );
        }
        let mut map = HeaderMap::new();
        JaegerPropagator::new().inject_context(&Context::new(), &mut HeaderInjector(&mut map));
        assert!(map.is_empty());
    }

    #[test]
    fn round_trip() {
        let map = headers(&[(UBER_TRACE_ID, "4d0000000000000016:17c29:0:3")]);
        let cx =
            JaegerPropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(&map));
        let mut out = HeaderMap::new();
        JaegerPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
        assert_eq!(
            out[UBER_TRACE_ID],
            "000000000000004d0000000000000016:0000000000017c29:0:3"
        );
    }

    #[test]
    fn extracts_uberctx_baggage_and_merges() {
        let map = headers(&[
            ("uberctx-user", "alice%20smith"),
            ("UberCtx-Tier", "gold"),
            ("uberctx-", "ignored"),
            ("uberctx-bad", "%ff"),
            ("other", "x"),
        ]);
        let base = Context::new()
            .with_baggage([KeyValue::new("existing", "1"), KeyValue::new("tier", "old")]);
        let cx = JaegerPropagator::new().extract_with_context(&base, &HeaderExtractor(&map));
        let baggage = cx.baggage();
        assert_eq!(baggage.len(), 3);
        assert_eq!(baggage.get("user").map(|v| v.as_str()), Some("alice smith"));
        assert_eq!(baggage.get("tier").map(|v| v.as_str()), Some("gold"));
        assert_eq!(baggage.get("existing").map(|v| v.as_str()), Some("1"));
        // No trace header: no span context.
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn fields_is_uber_trace_id() {
        let propagator = JaegerPropagator::new();
        assert_eq!(
            propagator.fields().collect::<Vec<_>>(),
            vec!["uber-trace-id"]
        );
    }
}
