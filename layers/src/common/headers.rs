//! Header capture: allow-listed headers as `http.{request,response}.header.<name>` string arrays.

use http::{HeaderMap, HeaderName};
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};

use crate::common::limit::{capped_bytes, MAX_HEADER_VALUES};
use crate::common::redact::REDACTED;

/// Pre-computed attribute keys for the allow-listed headers of one direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderCapture {
    entries: Vec<(HeaderName, Key, bool)>,
    /// The most bytes one value may take.
    max_len: usize,
}

impl HeaderCapture {
    /// `prefix` is `http.request.header` or `http.response.header` (or the RPC metadata prefixes).
    pub(crate) fn new(
        prefix: &str,
        names: &[HeaderName],
        is_sensitive: impl Fn(&HeaderName) -> bool,
        max_len: usize,
    ) -> HeaderCapture {
        HeaderCapture {
            entries: names
                .iter()
                .map(|n| {
                    let key = Key::from(format!("{prefix}.{}", n.as_str()));
                    (n.clone(), key, is_sensitive(n))
                })
                .collect(),
            max_len,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most attributes [`HeaderCapture::capture`] adds: one per configured header.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends one attribute per allow-listed header present in `headers`.
    ///
    /// The values of a repeated header are kept in order, at most [`MAX_HEADER_VALUES`] of them,
    /// each capped to the configured length. Sensitive headers are present as `REDACTED` (one per
    /// value), so their presence is visible but never their content. Values that are not valid
    /// UTF-8 are exported lossily.
    pub(crate) fn capture(&self, headers: &HeaderMap, out: &mut impl Extend<KeyValue>) {
        for (name, key, sensitive) in &self.entries {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .take(MAX_HEADER_VALUES)
                .map(|v| {
                    if *sensitive {
                        StringValue::from(REDACTED)
                    } else {
                        capped_bytes(v.as_bytes(), self.max_len)
                    }
                })
                .collect();
            if !values.is_empty() {
                out.extend([KeyValue::new(
                    key.clone(),
                    Value::Array(Array::String(values)),
                )]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_arrays_and_redacts() {
        let names = [
            HeaderName::from_static("x-id"),
            HeaderName::from_static("authorization"),
            HeaderName::from_static("absent"),
        ];
        let cap = HeaderCapture::new(
            "http.request.header",
            &names,
            |n| n == "authorization",
            2048,
        );
        let mut h = HeaderMap::new();
        h.append("x-id", "a".parse().unwrap());
        h.append("x-id", "b".parse().unwrap());
        h.append("authorization", "Bearer secret".parse().unwrap());
        let mut out = Vec::new();
        cap.capture(&h, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].key.as_str(), "http.request.header.x-id");
        assert_eq!(
            out[0].value,
            Value::Array(Array::String(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            out[1].value,
            Value::Array(Array::String(vec!["REDACTED".into()]))
        );
    }

    #[test]
    fn values_and_repeats_are_bounded() {
        let names = [HeaderName::from_static("x-big")];
        let cap = HeaderCapture::new("http.request.header", &names, |_| false, 10);
        let mut h = HeaderMap::new();
        for _ in 0..100 {
            h.append("x-big", "0123456789abcdef".parse().unwrap());
        }
        let mut out = Vec::new();
        cap.capture(&h, &mut out);
        let Value::Array(Array::String(values)) = &out[0].value else {
            panic!("not a string array");
        };
        assert_eq!(values.len(), MAX_HEADER_VALUES);
        assert!(values.iter().all(|v| v.as_str() == "0123456…"));
    }
}
