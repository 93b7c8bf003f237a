//! `rpc.method`: the method's name when it is known (or proven), else `_OTHER` with the name in
//! `rpc.method_original` — the same rule for every RPC system.

use std::borrow::Cow;
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
pub struct KnownRpcMethods(Arc<MethodSet>);

/// The set behind [`KnownRpcMethods`]: looked up on every call, so hashed with Fx rather than
/// SipHash (a fixed set: lookups of client-chosen names cannot grow it, so flooding collisions
/// gains a client nothing).
type MethodSet = std::collections::HashSet<Box<str>, rustc_hash::FxBuildHasher>;

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
    /// `value` as a process-wide string (an interned name), when it is one: the span name
    /// and every clone then share it.
    name: Option<&'static str>,
    /// `rpc.method_original` when `value` is `_OTHER`.
    pub(crate) original: Option<StringValue>,
    /// Where `value` splits into (service, method) — the byte of the one-byte separator — for
    /// the old `rpc.service` / short `rpc.method`, made only when those are on.
    split: Option<usize>,
}

impl RpcMethod {
    /// A method the caller names as `full` (split as (service, method) at byte `split` when the
    /// system has services): reported by name when `known` is unset or holds it, else
    /// `_OTHER` (with `full` capped to `max` bytes in `rpc.method_original`). A name that may be
    /// reported is `shared` from the process's interned names when the caller says it is not
    /// client-controlled (known, proven, or the application's own).
    pub(crate) fn resolve(
        full: &str,
        split: Option<usize>,
        known: Option<&KnownRpcMethods>,
        max: usize,
        shared: bool,
    ) -> RpcMethod {
        if !full.is_empty() && known.is_none_or(|k| k.contains(full)) {
            let name = shared
                .then(|| crate::common::intern::static_name(full))
                .flatten();
            RpcMethod {
                value: name.map_or_else(|| full.to_owned().into(), StringValue::from),
                name,
                original: None,
                split,
            }
        } else {
            RpcMethod::other(full, max)
        }
    }

    /// `_OTHER`, keeping the original (capped: it is client-controlled).
    pub(crate) fn other(full: &str, max: usize) -> RpcMethod {
        RpcMethod {
            value: StringValue::from(OTHER),
            name: None,
            original: Some(crate::common::limit::capped(full, max)),
            split: None,
        }
    }

    /// (service, method), when the name has both.
    fn parts(&self) -> Option<(&str, &str)> {
        let value = self.value.as_str();
        let i = self.split.filter(|&i| i < value.len())?;
        Some((value.get(..i)?, value.get(i + 1..)?))
    }

    /// The old `rpc.service` attribute (`rpc/dup`), when the method has a service part.
    pub(crate) fn push_service(&self, out: &mut impl Extend<opentelemetry::KeyValue>) {
        if let Some((service, _)) = self.parts() {
            #[allow(deprecated)]
            crate::common::tracer::push(
                out,
                opentelemetry::KeyValue::new(
                    opentelemetry_semantic_conventions::attribute::RPC_SERVICE,
                    service.to_owned(),
                ),
            );
        }
    }

    pub(crate) fn is_other(&self) -> bool {
        self.original.is_some()
    }

    /// The span name: the method, or the system's name (`grpc`, `jsonrpc`) for `_OTHER`.
    pub(crate) fn span_name(&self, system: &'static str) -> Cow<'static, str> {
        match (self.is_other(), self.name) {
            (true, _) => Cow::Borrowed(system),
            (false, Some(name)) => Cow::Borrowed(name),
            (false, None) => Cow::Owned(self.value.as_str().to_owned()),
        }
    }

    /// The short method name for the old metrics (`rpc/dup`): the method part, or the name.
    pub(crate) fn short(&self) -> StringValue {
        match self.parts() {
            Some((_, m)) => m.to_owned().into(),
            None => self.value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(full: &str, split: Option<usize>, known: Option<&KnownRpcMethods>) -> RpcMethod {
        RpcMethod::resolve(full, split, known, 2048, false)
    }

    #[test]
    fn names_known_and_other() {
        let m = resolve("pkg.Svc/Do", Some(7), None);
        assert_eq!(m.value.as_str(), "pkg.Svc/Do");
        assert_eq!(m.span_name("grpc"), "pkg.Svc/Do");
        assert_eq!(m.short().as_str(), "Do");
        let mut service = Vec::new();
        m.push_service(&mut service);
        assert_eq!(service[0].value.as_str(), "pkg.Svc");
        let m = resolve("eth_call", None, None);
        assert_eq!(m.short().as_str(), "eth_call");
        let empty = resolve("", None, None);
        assert_eq!(empty.span_name("jsonrpc"), "jsonrpc");
        let known = KnownRpcMethods::new(["pkg.Svc/Do"]);
        assert!(!resolve("pkg.Svc/Do", None, Some(&known)).is_other());
        let other = resolve("pkg.Svc/Nope", None, Some(&known));
        assert_eq!(other.value.as_str(), "_OTHER");
        assert_eq!(other.original.unwrap().as_str(), "pkg.Svc/Nope");
        let long = RpcMethod::other(&"x".repeat(100), 10);
        assert_eq!(long.original.unwrap().as_str(), "xxxxxxx…");
    }

    #[test]
    fn a_shared_name_is_the_process_string_and_a_bad_split_is_no_split() {
        let a = RpcMethod::resolve("pkg.Svc/Shared", Some(7), None, 2048, true);
        let b = RpcMethod::resolve("pkg.Svc/Shared", Some(7), None, 2048, true);
        assert!(matches!(
            a.span_name("grpc"),
            Cow::Borrowed("pkg.Svc/Shared")
        ));
        assert!(std::ptr::eq(a.value.as_str(), b.value.as_str()));
        let owned = resolve("pkg.Svc/Shared", Some(7), None);
        assert!(matches!(owned.span_name("grpc"), Cow::Owned(_)));
        let mut service = Vec::new();
        for split in [Some(99), Some(14), None] {
            let m = resolve("pkg.Svc/Shared", split, None);
            assert_eq!(m.short().as_str(), "pkg.Svc/Shared", "{split:?}");
            m.push_service(&mut service);
        }
        assert!(service.is_empty());
        // A split inside a multi-byte character is no split.
        let m = resolve("é/x", Some(1), None);
        assert_eq!(m.short().as_str(), "é/x");
    }
}
