//! Adapters between [`http::HeaderMap`] and the OpenTelemetry carrier traits.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};

use super::composite::context_field_bit;

/// Reads propagation fields from an [`http::HeaderMap`].
///
/// Header names are matched case-insensitively. A value that is not valid
/// UTF-8 (raw bytes that cannot be viewed as `&str`) is treated as absent;
/// header values never contain control characters other than tab.
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

/// Propagation header names looked up on every request, pre-parsed: looking a header up by
/// `&str` parses (and lowercases) the name each time.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

fn lookup<'a>(map: &'a HeaderMap, key: &str) -> http::header::GetAll<'a, HeaderValue> {
    match key {
        "traceparent" => map.get_all(&TRACEPARENT),
        "tracestate" => map.get_all(&TRACESTATE),
        "baggage" => map.get_all(&BAGGAGE),
        _ => map.get_all(key),
    }
}

impl Extractor for HeaderExtractor<'_> {
    /// Returns the first value of `key` that is valid UTF-8.
    fn get(&self, key: &str) -> Option<&str> {
        first_value(self.0, key)
    }

    /// Returns every header name present in the map (lowercase).
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    /// Returns all values of a repeated header, in order, skipping values that
    /// are not valid UTF-8. `None` when no usable value is present.
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        all_values(self.0, key)
    }
}

fn first_value<'a>(map: &'a HeaderMap, key: &str) -> Option<&'a str> {
    lookup(map, key).iter().find_map(as_str)
}

fn all_values<'a>(map: &'a HeaderMap, key: &str) -> Option<Vec<&'a str>> {
    let mut values = lookup(map, key).iter().filter_map(as_str);
    let first = values.next()?;
    let mut all = Vec::with_capacity(1);
    all.push(first);
    all.extend(values);
    Some(all)
}

/// A [`HeaderExtractor`] over a request head already scanned: a propagation header the scan did
/// not see (`seen`, the [`context_field_bit`]s of the head's header names) is absent without a
/// lookup, which hashes the name (a caller's `traceparent` alone spared two: `tracestate` and
/// `baggage`). Any other key is looked up as before.
pub(crate) struct ScannedExtractor<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) seen: u8,
}

impl ScannedExtractor<'_> {
    fn absent(&self, key: &str) -> bool {
        let bit = context_field_bit(key);
        bit != 0 && self.seen & bit == 0
    }
}

impl Extractor for ScannedExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.absent(key) {
            true => None,
            false => first_value(self.headers, key),
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        match self.absent(key) {
            true => None,
            false => all_values(self.headers, key),
        }
    }
}

fn as_str(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// Writes propagation fields into an [`http::HeaderMap`].
///
/// [`Injector::set`] replaces every existing value of the header. A name or
/// value that is not a valid HTTP header is silently skipped.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Some(name) = header_name(key) else {
            return;
        };
        let Ok(value) = HeaderValue::try_from(value) else {
            return;
        };
        self.0.insert(name, value);
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

