//! The pricing service (JSON-RPC over HTTP, jsonrpsee): charges an order through the ledger.

use std::net::SocketAddr;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use towerlight::Config;

/// The JSON-RPC error code for a refused payment (the message is billing's receipt).
pub const PAYMENT_REQUIRED: i32 = -32002;

/// The methods: `charge(order, items)` → the receipt.
fn module(ledger: crate::ledger::Client) -> RpcModule<crate::ledger::Client> {
    let mut module = RpcModule::new(ledger);
    module
        .register_async_method("charge", |params, ledger, _| async move {
            let (order, items): (String, u32) = params.parse()?;
            let charged = ledger
                .charge(tarpc::context::current(), order, items)
                .await
                .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
            charged
                .map_err(|receipt| ErrorObjectOwned::owned(PAYMENT_REQUIRED, receipt, None::<()>))
        })
        .expect("one method");
    module
}

/// Starts the pricing server on `127.0.0.1:0`, charging through `ledger`; stops when the handle
/// is dropped or stopped.
pub async fn start(
    config: Config,
    ledger: crate::ledger::Client,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let module = module(ledger);
    let server = Server::builder()
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(towerlight::ServerLayer::with_config(config.clone()).expose_context(true)),
        )
        .set_rpc_middleware(RpcServiceBuilder::new().layer(
            towerlight_jsonrpsee::ServerLayer::for_methods(config, module.clone()),
        ))
        .build("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    Ok((addr, server.start(module)))
}

/// Why a charge failed.
#[derive(Debug)]
pub enum ChargeError {
    /// Billing refused the payment (its receipt).
    Refused(String),
    /// The call failed.
    Unavailable(String),
}

/// Charges an order through the pricing service: `charge(order, items)`.
pub type Charge = Arc<
    dyn Fn(String, u32) -> Pin<Box<dyn Future<Output = Result<String, ChargeError>> + Send>>
        + Send
        + Sync,
>;

/// A JSON-RPC client to the pricing service at `url`, instrumented with `config` (or untraced
/// with `None`).
pub fn client(url: &str, config: Option<Config>) -> Charge {
    let config = config.unwrap_or_else(|| Config::new().filter(|_| false));
    let uri: http::Uri = url.parse().expect("a valid URL");
    let client = Arc::new(
        HttpClientBuilder::default()
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .layer(towerlight::HttpClientLayer::with_config(config.clone())),
            )
            .set_rpc_middleware(
                RpcServiceBuilder::new()
                    .layer(towerlight_jsonrpsee::ClientLayer::new(config).target(&uri)),
            )
            .build(url)
            .expect("a valid URL"),
    );
    Arc::new(move |order, items| {
        let client = client.clone();
        Box::pin(async move {
            client
                .request::<String, _>("charge", rpc_params![order, items])
                .await
                .map_err(|e| match e {
                    jsonrpsee::core::client::Error::Call(obj) if obj.code() == PAYMENT_REQUIRED => {
                        ChargeError::Refused(obj.message().to_owned())
                    }
                    other => ChargeError::Unavailable(other.to_string()),
                })
        })
    })
}
