//! The server side: an `RpcServiceT` middleware over towerlight's JSON-RPC instrument.

use std::future::Future;
use std::sync::Arc;

use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::core::server::{BatchResponseBuilder, MethodResponse, Methods};
use jsonrpsee::types::Request;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::KeyValue;
use towerlight::jsonrpc::{JsonRpcCall, JsonRpcInstrument, JsonRpcRequest, TransportContext};
use towerlight::rpc::{KnownRpcMethods, RpcSide};
use towerlight::Config;

/// jsonrpsee's default `max_response_body_size` (10 MiB), which a batch's responses must fit.
const DEFAULT_MAX_RESPONSE_BODY_SIZE: usize = 10 * 1024 * 1024;

/// A jsonrpsee RPC middleware layer (`RpcServiceBuilder::new().layer(..)`): one SERVER span and
/// one `rpc.server.call.duration` point per call, batch entry and notification.
///
/// Built with [`ServerLayer::for_methods`] from the server's `Methods` (or `RpcModule`), it
/// reports `rpc.method` exactly for the registered methods and `_OTHER` for anything else, with
/// no configuration. Put towerlight's HTTP layer in front
/// (`set_http_middleware(ServiceBuilder::new().layer(towerlight::ServerLayer::new().expose_context(true)))`)
/// and calls over HTTP become children of the HTTP request's span, calls on a WebSocket link to
/// the handshake, and batches are counted on the HTTP span.
#[derive(Debug, Clone)]
pub struct ServerLayer {
    inst: Arc<JsonRpcInstrument>,
    max_response_body_size: usize,
}

impl ServerLayer {
    /// With `config`, learning methods as handlers prove them (prefer [`for_methods`](Self::for_methods)).
    pub fn new(config: Config) -> ServerLayer {
        ServerLayer {
            inst: Arc::new(JsonRpcInstrument::new(&config, RpcSide::Server)),
            max_response_body_size: DEFAULT_MAX_RESPONSE_BODY_SIZE,
        }
    }

    /// With `config` and the server's registered methods as the known set.
    pub fn for_methods(config: Config, methods: impl Into<Methods>) -> ServerLayer {
        let methods: Methods = methods.into();
        let known = KnownRpcMethods::new(methods.method_names());
        ServerLayer {
            inst: Arc::new(
                JsonRpcInstrument::new(&config, RpcSide::Server).with_known_methods(known),
            ),
            max_response_body_size: DEFAULT_MAX_RESPONSE_BODY_SIZE,
        }
    }

    /// The server's `max_response_body_size`, when not jsonrpsee's default: a batch's responses
    /// are collected under the same limit the server applies.
    pub fn max_response_body_size(mut self, bytes: u32) -> ServerLayer {
        self.max_response_body_size = bytes as usize;
        self
    }
}

impl<S> tower::Layer<S> for ServerLayer {
    type Service = ServerTracing<S>;

    fn layer(&self, inner: S) -> ServerTracing<S> {
        ServerTracing {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware service [`ServerLayer`] builds.
#[derive(Debug, Clone)]
pub struct ServerTracing<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S> ServerTracing<S> {
    fn start(
        &self,
        method: &str,
        id: Option<&str>,
        params: Option<&str>,
        ext: &http::Extensions,
    ) -> JsonRpcCall {
        let request = JsonRpcRequest { method, id, params };
        self.layer
            .inst
            .start_server(&request, ext.get::<TransportContext>())
    }
}

/// Ends `call` with what `response` says.
fn finish(call: JsonRpcCall, response: &MethodResponse) {
    if response.is_success() {
        return call.end_ok();
    }
    match response.as_error_code() {
        Some(code) => {
            let message = error_message(response.as_json().get()).unwrap_or_default();
            call.end_error(i64::from(code), &message);
        }
        None => call.end_ok(),
    }
}

/// The message of an error response (`{"error":{"code":…,"message":…}}`), read only on errors.
fn error_message(json: &str) -> Option<String> {
    let response: serde_json::Value = serde_json::from_str(json).ok()?;
    response["error"]["message"].as_str().map(str::to_owned)
}

impl<S> RpcServiceT for ServerTracing<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let params = request.params.as_ref().map(|p| p.get());
        let call = crate::with_id_text(&request.id, |id| {
            self.start(&request.method, id, params, request.extensions())
        });
        let cx = call.context().clone();
        // Synchronous methods run inside `call` itself, before the future is polled.
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(request)
        };
        async move {
            let response = inner.with_context(cx).await;
            finish(call, &response);
            response
        }
    }

    /// jsonrpsee's own `batch` calls the *root's* `call` for each entry, bypassing this
    /// middleware (its documentation says so): the entries are run here, in order, through
    /// [`Self::call`] and [`Self::notification`], and the responses collected the way the root
    /// does, under the same size limit.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let size = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        if let Some(transport) = batch.extensions().get::<TransportContext>() {
            if !transport.upgraded {
                transport
                    .cx
                    .span()
                    .set_attribute(KeyValue::new(towerlight::jsonrpc::BATCH_SIZE, size));
            }
        }
        let service = self.clone();
        async move {
            let mut responses =
                BatchResponseBuilder::new_with_limit(service.layer.max_response_body_size);
            let mut got_notification = false;
            for entry in batch.into_iter() {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => service.call(request).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        service.notification(n).await;
                        continue;
                    }
                    Err(err) => {
                        let (err, id) = err.into_parts();
                        MethodResponse::error(id, err)
                    }
                };
                if let Err(too_large) = responses.append(response) {
                    return too_large;
                }
            }
            if responses.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(responses.finish())
            }
        }
    }

    /// A notification: jsonrpsee's server runs no handler for it and answers nothing, so the
    /// span records the notification as received, without a status and without claiming that a
    /// handler ran.
    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        let params = n.params().as_ref().map(|p| p.get());
        let call = self.start(n.method_name(), None, params, n.extensions());
        let cx = call.context().clone();
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.notification(n)
        };
        async move {
            let response = inner.with_context(cx).await;
            call.end_unhandled_notification();
            response
        }
    }
}
