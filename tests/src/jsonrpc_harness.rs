//! A jsonrpsee server (HTTP and WebSocket on one port) instrumented the way the
//! towerlight-jsonrpsee documentation says, and an instrumented jsonrpsee HTTP client.

use std::net::SocketAddr;

use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::RpcModule;
use towerlight::Config;

/// The test methods: `add` (two numbers), `fail` (error -32001 "out of stock"), `context`
/// (describes the context current in the handler).
pub fn module() -> RpcModule<()> {
    let mut module = RpcModule::new(());
    module
        .register_method("add", |params, _, _| {
            let (a, b): (i64, i64) = params.parse()?;
            Ok::<_, ErrorObjectOwned>(a + b)
        })
        .unwrap();
    module
        .register_method("fail", |_, _, _| {
            Err::<(), _>(ErrorObject::owned(-32001, "out of stock", None::<()>))
        })
        .unwrap();
    module
        .register_method("context", |_, _, _| crate::describe_current_context())
        .unwrap();
    module
}

/// A running server; stopped when dropped.
pub struct JsonRpcServer {
    /// Where it listens (HTTP and WebSocket).
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl JsonRpcServer {
    /// `http://addr`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://addr`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

impl Drop for JsonRpcServer {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

/// Serves [`module`] with towerlight's HTTP layer (exposing its context) in front of the
/// JSON-RPC middleware built from the module's methods.
pub async fn serve_jsonrpc(config: Config) -> JsonRpcServer {
    let module = module();
    let rpc = RpcServiceBuilder::new().layer(towerlight_jsonrpsee::ServerLayer::for_methods(
        config.clone(),
        module.clone(),
    ));
    let http = tower::ServiceBuilder::new()
        .layer(towerlight::ServerLayer::with_config(config).expose_context(true));
    let server = Server::builder()
        .set_http_middleware(http)
        .set_rpc_middleware(rpc)
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    JsonRpcServer {
        addr,
        handle: server.start(module),
    }
}
