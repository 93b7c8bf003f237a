//! [`WsInstrument`] (per layer) and [`WsSession`] (per connection).

use crate::common::tracer::span_builder;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;

use super::attributes as names;
use super::messages::MessageSpan;
use super::rules::{close_error_type, CloseInitiator, Direction, MessageKind, ABNORMAL};
use crate::common::bind::FixedCounter;
use crate::common::buckets::DURATION_BUCKETS;
use crate::common::lazy::Lazy;
use crate::common::limit::capped;
use crate::config::Config;

/// Pings waiting for their pong, per session: a peer that never answers cannot grow this.
const MAX_PENDING_PINGS: usize = 16;

/// Message sizes (By): powers of four up to 64 MiB.
const SIZE_BUCKETS: [f64; 14] = [
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];

/// Which end of the connection an instrument describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsSide {
    /// The server that accepted the upgrade.
    Server,
    /// The client that asked for it.
    Client,
}

struct WsMetrics {
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    messages: Counter<u64>,
    size: Option<Histogram<u64>>,
    ping: Option<Histogram<f64>>,
    /// Whether the meter binds for real (`common::bind`).
    binds: bool,
}

impl WsMetrics {
    fn new(meter: &Meter, config: &Config, side: WsSide) -> WsMetrics {
        let server = side == WsSide::Server;
        let pick = |s: &'static str, c: &'static str| if server { s } else { c };
        WsMetrics {
            duration: meter
                .f64_histogram(pick(
                    names::SERVER_SESSION_DURATION,
                    names::CLIENT_SESSION_DURATION,
                ))
                .with_unit("s")
                .with_description("Duration of WebSocket sessions, from the upgrade to the close.")
                .with_boundaries(names::SESSION_BUCKETS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(pick(
                    names::SERVER_ACTIVE_SESSIONS,
                    names::CLIENT_ACTIVE_SESSIONS,
                ))
                .with_unit("{session}")
                .with_description("Number of open WebSocket sessions.")
                .build(),
            messages: meter
                .u64_counter(pick(names::SERVER_MESSAGES, names::CLIENT_MESSAGES))
                .with_unit("{message}")
                .with_description("WebSocket messages, by direction and type.")
                .build(),
            size: config.websocket_opt_in_metrics.then(|| {
                meter
                    .u64_histogram(pick(names::SERVER_MESSAGE_SIZE, names::CLIENT_MESSAGE_SIZE))
                    .with_unit("By")
                    .with_description("Size of WebSocket message payloads.")
                    .with_boundaries(SIZE_BUCKETS.to_vec())
                    .build()
            }),
            ping: config.websocket_opt_in_metrics.then(|| {
                meter
                    .f64_histogram(pick(
                        names::SERVER_PING_DURATION,
                        names::CLIENT_PING_DURATION,
                    ))
                    .with_unit("s")
                    .with_description("Time from a WebSocket ping to its pong.")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build()
            }),
            binds: config.meter_binds(),
        }
    }
}

/// Per-layer state of the WebSocket instrument for one side.
pub struct WsInstrument {
    side: WsSide,
    config: Config,
    lazy: Lazy<WsMetrics>,
}

impl std::fmt::Debug for WsInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsInstrument")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

/// What an adapter captured at the handshake, handed to the session.
#[derive(Debug, Clone)]
pub struct WsHandshake {
    /// The instrument the session reports to.
    pub instrument: Arc<WsInstrument>,
    /// The handshake request's context (its span ended at the `101`).
    pub cx: Context,
    /// The matched route of the handshake request, when known.
    pub route: Option<Arc<str>>,
}

impl WsHandshake {
    /// Starts the session this handshake opened.
    pub fn start(&self) -> WsSession {
        self.instrument.start(&self.cx, self.route.clone())
    }
}

impl WsInstrument {
    /// An instrument for `side` with `config` (its WebSocket options: session spans, opt-in
    /// metrics).
    pub fn new(config: &Config, side: WsSide) -> WsInstrument {
        let build: fn(&Meter, &Config) -> WsMetrics = match side {
            WsSide::Server => |meter, config| WsMetrics::new(meter, config, WsSide::Server),
            WsSide::Client => |meter, config| WsMetrics::new(meter, config, WsSide::Client),
        };
        WsInstrument {
            side,
            lazy: Lazy::new(config, build),
            config: config.clone(),
        }
    }