/// The header `key` names: the propagators' own names pre-parsed (parsing one costs more than
/// the rest of an injection's header work), any other parsed.
fn header_name(key: &str) -> Option<HeaderName> {
    static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
    static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
    static BAGGAGE: HeaderName = HeaderName::from_static("baggage");
    match key {
        "traceparent" => Some(TRACEPARENT.clone()),
        "tracestate" => Some(TRACESTATE.clone()),
        "baggage" => Some(BAGGAGE.clone()),
        _ => HeaderName::from_bytes(key.as_bytes()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_head_answers_as_the_header_map_does() {
        let keys = [
            "traceparent",
            "tracestate",
            "baggage",
            "uber-trace-id",
            "uberctx-user",
            "uberctx-other",
            "x-request-id",
            "TraceParent",
        ];
        let heads: [&[(&str, &str)]; 5] = [
            &[],
            &[("traceparent", "tp")],
            &[
                ("traceparent", "tp"),
                ("tracestate", "a=1"),
                ("tracestate", "b=2"),
            ],
            &[
                ("baggage", "k=v"),
                ("uberctx-user", "u"),
                ("x-request-id", "r"),
            ],
            &[("uber-trace-id", "t"), ("host", "h"), ("traceparent", "tp")],
        ];
        for head in heads {
            let mut headers = HeaderMap::new();
            for (name, value) in head {
                headers.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            let seen = crate::common::address::HeadScan::new(&headers).context.seen;
            let (scanned, plain) = (
                ScannedExtractor {
                    headers: &headers,
                    seen,
                },
                HeaderExtractor(&headers),
            );
            for key in keys {
                assert_eq!(scanned.get(key), plain.get(key), "{head:?} {key}");
                assert_eq!(scanned.get_all(key), plain.get_all(key), "{head:?} {key}");
            }
            assert_eq!(scanned.keys(), plain.keys());
        }
    }

    #[test]
    fn injected_names_are_the_parsed_ones() {
        for key in [
            "traceparent",
            "tracestate",
            "baggage",
            "uber-trace-id",
            "X-B3-TraceId",
        ] {
            let mut headers = HeaderMap::new();
            HeaderInjector(&mut headers).set(key, "v".into());
            let want = HeaderName::from_bytes(key.as_bytes()).unwrap();
            assert_eq!(headers.get(&want).unwrap(), "v", "{key}");
            assert_eq!(headers.len(), 1);
        }
        let mut headers = HeaderMap::new();
        HeaderInjector(&mut headers).set("bad name", "v".into());
        HeaderInjector(&mut headers).set("ok", "bad\nvalue".into());
        assert!(headers.is_empty());
    }

    #[test]
    fn get_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("abc"));
        let ex = HeaderExtractor(&headers);
        assert_eq!(ex.get("TraceParent"), Some("abc"));
        assert_eq!(ex.get("missing"), None);
    }

    #[test]
    fn invalid_lookup_name_is_absent() {
        let headers = HeaderMap::new();
        let ex = HeaderExtractor(&headers);
        assert_eq!(ex.get("bad header name"), None);
        assert_eq!(ex.get_all("bad\nname"), None);
        assert_eq!(ex.get(""), None);
    }

    #[test]
    fn get_all_keeps_order_and_skips_opaque_values() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_bytes(b"b=\xff").unwrap());
        headers.append("tracestate", HeaderValue::from_static("c=3"));
        let ex = HeaderExtractor(&headers);
        assert_eq!(ex.get_all("tracestate"), Some(vec!["a=1", "c=3"]));
        assert_eq!(ex.get_all("absent"), None);
    }

    #[test]
    fn get_skips_opaque_first_value() {
        let mut headers = HeaderMap::new();
        headers.append("x", HeaderValue::from_bytes(b"\xfe").unwrap());
        headers.append("x", HeaderValue::from_static("ok"));
        assert_eq!(HeaderExtractor(&headers).get("x"), Some("ok"));

        let mut only_opaque = HeaderMap::new();
        only_opaque.append("x", HeaderValue::from_bytes(b"\xfe").unwrap());
        assert_eq!(HeaderExtractor(&only_opaque).get("x"), None);
        assert_eq!(HeaderExtractor(&only_opaque).get_all("x"), None);
    }

    #[test]
    fn utf8_values_are_readable() {
        let mut headers = HeaderMap::new();
        headers.insert("x", HeaderValue::from_bytes("é\tx".as_bytes()).unwrap());
        assert_eq!(HeaderExtractor(&headers).get("x"), Some("é\tx"));
    }

    #[test]
    fn keys_lists_header_names() {
        let mut headers = HeaderMap::new();
        headers.insert("a", HeaderValue::from_static("1"));
        headers.append("b", HeaderValue::from_static("2"));
        headers.append("b", HeaderValue::from_static("3"));
        let extractor = HeaderExtractor(&headers);
        let mut keys = extractor.keys();
        keys.sort_unstable();
        assert_eq!(keys, vec!["a", "b"]);
    }

    #[test]
    fn set_replaces_all_values() {
        let mut headers = HeaderMap::new();
        headers.append("baggage", HeaderValue::from_static("a=1"));
        headers.append("baggage", HeaderValue::from_static("b=2"));
        HeaderInjector(&mut headers).set("Baggage", "c=3".to_string());
        let all: Vec<_> = headers.get_all("baggage").iter().collect();
        assert_eq!(all, vec!["c=3"]);
    }

    #[test]
    fn set_skips_invalid_name_or_value() {
        let mut headers = HeaderMap::new();
        let mut inj = HeaderInjector(&mut headers);
        inj.set("bad name", "v".to_string());
        inj.set("good", "line\nbreak".to_string());
        inj.set("", "v".to_string());
        inj.reserve(4);
        assert!(headers.is_empty());
    }
}
