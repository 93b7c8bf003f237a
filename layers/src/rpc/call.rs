//! [`RpcInstrument`] (per layer) and [`RpcCall`] (per call): the state machine every RPC system
//! drives.

use crate::common::tracer::{push, span_builder, PushSink, SpanSink};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::metrics::{BoundHistogram, Histogram, Meter};
use opentelemetry::trace::{Link, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;
use opentelemetry_semantic_conventions::metric as semconv_metric;
use smallvec::SmallVec;

use crate::common::intern::{near, static_name, Near};

use super::method::{KnownRpcMethods, RpcMethod};
use super::series::{OwnedRpcSeries, RpcSeries};
use super::{RpcSide, RpcTarget};
use crate::common::bind::SeriesCache;
use crate::common::buckets::{DURATION_BUCKETS, OLD_DURATION_BUCKETS_MS};
use crate::common::lazy::Lazy;
use crate::config::Config;

/// The old (pre-1.39) duration metric names, emitted under `rpc/dup`.
const OLD_RPC_SERVER_DURATION: &str = "rpc.server.duration";
const OLD_RPC_CLIENT_DURATION: &str = "rpc.client.duration";

/// The RPC duration histograms of one side.
struct RpcMetrics {
    duration: Histogram<f64>,
    /// The duration series, bound per attribute set.
    series: SeriesCache<BoundHistogram<f64>, OwnedRpcSeries>,
    old_duration: Option<Histogram<f64>>,
}

impl RpcMetrics {
    fn new(meter: &Meter, config: &Config, side: RpcSide) -> RpcMetrics {
        let (name, old_name, word) = match side {
            RpcSide::Server => (
                semconv_metric::RPC_SERVER_CALL_DURATION,
                OLD_RPC_SERVER_DURATION,
                "server",
            ),
            RpcSide::Client => (
                semconv_metric::RPC_CLIENT_CALL_DURATION,
                OLD_RPC_CLIENT_DURATION,
                "client",
            ),
        };
        RpcMetrics {
            series: SeriesCache::new(config.meter_binds()),
            duration: meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(format!("Duration of RPC calls, {word} side."))
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            old_duration: config.semconv.rpc_dup.then(|| {
                meter
                    .f64_histogram(old_name)
                    .with_unit("ms")
                    .with_description(format!("Duration of RPC calls, {word} side (deprecated)."))
                    .with_boundaries(OLD_DURATION_BUCKETS_MS.to_vec())
                    .build()
            }),
        }
    }
}

/// The methods a server has seen a handler answer, so their names can be used in metrics without
/// a configured list. Bounded: past the cap, new names stay `_OTHER`.
struct LearnedMethods {
    /// This set among all (a thread's recent entries name their set).
    id: u64,
    names: std::sync::RwLock<std::collections::HashSet<Box<str>>>,
}

/// Ids of [`LearnedMethods`] sets (0 is none).
static NEXT_LEARNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// The (set, method) pairs this thread last found learned: a set only grows, so a method
    /// once found stays learned, and the set's lock and hash are skipped.
    static NEAR_LEARNED: std::cell::RefCell<Near<(u64, &'static str)>> =
        const { std::cell::RefCell::new(Near::new()) };
}

impl LearnedMethods {
    const CAP: usize = 4096;

    fn new() -> LearnedMethods {
        LearnedMethods {
            id: NEXT_LEARNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            names: std::sync::RwLock::new(std::collections::HashSet::new()),
        }
    }

    /// Whether a handler has already proven `method`.
    fn contains(&self, method: &str) -> bool {
        let id = self.id;
        let (found, _) = near(
            &NEAR_LEARNED,
            |&(set, name)| set == id && name == method,
            || match self.names.read().is_ok_and(|names| names.contains(method)) {
                // A proven name is not client-controlled: interned, it can be kept here.
                true => (id, static_name(method).unwrap_or("")),
                false => (0, ""),
            },
            |&(set, name)| set != 0 && !name.is_empty(),
        );
        found != 0
    }

    /// Whether `method` may be reported by name; learns it first when `handler_ran`.
    fn confirm(&self, method: &str, handler_ran: bool) -> bool {
        let known = self.contains(method);
        if known || !handler_ran {
            return known;
        }
        if let Ok(mut names) = self.names.write() {
            if names.len() < Self::CAP {
                names.insert(method.into());
                return true;
            }
        }
        false
    }
}

/// Per-layer state of one RPC system on one side: the configuration, the known or learned
/// methods, and the tracer and duration histograms (resolved at the first call).
pub struct RpcInstrument {
    system: &'static str,
    side: RpcSide,
    config: Config,
    lazy: Lazy<RpcMetrics>,
    known: Option<KnownRpcMethods>,
    /// Methods proven to exist, when no known-method list is configured (servers only).
    learned: Option<LearnedMethods>,
}

impl std::fmt::Debug for RpcInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcInstrument")
            .field("system", &self.system)
            .field("side", &self.side)
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

/// Everything a system knows when a call starts.
pub(crate) struct RpcStart<'a> {
    pub(crate) parent: Context,
    pub(crate) links: Option<Vec<Link>>,
    /// The method as the caller named it.
    pub(crate) method: &'a str,
    /// Where `method` splits as (service, method), when the system has services: the byte of
    /// the one-byte separator.
    pub(crate) method_split: Option<usize>,
    /// `server.address` / `server.port` (on client metrics too).
    pub(crate) target: Option<RpcTarget>,
    /// The system's own span attributes (peer, ids, metadata): made only when the span records.
    pub(crate) attributes: SystemAttributes<'a>,
    /// Hook attributes: on the span and on every metric point.
    pub(crate) extra: Vec<KeyValue>,
}

