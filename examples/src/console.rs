//! A readable console view of what the demo produced: each trace as a tree with durations as
//! bars, then the metric points.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::trace::SpanData;

/// Attributes worth showing next to a span name.
const KEY_ATTRIBUTES: [&str; 6] = [
    "http.response.status_code",
    "http.route",
    "url.path",
    "error.type",
    "rpc.response.status_code",
    "client.address",
];

const BAR_WIDTH: usize = 24;

/// Renders spans grouped by trace, children under parents, with a waterfall bar per span.
pub fn render_traces(spans: &[SpanData]) -> String {
    let mut traces: BTreeMap<[u8; 16], Vec<&SpanData>> = BTreeMap::new();
    for span in spans {
        traces
            .entry(span.span_context.trace_id().to_bytes())
            .or_default()
            .push(span);
    }
    let mut ordered: Vec<_> = traces.into_values().collect();
    ordered.sort_by_key(|spans| spans.iter().map(|s| s.start_time).min());
    let mut out = String::new();
    for spans in ordered {
        let start = spans
            .iter()
            .map(|s| s.start_time)
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let end = spans.iter().map(|s| s.end_time).max().unwrap_or(start);
        let total = end.duration_since(start).unwrap_or_default();
        let _ = writeln!(
            out,
            "trace {} ({} span{}, {})",
            spans[0].span_context.trace_id(),
            spans.len(),
            if spans.len() == 1 { "" } else { "s" },
            fmt_duration(total)
        );
        let ids: Vec<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
        let mut roots: Vec<&&SpanData> = spans
            .iter()
            .filter(|s| !ids.contains(&s.parent_span_id))
            .collect();
        roots.sort_by_key(|s| s.start_time);
        for root in roots {
            render_span(&mut out, root, &spans, 1, start, total);
        }
        out.push('\n');
    }
    out
}

fn render_span(
    out: &mut String,
    span: &SpanData,
    all: &[&SpanData],
    depth: usize,
    trace_start: SystemTime,
    trace_len: Duration,
) {
    let offset = span
        .start_time
        .duration_since(trace_start)
        .unwrap_or_default();
    let len = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let scale = |d: Duration| {
        if trace_len.is_zero() {
            0
        } else {
            ((d.as_secs_f64() / trace_len.as_secs_f64()) * BAR_WIDTH as f64).round() as usize
        }
    };
    let lead = scale(offset).min(BAR_WIDTH - 1);
    let width = scale(len).clamp(1, BAR_WIDTH - lead);
    let bar = format!(
        "{}{}{}",
        " ".repeat(lead),
        "█".repeat(width),
        " ".repeat(BAR_WIDTH - lead - width)
    );
    let status = match &span.status {
        Status::Error { .. } => " ✗ ERROR",
        Status::Ok => " ✓",
        Status::Unset => "",
    };
    let kind = match span.span_kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    };
    let attrs: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|k| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == *k)
                .map(|kv| format!("{k}={}", kv.value))
        })
        .collect();
    let _ = writeln!(
        out,
        "  |{bar}| {:>9} {}{} [{kind}]{status}  {}",
        fmt_duration(len),
        "  ".repeat(depth - 1),
        span.name,
        attrs.join(" ")
    );
    for link in span.links.iter() {
        let _ = writeln!(
            out,
            "  |{}| {:>9} {}  ↳ linked to trace {}",
            " ".repeat(BAR_WIDTH),
            "",
            "  ".repeat(depth - 1),
            link.span_context.trace_id()
        );
    }
    let mut children: Vec<&&SpanData> = all
        .iter()
        .filter(|s| s.parent_span_id == span.span_context.span_id())
        .collect();
    children.sort_by_key(|s| s.start_time);
    for child in children {
        render_span(out, child, all, depth + 1, trace_start, trace_len);
    }
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// Renders every metric point: histograms as count / sum / mean, sums as values.
pub fn render_metrics(metrics: &[ResourceMetrics]) -> String {
    let mut out = String::new();
    for metric in metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
    {
        let _ = writeln!(out, "{} ({})", metric.name(), metric.unit());
        let mut lines = Vec::new();
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    let mean = if p.count() == 0 {
                        0.0
                    } else {
                        p.sum() / p.count() as f64
                    };
                    lines.push(format!(
                        "count={:<3} mean={:<10.6} {}",
                        p.count(),
                        mean,
                        attrs(p.attributes())
                    ));
                }
            }
            AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    lines.push(format!(
                        "count={:<3} sum={:<10} {}",
                        p.count(),
                        p.sum(),
                        attrs(p.attributes())
                    ));
                }
            }
            AggregatedMetrics::I64(MetricData::Sum(s)) => {
                for p in s.data_points() {
                    lines.push(format!("value={:<3} {}", p.value(), attrs(p.attributes())));
                }
            }
            _ => lines.push("(other aggregation)".to_owned()),
        }
        lines.sort();
        for l in lines {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

fn attrs<'a>(kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    let mut v: Vec<String> = kvs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
    v.sort();
    v.join(" ")
}
