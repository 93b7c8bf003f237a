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
    let ct = content_type.and_then(|v| v.to_str().ok()).map(str::trim);
    ct.is_some_and(|ct| {
        let rest = ct.strip_prefix("application/grpc");
        let rest = rest.map(|r| r.strip_prefix("-web").unwrap_or(r));
        rest.is_some_and(|r| r.is_empty() || r.starts_with('+') || r.starts_with(';'))
    })
}

/// Whether a gRPC response ([`is_grpc`]) is gRPC-Web, whose trailers travel in the body.
pub(crate) fn is_grpc_web(headers: &http::HeaderMap) -> bool {
    content_type(headers).is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

fn content_type(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
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
        }
    }
}