/// A system's own span attributes for one call, gathered on the stack (most have two or three).
pub(crate) type StartAttrs = SmallVec<[KeyValue; 4]>;

/// How a system makes its own span attributes for a call: only once the span records (a call
/// metrics only, or unsampled, makes none), and at most `most` of them (the span's attribute
/// `Vec` is sized for them up front).
#[derive(Clone, Copy)]
pub(crate) struct SystemAttributes<'a> {
    pub(crate) most: usize,
    pub(crate) make: &'a dyn Fn(&mut StartAttrs),
}

impl SystemAttributes<'_> {
    /// A system that sets none.
    pub(crate) const NONE: SystemAttributes<'static> = SystemAttributes {
        most: 0,
        make: &|_| {},
    };
}

/// How a call ended, as the system's status policy decided it.
#[derive(Debug, Default)]
pub(crate) struct RpcOutcome {
    /// `rpc.response.status_code` (the status name, the JSON-RPC error code).
    pub(crate) status_code: Option<StringValue>,
    /// `error.type` when the call failed (the span status is then Error).
    pub(crate) error_type: Option<Cow<'static, str>>,
    /// The span status description of a failure (empty when the status code says it all).
    pub(crate) description: Cow<'static, str>,
    /// A handler answered: proves the method exists (when no known list is configured).
    pub(crate) handler_ran: bool,
    /// The system's old names (`rpc/dup`) for the span.
    pub(crate) dup_span: Vec<KeyValue>,
    /// The system's old names (`rpc/dup`) for the old duration metric (bounded values only).
    pub(crate) dup_metric: Vec<KeyValue>,
    /// The call's duration when the system read the clock already (for its deadline): one
    /// reading then serves both.
    pub(crate) elapsed: Option<Duration>,
}

impl RpcInstrument {
    /// An instrument for `system` (`rpc.system.name`) on `side`. A server's known methods come
    /// from [`Config::known_rpc_methods`]; without them it learns the methods handlers prove.
    pub fn new(config: &Config, system: &'static str, side: RpcSide) -> RpcInstrument {
        let build: fn(&Meter, &Config) -> RpcMetrics = match side {
            RpcSide::Server => |meter, config| RpcMetrics::new(meter, config, RpcSide::Server),
            RpcSide::Client => |meter, config| RpcMetrics::new(meter, config, RpcSide::Client),
        };
        let known = match side {
            RpcSide::Server => config.known_rpc_methods.clone(),
            RpcSide::Client => None,
        };
        RpcInstrument {
            system,
            side,
            lazy: Lazy::new(config, build),
            learned: (side == RpcSide::Server && known.is_none()).then(LearnedMethods::new),
            known,
            config: config.clone(),
        }
    }

