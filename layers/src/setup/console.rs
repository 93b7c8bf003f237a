//! The console view: the default exporters of [`Setup`](super::Setup), so a developer sees
//! telemetry without running a collector.
//!
//! - [`ConsoleSpanExporter`] prints each *finished trace* as a tree with a waterfall bar per span,
//!   its kind, duration, status and key attributes. Spans of one trace end at different times, so
//!   they are buffered by trace id and printed when the trace's local root ends (or when the
//!   trace is too old or too big to keep waiting, or at shutdown).
//! - [`ConsoleMetricExporter`] keeps the latest collection and prints, at shutdown, request counts
//!   and latency percentiles per HTTP route and per RPC method, estimated from the duration
//!   histograms.
//!
//! Output is coloured with ANSI codes when it goes to a terminal and `NO_COLOR` is unset, plain
//! otherwise. [`render_traces`] and [`render_metrics_summary`] give the same text (uncoloured)
//! over data you already have, e.g. from in-memory exporters in a test.
//!
//! ```
//! use towerlight::setup::console::ConsoleSpanExporter;
//!
//! // Print finished traces to stderr, without colours.
//! let exporter = ConsoleSpanExporter::with_writer(std::io::stderr(), false);
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_simple_exporter(exporter)
//!     .build();
//! # let _ = provider;
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::attribute as attr;
use opentelemetry_semantic_conventions::metric as metric_names;

use super::resource::string_attr;

/// A trace waits at most this long for its local root before it is printed as incomplete.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// At most this many traces wait; beyond it the oldest is printed as incomplete.
const MAX_PENDING_TRACES: usize = 512;
/// A trace with this many buffered spans is printed without waiting for more.
const MAX_SPANS_PER_TRACE: usize = 1000;
/// Remembered printed trace ids, to mark later spans of the same trace as a continuation.
const REMEMBERED_TRACES: usize = 1024;
/// Width of the waterfall bar, in cells.
const BAR_WIDTH: usize = 24;
/// Widest name column (tree indentation included).
const MAX_NAME_WIDTH: usize = 48;

/// Where console output goes: one writer shared by the span and metric exporters.
pub(crate) type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// Whether colours should be used for standard output: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub(crate) fn stdout_wants_color(no_color: Option<&str>) -> bool {
    std::io::stdout().is_terminal() && no_color.is_none_or(str::is_empty)
}

/// Where an exporter prints, and whether in colour.
#[derive(Clone)]
pub(crate) struct Sink {
    out: Output,
    paint: Paint,
}

impl Sink {
    /// Standard output, coloured when it is a terminal and `NO_COLOR` is not set.
    fn stdout() -> Sink {
        let no_color = std::env::var("NO_COLOR").ok();
        Sink::new(
            Arc::new(Mutex::new(Box::new(std::io::stdout()))),
            stdout_wants_color(no_color.as_deref()),
        )
    }

    fn writer(writer: impl Write + Send + 'static, color: bool) -> Sink {
        Sink::new(Arc::new(Mutex::new(Box::new(writer))), color)
    }

    pub(crate) fn new(out: Output, color: bool) -> Sink {
        Sink {
            out,
            paint: Paint(color),
        }
    }

    fn write(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        // A closed or broken stdout must not disturb the service: output errors are ignored.
        if let Ok(mut w) = self.out.lock() {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }
}

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
struct Paint(bool);

impl Paint {
    const BOLD: &'static str = "1";
    const DIM: &'static str = "2";
    const RED: &'static str = "31";
    const GREEN: &'static str = "32";
    const YELLOW: &'static str = "33";
    const BLUE: &'static str = "34";
    const MAGENTA: &'static str = "35";
    const CYAN: &'static str = "36";

    fn paint(self, code: &str, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

/// A span exporter that prints every finished trace as a readable tree and waterfall.
///
/// Spans are buffered per trace and printed when the trace's *local root* — a span without a
/// parent, or whose parent is remote — has ended. A trace whose root does not end within 30 s,
/// that has more than 1000 spans, or that is pushed out by more than 512 waiting traces is printed
/// as it is, marked incomplete; what is still waiting at shutdown is printed then.
pub struct ConsoleSpanExporter {
    sink: Sink,
    state: Mutex<TraceBuffer>,
}

impl fmt::Debug for ConsoleSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSpanExporter")
            .field("color", &self.sink.paint.0)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct TraceBuffer {
    service: Option<String>,
    pending: HashMap<TraceId, PendingTrace>,
    printed: VecDeque<TraceId>,
}

struct PendingTrace {
    spans: Vec<SpanData>,
    since: Instant,
    root_ended: bool,
}

/// Why a trace is printed, shown in its header when it is not the normal case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Note {
    Complete,
    Incomplete,
    Continued,
}

impl Default for ConsoleSpanExporter {
    fn default() -> Self {
        ConsoleSpanExporter::new()
    }
}

impl ConsoleSpanExporter {
    /// Prints to standard output, coloured when it is a terminal and `NO_COLOR` is not set.
    pub fn new() -> ConsoleSpanExporter {
        ConsoleSpanExporter::from_sink(Sink::stdout())
    }

