//! tarpc on the RPC core: `rpc.system.name = "tarpc"`, the generated method name, tarpc's
//! per-request trace context mapped to OpenTelemetry without loss, deadlines and cancellation
//! as their own `error.type`, server errors by kind.
//!
//! Framework-free: `towerlight-tarpc` translates tarpc's types into [`WireContext`] and the
//! outcomes into [`TarpcCall`]'s methods. tarpc reads and writes its trace context through its
//! own pinned `tracing-opentelemetry` bridge; whenever that version differs from the
//! application's, tarpc makes up span ids (random server-side, a phantom parent client-side).
//! Mapping the ids at the transport instead keeps the caller's real span as the parent.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;

use crate::common::intern::{near, static_name, Near};
use crate::config::Config;
use crate::rpc::{
    deadline_reached, RpcCall, RpcInstrument, RpcOutcome, RpcSide, RpcStart, RpcTarget,
    SystemAttributes,
};

/// `rpc.system.name` for tarpc (a custom value: the enum is open).
const TARPC: &str = "tarpc";
/// `error.type` when the call's deadline passed.
pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";

/// tarpc's trace context as it travels in every request: a 128-bit trace id (0 = none), a
/// 64-bit span id and the sampled bit. No `tracestate`, no baggage (tarpc has no room for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireContext {
    /// The trace id; 0 when the caller had no trace (a client without OpenTelemetry).
    pub trace_id: u128,
    /// The caller's span id.
    pub span_id: u64,
    /// The caller sampled the trace.
    pub sampled: bool,
}

impl WireContext {
    /// The OpenTelemetry parent this context stands for: a remote span context, or nothing
    /// when the trace id or span id is 0.
    pub fn to_parent(self) -> Context {
        let sc = SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(self.span_id),
            if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        );
        if sc.is_valid() {
            Context::new().with_remote_span_context(sc)
        } else {
            Context::new()
        }
    }

    /// The context to send for the span in `cx` (all zeros when there is none).
    pub fn of(cx: &Context) -> WireContext {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return WireContext::default();
        }
        WireContext {
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            sampled: sc.is_sampled(),
        }
    }
}

/// `Service/method` from tarpc's generated request name `Service.method` (the shape of the
/// conventions' fully-qualified `rpc.method`), with its parts.
pub fn method_name(generated: &str) -> (String, Option<(String, String)>) {
    let (name, split) = method_split(generated);
    let parts = split.map(|i| (name[..i].to_owned(), name[i + 1..].to_owned()));
    (name.into_owned(), parts)
}

/// [`method_name`] with the split as the byte of the `/` (no strings of its own for the parts).
fn method_split(generated: &str) -> (Cow<'_, str>, Option<usize>) {
    match generated.split_once('.') {
        Some((service, method)) if !service.is_empty() && !method.is_empty() => (
            Cow::Owned(format!("{service}/{method}")),
            Some(service.len()),
        ),
        _ => (Cow::Borrowed(generated), None),
    }
}

thread_local! {
    /// The thread's last generated names and their `Service/method` form.
    static NEAR_METHODS: RefCell<Near<(&'static str, &'static str, Option<usize>)>> =
        const { RefCell::new(Near::new()) };
}

/// [`method_split`] as process-wide strings, found without joining again. tarpc's method names
/// are the generated code's, never a client's (a request naming another is not decoded), so
/// they are interned (`None` past the interned names' bound: joined per call then).
fn interned_split(generated: &str) -> Option<(&'static str, Option<usize>)> {
    let (_, name, split) = near(
        &NEAR_METHODS,
        |&(kept, _, _)| kept == generated,
        || {
            let (name, split) = method_split(generated);
            let kept = static_name(generated).zip(static_name(&name));
            kept.map_or(("", "", None), |(g, n)| (g, n, split))
        },
        |&(kept, _, _)| !kept.is_empty(),
    );
    (!name.is_empty()).then_some((name, split))
}

/// Per-layer state of the tarpc instrument for one side.
#[derive(Debug)]
pub struct TarpcInstrument {
    rpc: Arc<RpcInstrument>,
}

impl TarpcInstrument {
    /// An instrument for `side`. tarpc's methods form a closed, generated set (an unknown method
    /// does not deserialize), so every name is reported as is.
    pub fn new(config: &Config, side: RpcSide) -> TarpcInstrument {
        TarpcInstrument {
            rpc: Arc::new(RpcInstrument::new(config, TARPC, side).with_closed_methods()),
        }
    }

    /// A server call: its parent is the caller's span from `wire` (none for trace id 0).
    pub fn start_server(
        &self,
        wire: WireContext,
        method: &str,
        deadline: Option<Duration>,
    ) -> TarpcCall {
        self.start(wire.to_parent(), method, deadline, None)
    }

    /// A client call under the current context; send [`TarpcCall::wire`] as the request's
    /// trace context.
    pub fn start_client(
        &self,
        method: &str,
        deadline: Option<Duration>,
        target: Option<RpcTarget>,
    ) -> TarpcCall {
        self.start(Context::current(), method, deadline, target)
    }

