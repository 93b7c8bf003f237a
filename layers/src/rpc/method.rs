//! `rpc.method`: the method's name when it is known (or proven), else `_OTHER` with the name in
//! `rpc.method_original` — the same rule for every RPC system.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use opentelemetry::StringValue;

/// `_OTHER`, for methods the server does not know.
pub(crate) const OTHER: &str = "_OTHER";

/// The RPC methods a server implements: `package.Service/Method` for gRPC, method names for
/// JSON-RPC.
///
/// Methods outside the set are reported as `rpc.method = "_OTHER"` with the name in
/// `rpc.method_original`, so a scanner probing random names cannot blow up metric cardinality.
/// Build it from your generated services' descriptors (see `towerlight-tonic`), from a JSON-RPC
/// server's registered methods (`towerlight-jsonrpsee` does it for you) or list the methods
/// yourself. Without a set, a server reports a method by name once a handler has proven it
/// exists (a gRPC `OK` status or response messages; a JSON-RPC answer other than
/// `Method not found`); until then failing calls are `_OTHER` — so unknown services, unknown
/// methods and calls rejected before routing (auth, load shedding) never add metric series.
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

    /// Whether `method` (`package.Service/Method`, or a JSON-RPC method name) is known.
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
    /// A method the caller names as `full`, split as (service, method) when the system has
    /// services: reported by name when `known` is unset or holds it, else `_OTHER` (with
    /// `full` capped to `max` bytes in `rpc.method_original`).
    pub(crate) fn resolve(
        full: &str,
        parts: Option<(&str, &str)>,
        known: Option<&KnownRpcMethods>,
        max: usize,
    ) -> RpcMethod {
        if !full.is_empty() && known.is_none_or(|k| k.contains(full)) {
            RpcMethod {
                value: full.to_owned().into(),
                original: None,
                parts: parts.map(|(s, m)| (s.to_owned().into(), m.to_owned().into())),
            }
        } else {
            RpcMethod::other(full, max)
        }
    }

    /// `_OTHER`, keeping the original (capped: it is client-controlled).
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

    /// The span name: the method, or the system's name (`grpc`, `jsonrpc`) for `_OTHER`.
    pub(crate) fn span_name(&self, system: &'static str) -> Cow<'static, str> {
        if self.is_other() {
            Cow::Borrowed(system)
        } else {
            Cow::Owned(self.value.as_str().to_owned())
        }
    }

    /// The short method name for the old metrics (`rpc/dup`): the method part, or the name.
    pub(crate) fn short(&self) -> StringValue {
        match &self.parts {
            Some((_, m)) => m.clone(),
            None => self.value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_other() {
        let m = RpcMethod::resolve("pkg.Svc/Do", Some(("pkg.Svc", "Do")), None, 2048);
        assert_eq!(m.value.as_str(), "pkg.Svc/Do");
        assert_eq!(m.span_name("grpc"), "pkg.Svc/Do");
        assert_eq!(m.short().as_str(), "Do");
        let m = RpcMethod::resolve("eth_call", None, None, 2048);
        assert_eq!(m.short().as_str(), "eth_call");
        let empty = RpcMethod::resolve("", None, None, 2048);
        assert_eq!(empty.span_name("jsonrpc"), "jsonrpc");
        let known = KnownRpcMethods::new(["pkg.Svc/Do"]);
        assert!(!RpcMethod::resolve("pkg.Svc/Do", None, Some(&known), 2048).is_other());
        let other = RpcMethod::resolve("pkg.Svc/Nope", None, Some(&known), 2048);
        assert_eq!(other.value.as_str(), "_OTHER");
        assert_eq!(other.original.unwrap().as_str(), "pkg.Svc/Nope");
        let long = RpcMethod::other(&"x".repeat(100), 10);
        assert_eq!(long.original.unwrap().as_str(), "xxxxxxx…");
    }
}