    /// Prints to `writer`, coloured or not.
    pub fn with_writer(writer: impl Write + Send + 'static, color: bool) -> ConsoleSpanExporter {
        ConsoleSpanExporter::from_sink(Sink::writer(writer, color))
    }

    pub(crate) fn from_sink(sink: Sink) -> ConsoleSpanExporter {
        ConsoleSpanExporter {
            sink,
            state: Mutex::new(TraceBuffer::default()),
        }
    }

    /// Buffers the spans and returns the text of every trace that is ready.
    fn accept(&self, batch: Vec<SpanData>) -> String {
        let Ok(mut state) = self.state.lock() else {
            return String::new();
        };
        let now = Instant::now();
        for span in batch {
            let is_local_root =
                span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
            let entry = state
                .pending
                .entry(span.span_context.trace_id())
                .or_insert_with(|| PendingTrace {
                    spans: Vec::new(),
                    since: now,
                    root_ended: false,
                });
            entry.root_ended |= is_local_root;
            entry.spans.push(span);
        }
        let mut ready: Vec<(TraceId, bool)> = state
            .pending
            .iter()
            .filter(|(_, t)| {
                t.root_ended
                    || t.spans.len() >= MAX_SPANS_PER_TRACE
                    || now.duration_since(t.since) >= MAX_WAIT
            })
            .map(|(id, t)| (*id, t.root_ended))
            .collect();
        let overflow = state
            .pending
            .len()
            .saturating_sub(ready.len())
            .saturating_sub(MAX_PENDING_TRACES);
        if overflow > 0 {
            let mut waiting: Vec<(Instant, TraceId)> = state
                .pending
                .iter()
                .filter(|(id, _)| !ready.iter().any(|(r, _)| r == *id))
                .map(|(id, t)| (t.since, *id))
                .collect();
            waiting.sort_by_key(|(since, _)| *since);
            ready.extend(
                waiting
                    .into_iter()
                    .take(overflow)
                    .map(|(_, id)| (id, false)),
            );
        }
        self.take_and_render(&mut state, ready)
    }

    /// Everything still buffered (at shutdown).
    fn drain(&self) -> String {
        let Ok(mut state) = self.state.lock() else {
            return String::new();
        };
        let all: Vec<(TraceId, bool)> = state
            .pending
            .iter()
            .map(|(id, t)| (*id, t.root_ended))
            .collect();
        self.take_and_render(&mut state, all)
    }

