//! `http.request.method`: known methods by name, anything else as `_OTHER`.

use std::borrow::Cow;

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

    /// The span name for this method and a route or URL template: `{method} {route}`,
    /// `{method}`, or `HTTP` for `_OTHER` — never the raw path. Interned where it can be, so a
    /// request's name costs no allocation.
    pub(crate) fn span_name(&self, route: Option<&str>) -> Cow<'static, str> {
        let verb = if self.is_other() {
            "HTTP"
        } else {
            self.as_str()
        };
        match route {
            None if self.is_other() => Cow::Borrowed("HTTP"),
            None => match self.static_name {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(self.as_str().to_owned()),
            },
            Some(r) => crate::common::intern::joined_name(verb, r),
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

    #[test]
    fn span_names_use_the_route_never_the_raw_method_or_path() {
        let k = KnownMethods::default();
        let get = MethodAttr::new(&http::Method::GET, &k, 64);
        assert_eq!(get.span_name(None), "GET");
        assert_eq!(get.span_name(Some("/users/{id}")), "GET /users/{id}");
        let q = MethodAttr::new(&http::Method::from_bytes(b"QUERY").unwrap(), &k, 64);
        assert_eq!(q.span_name(None), "QUERY");
        let other = MethodAttr::new(&http::Method::from_bytes(b"get").unwrap(), &k, 64);
        assert_eq!(other.span_name(None), "HTTP");
        assert_eq!(other.span_name(Some("/a")), "HTTP /a");
    }
}
