//! gRPC: status from headers *and* trailers, method names, the server and client instrument, and
//! the client layer. The server side is served by the shared server layer
//! ([`crate::ServerLayer`]), which recognises gRPC requests by their content type.

mod client;
mod events;
mod frames;
mod instrument;
pub mod status;

pub use crate::rpc::KnownRpcMethods;
pub use client::{GrpcClientLayer, GrpcClientService};
pub(crate) use events::MessageTap;
pub use instrument::{GrpcCall, GrpcInstrument, RpcRequestInfo, RpcSide, RpcTarget};

/// Whether a request is gRPC: its content type is `application/grpc`, `application/grpc+…` or
/// binary gRPC-Web (`application/grpc-web`, `application/grpc-web+…`). The base64 text form
/// (`application/grpc-web-text`) is left to the HTTP instrument: its status cannot be read
/// without decoding the body.
pub fn is_grpc(headers: &http::HeaderMap) -> bool {
    is_grpc_content_type(headers.get(http::header::CONTENT_TYPE))
}

/// [`is_grpc`] for the request's first `Content-Type` value.
pub(crate) fn is_grpc_content_type(content_type: Option<&http::HeaderValue>) -> bool {
    content_kind(content_type).is_some()
}

/// Whether a `Content-Type` is gRPC ([`is_grpc`]): `Some(web)` when it is, saying whether it is
/// gRPC-Web (trailers in the body). On bytes: the names compared are ASCII, so no UTF-8 check
/// is needed.
fn content_kind(content_type: Option<&http::HeaderValue>) -> Option<bool> {
    let rest = content_type?
        .as_bytes()
        .trim_ascii()
        .strip_prefix(b"application/grpc")?;
    let (web, rest) = match rest.strip_prefix(b"-web") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    matches!(rest.first(), None | Some(b'+' | b';')).then_some(web)
}

/// The first value of the header `name` (lowercase), found by walking the map: a trailer map or
/// a client's request head holds a few entries, and comparing their names costs less than
/// hashing `name` to look it up.
pub(crate) fn first_named<'a>(
    headers: &'a http::HeaderMap,
    name: &str,
) -> Option<&'a http::HeaderValue> {
    headers
        .iter()
        .find_map(|(n, v)| (n.as_str() == name).then_some(v))
}

/// What a response head says for gRPC, from one pass over its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    /// The response is gRPC (its `Content-Type`, as [`is_grpc`]).
    pub(crate) grpc: bool,
    /// It is gRPC-Web: the trailers come in the body.
    pub(crate) web: bool,
    /// The `grpc-status` of a trailers-only response.
    pub(crate) status: Option<u16>,
}

/// Reads [`ResponseHead`] from `headers`: one walk over a map that holds a few entries is
/// cheaper than hashing two names to look them up.
pub(crate) fn response_head(headers: &http::HeaderMap) -> ResponseHead {
    let (mut content_type, mut grpc_status) = (None, None);
    for (name, value) in headers {
        if name == http::header::CONTENT_TYPE {
            content_type.get_or_insert(value);
        } else if name.as_str() == "grpc-status" {
            grpc_status.get_or_insert(value);
        }
    }
    let kind = content_kind(content_type);
    ResponseHead {
        grpc: kind.is_some(),
        web: kind == Some(true),
        status: grpc_status.and_then(status::from_value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        let mut h = http::HeaderMap::new();
        assert!(!is_grpc(&h));
        for (ct, yes) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc;charset=utf-8", true),
            ("application/grpc-web", true),
            ("application/grpc-web+proto", true),
            ("application/grpc-web-text", false),
            ("application/grpcx", false),
            ("application/json", false),
        ] {
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_grpc(&h), yes, "{ct}");
            let web = yes && ct.starts_with("application/grpc-web");
            let head = response_head(&h);
            assert_eq!((head.grpc, head.web, head.status), (yes, web, None), "{ct}");
            let padded = format!(" {ct} ");
            h.insert(http::header::CONTENT_TYPE, padded.parse().unwrap());
            assert_eq!(is_grpc(&h), yes, "{padded:?}");
        }
        let none = ResponseHead {
            grpc: false,
            web: false,
            status: None,
        };
        assert_eq!(response_head(&http::HeaderMap::new()), none);
    }

    #[test]
    fn a_trailers_only_response_head_has_its_status() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "application/grpc".parse().unwrap(),
        );
        h.insert("grpc-message", "gone".parse().unwrap());
        h.insert("grpc-status", "5".parse().unwrap());
        h.append("grpc-status", "13".parse().unwrap());
        let head = response_head(&h);
        assert_eq!(
            (head.grpc, head.web, head.status),
            (true, false, Some(5)),
            "the first value"
        );
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(response_head(&h).status, Some(status::UNKNOWN));
    }
}