    fn start(
        &self,
        parent: Context,
        method: &str,
        deadline: Option<Duration>,
        target: Option<RpcTarget>,
    ) -> TarpcCall {
        let (method, method_split) = match interned_split(method) {
            Some((name, split)) => (Cow::Borrowed(name), split),
            None => method_split(method),
        };
        let rpc = self.rpc.start(RpcStart {
            parent,
            links: None,
            method: &method,
            method_split,
            target,
            attributes: SystemAttributes::NONE,
            extra: Vec::new(),
        });
        TarpcCall {
            rpc,
            deadline: deadline.map(|d| Instant::now() + d),
        }
    }
}

/// One tarpc call in flight; dropped unfinished it is `cancelled` (or `deadline_exceeded` once
/// its deadline has passed).
#[derive(Debug)]
pub struct TarpcCall {
    rpc: RpcCall,
    deadline: Option<Instant>,
}

impl TarpcCall {
    /// The call's context: current while the handler runs.
    pub fn context(&self) -> &Context {
        self.rpc.context()
    }

    /// The trace context to put on the wire for this call.
    pub fn wire(&self) -> WireContext {
        WireContext::of(self.rpc.context())
    }

    /// The handler answered.
    pub fn end_ok(mut self) {
        self.rpc.finish(RpcOutcome {
            handler_ran: true,
            ..RpcOutcome::default()
        });
    }

    /// The call failed with a bounded `error_type` (a `ServerError` kind such as `InvalidInput`,
    /// or the client's `shutdown`, `send`, `channel`…); past the deadline it is
    /// `deadline_exceeded` whatever the transport said.
    pub fn end_with_error(mut self, error_type: impl Into<Cow<'static, str>>) {
        let error_type = if self.past_deadline() {
            Cow::Borrowed(DEADLINE_EXCEEDED)
        } else {
            error_type.into()
        };
        self.rpc.finish(RpcOutcome {
            error_type: Some(error_type),
            ..RpcOutcome::default()
        });
    }

    /// The caller cancelled the call.
    pub fn end_cancelled(self) {
        self.end_with_error(crate::rpc::CANCELLED);
    }

    fn past_deadline(&self) -> bool {
        match (self.deadline, self.rpc.elapsed()) {
            (Some(deadline), Some(elapsed)) => {
                let total = deadline.saturating_duration_since(Instant::now()) + elapsed;
                deadline_reached(elapsed, total)
            }
            _ => false,
        }
    }
}

impl Drop for TarpcCall {
    fn drop(&mut self) {
        if self.rpc.is_open() {
            let error = if std::thread::panicking() {
                crate::rpc::PANIC
            } else if self.past_deadline() {
                DEADLINE_EXCEEDED
            } else {
                crate::rpc::CANCELLED
            };
            self.rpc.finish(RpcOutcome {
                error_type: Some(Cow::Borrowed(error)),
                ..RpcOutcome::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_names_are_the_joined_form_shared() {
        let (a, split) = interned_split("Interned.call").unwrap();
        assert_eq!((a, split), ("Interned/call", Some(8)));
        let (b, _) = interned_split(&String::from("Interned.call")).unwrap();
        assert!(std::ptr::eq(a, b), "one process string");
        assert_eq!(interned_split("plain"), Some(("plain", None)));
        assert_eq!(interned_split(""), None, "nothing to intern");
    }

    #[test]
    fn generated_names_become_service_slash_method() {
        assert_eq!(
            method_name("World.hello"),
            (
                "World/hello".to_owned(),
                Some(("World".to_owned(), "hello".to_owned()))
            )
        );
        assert_eq!(method_name("odd"), ("odd".to_owned(), None));
    }

    #[test]
    fn wire_contexts_map_both_ways_and_zero_is_no_parent() {
        assert!(!WireContext::default()
            .to_parent()
            .span()
            .span_context()
            .is_valid());
        let wire = WireContext {
            trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            span_id: 0x00f0_67aa_0ba9_02b7,
            sampled: true,
        };
        let parent = wire.to_parent();
        let sc = parent.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(WireContext::of(&parent), wire);
        let no_span = WireContext { span_id: 0, ..wire };
        assert!(!no_span.to_parent().span().span_context().is_valid());
    }

    #[cfg(feature = "setup")]
    #[test]
    fn a_sampler_that_reads_no_attributes_is_shown_none_and_the_call_span_ends_with_the_same_set() {
        use crate::common::testing::{assert_blind_span_matches, peeked, peeking_config, value_of};
        let peeked_call = |hint: crate::SamplerHint| {
            let (config, sampler, exporter) = peeking_config(hint);
            let inst = TarpcInstrument::new(&config, RpcSide::Client);
            let target = RpcTarget::from_uri(&"http://orders.internal:50051".parse().unwrap());
            inst.start_client("World.hello", None, target).end_ok();
            peeked(&sampler, &exporter)
        };
        let blind = assert_blind_span_matches(
            peeked_call,
            &[
                "rpc.system.name",
                "rpc.method",
                "server.address",
                "server.port",
            ],
            &[],
            &[
                "rpc.method",
                "rpc.system.name",
                "server.address",
                "server.port",
            ],
        );
        assert_eq!(value_of(&blind, "rpc.method"), "World/hello");
        assert_eq!(value_of(&blind, "server.address"), "orders.internal");
        assert_eq!(value_of(&blind, "server.port"), "50051");
    }
}
