//! One call that builds and installs the OpenTelemetry SDK for a service: tracer, meter and
//! logger providers, their exporters, and the global propagator, from the standard `OTEL_*`
//! environment, with a builder to override any of it in code.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Reads OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, …
//! // With nothing set, traces and a request summary are printed on the console.
//! let telemetry = towerlight::setup::init()?;
//!
//! // Layers built from now on use the installed providers and propagator.
//! let layer = towerlight::HttpServerLayer::with_config(telemetry.config());
//! # let _ = layer;
//!
//! // Dropping the guard (or calling `shutdown`) flushes everything still buffered.
//! telemetry.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! The builder takes precedence over the environment, so code can pin what must not change and
//! leave the rest to operators:
//!
//! ```no_run
//! use std::time::Duration;
//! use towerlight::setup::{Exporter, Setup};
//!
//! # fn main() -> Result<(), towerlight::setup::SetupError> {
//! let telemetry = Setup::new()
//!     .service_name("checkout")
//!     .service_version(env!("CARGO_PKG_VERSION"))
//!     .traces_exporters([Exporter::Otlp])
//!     .otlp_endpoint("http://otel-collector:4318")
//!     .otlp_timeout(Duration::from_secs(2))
//!     .install()?;
//! # drop(telemetry);
//! # Ok(())
//! # }
//! ```
//!
//! What setup guarantees:
//! - **Clear errors.** A bad value is a [`SetupError`] naming the variable and the value
//!   (credentials in headers are masked). Nothing panics.
//! - **Bounded export.** Spans go through a batch processor whose queue is bounded (2048 by
//!   default); when the collector is slow or unreachable the service keeps answering, memory
//!   stays bounded, and lost spans are counted: [`TelemetryGuard::dropped_spans`], the
//!   `otel.sdk.processor.span.processed{error.type="queue_full"}` and
//!   `otel.sdk.exporter.span.exported{error.type=…}` metrics, and one rate-limited warning.
//! - **A console view by default**, so a developer sees traces without a collector
//!   ([`console`]).
//! - **No surprise reads**: variables are read through one lookup
//!   ([`Setup::env_lookup`]), and exports run on a small runtime of their own, so setup works
//!   from any async runtime or none.

pub mod console;
mod env;
mod error;
mod guard;
mod limits;
mod log_names;
mod otlp;
mod pipeline;
#[cfg(feature = "prometheus")]
mod prom;
mod queue;
mod resource;
mod sampler;
mod settings;
#[cfg(feature = "tracing")]
mod subscriber;
#[cfg(test)]
mod test_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Sampler;

pub use error::{SetupError, ShutdownError};
pub use guard::TelemetryGuard;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use prom::encode_metrics;

use crate::{Propagator, SemconvMode};

/// Where a signal is exported, as named in `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` and
/// `OTEL_LOGS_EXPORTER`. An empty list is `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exporter {
    /// `otlp`: to a collector over OTLP (gRPC or HTTP/protobuf, see [`OtlpProtocol`]).
    Otlp,
    /// `console`: readable output on standard output (see [`console`]). For logs, it means no
    /// OpenTelemetry log export: the log lines of [`Setup::with_tracing`] are the console view.
    Console,
    /// `prometheus` (metrics only, feature `prometheus`): a pull exporter whose registry the
    /// guard exposes for a `/metrics` endpoint.
    Prometheus,
}

/// The OTLP transport, as named in `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `grpc` (default port 4317).
    Grpc,
    /// `http/protobuf` (default port 4318), the specification's default.
    HttpProtobuf,
    /// `http/json` (default port 4318): OTLP/HTTP with JSON bodies.
    HttpJson,
}

impl OtlpProtocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

/// Builds and installs telemetry from the process environment: `Setup::new().install()`.
///
/// ```no_run
/// let _telemetry = towerlight::setup::init().expect("valid OTEL_* configuration");
/// ```
pub fn init() -> Result<TelemetryGuard, SetupError> {
    Setup::new().install()
}

