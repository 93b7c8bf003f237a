//! `http.request.method`: known methods by name, anything else as `_OTHER`.

use opentelemetry::StringValue;

use crate::config::KnownMethods;

/// The method as the conventions want it reported.
#[derive(Debug, Clone)]
pub(crate) struct MethodAttr {
    /// `http.request.method`: the method, or `_OTHER`.
    pub(crate) value: StringValue,
    /// `http.request.method_original`, only when `value` is `_OTHER`.
    pub(crate) original: Option<StringValue>,
    /// The method as a `&'static str` when it is one of the default known methods.
    pub(crate) static_name: Option<&'static str>,
}

pub(crate) const OTHER: &str = "_OTHER";

impl MethodAttr {
    /// `max` caps `http.request.method_original` (extension methods can be long).
    pub(crate) fn new(method: &http::Method, known: &KnownMethods, max: usize) -> MethodAttr {
        let raw = method.as_str();
        // The default set maps to static strings, so the common case allocates nothing.
        if known.is_default() {
            if let Some(s) = static_method(raw) {
                return MethodAttr {
                    value: StringValue::from(s),
                    original: None,
                    static_name: Some(s),
                };
            }
        } else if known.contains(raw) {
            let static_name = static_method(raw);
            return MethodAttr {
                value: static_name
                    .map(StringValue::from)
                    .unwrap_or_else(|| StringValue::from(raw.to_owned())),
                original: None,
                static_name,
            };
        }
        MethodAttr {
            value: StringValue::from(OTHER),
            original: Some(crate::common::limit::capped(raw, max)),
            static_name: None,
        }
    }

    pub(crate) fn is_other(&self) -> bool {
        self.original.is_some()
    }

    pub(crate) fn as_str(&self) -> &str {
        self.value.as_str()
    }
}

fn static_method(raw: &str) -> Option<&'static str> {
    KnownMethods::DEFAULT.iter().copied().find(|m| *m == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_lowercase() {
        let k = KnownMethods::default();
        let m = MethodAttr::new(&http::Method::PATCH, &k, 64);
        assert_eq!(m.as_str(), "PATCH");
        assert!(!m.is_other());
        let q = MethodAttr::new(&http::Method::from_bytes(b"QUERY").unwrap(), &k, 64);
        assert_eq!(q.as_str(), "QUERY");
        let lower = MethodAttr::new(&http::Method::from_bytes(b"get").unwrap(), &k, 64);
        assert_eq!(lower.as_str(), "_OTHER");
        assert_eq!(lower.original.unwrap().as_str(), "get");
        let custom = KnownMethods::new(["PURGE"]);
        let p = MethodAttr::new(&http::Method::from_bytes(b"PURGE").unwrap(), &custom, 64);
        assert_eq!(p.as_str(), "PURGE");
        assert!(MethodAttr::new(&http::Method::GET, &custom, 64).is_other());
    }

    #[test]
    fn long_extension_methods_are_capped() {
        let long = http::Method::from_bytes("X".repeat(10_000).as_bytes()).unwrap();
        let m = MethodAttr::new(&long, &KnownMethods::default(), 64);
        assert_eq!(m.as_str(), "_OTHER");
        let original = m.original.unwrap();
        assert_eq!(original.as_str().len(), 64);
        assert!(original.as_str().ends_with('…'));
    }
}
