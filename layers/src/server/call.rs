//! [`ServerCall`]: the call a server layer drives, HTTP or gRPC.

use std::borrow::Cow;

use bytes::Buf;
use http::HeaderMap;
use opentelemetry::Context;

use crate::body::{CallObserver, ResponseObserver};
use crate::grpc::GrpcCall;
use crate::http::server::HttpServerCall;

/// One request in flight on a server layer: an HTTP call or a gRPC call, picked per request by
/// the layer's [`Protocol`](super::Protocol).
#[derive(Debug)]
pub enum ServerCall {
    /// A plain HTTP request.
    Http(HttpServerCall),
    /// A gRPC call (`content-type: application/grpc*`).
    Grpc(Box<GrpcCall>),
}

impl ResponseObserver for ServerCall {
    fn on_response(&mut self, response: &http::response::Parts) {
        match self {
            ServerCall::Http(c) => c.on_response(response),
            ServerCall::Grpc(c) => c.on_response(response),
        }
    }
}

impl CallObserver for ServerCall {
    fn context(&self) -> &Context {
        match self {
            ServerCall::Http(c) => c.context(),
            ServerCall::Grpc(c) => c.context(),
        }
    }
    fn inherits_current(&self) -> bool {
        match self {
            ServerCall::Http(c) => c.inherits_current(),
            ServerCall::Grpc(c) => c.inherits_current(),
        }
    }
    fn on_data<D: Buf>(&mut self, data: &D) {
        match self {
            ServerCall::Http(c) => CallObserver::on_data(c, data),
            ServerCall::Grpc(c) => c.on_data(data),
        }
    }
    fn on_trailers(&mut self, trailers: &HeaderMap) {
        match self {
            ServerCall::Http(c) => CallObserver::on_trailers(c, trailers),
            ServerCall::Grpc(c) => c.on_trailers(trailers),
        }
    }
    fn is_complete(&self) -> bool {
        match self {
            ServerCall::Http(c) => c.is_complete(),
            ServerCall::Grpc(_) => false,
        }
    }
    fn end(self) {
        match self {
            ServerCall::Http(c) => c.end(),
            ServerCall::Grpc(c) => c.end(),
        }
    }
    fn end_with_error(self, error_type: Cow<'static, str>) {
        match self {
            ServerCall::Http(c) => c.end_with_error(error_type),
            ServerCall::Grpc(c) => c.end_with_error(error_type),
        }
    }
    fn end_with_panic(self) {
        match self {
            ServerCall::Http(c) => c.end_with_panic(),
            ServerCall::Grpc(c) => c.end_with_panic(),
        }
    }
}
