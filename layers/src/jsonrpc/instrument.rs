//! [`JsonRpcInstrument`] and [`JsonRpcCall`]: JSON-RPC's rules on top of the RPC core.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::trace::{Link, TraceContextExt};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;

use super::attributes::{JSONRPC, VERSION_2};
use super::meta;
use crate::common::limit::capped;
use crate::config::{Config, PublicEndpoint};
use crate::rpc::{
    KnownRpcMethods, RpcCall, RpcInstrument, RpcOutcome, RpcSide, RpcStart, RpcTarget, StartAttrs,
    SystemAttributes,
};

pub use crate::server::TransportContext;

/// What an instrument needs to know about one JSON-RPC request or notification.
#[derive(Debug, Clone, Copy)]
pub struct JsonRpcRequest<'a> {
    /// The method name, as the caller sent it.
    pub method: &'a str,
    /// The id in its string form; `None` for a notification or a `null` id (the conventions
    /// leave `jsonrpc.request.id` out then).
    pub id: Option<&'a str>,
    /// The raw JSON of `params`, when present (read for `_meta` on servers).
    pub params: Option<&'a str>,
}

/// Per-layer state of the JSON-RPC instrument for one side.
#[derive(Debug)]
pub struct JsonRpcInstrument {
    rpc: Arc<RpcInstrument>,
}

impl JsonRpcInstrument {
    /// An instrument for `side`. A server reports methods by name once a handler has proven them
    /// (or from [`Config::known_rpc_methods`]); [`with_known_methods`](Self::with_known_methods)
    /// gives it the exact set.
    pub fn new(config: &Config, side: RpcSide) -> JsonRpcInstrument {
        JsonRpcInstrument {
            rpc: Arc::new(RpcInstrument::new(config, JSONRPC, side)),
        }
    }

    /// Use exactly these method names (a server's registry): others are `_OTHER`.
    pub fn with_known_methods(self, known: KnownRpcMethods) -> JsonRpcInstrument {
        let rpc = Arc::try_unwrap(self.rpc)
            .map(|rpc| rpc.with_known_methods(known))
            .unwrap_or_else(|_| unreachable!("not shared before the layer is built"));
        JsonRpcInstrument { rpc: Arc::new(rpc) }
    }

    fn config(&self) -> &Config {
        self.rpc.config()
    }

    /// Starts a server call (or notification). The parent is the context in `params._meta` when
    /// it is valid (the transport's span is then linked), else the transport's context: the HTTP
    /// request's span as parent, or — for a WebSocket connection, which outlives its calls — a
    /// new trace linked to the handshake. On a public endpoint `_meta` is not trusted: the call
    /// starts a new trace linked to it.
    pub fn start_server(
        &self,
        request: &JsonRpcRequest<'_>,
        transport: Option<&TransportContext>,
    ) -> JsonRpcCall {
        let from_meta = request
            .params
            .and_then(meta::meta_of)
            .map(|m| meta::extract(&m))
            .filter(|cx| cx.span().span_context().is_valid());
        let (parent, links) = self.server_parent(from_meta, transport);
        self.start(request, parent, links, None)
    }

    fn server_parent(
        &self,
        from_meta: Option<Context>,
        transport: Option<&TransportContext>,
    ) -> (Context, Option<Vec<Link>>) {
        // Made only where it is used: the common case (the HTTP request's span as parent)
        // needs no link.
        let transport_link = || {
            transport
                .map(|t| t.cx.span().span_context().clone())
                .filter(|sc| sc.is_valid())
                .map(Link::with_context)
        };
        match (from_meta, transport) {
            (Some(meta_cx), _) if !matches!(self.config().public_endpoint, PublicEndpoint::No) => {
                let untrusted = Link::with_context(meta_cx.span().span_context().clone());
                let baggage: Baggage = meta_cx
                    .baggage()
                    .iter()
                    .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
                    .collect();
                let links = std::iter::once(untrusted).chain(transport_link()).collect();
                (Context::new().with_baggage(baggage), Some(links))
            }
            (Some(meta_cx), _) => (meta_cx, transport_link().map(|l| vec![l])),
            (None, Some(t)) if t.upgraded => (Context::new(), transport_link().map(|l| vec![l])),
            (None, Some(t)) => (t.cx.clone(), None),
            (None, None) => (Context::current(), None),
        }
    }

    /// Starts a client call under the current context. Inject the call's context into the
    /// request's params with [`inject_meta`](super::inject_meta) when the peer reads `_meta`.
    pub fn start_client(
        &self,
        request: &JsonRpcRequest<'_>,
        target: Option<RpcTarget>,
    ) -> JsonRpcCall {
        self.start(request, Context::current(), None, target)
    }