    /// Starts a session opened by the handshake in `handshake` on `route`: counts it as
    /// active and, with session spans on, starts an INTERNAL span under the handshake.
    pub fn start(self: &Arc<Self>, handshake: &Context, route: Option<Arc<str>>) -> WsSession {
        let route_attr = route.map(|r| KeyValue::new(attr::HTTP_ROUTE, StringValue::from(r)));
        let base: Vec<KeyValue> = route_attr.iter().cloned().collect();
        self.lazy.metrics().active.add(1, &base);
        let started = Instant::now();
        let started_wall = SystemTime::now();
        // A no-op tracer (metrics only) builds no span of ours: the session runs in the
        // handshake's context, whose span is not ours to end.
        let spanned = self.config.websocket_session_spans && !self.lazy.tracer().is_noop();
        let cx = if spanned {
            let name: Cow<'static, str> = match &route_attr {
                Some(kv) => Cow::Owned(kv.value.as_str().into_owned()),
                None => Cow::Borrowed("websocket"),
            };
            let builder = span_builder(
                name,
                SpanKind::Internal,
                Some(started_wall),
                base.clone(),
                None,
            );
            let span = self.lazy.tracer().build_with_context(builder, handshake);
            handshake.with_span(span)
        } else {
            handshake.clone()
        };
        WsSession {
            inst: self.clone(),
            cx,
            spanned,
            started,
            started_wall,
            base,
            counts: Counts::default(),
            messages: MessageSeries::default(),
            close: None,
            error: None,
            pings: VecDeque::new(),
            data_messages: [0, 0],
            processing: None,
            ended: false,
        }
    }
}

/// The message counter's series per (direction, type), made on a cell's first message (bound
/// when the provider binds): later messages add their point without building an attribute list.
#[derive(Default)]
struct MessageSeries([[Option<FixedCounter>; 5]; 2]);

impl MessageSeries {
    fn get(
        &mut self,
        metrics: &WsMetrics,
        base: &[KeyValue],
        direction: Direction,
        kind: MessageKind,
    ) -> &FixedCounter {
        let cell = &mut self.0[usize::from(direction == Direction::Transmit)][kind.index()];
        cell.get_or_insert_with(|| {
            let attrs = message_attributes(base, direction, kind);
            FixedCounter::new(
                &metrics.messages,
                metrics.size.as_ref(),
                attrs,
                metrics.binds,
            )
        })
    }
}

/// `base` plus the direction and the message type.
fn message_attributes(
    base: &[KeyValue],
    direction: Direction,
    kind: MessageKind,
) -> Box<[KeyValue]> {
    let mut attrs = Vec::with_capacity(base.len() + 2);
    attrs.extend(base.iter().cloned());
    attrs.push(KeyValue::new(
        attr::NETWORK_IO_DIRECTION,
        direction.as_str(),
    ));
    attrs.push(KeyValue::new(names::MESSAGE_TYPE, kind.as_str()));
    attrs.into_boxed_slice()
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    received: i64,
    sent: i64,
    bytes_received: i64,
    bytes_sent: i64,
}

