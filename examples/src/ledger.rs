//! The ledger service (tarpc): records a charge with the billing service over HTTP.

use std::net::SocketAddr;

use futures_util::StreamExt;
use tarpc::server::BaseChannel;
use tarpc::tokio_serde::formats::Json;
use tarpc::{client, context};
use towerlight::Config;
use towerlight_tarpc::{ClientTracing, ServerTracing, TracedStub};

/// The ledger's RPC interface.
#[tarpc::service]
pub trait Ledger {
    /// Charges `items` for `order` at billing: the receipt, or why the payment failed.
    async fn charge(order: String, items: u32) -> Result<String, String>;
}

/// The server: an instrumented HTTP client to billing.
#[derive(Clone)]
struct LedgerServer {
    billing: String,
    http: reqwest_middleware::ClientWithMiddleware,
}

impl Ledger for LedgerServer {
    async fn charge(
        self,
        _: context::Context,
        order: String,
        items: u32,
    ) -> Result<String, String> {
        let url = format!("{}/charge/{order}?items={items}", self.billing);
        let response = self
            .http
            .post(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let receipt = response.text().await.map_err(|e| e.to_string())?;
        if status == reqwest::StatusCode::PAYMENT_REQUIRED {
            Err(receipt)
        } else {
            Ok(receipt)
        }
    }
}

/// Starts the ledger on `127.0.0.1:0`, charging at `billing`.
pub async fn start(config: Config, billing: String) -> std::io::Result<SocketAddr> {
    let listener = tarpc::serde_transport::tcp::listen("127.0.0.1:0", Json::default).await?;
    let addr = listener.local_addr();
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(towerlight_reqwest::OtelMiddleware::with_config(
            config.clone(),
        ))
        .build();
    let server = LedgerServer { billing, http };
    let tracing = ServerTracing::new(config);
    tokio::spawn(
        listener
            .filter_map(|r| async { r.ok() })
            .for_each(move |transport| {
                let transport = tracing.transport(transport);
                let in_flight = transport.in_flight();
                let channel = BaseChannel::with_defaults(transport);
                tokio::spawn(
                    towerlight_tarpc::execute(channel, server.clone().serve(), in_flight).for_each(
                        |handler| async {
                            tokio::spawn(handler);
                        },
                    ),
                );
                async {}
            }),
    );
    Ok(addr)
}

/// The instrumented client type.
pub type Client = LedgerClient<TracedStub<client::Channel<LedgerRequest, LedgerResponse>>>;

/// A traced client to the ledger at `addr`.
pub async fn client(addr: SocketAddr, config: Config) -> std::io::Result<Client> {
    let tracing = ClientTracing::new(config);
    let transport = tarpc::serde_transport::tcp::connect(addr, Json::default).await?;
    let channel = client::new(client::Config::default(), tracing.transport(transport)).spawn();
    Ok(LedgerClient::from(tracing.stub(channel)))
}
