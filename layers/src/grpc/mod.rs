//! gRPC: status from headers *and* trailers, method names, the server and client instrument, and
//! the client layer. The server side is served by the shared server layer
//! ([`crate::ServerLayer`]), which recognises gRPC requests by their content type.

mod client;
mod frames;
mod instrument;
mod method;
pub mod status;

pub use client::{GrpcClientLayer, GrpcClientService};
pub(crate) use instrument::MessageTap;
pub use instrument::{GrpcCall, GrpcInstrument, RpcRequestInfo, RpcSide, RpcTarget};
pub use method::KnownRpcMethods;

/// Whether a request is gRPC: its content type is `application/grpc` or `application/grpc+…`
/// (gRPC-Web, `application/grpc-web*`, is left to the HTTP instrument).
pub fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.trim();
            ct.strip_prefix("application/grpc").is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
            })
        })
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
            ("application/grpc-web", false),
            ("application/json", false),
        ] {
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_grpc(&h), yes, "{ct}");
        }
    }
}