    fn take_and_render(&self, state: &mut TraceBuffer, ids: Vec<(TraceId, bool)>) -> String {
        let mut traces: Vec<(Vec<SpanData>, Note)> = Vec::with_capacity(ids.len());
        for (id, complete) in ids {
            let Some(trace) = state.pending.remove(&id) else {
                continue;
            };
            let note = if state.printed.contains(&id) {
                Note::Continued
            } else if complete {
                Note::Complete
            } else {
                Note::Incomplete
            };
            if state.printed.len() == REMEMBERED_TRACES {
                state.printed.pop_front();
            }
            state.printed.push_back(id);
            traces.push((trace.spans, note));
        }
        traces.sort_by_key(|(spans, _)| spans.iter().map(|s| s.start_time).min());
        let mut out = String::new();
        for (spans, note) in &traces {
            render_trace(
                &mut out,
                spans,
                state.service.as_deref(),
                *note,
                self.sink.paint,
            );
        }
        out
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.sink.write(&self.accept(batch));
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.sink.write(&self.drain());
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Ok(mut state) = self.state.lock() {
            state.service = string_attr(resource, attr::SERVICE_NAME);
        }
    }
}

/// Renders spans as trees, one per trace, ordered by start time; no colours.
///
/// This is the text [`ConsoleSpanExporter`] prints, for spans you already hold (for example from
/// an in-memory exporter).
pub fn render_traces(spans: &[SpanData]) -> String {
    let mut traces: BTreeMap<[u8; 16], Vec<SpanData>> = BTreeMap::new();
    for span in spans {
        traces
            .entry(span.span_context.trace_id().to_bytes())
            .or_default()
            .push(span.clone());
    }
    let mut ordered: Vec<Vec<SpanData>> = traces.into_values().collect();
    ordered.sort_by_key(|spans| spans.iter().map(|s| s.start_time).min());
    let mut out = String::new();
    for spans in &ordered {
        render_trace(&mut out, spans, None, Note::Complete, Paint(false));
    }
    out
}

/// One row of the tree: a span, its depth and the tree glyphs before its name.
struct Row<'a> {
    span: &'a SpanData,
    prefix: String,
}

fn render_trace(out: &mut String, spans: &[SpanData], service: Option<&str>, note: Note, p: Paint) {
    let Some(first) = spans.first() else { return };
    let start = spans
        .iter()
        .map(|s| s.start_time)
        .min()
        .unwrap_or(first.start_time);
    let end = spans.iter().map(|s| s.end_time).max().unwrap_or(start);
    let total = end.duration_since(start).unwrap_or_default();

    let mut header = format!("trace {}", first.span_context.trace_id());
    if let Some(service) = service {
        let _ = write!(header, "  {}", p.paint(Paint::BOLD, service));
    }
    let _ = write!(
        header,
        "  {} span{}  {}",
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        fmt_duration(total)
    );
    match note {
        Note::Complete => {}
        Note::Incomplete => header.push_str("  (incomplete: its root span has not ended)"),
        Note::Continued => {
            header.push_str("  (continued: spans that ended after the trace was printed)")
        }
    }
    let _ = writeln!(out, "{} {}", p.paint(Paint::CYAN, "●"), header);

    let rows = tree_rows(spans);
    let name_width = rows
        .iter()
        .map(|r| r.prefix.chars().count() + r.span.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_NAME_WIDTH);
    for row in &rows {
        render_row(out, row, name_width, start, total, p);
    }
    out.push('\n');
}

/// Spans in tree order (children under their parent, siblings by start time) with the glyphs
/// that draw the tree. Spans whose parent is not in the trace are roots.
fn tree_rows(spans: &[SpanData]) -> Vec<Row<'_>> {
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let mut roots: Vec<&SpanData> = Vec::new();
    for span in spans {
        if ids.contains(&span.parent_span_id) && span.parent_span_id != span.span_context.span_id()
        {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    roots.sort_by_key(|s| s.start_time);
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_time);
    }
    let mut rows = Vec::with_capacity(spans.len());
    // Iterative depth-first walk (deep traces must not overflow the stack):
    // (span, glyphs for its own row, glyphs its children continue from).
    let mut stack: Vec<(&SpanData, String, String)> = roots
        .into_iter()
        .rev()
        .map(|s| (s, String::new(), String::new()))
        .collect();
    let mut visited = std::collections::HashSet::new();
    while let Some((span, prefix, child_base)) = stack.pop() {
        if !visited.insert(span.span_context.span_id()) {
            continue;
        }
        rows.push(Row { span, prefix });
        if let Some(kids) = children.get(&span.span_context.span_id()) {
            for (i, kid) in kids.iter().enumerate().rev() {
                let last = i + 1 == kids.len();
                let own = format!("{child_base}{}", if last { "└─ " } else { "├─ " });
                let next = format!("{child_base}{}", if last { "   " } else { "│  " });
                stack.push((kid, own, next));
            }
        }
    }
    rows
}

