//! The client side: an `RpcServiceT` middleware over towerlight's JSON-RPC instrument.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use jsonrpsee::core::client::{
    Error, MiddlewareBatchResponse, MiddlewareMethodResponse, MiddlewareNotifResponse,
};
use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::types::{Id, Request};
use opentelemetry::context::FutureExt as _;
use serde_json::value::RawValue;
use towerlight::jsonrpc::{inject_meta, JsonRpcCall, JsonRpcInstrument, JsonRpcRequest};
use towerlight::rpc::{RpcSide, RpcTarget};
use towerlight::Config;

/// A jsonrpsee client RPC middleware layer (`RpcServiceBuilder::new().layer(..)` on
/// `HttpClientBuilder` / `WsClientBuilder::set_rpc_middleware`): one CLIENT span and one
/// `rpc.client.call.duration` point per call and batch entry, ending at the response.
///
/// Over HTTP, add towerlight's HTTP client layer (`set_http_middleware`) and the context
/// travels in the headers, the HTTP span a child of the call's. To carry it inside the message
/// as well — the only way over a WebSocket — turn on [`ClientLayer::inject_meta`]: only for
/// servers that read `params._meta` (an ordinary server rejects the unexpected parameter).
#[derive(Debug, Clone)]
pub struct ClientLayer {
    inst: Arc<JsonRpcInstrument>,
    target: Option<RpcTarget>,
    inject_meta: bool,
}

impl ClientLayer {
    /// With `config`.
    pub fn new(config: Config) -> ClientLayer {
        ClientLayer {
            inst: Arc::new(JsonRpcInstrument::new(&config, RpcSide::Client)),
            target: None,
            inject_meta: false,
        }
    }

    /// The server the client talks to, for `server.address` / `server.port`
    /// (`ClientLayer::new(c).target(&"http://node:8545".parse()?)`).
    pub fn target(mut self, uri: &http::Uri) -> ClientLayer {
        self.target = RpcTarget::from_uri(uri);
        self
    }

    /// Write the call's context into `params._meta` (`traceparent`, `tracestate`, `baggage`)
    /// of object params. Off by default: a server that does not expect `_meta` answers
    /// `Invalid params`.
    pub fn inject_meta(mut self, on: bool) -> ClientLayer {
        self.inject_meta = on;
        self
    }
}

impl<S> tower::Layer<S> for ClientLayer {
    type Service = ClientTracing<S>;

    fn layer(&self, inner: S) -> ClientTracing<S> {
        ClientTracing {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware service [`ClientLayer`] builds.
#[derive(Debug, Clone)]
pub struct ClientTracing<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S> ClientTracing<S> {
    fn start(&self, method: &str, id: &Id<'_>) -> JsonRpcCall {
        crate::with_id_text(id, |id| {
            let request = JsonRpcRequest {
                method,
                id,
                params: None,
            };
            self.layer
                .inst
                .start_client(&request, self.layer.target.clone())
        })
    }

    /// The params with `_meta` written in, when configured and the params are an object.
    fn with_meta(&self, call: &JsonRpcCall, params: Option<&RawValue>) -> Option<Box<RawValue>> {
        if !self.layer.inject_meta {
            return None;
        }
        let mut value: serde_json::Value = serde_json::from_str(params?.get()).ok()?;
        if !inject_meta(call.context(), &mut value) {
            return None;
        }
        serde_json::value::to_raw_value(&value).ok()
    }
}

/// A bounded `error.type` for jsonrpsee's client errors.
fn error_type(err: &Error) -> &'static str {
    match err {
        Error::Call(_) => "call_error",
        Error::Transport(_) => "transport_error",
        Error::RestartNeeded(_) => "restart_needed",
        Error::ParseError(_) => "parse_error",
        Error::RequestTimeout => "timeout",
        _ => "_OTHER",
    }
}

/// Ends `call` with one response: a result, an error object, or a client error.
fn finish(call: JsonRpcCall, response: &Result<MiddlewareMethodResponse, Error>) {
    match response {
        Ok(rp) => end_with(call, rp.as_error().map(|e| (e.code(), e.message()))),
        Err(e) => call.end_with_error(error_type(e)),
    }
}

fn end_with(call: JsonRpcCall, error: Option<(i32, &str)>) {
    match error {
        Some((code, message)) => call.end_error(i64::from(code), message),
        None => call.end_ok(),
    }
}

impl<S> RpcServiceT for ClientTracing<S>
where
    S: RpcServiceT<
            MethodResponse = Result<MiddlewareMethodResponse, Error>,
            BatchResponse = Result<MiddlewareBatchResponse, Error>,
            NotificationResponse = Result<MiddlewareNotifResponse, Error>,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = S::MethodResponse;
    type BatchResponse = S::BatchResponse;
    type NotificationResponse = S::NotificationResponse;

    fn call<'a>(
        &self,
        mut request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let call = self.start(&request.method, &request.id);
        if let Some(params) = self.with_meta(&call, request.params.as_deref()) {
            request.params = Some(Cow::Owned(params));
        }
        let cx = call.context().clone();
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

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let mut calls = Vec::new();
        for entry in batch.iter_mut().flatten() {
            let call = self.start(entry.method_name(), &entry_id(entry));
            if let Some(params) = self.with_meta(&call, entry.params().map(|p| &**p)) {
                entry.set_params(Some(params));
            }
            calls.push((entry_id(entry).into_owned(), call));
        }
        let inner = self.inner.batch(batch);
        async move {
            let response = inner.await;
            match &response {
                Ok(responses) => {
                    for (id, call) in calls {
                        let rp = responses.iter().find(|rp| rp.id() == &id);
                        match rp {
                            Some(rp) => {
                                end_with(call, rp.as_error().map(|e| (e.code(), e.message())))
                            }
                            // A notification in the batch: handed over, no answer expected.
                            None if id == Id::Null => call.end_ok(),
                            None => call.end_with_error("missing_response"),
                        }
                    }
                }
                Err(e) => calls
                    .into_iter()
                    .for_each(|(_, call)| call.end_with_error(error_type(e))),
            }
            response
        }
    }

    fn notification<'a>(
        &self,
        mut n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let call = self.start(n.method_name(), &Id::Null);
        if let Some(params) = self.with_meta(&call, n.params.as_deref()) {
            n.params = Some(Cow::Owned(params));
        }
        let cx = call.context().clone();
        let inner = self.inner.notification(n);
        async move {
            let response = inner.with_context(cx).await;
            match &response {
                Ok(_) => call.end_ok(),
                Err(e) => call.end_with_error(error_type(e)),
            }
            response
        }
    }
}

/// A batch entry's id (`null` for a notification).
fn entry_id<'a>(entry: &BatchEntry<'a>) -> Id<'a> {
    match entry {
        BatchEntry::Call(request) => request.id.clone(),
        BatchEntry::Notification(_) => Id::Null,
    }
}
