#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

use std::net::SocketAddr;

use prost::Message;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use towerlight::body::{ByteCounter, CountingBody, RequestBodyMode};
use towerlight::{Config, GrpcClientLayer, KnownRpcMethods, Propagator, Protocol, ServerLayer};

/// The towerlight gRPC server layer for `tonic::transport::Server::builder().layer(..)`, with the
/// default [`Config`].
pub fn server() -> ServerLayer<TonicBody> {
    server_with(Config::new())
}

/// The server layer with your [`Config`] (for example with
/// [`Config::known_rpc_methods`] from [`known_methods_from_descriptor`]).
pub fn server_with(config: Config) -> ServerLayer<TonicBody> {
    ServerLayer::for_protocol(config, Protocol::Grpc)
        .peer_from(tcp_peer)
        .body_mode::<TonicBody>()
}

/// The towerlight gRPC client layer for a tonic `Channel`, with the default [`Config`].
pub fn client() -> GrpcClientLayer<TonicBody> {
    client_with(Config::new())
}

/// The client layer with your [`Config`].
pub fn client_with(config: Config) -> GrpcClientLayer<TonicBody> {
    GrpcClientLayer::with_config(config).body_mode::<TonicBody>()
}

/// The client layer for a channel to `endpoint` (`Endpoint::uri()`), so spans and metrics carry
/// `server.address` / `server.port` of the configured target.
///
/// ```
/// let endpoint = tonic::transport::Endpoint::from_static("http://orders.internal:50051");
/// let layer = towerlight_tonic::client_for(endpoint.uri(), towerlight::Config::new());
/// # let _ = layer;
/// ```
pub fn client_for(endpoint: &http::Uri, config: Config) -> GrpcClientLayer<TonicBody> {
    client_with(config).target(endpoint)
}

fn tcp_peer(parts: &http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
}

/// Request-body mode for tonic: the service always gets a [`tonic::body::Body`]; it is wrapped
/// only when something needs to read it (message events).
#[derive(Debug, Clone, Copy, Default)]
pub struct TonicBody;

impl RequestBodyMode<Body> for TonicBody {
    type Body = Body;

    fn wrap(body: Body, counter: Option<ByteCounter>) -> Body {
        match counter {
            None => body,
            Some(counter) => Body::new(CountingBody::new(body, counter)),
        }
    }

    fn counts() -> bool {
        true
    }
}

/// Every method of every service in an encoded `FileDescriptorSet` (what
/// `tonic_prost_build` writes with `file_descriptor_set_path`, and what `tonic-reflection`
/// serves), as `package.Service/Method`.
///
/// ```
/// let none = towerlight_tonic::known_methods_from_descriptor(&[]).unwrap();
/// assert!(!none.contains("pkg.Svc/Do"));
/// ```
pub fn known_methods_from_descriptor(
    encoded: &[u8],
) -> Result<KnownRpcMethods, prost::DecodeError> {
    let set = prost_types::FileDescriptorSet::decode(encoded)?;
    let mut names = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            let qualified = if package.is_empty() {
                service.name().to_owned()
            } else {
                format!("{package}.{}", service.name())
            };
            for method in &service.method {
                names.push(format!("{qualified}/{}", method.name()));
            }
        }
    }
    Ok(KnownRpcMethods::new(names))
}

/// A tonic interceptor that only injects the current OpenTelemetry context into the request
/// metadata (no client span), for clients wired with `with_interceptor`.
#[derive(Debug, Clone, Default)]
pub struct ContextInjector {
    propagator: Propagator,
}

impl ContextInjector {
    /// Injects with the propagator `OTEL_PROPAGATORS` names (W3C when unset or invalid).
    pub fn new() -> ContextInjector {
        ContextInjector {
            propagator: Propagator::from_env().unwrap_or_else(|_| Propagator::w3c()),
        }
    }

    /// Injects with this propagator.
    pub fn with_propagator(propagator: Propagator) -> ContextInjector {
        ContextInjector { propagator }
    }
}

impl tonic::service::Interceptor for ContextInjector {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        self.propagator
            .inject(&opentelemetry::Context::current(), &mut headers);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(request)
    }
}