fn render_row(
    out: &mut String,
    row: &Row<'_>,
    name_width: usize,
    start: SystemTime,
    total: Duration,
    p: Paint,
) {
    let span = row.span;
    let offset = span.start_time.duration_since(start).unwrap_or_default();
    let len = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let is_error = matches!(span.status, Status::Error { .. });

    let name_room = name_width.saturating_sub(row.prefix.chars().count());
    let name = truncate(&span.name, name_room);
    let pad = name_room.saturating_sub(name.chars().count());
    let kind = match span.span_kind {
        SpanKind::Server => p.paint(Paint::BLUE, "server  "),
        SpanKind::Client => p.paint(Paint::MAGENTA, "client  "),
        SpanKind::Producer => p.paint(Paint::MAGENTA, "producer"),
        SpanKind::Consumer => p.paint(Paint::BLUE, "consumer"),
        SpanKind::Internal => p.paint(Paint::DIM, "internal"),
    };
    let bar = waterfall(offset, len, total, is_error, p);
    let _ = write!(
        out,
        "  {}{}{}  {} {:>9} {}",
        p.paint(Paint::DIM, &row.prefix),
        p.paint(Paint::BOLD, &name),
        " ".repeat(pad),
        kind,
        fmt_duration(len),
        bar
    );
    let details = details(span, p);
    if !details.is_empty() {
        let _ = write!(out, "  {details}");
    }
    out.push('\n');
    for link in span.links.iter() {
        let _ = writeln!(
            out,
            "  {}{}",
            " ".repeat(row.prefix.chars().count() + 3),
            p.paint(
                Paint::DIM,
                &format!(
                    "↳ linked to trace {} span {}",
                    link.span_context.trace_id(),
                    link.span_context.span_id()
                )
            )
        );
    }
}

/// `|   ██████     |`: where the span sits in the trace and how long it lasts.
fn waterfall(offset: Duration, len: Duration, total: Duration, is_error: bool, p: Paint) -> String {
    let scale = |d: Duration| -> usize {
        if total.is_zero() {
            0
        } else {
            ((d.as_secs_f64() / total.as_secs_f64()) * BAR_WIDTH as f64).round() as usize
        }
    };
    let lead = scale(offset).min(BAR_WIDTH - 1);
    let width = scale(len).clamp(1, BAR_WIDTH - lead);
    let tail = BAR_WIDTH - lead - width;
    let filled = "█".repeat(width);
    let colour = if is_error { Paint::RED } else { Paint::GREEN };
    if p.0 {
        format!(
            "{}{}{}",
            p.paint(Paint::DIM, &"·".repeat(lead)),
            p.paint(colour, &filled),
            p.paint(Paint::DIM, &"·".repeat(tail))
        )
    } else {
        format!("|{}{}{}|", " ".repeat(lead), filled, " ".repeat(tail))
    }
}

