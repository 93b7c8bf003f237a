//! The RPC duration series: what a finished call's attribute set is made of, looked up in the
//! series cache as it is (borrowed from the call), so no attribute list is built or hashed whole
//! for a call whose series is already bound.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;
use smallvec::SmallVec;

use super::RpcTarget;
use crate::common::bind::{quick_str, same_opt_str, same_str, SeriesKey};

/// A call's duration attributes, gathered on the stack.
pub(crate) type SeriesAttrs = SmallVec<[KeyValue; 8]>;

/// The duration attribute set of one call, borrowed from it (the lookup key).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RpcSeries<'a> {
    /// `rpc.system.name`.
    pub(crate) system: &'static str,
    /// `rpc.method`.
    pub(crate) method: &'a StringValue,
    /// `rpc.response.status_code`.
    pub(crate) status: Option<&'a StringValue>,
    /// `error.type`.
    pub(crate) error: Option<&'a Cow<'static, str>>,
    /// `server.address` / `server.port` (client side only).
    pub(crate) target: Option<&'a RpcTarget>,
}

/// The same set, owned: what the cache keeps beside the bound handle.
#[derive(Debug)]
pub(crate) struct OwnedRpcSeries {
    system: &'static str,
    method: StringValue,
    status: Option<StringValue>,
    error: Option<Cow<'static, str>>,
    target: Option<RpcTarget>,
}

impl RpcSeries<'_> {
    /// The attribute list of this set, in the order the conventions list them.
    pub(crate) fn attributes(&self) -> SeriesAttrs {
        let mut attrs = SeriesAttrs::new();
        attrs.push(KeyValue::new(attr::RPC_SYSTEM_NAME, self.system));
        attrs.push(KeyValue::new(attr::RPC_METHOD, self.method.clone()));
        if let Some(code) = self.status {
            attrs.push(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, code.clone()));
        }
        if let Some(e) = self.error {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, e.clone()));
        }
        if let Some(target) = self.target {
            attrs.push(KeyValue::new(attr::SERVER_ADDRESS, target.host.clone()));
            if let Some(port) = target.port {
                attrs.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
            }
        }
        attrs
    }
}

/// `a == b`, by the pointers first (interned names and static status codes are shared).
fn same_value(a: &StringValue, b: &StringValue) -> bool {
    same_str(a.as_str(), b.as_str())
}

impl SeriesKey for RpcSeries<'_> {
    type Owned = OwnedRpcSeries;
    fn quick_hash<H: Hasher>(&self, state: &mut H) {
        quick_str(self.method.as_str(), state);
        if let Some(code) = self.status {
            quick_str(code.as_str(), state);
        }
        self.error.map(|e| e.len()).hash(state);
        if let Some(target) = self.target {
            quick_str(target.host.as_str(), state);
            target.port.hash(state);
        }
    }
    fn matches(&self, owned: &OwnedRpcSeries) -> bool {
        same_value(self.method, &owned.method)
            && same_str(self.system, owned.system)
            && same_opt_str(
                self.status.map(StringValue::as_str),
                owned.status.as_ref().map(StringValue::as_str),
            )
            && same_opt_str(self.error.map(|e| &**e), owned.error.as_deref())
            && match (self.target, &owned.target) {
                (Some(a), Some(b)) => a.port == b.port && same_value(&a.host, &b.host),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
    fn to_owned_key(&self) -> OwnedRpcSeries {
        OwnedRpcSeries {
            system: self.system,
            method: self.method.clone(),
            status: self.status.cloned(),
            error: self.error.cloned(),
            target: self.target.cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series<'a>(
        method: &'a StringValue,
        status: Option<&'a StringValue>,
        error: Option<&'a Cow<'static, str>>,
        target: Option<&'a RpcTarget>,
    ) -> RpcSeries<'a> {
        RpcSeries {
            system: "grpc",
            method,
            status,
            error,
            target,
        }
    }

    #[test]
    fn a_set_matches_its_own_owned_form_only() {
        let (m, other_m) = (
            StringValue::from("pkg.Svc/Do"),
            StringValue::from("pkg.Svc/Other"),
        );
        let (ok, bad) = (StringValue::from("OK"), StringValue::from("NOT_FOUND"));
        let err = Cow::Borrowed("NOT_FOUND");
        let target = RpcTarget {
            host: "orders".into(),
            port: Some(50051),
        };
        let other_port = RpcTarget {
            host: "orders".into(),
            port: Some(50052),
        };
        let sets = [
            series(&m, Some(&ok), None, None),
            series(&other_m, Some(&ok), None, None),
            series(&m, None, None, None),
            series(&m, Some(&bad), Some(&err), None),
            series(&m, Some(&ok), None, Some(&target)),
            series(&m, Some(&ok), None, Some(&other_port)),
        ];
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate() {
                assert_eq!(a.matches(&b.to_owned_key()), i == j, "{a:?} vs {b:?}");
            }
        }
        // Equal text in another allocation is the same set.
        let copy = StringValue::from(String::from("pkg.Svc/Do"));
        assert!(series(&copy, Some(&ok), None, None).matches(&sets[0].to_owned_key()));
    }

    #[test]
    fn attributes_in_convention_order_each_key_once() {
        let (m, code) = (
            StringValue::from("pkg.Svc/Do"),
            StringValue::from("UNAVAILABLE"),
        );
        let err = Cow::Borrowed("UNAVAILABLE");
        let target = RpcTarget {
            host: "orders".into(),
            port: Some(50051),
        };
        let got: Vec<(String, String)> = series(&m, Some(&code), Some(&err), Some(&target))
            .attributes()
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        let want = [
            ("rpc.system.name", "grpc"),
            ("rpc.method", "pkg.Svc/Do"),
            ("rpc.response.status_code", "UNAVAILABLE"),
            ("error.type", "UNAVAILABLE"),
            ("server.address", "orders"),
            ("server.port", "50051"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