    /// Use exactly these methods (a server's registry): no learning.
    pub fn with_known_methods(mut self, known: KnownRpcMethods) -> RpcInstrument {
        self.known = Some(known);
        self.learned = None;
        self
    }

    /// The system's methods form a closed set (a request for another method cannot even be
    /// decoded): every name is reported as is, nothing is learned.
    pub fn with_closed_methods(mut self) -> RpcInstrument {
        self.known = None;
        self.learned = None;
        self
    }

    /// Whether the tracer is the no-op one (metrics only): calls then build no span.
    pub(crate) fn is_noop(&self) -> bool {
        self.lazy.tracer().is_noop()
    }

    /// The side this instrument describes.
    pub fn side(&self) -> RpcSide {
        self.side
    }

    /// `rpc.system.name`.
    pub fn system(&self) -> &'static str {
        self.system
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts a call: the span (SERVER or CLIENT) under `start.parent`, with the sampler-visible
    /// attributes at creation and the rest only if it records.
    pub(crate) fn start(self: &Arc<Self>, start: RpcStart<'_>) -> RpcCall {
        let max = self.config.max_value_length;
        // Without a known list, a server reports a method by name only once a handler has
        // proven it: until then the name is client-controlled, so `rpc.method` (set once, at the
        // end) and the span name (the system's until then) wait for the outcome — and the name
        // is not interned.
        let unproven = self
            .learned
            .as_ref()
            .is_some_and(|learned| !learned.contains(start.method));
        let method = RpcMethod::resolve(
            start.method,
            start.method_split,
            self.known.as_ref(),
            max,
            !unproven,
        );
        let provisional = unproven && !method.is_other();
        let started = Instant::now();
        let RpcStart {
            parent,
            links,
            target,
            attributes,
            extra,
            ..
        } = start;
        // A no-op tracer (metrics only) builds no span: the call runs in its parent's context,
        // as an HTTP request does, and the wall clock (which only dates spans) is not read.
        let (cx, recording, started_wall) = match self.is_noop() {
            true => (parent, false, SystemTime::UNIX_EPOCH),
            false => self.start_span(
                parent,
                SpanStart {
                    method: &method,
                    provisional,
                    target: target.as_ref(),
                    links,
                    attributes,
                    extra: &extra,
                },
            ),
        };
        RpcCall {
            inst: self.clone(),
            cx,
            state: Some(Box::new(RpcState {
                start: started,
                start_wall: started_wall,
                method,
                provisional,
                target,
                extra,
                recording,
            })),
        }
    }
}

impl RpcInstrument {
    /// Starts the span under `parent`: the call's context, whether the span records, and the
    /// wall-clock time it started at.
    fn start_span(&self, parent: Context, start: SpanStart<'_>) -> (Context, bool, SystemTime) {
        let SpanStart {
            method,
            provisional,
            target,
            links,
            attributes: system_attributes,
            extra,
        } = start;
        // Sampler-visible attributes at creation, unless the sampler reads none (then only
        // once the span records, as for HTTP); all of them when the span records for sure.
        let at = self.lazy.sampler_hint().at_creation(&parent);
        // The SDK keeps the builder's Vec as the span's own: sized for every attribute the span
        // can end with, adding the rest never grows it.
        let mut attributes =
            Vec::with_capacity(self.span_capacity(system_attributes.most, extra.len()));
        let seen = SamplerSeen {
            system: self.system,
            method: (!provisional).then_some(method),
            target,
        };
        if at.sampler_visible() {
            seen.push_to(&mut attributes);
        }
        let recording_only = RecordingOnly {
            method,
            provisional,
            system: system_attributes,
            extra,
        };
        if at.all() {
            self.recording_attributes(&recording_only, &mut PushSink(&mut attributes));
        }
        let started_wall = SystemTime::now();
        let kind = match self.side {
            RpcSide::Server => SpanKind::Server,
            RpcSide::Client => SpanKind::Client,
        };
        let name = if provisional {
            Cow::Borrowed(self.system)
        } else {
            method.span_name(self.system)
        };
        let builder = span_builder(name, kind, Some(started_wall), attributes, links);
        let mut span = self.lazy.tracer().build_with_context(builder, &parent);
        let recording = opentelemetry::trace::Span::is_recording(&span);
        if recording && !at.all() {
            // Straight into the span, one by one as the SDK takes them: no buffer between.
            let mut more = SpanSink(&mut span);
            if !at.sampler_visible() {
                seen.push_to(&mut more);
            }
            self.recording_attributes(&recording_only, &mut more);
        }
        let cx = crate::propagation::random::context_with(&parent, span);
        (cx, recording, started_wall)
    }