/// The setup builder: every option overrides the matching environment variable.
///
/// Nothing is read until [`Setup::install`] or [`Setup::build`]; then every variable that the code
/// did not override is read through the lookup (the process environment unless
/// [`Setup::env_lookup`] replaced it), so a bad value in a variable the code overrides is never an
/// error.
#[must_use = "nothing is set up until `install()` or `build()`"]
pub struct Setup {
    pub(crate) lookup: env::Lookup,
    pub(crate) resource: resource::ResourceOverrides,
    pub(crate) traces: Option<Vec<Exporter>>,
    pub(crate) metrics: Option<Vec<Exporter>>,
    pub(crate) logs: Option<Vec<Exporter>>,
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) otlp_protocol: Option<OtlpProtocol>,
    pub(crate) otlp_headers: Vec<(String, String)>,
    pub(crate) otlp_timeout: Option<Duration>,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) propagator: Option<Propagator>,
    pub(crate) semconv: Option<SemconvMode>,
    pub(crate) metric_interval: Option<Duration>,
    pub(crate) max_queue_size: Option<usize>,
    pub(crate) max_export_batch_size: Option<usize>,
    pub(crate) scheduled_delay: Option<Duration>,
    pub(crate) console_color: Option<bool>,
    pub(crate) console_output: Option<console::Output>,
    pub(crate) tracing: bool,
    pub(crate) log_filter: Option<String>,
    #[cfg(feature = "tracing")]
    pub(crate) log_writer: Option<tracing_subscriber::fmt::writer::BoxMakeWriter>,
    pub(crate) shutdown_timeout: Duration,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("otlp_protocol", &self.otlp_protocol)
            .field("tracing", &self.tracing)
            .finish_non_exhaustive()
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

