//! Header capture: allow-listed headers as `http.{request,response}.header.<name>` string arrays.

use http::{HeaderMap, HeaderName};
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};

use super::url::REDACTED;

/// Pre-computed attribute keys for the allow-listed headers of one direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderCapture {
    entries: Vec<(HeaderName, Key, bool)>,
}

impl HeaderCapture {
    /// `prefix` is `http.request.header` or `http.response.header` (or the RPC metadata prefixes).
    pub(crate) fn new(
        prefix: &str,
        names: &[HeaderName],
        is_sensitive: impl Fn(&HeaderName) -> bool,
    ) -> HeaderCapture {
        HeaderCapture {
            entries: names
                .iter()
                .map(|n| {
                    let key = Key::from(format!("{prefix}.{}", n.as_str()));
                    (n.clone(), key, is_sensitive(n))
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends one attribute per allow-listed header present in `headers`.
    ///
    /// Every value of a repeated header is kept, in order. Sensitive headers are present as
    /// `REDACTED` (one per value), so their presence is visible but never their content. Values
    /// that are not valid UTF-8 are exported lossily.
    pub(crate) fn capture(&self, headers: &HeaderMap, out: &mut Vec<KeyValue>) {
        for (name, key, sensitive) in &self.entries {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .map(|v| {
                    if *sensitive {
                        StringValue::from(REDACTED)
                    } else {
                        StringValue::from(String::from_utf8_lossy(v.as_bytes()).into_owned())
                    }
                })
                .collect();
            if !values.is_empty() {
                out.push(KeyValue::new(
                    key.clone(),
                    Value::Array(Array::String(values)),
                ));
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
        let cap = HeaderCapture::new("http.request.header", &names, |n| n == "authorization");
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
}
