//! The opt-in `tracing` integration (feature `tracing`, [`Setup::with_tracing`](super::Setup)).
//!
//! One registry with three layers, all behind the same `RUST_LOG`-style filter:
//! - a fmt layer whose lines start with the current OpenTelemetry trace and span ids, so a log
//!   line leads to its trace;
//! - tracing-opentelemetry, so `#[instrument]` spans become OpenTelemetry spans, children of the
//!   request span that towerlight's layer made current;
//! - with the OTLP logs exporter, the opentelemetry-appender-tracing bridge, which sends events as
//!   OpenTelemetry logs (minus the exporters' own crates, which would feed back into it).

use std::fmt;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::error::SetupError;
use super::settings::Settings;

/// Crates whose own `tracing` spans are not turned into OpenTelemetry spans: their RPC spans
/// come from towerlight-tarpc and towerlight-jsonrpsee instead. tarpc's (`RPC`, with
/// `otel.kind`) would duplicate the call and, made current while its handler runs, would cut the
/// trace in two; jsonrpsee's `connection` span would be a root per connection.
const NOT_SPANS: [&str; 2] = ["tarpc", "jsonrpsee"];

/// Crates whose events must not become OpenTelemetry logs: the export path itself.
const NOT_BRIDGED: [&str; 7] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
];

pub(crate) fn install(
    settings: &Settings,
    tracer_provider: &SdkTracerProvider,
    logger_provider: Option<&SdkLoggerProvider>,
    writer: Option<BoxMakeWriter>,
) -> Result<(), SetupError> {
    let filter: Targets = settings.log_filter.parse().map_err(|e| {
        SetupError::invalid(
            settings.log_filter_var,
            settings.log_filter.clone(),
            format!("not a filter of the form `level,target=level`: {e}"),
        )
    })?;
    let writer = writer.unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(WithTraceIds(Format::default()))
        .with_writer(writer)
        .with_filter(filter.clone());
    // Only registered attribute names on spans: no `target`, `level`, `busy_ns`/`idle_ns` or
    // `code.module.name` (not in the conventions); `thread.*` are registered and kept. Events
    // are not copied onto spans (they would carry `level` and `target`): they are logs, and go
    // to the logs bridge when OTLP logs are on.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("tracing"))
        .with_location(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(filter.clone())
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && !NOT_SPANS.iter().any(|t| meta.target().starts_with(t))
        }));
    let bridge = logger_provider.map(|provider| {
        let quiet = NOT_BRIDGED.iter().fold(filter.clone(), |f, target| {
            f.with_target(*target, LevelFilter::OFF)
        });
        OpenTelemetryTracingBridge::new(provider).with_filter(quiet)
    });
    let subscriber = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .with(bridge);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| SetupError::TracingSubscriber(e.to_string()))
}

/// The default fmt format, prefixed with `trace_id=… span_id=…` of the current OpenTelemetry
/// span when there is one.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            write!(
                writer,
                "trace_id={} span_id={} ",
                sc.trace_id(),
                sc.span_id()
            )?;
        }
        self.0.format_event(ctx, writer, event)
    }
}