impl Setup {
    /// A builder that reads the process environment for everything not set in code.
    pub fn new() -> Setup {
        Setup {
            lookup: env::process_env(),
            resource: resource::ResourceOverrides {
                detect: true,
                ..Default::default()
            },
            traces: None,
            metrics: None,
            logs: None,
            otlp_endpoint: None,
            otlp_protocol: None,
            otlp_headers: Vec::new(),
            otlp_timeout: None,
            sampler: None,
            propagator: None,
            semconv: None,
            metric_interval: None,
            max_queue_size: None,
            max_export_batch_size: None,
            scheduled_delay: None,
            console_color: None,
            console_output: None,
            tracing: false,
            log_filter: None,
            #[cfg(feature = "tracing")]
            log_writer: None,
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// Reads variables through `lookup` instead of the process environment — for tests, or for
    /// configuration kept elsewhere. Returning `None` means unset.
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let vars = HashMap::from([("OTEL_SERVICE_NAME", "checkout")]);
    /// let setup = towerlight::setup::Setup::new()
    ///     .env_lookup(move |name| vars.get(name).map(|v| v.to_string()));
    /// # let _ = setup;
    /// ```
    pub fn env_lookup<F>(mut self, lookup: F) -> Setup
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.lookup = Arc::new(lookup);
        self
    }

    /// `service.name` (overrides `OTEL_SERVICE_NAME`; the default is `unknown_service:<binary>`).
    pub fn service_name(mut self, name: impl Into<String>) -> Setup {
        self.resource.service_name = Some(name.into());
        self
    }

    /// `service.version`, typically `env!("CARGO_PKG_VERSION")`.
    pub fn service_version(mut self, version: impl Into<String>) -> Setup {
        self.resource.service_version = Some(version.into());
        self
    }

    /// One more resource attribute (wins over `OTEL_RESOURCE_ATTRIBUTES` and the detectors).
    pub fn resource_attribute(mut self, attribute: KeyValue) -> Setup {
        self.resource.attributes.push(attribute);
        self
    }

    /// Whether to detect host, OS, process, container and Kubernetes attributes (default on).
    pub fn detect_resource(mut self, detect: bool) -> Setup {
        self.resource.detect = detect;
        self
    }

    /// Trace exporters (overrides `OTEL_TRACES_EXPORTER`; empty = none).
    pub fn traces_exporters(mut self, exporters: impl IntoIterator<Item = Exporter>) -> Setup {
        self.traces = Some(exporters.into_iter().collect());
        self
    }

    /// Metric exporters (overrides `OTEL_METRICS_EXPORTER`; empty = none).
    pub fn metrics_exporters(mut self, exporters: impl IntoIterator<Item = Exporter>) -> Setup {
        self.metrics = Some(exporters.into_iter().collect());
        self
    }

    /// Log exporters (overrides `OTEL_LOGS_EXPORTER`; empty = none). `Otlp` builds a logger
    /// provider; with [`Setup::with_tracing`] `tracing` events are bridged into it.
    pub fn logs_exporters(mut self, exporters: impl IntoIterator<Item = Exporter>) -> Setup {
        self.logs = Some(exporters.into_iter().collect());
        self
    }

    /// The OTLP base endpoint for every signal, like `OTEL_EXPORTER_OTLP_ENDPOINT`: for
    /// OTLP/HTTP the signal's path (`/v1/traces`, …) is appended.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Setup {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP transport (overrides `OTEL_EXPORTER_OTLP_PROTOCOL` and its per-signal forms).
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Setup {
        self.otlp_protocol = Some(protocol);
        self
    }

    /// One more OTLP header (wins over `OTEL_EXPORTER_OTLP_HEADERS` for the same name).
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Setup {
        self.otlp_headers.push((name.into(), value.into()));
        self
    }

    /// How long one OTLP export may take (overrides `OTEL_EXPORTER_OTLP_TIMEOUT`; default 10 s).
    pub fn otlp_timeout(mut self, timeout: Duration) -> Setup {
        self.otlp_timeout = Some(timeout);
        self
    }

    /// The sampler (overrides `OTEL_TRACES_SAMPLER`; default `parentbased_always_on`). The
    /// layers cannot see inside a given `ParentBased` (its delegate may read attributes), so
    /// they treat it as [`SamplerHint::MayReadAttributes`](crate::SamplerHint); every other
    /// sampler, and every one the variable names, gets the hint that describes it.
    pub fn sampler(mut self, sampler: Sampler) -> Setup {
        self.sampler = Some(sampler);
        self
    }

    /// The global propagator (overrides `OTEL_PROPAGATORS`; default W3C trace context + baggage).
    pub fn propagator(mut self, propagator: Propagator) -> Setup {
        self.propagator = Some(propagator);
        self
    }

    /// Which semantic-convention names the layers built from [`TelemetryGuard::config`] emit
    /// (overrides `OTEL_SEMCONV_STABILITY_OPT_IN`).
    pub fn semconv(mut self, mode: SemconvMode) -> Setup {
        self.semconv = Some(mode);
        self
    }

    /// How often metrics are exported (overrides `OTEL_METRIC_EXPORT_INTERVAL`; default 60 s).
    pub fn metric_export_interval(mut self, interval: Duration) -> Setup {
        self.metric_interval = Some(interval);
        self
    }

    /// How many finished spans may wait for export before new ones are dropped (and counted);
    /// overrides `OTEL_BSP_MAX_QUEUE_SIZE`, default 2048. This bounds the memory telemetry can
    /// take when the collector is slow or gone.
    pub fn max_queue_size(mut self, spans: usize) -> Setup {
        self.max_queue_size = Some(spans);
        self
    }

    /// The most spans in one export (overrides `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`; default 512,
    /// never more than the queue).
    pub fn max_export_batch_size(mut self, spans: usize) -> Setup {
        self.max_export_batch_size = Some(spans);
        self
    }

    /// The longest a finished span waits before its batch is exported (overrides
    /// `OTEL_BSP_SCHEDULE_DELAY`; default 5 s, 500 ms for the console).
    pub fn scheduled_delay(mut self, delay: Duration) -> Setup {
        self.scheduled_delay = Some(delay);
        self
    }

    /// Colours on the console (default: when standard output is a terminal and `NO_COLOR` is
    /// unset or empty).
    pub fn console_color(mut self, color: bool) -> Setup {
        self.console_color = Some(color);
        self
    }

    /// Where the console exporters write (default standard output).
    pub fn console_output(mut self, writer: impl Write + Send + 'static) -> Setup {
        self.console_output = Some(Arc::new(Mutex::new(Box::new(writer))));
        self
    }

    /// Also install a `tracing` subscriber (feature `tracing`, [`Setup::install`] only): log lines
    /// carrying the current trace and span ids, `#[instrument]` spans as children of the request
    /// span (tracing-opentelemetry), and — with the OTLP logs exporter — `tracing` events sent as
    /// OpenTelemetry logs. Off by default: an application that has its own subscriber keeps it.
    pub fn with_tracing(mut self, on: bool) -> Setup {
        self.tracing = on;
        self
    }

    /// The `tracing` filter, in `RUST_LOG`'s `level,target=level` syntax (overrides `RUST_LOG`;
    /// default `info,opentelemetry=warn`: the SDK crates' own informational messages are noise
    /// to most services, their warnings and errors are not).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Setup {
        self.log_filter = Some(filter.into());
        self
    }

    /// Where the log lines of [`Setup::with_tracing`] go (default standard output).
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn log_writer<W>(mut self, writer: W) -> Setup
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        self.log_writer = Some(tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer));
        self
    }

    /// How long the guard waits for each provider to flush at shutdown (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Setup {
        self.shutdown_timeout = timeout;
        self
    }

    /// Builds the providers and exporters **without** installing anything global: use the
    /// guard's providers (or [`TelemetryGuard::config`]) explicitly. Tests run side by side this
    /// way. [`Setup::with_tracing`] is ignored (a subscriber is global state).
    pub fn build(self) -> Result<TelemetryGuard, SetupError> {
        pipeline::build(self, false)
    }

    /// Builds everything and installs it: the global tracer and meter providers, the global
    /// propagator, and with [`Setup::with_tracing`] the global `tracing` subscriber.
    pub fn install(self) -> Result<TelemetryGuard, SetupError> {
        pipeline::build(self, true)
    }
}
