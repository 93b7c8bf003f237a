//! `rpc.method`: the fully-qualified method from the request path, or `_OTHER`.

use std::collections::HashSet;
use std::sync::Arc;

use opentelemetry::StringValue;

/// `_OTHER`, for methods the server does not know.
pub(crate) const OTHER: &str = "_OTHER";

/// The gRPC methods a server implements, as `package.Service/Method`.
///
/// Methods outside the set are reported as `rpc.method = "_OTHER"` with the path in
/// `rpc.method_original`, so a scanner probing random paths cannot blow up metric cardinality.
/// Build it from your generated services' descriptors (see `towerlight-tonic`) or list the
/// methods yourself. Without a set, a server reports a method by name once a handler has proven
/// it exists (an `OK` status or response messages in a gRPC response); until then failing calls
/// are `_OTHER` — so unknown services, unknown methods and paths rejected before routing (auth,
/// load shedding) never add metric series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownRpcMethods(Arc<HashSet<Box<str>>>);

impl KnownRpcMethods {
    /// A set from `package.Service/Method` names (a leading `/` is accepted).
    ///
    /// ```
    /// let known = towerlight::KnownRpcMethods::new(["/helloworld.Greeter/SayHello"]);
    /// assert!(known.contains("helloworld.Greeter/SayHello"));
    /// ```
    pub fn new<I, S>(methods: I) -> KnownRpcMethods
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        KnownRpcMethods(Arc::new(
            methods
                .into_iter()
                .map(|m| m.as_ref().trim().trim_start_matches('/').into())
                .collect(),
        ))
    }

    /// Whether `method` (`package.Service/Method`) is known.
    pub fn contains(&self, method: &str) -> bool {
        self.0.contains(method)
    }

    /// Adds the methods of another set.
    pub fn extend(&mut self, other: &KnownRpcMethods) {
        Arc::make_mut(&mut self.0).extend(other.0.iter().cloned());
    }
}

/// The method of one call, in every form the conventions need.
#[derive(Debug, Clone)]
pub(crate) struct RpcMethod {
    /// `rpc.method`: `package.Service/Method` or `_OTHER`.
    pub(crate) value: StringValue,
    /// `rpc.method_original` when `value` is `_OTHER`.
    pub(crate) original: Option<StringValue>,
    /// The path split as (service, method), for the old `rpc.service` / short `rpc.method`.
    pub(crate) parts: Option<(StringValue, StringValue)>,
}

impl RpcMethod {
    /// From a request path `/package.Service/Method`.
    /// `max` caps `rpc.method_original` (the path is client-controlled).
    pub(crate) fn from_path(path: &str, known: Option<&KnownRpcMethods>, max: usize) -> RpcMethod {
        let full = path.strip_prefix('/').unwrap_or(path);
        let split = full
            .split_once('/')
            .filter(|(svc, m)| !svc.is_empty() && !m.is_empty() && !m.contains('/'));
        let is_known = split.is_some() && known.is_none_or(|k| k.contains(full));
        if is_known {
            let full_value: StringValue = full.to_owned().into();
            RpcMethod {
                value: full_value,
                original: None,
                parts: split.map(|(s, m)| (s.to_owned().into(), m.to_owned().into())),
            }
        } else {
            RpcMethod::other(full, max)
        }
    }

    /// `_OTHER`, keeping the original.
    pub(crate) fn other(full: &str, max: usize) -> RpcMethod {
        RpcMethod {
            value: StringValue::from(OTHER),
            original: Some(crate::common::limit::capped(full, max)),
            parts: None,
        }
    }

    /// The old `rpc.service` attribute (`rpc/dup`), when the method has a service part.
    pub(crate) fn push_service(&self, out: &mut Vec<opentelemetry::KeyValue>) {
        if let Some((service, _)) = &self.parts {
            #[allow(deprecated)]
            out.push(opentelemetry::KeyValue::new(
                opentelemetry_semantic_conventions::attribute::RPC_SERVICE,
                service.clone(),
            ));
        }
    }

    pub(crate) fn is_other(&self) -> bool {
        self.original.is_some()
    }

    /// The span name: `package.Service/Method`, or `grpc` for unknown methods.
    pub(crate) fn span_name(&self) -> String {
        if self.is_other() {
            "grpc".to_owned()
        } else {
            self.value.as_str().to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let m = RpcMethod::from_path("/pkg.Svc/Do", None, 2048);
        assert_eq!(m.value.as_str(), "pkg.Svc/Do");
        assert_eq!(m.span_name(), "pkg.Svc/Do");
        let (s, short) = m.parts.unwrap();
        assert_eq!((s.as_str(), short.as_str()), ("pkg.Svc", "Do"));
        for bad in ["/", "/nope", "//x", "/a/b/c", ""] {
            let m = RpcMethod::from_path(bad, None, 2048);
            assert_eq!(m.value.as_str(), "_OTHER", "{bad}");
            assert_eq!(m.span_name(), "grpc");
        }
        let known = KnownRpcMethods::new(["pkg.Svc/Do"]);
        assert!(!RpcMethod::from_path("/pkg.Svc/Do", Some(&known), 2048).is_other());
        let other = RpcMethod::from_path("/pkg.Svc/Nope", Some(&known), 2048);
        assert_eq!(other.original.unwrap().as_str(), "pkg.Svc/Nope");
    }
}