    /// The attributes only a recording span gets: the system's own, the original method name,
    /// the old (`rpc/dup`) names, the hook's.
    fn recording_attributes(&self, call: &RecordingOnly<'_>, out: &mut impl Extend<KeyValue>) {
        let mut system = StartAttrs::new();
        (call.system.make)(&mut system);
        out.extend(system);
        if let Some(original) = &call.method.original {
            push(
                out,
                KeyValue::new(attr::RPC_METHOD_ORIGINAL, original.clone()),
            );
        }
        if self.config.semconv.rpc_dup {
            #[allow(deprecated)]
            push(out, KeyValue::new(attr::RPC_SYSTEM, self.system));
            if !call.provisional {
                call.method.push_service(out);
            }
        }
        out.extend(call.extra.iter().cloned());
    }

    /// The span attribute Vec's capacity for a call with this many system and hook attributes.
    fn span_capacity(&self, system: usize, extra: usize) -> usize {
        let dup = usize::from(self.config.semconv.rpc_dup);
        SAMPLER_ATTRIBUTES + system + extra + END_ATTRIBUTES * (1 + dup)
    }
}

/// What [`RpcInstrument::start_span`] needs of a call being started.
struct SpanStart<'a> {
    method: &'a RpcMethod,
    provisional: bool,
    target: Option<&'a RpcTarget>,
    links: Option<Vec<Link>>,
    attributes: SystemAttributes<'a>,
    extra: &'a [KeyValue],
}

/// What the recording-only attributes of a call are made from.
struct RecordingOnly<'a> {
    method: &'a RpcMethod,
    provisional: bool,
    system: SystemAttributes<'a>,
    extra: &'a [KeyValue],
}

/// What a sampler may read of a call: the system, the method once it is decided, the target.
struct SamplerSeen<'a> {
    system: &'static str,
    method: Option<&'a RpcMethod>,
    target: Option<&'a RpcTarget>,
}

impl SamplerSeen<'_> {
    fn push_to(&self, out: &mut impl Extend<KeyValue>) {
        push(out, KeyValue::new(attr::RPC_SYSTEM_NAME, self.system));
        if let Some(method) = self.method {
            push(out, KeyValue::new(attr::RPC_METHOD, method.value.clone()));
        }
        if let Some(target) = self.target {
            push(
                out,
                KeyValue::new(attr::SERVER_ADDRESS, target.host.clone()),
            );
            if let Some(port) = target.port {
                push(out, KeyValue::new(attr::SERVER_PORT, i64::from(port)));
            }
        }
    }
}

/// The most attributes the sampler sees (system, method, server address and port).
const SAMPLER_ATTRIBUTES: usize = 4;

/// The most a span adds after its start (original method, status code, error type, and the
/// method when it is decided at the end); twice that with the old names (`rpc/dup`).
const END_ATTRIBUTES: usize = 4;

struct RpcState {
    start: Instant,
    start_wall: SystemTime,
    method: RpcMethod,
    /// `rpc.method` is not on the span yet: it is decided at the end.
    provisional: bool,
    target: Option<RpcTarget>,
    extra: Vec<KeyValue>,
    recording: bool,
}

/// One RPC call in flight: owns its span, its metric attributes and its timing. The system's own
/// call type ([`GrpcCall`](crate::grpc::GrpcCall), …) decides the outcome and finishes it;
/// dropped unfinished, the call ends as `cancelled`.
pub struct RpcCall {
    inst: Arc<RpcInstrument>,
    cx: Context,
    state: Option<Box<RpcState>>,
}

impl std::fmt::Debug for RpcCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::body::debug_call(f, "RpcCall", &self.cx, self.state.is_none())
    }
}

impl RpcCall {
    /// A call that records nothing (filtered out): the context still propagates.
    pub(crate) fn passthrough(inst: Arc<RpcInstrument>, cx: Context) -> RpcCall {
        RpcCall {
            inst,
            cx,
            state: None,
        }
    }