/// One WebSocket session: feed it the session's events; [`WsSession::end`] (or `Drop`) closes
/// it — abnormally (`1006`) when no close frame went either way.
pub struct WsSession {
    inst: Arc<WsInstrument>,
    cx: Context,
    spanned: bool,
    started: Instant,
    started_wall: SystemTime,
    /// `http.route`, when known: on every metric point.
    base: Vec<KeyValue>,
    counts: Counts,
    messages: MessageSeries,
    close: Option<(u16, StringValue, CloseInitiator)>,
    /// A protocol failure seen by the adapter (bounded): wins over the close code.
    error: Option<&'static str>,
    pings: VecDeque<(Vec<u8>, Instant)>,
    /// Data messages seen per direction (receive, transmit), for the message span budget.
    data_messages: [u64; 2],
    /// The span of the message being processed (received, not yet followed by another).
    processing: Option<Context>,
    ended: bool,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession")
            .field("counts", &self.counts)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WsSession {
    /// The session's context: its span (with session spans on) or the handshake's. Make it
    /// current in the session task, so logs and outgoing calls carry the handshake's trace.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// A message went by: counted (and sized, opt-in) by direction and type.
    pub fn on_message(&mut self, direction: Direction, kind: MessageKind, len: usize) {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        match direction {
            Direction::Receive => {
                self.counts.received += 1;
                self.counts.bytes_received += len;
            }
            Direction::Transmit => {
                self.counts.sent += 1;
                self.counts.bytes_sent += len;
            }
        }
        let metrics = self.inst.lazy.metrics();
        let series = self.messages.get(metrics, &self.base, direction, kind);
        series.add(&metrics.messages, 1);
        if let Some(size) = &metrics.size {
            series.record(size, len.max(0) as u64);
        }
        if matches!(kind, MessageKind::Text | MessageKind::Binary) {
            self.message_span(direction, kind, len);
        }
    }

    /// The context of the received message being processed (with message spans on): make it
    /// current while handling the message, so its work nests under the message's span.
    pub fn message_context(&self) -> Option<&Context> {
        self.processing.as_ref()
    }

    fn message_span(&mut self, direction: Direction, kind: MessageKind, len: i64) {
        let Some(options) = self.inst.config.websocket_message_spans else {
            return;
        };
        if self.inst.lazy.tracer().is_noop() {
            return;
        }
        let index = usize::from(direction == Direction::Transmit);
        self.data_messages[index] += 1;
        // No spans for a session whose handshake was not sampled: they inherit its decision.
        let sampled = self.cx.span().span_context().is_sampled();
        if !sampled || !options.allows(self.data_messages[index]) {
            if direction == Direction::Receive {
                self.end_processing();
            }
            return;
        }
        let cx = MessageSpan {
            tracer: self.inst.lazy.tracer(),
            sampler: self.inst.lazy.sampler_hint(),
            options,
            session: &self.cx,
            route: self.base.first(),
            direction,
            kind,
            len,
        }
        .start();
        match direction {
            Direction::Receive => {
                self.end_processing();
                self.processing = Some(cx);
            }
            Direction::Transmit => cx.span().end(),
        }
    }

    /// The message read before is processed: the next read (or the end) ends its span.
    pub fn end_processing(&mut self) {
        if let Some(cx) = self.processing.take() {
            cx.span().end();
        }
    }

    /// This side sent a ping with `payload`: its pong will give the round-trip time.
    pub fn on_ping_sent(&mut self, payload: &[u8]) {
        if self.inst.lazy.metrics().ping.is_none() {
            return;
        }
        if self.pings.len() == MAX_PENDING_PINGS {
            self.pings.pop_front();
        }
        self.pings.push_back((payload.to_vec(), Instant::now()));
    }

    /// A pong arrived: matched to the ping with the same payload (RFC 6455: a pong echoes its
    /// ping's payload), it records the round-trip time.
    pub fn on_pong(&mut self, payload: &[u8]) {
        let Some(at) = self.pings.iter().position(|(p, _)| p == payload) else {
            return;
        };
        let Some((_, sent)) = self.pings.remove(at) else {
            return;
        };
        if let Some(ping) = &self.inst.lazy.metrics().ping {
            ping.record(sent.elapsed().as_secs_f64(), &self.base);
        }
    }

    /// A close frame went by; the first one decides the code, reason and initiator.
    pub fn on_close(&mut self, code: Option<u16>, reason: &str, initiator: CloseInitiator) {
        if self.close.is_none() {
            let max = self.inst.config.max_value_length;
            self.close = Some((code.unwrap_or(1005), capped(reason, max), initiator));
        }
    }

    /// The connection failed (a bounded `error_type` such as `protocol_error`,
    /// `message_too_big`, `invalid_utf8`): the session ends with it, whatever the close code.
    pub fn on_error(&mut self, error_type: &'static str) {
        self.error.get_or_insert(error_type);
    }

    /// The session is over (the stream ended or the socket was dropped).
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.end_processing();
        let elapsed = self.started.elapsed();
        let code = self.close.as_ref().map_or(ABNORMAL, |(code, _, _)| *code);
        let error_type = self.error.or_else(|| close_error_type(code));
        let metrics = self.inst.lazy.metrics();
        metrics.active.add(-1, &self.base);
        let mut attrs = self.base.clone();
        if let Some(e) = error_type {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, e));
        }
        metrics.duration.record(elapsed.as_secs_f64(), &attrs);
        if self.spanned {
            self.end_span(code, error_type, elapsed);
        }
    }

    fn end_span(&self, code: u16, error_type: Option<&'static str>, elapsed: std::time::Duration) {
        let span = self.cx.span();
        let c = self.counts;
        let mut end = vec![
            KeyValue::new(names::MESSAGES_RECEIVED, c.received),
            KeyValue::new(names::MESSAGES_SENT, c.sent),
            KeyValue::new(names::BYTES_RECEIVED, c.bytes_received),
            KeyValue::new(names::BYTES_SENT, c.bytes_sent),
            KeyValue::new(names::CLOSE_CODE, i64::from(code)),
        ];
        if let Some((_, reason, initiator)) = &self.close {
            if !reason.as_str().is_empty() {
                end.push(KeyValue::new(names::CLOSE_REASON, reason.clone()));
            }
            end.push(KeyValue::new(names::CLOSE_INITIATOR, initiator.as_str()));
        }
        if let Some(e) = error_type {
            end.push(KeyValue::new(attr::ERROR_TYPE, e));
            span.set_status(Status::error(""));
        }
        span.set_attributes(end);
        span.end_with_timestamp(self.started_wall + elapsed);
    }
}

