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

/// Whether a response is gRPC ([`is_grpc`]) and whether it is gRPC-Web (trailers in the body),
/// from one `Content-Type` lookup.
pub(crate) fn response_kind(headers: &http::HeaderMap) -> (bool, bool) {
    let content_type = headers.get(http::header::CONTENT_TYPE);
    let grpc = is_grpc_content_type(content_type);
    let web = grpc
        && content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim().starts_with("application/grpc-web"));
    (grpc, web)
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
            assert_eq!(response_kind(&h), (yes, web), "{ct}");
        }
        assert_eq!(response_kind(&http::HeaderMap::new()), (false, false));
    }
}