    /// The call's context: its span, or the inbound context when filtered out.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The instrument that started the call.
    pub fn instrument(&self) -> &Arc<RpcInstrument> {
        &self.inst
    }

    /// Whether the span records (so attributes are worth computing).
    pub(crate) fn is_recording(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.recording)
    }

    /// Whether the call is still open.
    pub(crate) fn is_open(&self) -> bool {
        self.state.is_some()
    }

    /// Time since the call started.
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        self.state.as_ref().map(|s| s.start.elapsed())
    }

    /// Span attributes learned during the call (set only when the span records).
    pub(crate) fn add_span_attributes(&self, attributes: Vec<KeyValue>) {
        if self.is_recording() && !attributes.is_empty() {
            self.cx.span().set_attributes(attributes);
        }
    }

    /// Hook attributes learned from the response: on the span and on the metric points.
    pub(crate) fn add_extra(&mut self, hooked: Vec<KeyValue>) {
        if hooked.is_empty() {
            return;
        }
        self.add_span_attributes(hooked.clone());
        if let Some(state) = self.state.as_mut() {
            state.extra.extend(hooked);
        }
    }

    /// Ends the call with `outcome`: span status and attributes, then the duration metrics.
    pub(crate) fn finish(&mut self, outcome: RpcOutcome) {
        let Some(state) = self.state.take() else {
            return;
        };
        let elapsed = outcome.elapsed.unwrap_or_else(|| state.start.elapsed());
        let inst = &self.inst;
        let method = inst.decided_method(&state, outcome.handler_ran);
        let span = self.cx.span();
        if state.recording {
            let mut end: SmallVec<[KeyValue; 6]> = SmallVec::new();
            if state.provisional {
                // Set once: every key appears once on a span (the SDK appends, never replaces).
                span.update_name(method.span_name(inst.system));
                end.push(KeyValue::new(attr::RPC_METHOD, method.value.clone()));
                if let Some(original) = &method.original {
                    end.push(KeyValue::new(attr::RPC_METHOD_ORIGINAL, original.clone()));
                }
                if inst.config.semconv.rpc_dup {
                    method.push_service(&mut end);
                }
            }
            if let Some(code) = &outcome.status_code {
                end.push(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, code.clone()));
            }
            if inst.config.semconv.rpc_dup {
                end.extend(outcome.dup_span.iter().cloned());
            }
            if let Some(e) = &outcome.error_type {
                end.push(KeyValue::new(attr::ERROR_TYPE, e.clone()));
            }
            // Drained: the closure the span runs it in then moves a few words, not the list.
            span.set_attributes(end.drain(..));
            if outcome.error_type.is_some() {
                span.set_status(Status::error(outcome.description.clone()));
            }
        }
        inst.lazy
            .tracer()
            .end_call_span(&span, state.start_wall + elapsed);
        inst.record(&state, &method, &outcome, elapsed);
    }
}

impl RpcInstrument {
    /// The method as the metrics may name it: a server without a known list keeps a name only
    /// once a handler has proven it.
    fn decided_method<'s>(&self, state: &'s RpcState, handler_ran: bool) -> Cow<'s, RpcMethod> {
        // Only a name unproven at the start can still be unknown: a set of learned names
        // only grows, so one proven then is proven now (and its lookup is not repeated).
        let unknown_now = self.side == RpcSide::Server
            && state.provisional
            && self
                .learned
                .as_ref()
                .is_some_and(|learned| !learned.confirm(state.method.value.as_str(), handler_ran));
        if unknown_now {
            Cow::Owned(RpcMethod::other(
                state.method.value.as_str(),
                self.config.max_value_length,
            ))
        } else {
            Cow::Borrowed(&state.method)
        }
    }

    fn record(
        &self,
        state: &RpcState,
        method: &RpcMethod,
        outcome: &RpcOutcome,
        elapsed: Duration,
    ) {
        let metrics = self.lazy.metrics();
        let series = RpcSeries {
            system: self.system,
            method: &method.value,
            status: outcome.status_code.as_ref(),
            error: outcome.error_type.as_ref(),
            target: state
                .target
                .as_ref()
                .filter(|_| self.side == RpcSide::Client),
        };
        // Hook attributes are the application's, not known to be bounded: never bound.
        metrics.series.record(
            &metrics.duration,
            elapsed.as_secs_f64(),
            &series,
            |s| {
                let mut attrs = s.attributes();
                attrs.extend(state.extra.iter().cloned());
                attrs
            },
            state.extra.is_empty(),
        );

        if let Some(old) = &metrics.old_duration {
            #[allow(deprecated)]
            let mut old_attrs = vec![KeyValue::new(attr::RPC_SYSTEM, self.system)];
            old_attrs.extend(outcome.dup_metric.iter().cloned());
            if !method.is_other() {
                method.push_service(&mut old_attrs);
                old_attrs.push(KeyValue::new(attr::RPC_METHOD, method.short()));
            }
            old.record(elapsed.as_secs_f64() * 1000.0, &old_attrs);
        }
    }
}