impl Drop for WsSession {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(all(test, feature = "setup"))]
mod tests {
    use super::*;
    use crate::common::testing::{assert_blind_span_matches, peeked, peeking_config, value_of};
    use crate::config::SamplerHint;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    /// Metrics only: no session span and no message spans, even when asked for — the session
    /// runs in the handshake's context, whose span it neither hides nor ends.
    #[test]
    fn a_noop_tracer_builds_no_session_or_message_span() {
        crate::common::testing::assert_noop_call_runs_in_the_callers_span(|config| {
            let config = config
                .clone()
                .websocket_session_spans(true)
                .websocket_message_spans(crate::ws::MessageSpans::budget(2, 1));
            let inst = Arc::new(WsInstrument::new(&config, WsSide::Server));
            let mut session = inst.start(&Context::current(), Some(Arc::from("/chat")));
            session.on_message(Direction::Receive, MessageKind::Text, 5);
            assert!(session.message_context().is_none(), "no message span");
            session.on_message(Direction::Transmit, MessageKind::Text, 5);
            let cx = session.context().clone();
            session.end();
            cx
        });
    }

    #[test]
    fn a_sampler_that_reads_no_attributes_is_shown_none_and_a_message_span_ends_with_the_same_set()
    {
        let peeked_message = |hint: SamplerHint| {
            let (config, sampler, exporter) = peeking_config(hint);
            let config = config.websocket_message_spans(crate::ws::MessageSpans::budget(1, 0));
            let inst = Arc::new(WsInstrument::new(&config, WsSide::Server));
            let handshake = Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(7),
                SpanId::from(9),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ));
            let mut session = inst.start(&handshake, Some(Arc::from("/chat")));
            session.on_message(Direction::Transmit, MessageKind::Text, 5);
            session.end();
            peeked(&sampler, &exporter)
        };
        let blind = assert_blind_span_matches(
            peeked_message,
            &[
                "messaging.system",
                "messaging.operation.type",
                "messaging.operation.name",
                "messaging.message.body.size",
                "websocket.message.type",
                "messaging.destination.name",
            ],
            &[],
            &[
                "messaging.destination.name",
                "messaging.message.body.size",
                "messaging.operation.name",
                "messaging.operation.type",
                "messaging.system",
                "websocket.message.type",
            ],
        );
        assert_eq!(value_of(&blind, "messaging.destination.name"), "/chat");
        assert_eq!(value_of(&blind, "messaging.message.body.size"), "5");
        assert_eq!(value_of(&blind, "websocket.message.type"), "text");
    }
}