    fn start(
        &self,
        request: &JsonRpcRequest<'_>,
        parent: Context,
        links: Option<Vec<Link>>,
        target: Option<RpcTarget>,
    ) -> JsonRpcCall {
        let make = |attributes: &mut StartAttrs| self.push_attributes(request, attributes);
        // The version and the id (when the call has one), and their old names under `rpc/dup`.
        let most = (1 + usize::from(request.id.is_some()))
            * (1 + usize::from(self.config().semconv.rpc_dup));
        let attributes = SystemAttributes { most, make: &make };
        let rpc = self.rpc.start(RpcStart {
            parent,
            links,
            method: request.method,
            method_split: None,
            target,
            attributes,
            extra: Vec::new(),
        });
        JsonRpcCall { rpc }
    }

    /// The call's JSON-RPC span attributes: the protocol version and the request id (and their
    /// old names under `rpc/dup`).
    fn push_attributes(&self, request: &JsonRpcRequest<'_>, attributes: &mut StartAttrs) {
        let max = self.config().max_value_length;
        attributes.push(KeyValue::new(attr::JSONRPC_PROTOCOL_VERSION, VERSION_2));
        let id = request.id.map(|id| capped(id, max));
        if self.config().semconv.rpc_dup {
            #[allow(deprecated)]
            attributes.push(KeyValue::new(attr::RPC_JSONRPC_VERSION, VERSION_2));
            if let Some(id) = &id {
                #[allow(deprecated)]
                attributes.push(KeyValue::new(attr::RPC_JSONRPC_REQUEST_ID, id.clone()));
            }
        }
        if let Some(id) = id {
            attributes.push(KeyValue::new(attr::JSONRPC_REQUEST_ID, id));
        }
    }
}

/// One JSON-RPC call (or notification) in flight. End it with the response's outcome; dropped
/// unfinished, it ends as `cancelled`.
#[derive(Debug)]
pub struct JsonRpcCall {
    rpc: RpcCall,
}

impl JsonRpcCall {
    /// The call's context: make it current while the handler (or the client transport) runs.
    pub fn context(&self) -> &Context {
        self.rpc.context()
    }

    /// A result came back (or a notification was handed over).
    pub fn end_ok(mut self) {
        self.rpc.finish(RpcOutcome {
            handler_ran: true,
            ..RpcOutcome::default()
        });
    }

    /// A notification the server accepted without running anything (jsonrpsee's server drops
    /// them): recorded as received, without claiming a handler ran.
    pub fn end_unhandled_notification(mut self) {
        self.rpc.finish(RpcOutcome::default());
    }

    /// An error object came back: every error code is an error; the code is
    /// `rpc.response.status_code` and `error.type`, the message the span status description.
    pub fn end_error(mut self, code: i64, message: &str) {
        let max = self.rpc.instrument().config().max_value_length;
        let code_text = StringValue::from(code.to_string());
        let message = capped(message, max);
        // The old names only under `rpc/dup`: otherwise no Vec is allocated.
        let (dup_span, dup_metric) = match self.rpc.instrument().config().semconv.rpc_dup {
            #[allow(deprecated)]
            true => (
                vec![
                    KeyValue::new(attr::RPC_JSONRPC_ERROR_CODE, code),
                    KeyValue::new(attr::RPC_JSONRPC_ERROR_MESSAGE, message.clone()),
                ],
                vec![KeyValue::new(attr::RPC_JSONRPC_ERROR_CODE, code)],
            ),
            false => (Vec::new(), Vec::new()),
        };
        self.rpc.finish(RpcOutcome {
            status_code: Some(code_text.clone()),
            error_type: Some(Cow::Owned(code_text.as_str().to_owned())),
            description: Cow::Owned(message.as_str().to_owned()),
            handler_ran: proves_method(code),
            dup_span,
            dup_metric,
            ..RpcOutcome::default()
        });
    }

    /// No response: the transport failed (a bounded `error.type` such as `timeout`).
    pub fn end_with_error(mut self, error_type: impl Into<Cow<'static, str>>) {
        self.rpc.finish(RpcOutcome {
            error_type: Some(error_type.into()),
            ..RpcOutcome::default()
        });
    }
}

/// Whether an error response proves that the method exists: its handler (or the parameter
/// parsing in front of it) answered. The reserved codes that routing, parsing and server
/// middleware answer with (`-32700`, `-32600`, `-32601` Method not found, `-32000…-32099`)
/// never do.
fn proves_method(code: i64) -> bool {
    matches!(code, -32602 | -32603) || !(-32768..=-32000).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_handler_answers_prove_a_method() {
        assert!(!proves_method(-32601));
        assert!(!proves_method(-32700));
        assert!(!proves_method(-32600));
        assert!(!proves_method(-32005));
        assert!(proves_method(-32602));
        assert!(proves_method(-32603));
        assert!(proves_method(1));
        assert!(proves_method(-1));
    }
}
