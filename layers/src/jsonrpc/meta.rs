//! `params._meta`: trace context inside a JSON-RPC request (MCP's SEP-414 keys `traceparent`,
//! `tracestate`, `baggage`, in W3C formats).
//!
//! Servers always read it, with the strict W3C parsers: a malformed value is ignored, never an
//! error. Clients write it only when configured, and only into object params: positional params
//! have nowhere to put it, and a server that does not expect `_meta` rejects the call
//! (jsonrpcserver answers `-32602 Invalid params`).

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use serde_json::{Map, Value};

use crate::propagation::Propagator;

const META: &str = "_meta";

/// The `_meta` object of raw params, if the params are an object that has one.
pub(crate) fn meta_of(params: &str) -> Option<Map<String, Value>> {
    // Cheap test first: most params carry no `_meta` and are not parsed twice.
    if !params.contains(META) {
        return None;
    }
    match serde_json::from_str::<Value>(params).ok()? {
        Value::Object(mut map) => match map.remove(META)? {
            Value::Object(meta) => Some(meta),
            _ => None,
        },
        _ => None,
    }
}

/// The context `_meta` carries, extracted with the strict W3C propagators.
pub(crate) fn extract(meta: &Map<String, Value>) -> Context {
    TextMapPropagator::extract_with_context(
        &Propagator::w3c(),
        &Context::new(),
        &MetaExtractor(meta),
    )
}

struct MetaExtractor<'a>(&'a Map<String, Value>);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct MetaInjector<'a>(&'a mut Map<String, Value>);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

/// Writes `cx` into `params._meta` (W3C trace context and baggage), keeping what `_meta`
/// already holds. Only object params can carry it: returns `false` (and changes nothing) for
/// positional or absent params.
pub fn inject_meta(cx: &Context, params: &mut Value) -> bool {
    let Value::Object(map) = params else {
        return false;
    };
    let meta = map.entry(META).or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else {
        return false;
    };
    TextMapPropagator::inject_context(&Propagator::w3c(), cx, &mut MetaInjector(meta));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_meta_from_object_params_only() {
        let params = format!(r#"{{"a":1,"_meta":{{"traceparent":"{TP}","x":2}}}}"#);
        let meta = meta_of(&params).unwrap();
        let cx = extract(&meta);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(meta_of(r#"[1,2,"_meta"]"#).is_none());
        assert!(meta_of(r#"{"a":1}"#).is_none());
        assert!(meta_of(r#"{"_meta":"not an object"}"#).is_none());
        assert!(meta_of("not json _meta").is_none());
    }

    #[test]
    fn malformed_context_is_ignored() {
        let meta = meta_of(r#"{"_meta":{"traceparent":"00-zz-00-01","baggage":7}}"#).unwrap();
        assert!(!extract(&meta).span().span_context().is_valid());
    }

    #[test]
    fn injects_into_objects_only_keeping_meta() {
        let cx = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let mut params = serde_json::json!({"a": 1, "_meta": {"progressToken": 5}});
        assert!(inject_meta(&cx, &mut params));
        assert_eq!(params["_meta"]["traceparent"], TP);
        assert_eq!(params["_meta"]["progressToken"], 5);
        let mut positional = serde_json::json!([1, 2]);
        assert!(!inject_meta(&cx, &mut positional));
        assert_eq!(positional, serde_json::json!([1, 2]));
    }
}