impl Drop for RpcCall {
    fn drop(&mut self) {
        if self.state.is_some() {
            let error = if std::thread::panicking() {
                super::PANIC
            } else {
                super::CANCELLED
            };
            self.finish(RpcOutcome {
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
    fn the_systems_attributes_are_made_only_for_a_span_that_records() {
        use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};
        for (sampler, recorded) in [(Sampler::AlwaysOff, false), (Sampler::AlwaysOn, true)] {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_sampler(sampler)
                .with_simple_exporter(exporter.clone())
                .build();
            let inst = Arc::new(RpcInstrument::new(
                &Config::new().tracer_provider(provider),
                "jsonrpc",
                RpcSide::Server,
            ));
            let made = std::cell::Cell::new(0);
            let make = |out: &mut StartAttrs| {
                made.set(made.get() + 1);
                out.push(KeyValue::new("jsonrpc.request.id", "7"));
            };
            let mut call = inst.start(RpcStart {
                parent: Context::new(),
                links: None,
                method: "add",
                method_split: None,
                target: None,
                attributes: SystemAttributes {
                    most: 1,
                    make: &make,
                },
                extra: Vec::new(),
            });
            call.finish(RpcOutcome::default());
            assert_eq!(made.get(), usize::from(recorded), "{recorded}");
            let spans = exporter.get_finished_spans().unwrap();
            let ids: Vec<_> = spans
                .iter()
                .flat_map(|s| &s.attributes)
                .filter(|kv| kv.key.as_str() == "jsonrpc.request.id")
                .collect();
            assert_eq!(ids.len(), usize::from(recorded));
        }
    }

    #[test]
    fn with_a_noop_tracer_a_call_runs_in_the_callers_span() {
        for side in [RpcSide::Server, RpcSide::Client] {
            crate::common::testing::assert_noop_call_runs_in_the_callers_span(|config| {
                let inst = Arc::new(RpcInstrument::new(config, "jsonrpc", side));
                let mut call = inst.start(RpcStart {
                    parent: Context::current(),
                    links: None,
                    method: "add",
                    method_split: None,
                    target: None,
                    attributes: SystemAttributes::NONE,
                    extra: Vec::new(),
                });
                let cx = call.context().clone();
                call.finish(RpcOutcome::default());
                cx
            });
        }
    }

    #[test]
    fn a_method_is_learned_by_its_own_set_only_and_only_when_a_handler_ran() {
        let (a, b) = (LearnedMethods::new(), LearnedMethods::new());
        assert!(!a.contains("pkg.Svc/Learn"));
        assert!(!a.confirm("pkg.Svc/Learn", false), "no handler: not proven");
        assert!(!a.contains("pkg.Svc/Learn"), "and not remembered");
        assert!(a.confirm("pkg.Svc/Learn", true));
        for _ in 0..2 {
            // The second time from the thread's recent entries.
            assert!(a.contains("pkg.Svc/Learn"));
            assert!(!b.contains("pkg.Svc/Learn"), "another set");
            assert!(!a.contains("pkg.Svc/Lear"));
            assert!(!a.contains("pkg.Svc/Learnt"));
        }
        assert!(a.confirm("pkg.Svc/Learn", false), "proven once is enough");
        let other_thread = std::thread::scope(|s| {
            s.spawn(|| (a.contains("pkg.Svc/Learn"), b.contains("pkg.Svc/Learn")))
                .join()
                .unwrap()
        });
        assert_eq!(other_thread, (true, false));
    }
}
