//! The protocol-neutral RPC call: every rule RPC systems share lives here once — span kind and
//! name, `rpc.system.name`, `rpc.method` with `_OTHER` from a known or proven set, the status's
//! effect on `rpc.response.status_code` / `error.type` / span status, one clock for span and
//! `rpc.{server,client}.call.duration`, and the `rpc/dup` names. Each system (gRPC, JSON-RPC,
//! tarpc) reads its own wire format and decides its status through its own policy, then hands
//! the outcome to an [`RpcCall`].

mod call;
mod method;
mod series;

use std::time::Duration;

pub use call::{RpcCall, RpcInstrument};
pub(crate) use call::{RpcOutcome, RpcStart, StartAttrs, SystemAttributes};
pub use method::KnownRpcMethods;

use std::sync::Arc;

use opentelemetry::StringValue;

use crate::common::address::split_host_port;

/// `error.type` when user code panicked.
pub const PANIC: &str = "panic";
/// `error.type` when the call was cancelled (for systems without a status for it).
pub const CANCELLED: &str = "cancelled";

/// Which end of the call an instrument describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcSide {
    /// The server handling the call (span kind SERVER).
    Server,
    /// The client making the call (span kind CLIENT).
    Client,
}

/// The server a client is configured to call (or a server was called as): `server.address` and
/// `server.port`.
#[derive(Debug, Clone)]
pub struct RpcTarget {
    pub(crate) host: StringValue,
    pub(crate) port: Option<u16>,
}

impl RpcTarget {
    /// From an endpoint URI such as `http://orders.internal:50051` (default ports from the
    /// scheme). `None` when the URI has no host.
    pub fn from_uri(uri: &http::Uri) -> Option<RpcTarget> {
        let authority = uri.authority()?.as_str();
        // Never export `user:password@`.
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(host_port)?;
        let default_port = match uri.scheme_str() {
            Some("https" | "wss") => Some(443),
            Some("http" | "ws") => Some(80),
            _ => None,
        };
        Some(RpcTarget {
            host: StringValue::from(Arc::<str>::from(host)),
            port: port.or(default_port),
        })
    }

    /// A host and port as given (a socket address, a configured name).
    pub fn new(host: impl Into<String>, port: Option<u16>) -> RpcTarget {
        RpcTarget {
            host: StringValue::from(host.into()),
            port,
        }
    }
}

/// Whether a call cut (or answered "cancelled") after `elapsed` was cut by its `deadline`.
///
/// Our clock starts after the caller's: the deadline a server reads was the time left when the
/// client sent the request, and transit plus scheduling (several milliseconds on loopback under
/// load) pass before the server's span starts. The client's timer therefore fires, and its reset
/// arrives, a little *before* the server's elapsed time reaches the deadline. A call cut within
/// a slack of 10 % of the deadline (at least 20 ms, at most 100 ms) was cut by it. The floor was
/// 10 ms; forty calls at once on two loaded cores showed a server starting its clock more than
/// that after its client's, so a short deadline's cut read as CANCELLED.
pub(crate) fn deadline_reached(elapsed: Duration, deadline: Duration) -> bool {
    let slack = (deadline / 10).clamp(Duration::from_millis(20), Duration::from_millis(100));
    elapsed + slack >= deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_count_with_a_bounded_slack() {
        let ms = Duration::from_millis;
        assert!(deadline_reached(ms(1), ms(20)));
        assert!(deadline_reached(ms(21), ms(40)));
        assert!(!deadline_reached(ms(19), ms(40)));
        assert!(deadline_reached(ms(900), ms(1000)));
        assert!(!deadline_reached(ms(899), ms(1000)));
        assert!(deadline_reached(ms(9_900), ms(10_000)));
        assert!(!deadline_reached(ms(9_000), ms(10_000)));
        assert!(deadline_reached(ms(30), ms(20)));
    }

    #[test]
    fn targets_from_uris() {
        let t = RpcTarget::from_uri(&"http://user:pw@orders:50051/x".parse().unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("orders", Some(50051)));
        let t = RpcTarget::from_uri(&"https://orders".parse().unwrap()).unwrap();
        assert_eq!(t.port, Some(443));
        assert!(RpcTarget::from_uri(&"/path".parse().unwrap()).is_none());
    }
}