/// Status and the attributes worth a glance: the status code, the path or method, the error type.
fn details(span: &SpanData, p: Paint) -> String {
    let get = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(code) = get(attr::HTTP_RESPONSE_STATUS_CODE) {
        let code_num = match code {
            Value::I64(n) => *n,
            other => other.as_str().parse().unwrap_or(0),
        };
        let colour = match code_num {
            500.. => Paint::RED,
            400..=499 => Paint::YELLOW,
            300..=399 => Paint::CYAN,
            _ => Paint::GREEN,
        };
        parts.push(p.paint(colour, &code.to_string()));
    }
    if let Some(code) = get(attr::RPC_RESPONSE_STATUS_CODE) {
        let text = code.to_string();
        let colour = if text == "OK" {
            Paint::GREEN
        } else {
            Paint::YELLOW
        };
        parts.push(p.paint(colour, &text));
    }
    match &span.status {
        Status::Error { description } if description.is_empty() => {
            parts.push(p.paint(Paint::RED, "✗ error"))
        }
        Status::Error { description } => {
            parts.push(p.paint(Paint::RED, &format!("✗ error: {description}")))
        }
        Status::Ok => parts.push(p.paint(Paint::GREEN, "✓ ok")),
        Status::Unset => {}
    }
    let mut show = |key: &str| {
        if let Some(v) = get(key) {
            let v = v.to_string();
            // The span name usually already says it (`GET /users/{id}`, `pkg.Svc/Method`).
            if key != attr::ERROR_TYPE && span.name.contains(v.as_str()) {
                return;
            }
            parts.push(format!("{}={}", p.paint(Paint::DIM, key), v));
        }
    };
    show(attr::HTTP_ROUTE);
    show(attr::URL_PATH);
    show(attr::RPC_METHOD);
    show(attr::ERROR_TYPE);
    parts.join(" ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn fmt_duration(d: Duration) -> String {
    fmt_seconds(d.as_secs_f64())
}

/// `850µs`, `2.5ms`, `1.20s`.
fn fmt_seconds(secs: f64) -> String {
    let us = secs * 1e6;
    if us < 1000.0 {
        format!("{}µs", us.round() as u64)
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{secs:.2}s")
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// A metric exporter that prints, at shutdown, a compact summary of the request metrics:
/// per HTTP route and method, and per RPC method, the number of requests, of errors, and the
/// p50 / p90 / p99 latencies estimated from the duration histograms.
///
/// It asks for cumulative temporality, so the last collection (taken at shutdown) holds the
/// totals of the whole run.
pub struct ConsoleMetricExporter {
    sink: Sink,
    latest: Mutex<Option<(Summary, Option<String>)>>,
}

impl fmt::Debug for ConsoleMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleMetricExporter")
            .field("color", &self.sink.paint.0)
            .finish_non_exhaustive()
    }
}

impl Default for ConsoleMetricExporter {
    fn default() -> Self {
        ConsoleMetricExporter::new()
    }
}

impl ConsoleMetricExporter {
    /// Prints to standard output, coloured when it is a terminal and `NO_COLOR` is not set.
    pub fn new() -> ConsoleMetricExporter {
        ConsoleMetricExporter::from_sink(Sink::stdout())
    }

    /// Prints to `writer`, coloured or not.
    pub fn with_writer(writer: impl Write + Send + 'static, color: bool) -> ConsoleMetricExporter {
        ConsoleMetricExporter::from_sink(Sink::writer(writer, color))
    }

    pub(crate) fn from_sink(sink: Sink) -> ConsoleMetricExporter {
        ConsoleMetricExporter {
            sink,
            latest: Mutex::new(None),
        }
    }
}

impl PushMetricExporter for ConsoleMetricExporter {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let summary = Summary::from_metrics(metrics);
        let service = string_attr(metrics.resource(), attr::SERVICE_NAME);
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some((summary, service));
        }
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let latest = self.latest.lock().ok().and_then(|mut l| l.take());
        if let Some((summary, service)) = latest {
            self.sink
                .write(&summary.render(service.as_deref(), self.sink.paint));
        }
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Renders the request summary of one collection, without colours: the text
/// [`ConsoleMetricExporter`] prints at shutdown.
pub fn render_metrics_summary(metrics: &ResourceMetrics) -> String {
    let service = string_attr(metrics.resource(), attr::SERVICE_NAME);
    Summary::from_metrics(metrics).render(service.as_deref(), Paint(false))
}

/// Which duration histograms are summarised, and by which attributes their rows are keyed.
const SUMMARISED: [(&str, &str); 6] = [
    (metric_names::HTTP_SERVER_REQUEST_DURATION, "HTTP server"),
    (metric_names::HTTP_CLIENT_REQUEST_DURATION, "HTTP client"),
    (metric_names::RPC_SERVER_CALL_DURATION, "RPC server"),
    (metric_names::RPC_CLIENT_CALL_DURATION, "RPC client"),
    (
        crate::ws::attributes::SERVER_SESSION_DURATION,
        "WebSocket server sessions",
    ),
    (
        crate::ws::attributes::CLIENT_SESSION_DURATION,
        "WebSocket client sessions",
    ),
];

#[derive(Debug, Default)]
struct Summary {
    /// (section title, rows by key) in the order of [`SUMMARISED`].
    sections: Vec<(&'static str, BTreeMap<String, Hist>)>,
}

/// Merged histogram points of one row.
#[derive(Debug, Default, Clone, PartialEq)]
struct Hist {
    count: u64,
    errors: u64,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Hist {
    fn merge(
        &mut self,
        bounds: Vec<f64>,
        counts: Vec<u64>,
        count: u64,
        min: Option<f64>,
        max: Option<f64>,
        error: bool,
    ) {
        if self.counts.is_empty() {
            self.bounds = bounds;
            self.counts = vec![0; counts.len()];
        }
        if self.bounds.len() + 1 == counts.len() && self.counts.len() == counts.len() {
            for (total, n) in self.counts.iter_mut().zip(counts) {
                *total += n;
            }
        }
        self.count += count;
        if error {
            self.errors += count;
        }
        self.min = match (self.min, min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn attr_str<'a>(attrs: &'a [&'a KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The row a point belongs to: `GET /users/{id}` (HTTP server), `GET api.internal:443` (HTTP
/// client), `pkg.Service/Method` (RPC).
fn row_key(metric: &str, attrs: &[&KeyValue]) -> String {
    if metric.starts_with("rpc.") {
        return attr_str(attrs, attr::RPC_METHOD).unwrap_or_else(|| "(unknown method)".to_owned());
    }
    if metric.starts_with("websocket.") {
        return attr_str(attrs, attr::HTTP_ROUTE).unwrap_or_else(|| "(no route)".to_owned());
    }
    let method = attr_str(attrs, attr::HTTP_REQUEST_METHOD).unwrap_or_else(|| "_OTHER".to_owned());
    let target = if metric == metric_names::HTTP_SERVER_REQUEST_DURATION {
        attr_str(attrs, attr::HTTP_ROUTE).unwrap_or_else(|| "(no route)".to_owned())
    } else {
        attr_str(attrs, attr::URL_TEMPLATE)
            .or_else(|| attr_str(attrs, attr::SERVER_ADDRESS))
            .unwrap_or_else(|| "(unknown)".to_owned())
    };
    format!("{method} {target}")
}

impl Summary {
    fn from_metrics(metrics: &ResourceMetrics) -> Summary {
        let mut sections: Vec<(&'static str, BTreeMap<String, Hist>)> = Vec::new();
        for (name, title) in SUMMARISED {
            let mut rows: BTreeMap<String, Hist> = BTreeMap::new();
            for metric in metrics
                .scope_metrics()
                .flat_map(|s| s.metrics())
                .filter(|m| m.name() == name)
            {
                let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                    continue;
                };
                for point in h.data_points() {
                    let attrs: Vec<&KeyValue> = point.attributes().collect();
                    let error = attrs.iter().any(|kv| kv.key.as_str() == attr::ERROR_TYPE);
                    rows.entry(row_key(name, &attrs)).or_default().merge(
                        point.bounds().collect(),
                        point.bucket_counts().collect(),
                        point.count(),
                        point.min(),
                        point.max(),
                        error,
                    );
                }
            }
            if !rows.is_empty() {
                sections.push((title, rows));
            }
        }
        Summary { sections }
    }

    fn render(&self, service: Option<&str>, p: Paint) -> String {
        let mut out = String::new();
        let title = match service {
            Some(s) => format!("request summary for {s}"),
            None => "request summary".to_owned(),
        };
        let _ = writeln!(
            out,
            "{} {}",
            p.paint(Paint::CYAN, "●"),
            p.paint(Paint::BOLD, &title)
        );
        if self.sections.is_empty() {
            let _ = writeln!(out, "  no requests recorded\n");
            return out;
        }
        let width = self
            .sections
            .iter()
            .flat_map(|(_, rows)| rows.keys().map(|k| k.chars().count() + 2))
            .chain(self.sections.iter().map(|(t, _)| t.len()))
            .max()
            .unwrap_or(0)
            .min(MAX_NAME_WIDTH + 2);
        for (title, rows) in &self.sections {
            let head = format!(
                "{:<width$} {:>8} {:>7} {:>9} {:>9} {:>9}",
                title, "requests", "errors", "p50", "p90", "p99"
            );
            let _ = writeln!(out, "{}", p.paint(Paint::DIM, &head));
            for (key, h) in rows {
                let q = |q: f64| {
                    quantile(&h.bounds, &h.counts, h.min, h.max, q)
                        .map_or("-".to_owned(), fmt_seconds)
                };
                let name = truncate(&format!("  {key}"), width);
                let errors = format!("{:>7}", h.errors);
                let errors = if h.errors > 0 {
                    p.paint(Paint::RED, &errors)
                } else {
                    errors
                };
                let _ = writeln!(
                    out,
                    "{name:<width$} {:>8} {errors} {:>9} {:>9} {:>9}",
                    h.count,
                    q(0.5),
                    q(0.9),
                    q(0.99)
                );
            }
        }
        out.push('\n');
        out
    }
}

/// Estimates the `q` quantile of a histogram: finds the bucket holding the rank and interpolates
/// linearly inside it. Bucket edges are narrowed by the recorded min and max, so a bucket holding
/// one value (or all values equal) gives that value, and the open-ended last bucket is bounded.
fn quantile(
    bounds: &[f64],
    counts: &[u64],
    min: Option<f64>,
    max: Option<f64>,
    q: f64,
) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let mut low = if i == 0 {
                min.unwrap_or(0.0)
                    .min(bounds.first().copied().unwrap_or(0.0))
            } else {
                bounds[i - 1]
            };
            let mut high = if i < bounds.len() {
                bounds[i]
            } else {
                max.unwrap_or(low)
            };
            if let Some(min) = min {
                low = low.max(min);
            }
            if let Some(max) = max {
                high = high.min(max);
            }
            if high < low {
                high = low;
            }
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some(low + (high - low) * within);
        }
        seen += n;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
    use opentelemetry::InstrumentationScope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use crate::setup::test_support::SharedBuf;

    fn span(trace: u128, id: u64, parent: u64, name: &str, start_ms: u64, end_ms: u64) -> SpanData {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.to_owned().into(),
            start_time: t0 + Duration::from_millis(start_ms),
            end_time: t0 + Duration::from_millis(end_ms),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn server(mut s: SpanData, status: i64, route_path: (&str, &str)) -> SpanData {
        s.span_kind = SpanKind::Server;
        s.attributes = vec![
            KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, status),
            KeyValue::new(attr::HTTP_ROUTE, route_path.0.to_owned()),
            KeyValue::new(attr::URL_PATH, route_path.1.to_owned()),
        ];
        if status >= 500 {
            s.status = Status::error("");
            s.attributes
                .push(KeyValue::new(attr::ERROR_TYPE, status.to_string()));
        }
        s
    }

    #[test]
    fn a_trace_renders_as_a_tree_with_bars() {
        let root = server(
            span(1, 1, 0, "GET /users/{id}", 0, 40),
            200,
            ("/users/{id}", "/users/7"),
        );
        let a = span(1, 2, 1, "load_user", 10, 30);
        let b = span(1, 3, 2, "db.query", 10, 20);
        let c = span(1, 4, 1, "render", 30, 40);
        let text = render_traces(&[c, b, a, root]);
        let expected = "\
● trace 00000000000000000000000000000001  4 spans  40.0ms
  GET /users/{id}  server      40.0ms |████████████████████████|  200 url.path=/users/7
  ├─ load_user     internal    20.0ms |      ████████████      |
  │  └─ db.query   internal    10.0ms |      ██████            |
  └─ render        internal    10.0ms |                  ██████|

";
        assert_eq!(text, expected);
    }

    #[test]
    fn errors_links_and_rpc_details() {
        let s = server(span(2, 1, 0, "GET /fail", 0, 2), 503, ("/fail", "/fail"));
        let mut rpc = span(3, 9, 0, "echo.Echo/Unary", 0, 1);
        rpc.span_kind = SpanKind::Client;
        rpc.attributes = vec![
            KeyValue::new(attr::RPC_METHOD, "echo.Echo/Unary"),
            KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, "NOT_FOUND"),
            KeyValue::new(attr::ERROR_TYPE, "NOT_FOUND"),
        ];
        rpc.status = Status::error("no such user");
        let text = render_traces(&[s, rpc]);
        let expected = "\
● trace 00000000000000000000000000000002  1 span  2.0ms
  GET /fail  server       2.0ms |████████████████████████|  503 ✗ error error.type=503

● trace 00000000000000000000000000000003  1 span  1.0ms
  echo.Echo/Unary  client       1.0ms |████████████████████████|  NOT_FOUND ✗ error: no such user error.type=NOT_FOUND

";
        assert_eq!(text, expected);
    }

    #[test]
    fn colours_only_when_asked() {
        let s = server(span(1, 1, 0, "GET /x", 0, 1), 200, ("/x", "/x"));
        let mut out = String::new();
        render_trace(&mut out, &[s], Some("shop"), Note::Complete, Paint(true));
        assert!(out.contains("\x1b[1mshop\x1b[0m"), "{out:?}");
        assert!(out.contains("\x1b[32m200\x1b[0m"), "{out:?}");
        assert!(!render_traces(&[span(1, 1, 0, "x", 0, 1)]).contains('\x1b'));
    }

    #[test]
    fn the_exporter_waits_for_the_local_root() {
        let buf = SharedBuf::default();
        let exporter = ConsoleSpanExporter::with_writer(buf.clone(), false);
        let child = span(5, 2, 1, "child", 1, 2);
        let root = span(5, 1, 0, "root", 0, 3);
        let other = span(6, 7, 0, "other", 0, 1);
        assert_eq!(exporter.accept(vec![child]), "");
        let printed = exporter.accept(vec![root, other]);
        assert_eq!(printed.matches("● trace").count(), 2, "{printed}");
        assert!(printed.contains("root"), "{printed}");
        assert!(printed.contains("└─ child"), "{printed}");
        // A late span of a printed trace is a continuation, printed at shutdown.
        let late = span(5, 3, 1, "late", 4, 5);
        assert_eq!(exporter.accept(vec![late]), "");
        let rest = exporter.drain();
        assert!(
            rest.contains("(continued: spans that ended after the trace was printed)"),
            "{rest}"
        );
        assert!(rest.contains("late"), "{rest}");
        assert_eq!(exporter.drain(), "");
    }

    #[test]
    fn remote_parents_make_local_roots_and_leftovers_print_at_shutdown() {
        let buf = SharedBuf::default();
        let mut exporter = ConsoleSpanExporter::with_writer(buf.clone(), false);
        exporter.set_resource(&Resource::builder_empty().with_service_name("shop").build());
        let mut remote_child = span(7, 2, 99, "GET /users/{id}", 0, 3);
        remote_child.parent_span_is_remote = true;
        let orphan = span(8, 2, 1, "waiting", 0, 1);
        futures_executor_block_on(exporter.export(vec![remote_child, orphan])).unwrap();
        let text = buf.text();
        assert!(
            text.starts_with("● trace 00000000000000000000000000000007  shop  1 span  3.0ms\n"),
            "{text}"
        );
        exporter.shutdown().unwrap();
        let text = buf.text();
        assert!(text.contains("● trace 00000000000000000000000000000008  shop  1 span  1.0ms  (incomplete: its root span has not ended)"), "{text}");
    }

    /// Polls a future that is ready at once (the console exporter's futures are).
    fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("console export is synchronous"),
        }
    }

    #[test]
    fn quantiles_from_buckets() {
        // 10 values in (0, 0.005], 10 in (0.005, 0.01], min 0.001, max 0.009.
        let bounds = [0.005, 0.01, 0.025];
        let counts = [10, 10, 0, 0];
        assert_eq!(
            quantile(&bounds, &counts, Some(0.001), Some(0.009), 0.5),
            Some(0.005)
        );
        // p90: rank 18 → 8/10 into (0.005, 0.009].
        let p90 = quantile(&bounds, &counts, Some(0.001), Some(0.009), 0.9).unwrap();
        assert!((p90 - 0.0082).abs() < 1e-12, "{p90}");
        // One value: every quantile is that value.
        assert_eq!(
            quantile(&bounds, &[0, 1, 0, 0], Some(0.007), Some(0.007), 0.99),
            Some(0.007)
        );
        // The open last bucket is bounded by max.
        assert_eq!(
            quantile(&bounds, &[0, 0, 0, 2], Some(0.5), Some(2.0), 1.0),
            Some(2.0)
        );
        assert_eq!(quantile(&bounds, &[0, 0, 0, 0], None, None, 0.5), None);
    }

    #[test]
    fn summary_rows_per_route_and_method() {
        use opentelemetry::metrics::MeterProvider;
        use opentelemetry_sdk::metrics::{
            InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
        };
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_resource(Resource::builder_empty().with_service_name("shop").build())
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let meter = provider.meter("t");
        let http = meter
            .f64_histogram(metric_names::HTTP_SERVER_REQUEST_DURATION)
            .with_unit("s")
            .build();
        let get = |route: &str, status: i64| {
            vec![
                KeyValue::new(attr::HTTP_REQUEST_METHOD, "GET"),
                KeyValue::new(attr::HTTP_ROUTE, route.to_owned()),
                KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, status),
            ]
        };
        http.record(0.002, &get("/users/{id}", 200));
        http.record(0.002, &get("/users/{id}", 200));
        http.record(0.002, &get("/users/{id}", 404));
        let mut failed = get("/fail", 503);
        failed.push(KeyValue::new(attr::ERROR_TYPE, "503"));
        http.record(0.3, &failed);
        let rpc = meter
            .f64_histogram(metric_names::RPC_SERVER_CALL_DURATION)
            .with_unit("s")
            .build();
        rpc.record(
            0.0005,
            &[KeyValue::new(attr::RPC_METHOD, "echo.Echo/Unary")],
        );
        provider.force_flush().unwrap();
        let collected = exporter.get_finished_metrics().unwrap();
        let text = render_metrics_summary(collected.last().unwrap());
        let expected = "\
● request summary for shop
HTTP server       requests  errors       p50       p90       p99
  GET /fail              1       1   300.0ms   300.0ms   300.0ms
  GET /users/{id}        3       0     2.0ms     2.0ms     2.0ms
RPC server        requests  errors       p50       p90       p99
  echo.Echo/Unary        1       0     500µs     500µs     500µs

";
        assert_eq!(text, expected);
        let _ = provider.shutdown();
    }

    #[test]
    fn empty_summary_says_so() {
        let text = Summary::default().render(Some("shop"), Paint(false));
        assert_eq!(
            text,
            "● request summary for shop\n  no requests recorded\n\n"
        );
    }
}
