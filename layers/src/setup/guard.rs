//! [`TelemetryGuard`]: owns what setup built and flushes it on the way out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use super::error::ShutdownError;
use super::otlp::ExportRuntime;
use super::queue::QueueStats;
use crate::{Config, Propagator, SemconvMode};

/// What [`Setup`](super::Setup) built. Keep it alive as long as the service runs: dropping it
/// force-flushes and shuts down every provider (printing the console's last traces and its
/// request summary), and [`TelemetryGuard::shutdown`] does the same and reports failures.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = towerlight::setup::init()?;
/// // … serve …
/// if let Err(e) = telemetry.shutdown() {
///     eprintln!("{e}"); // e.g. the collector did not answer in time
/// }
/// # Ok(())
/// # }
/// ```
pub struct TelemetryGuard {
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: SdkMeterProvider,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) resource: Resource,
    pub(crate) propagator: Propagator,
    pub(crate) semconv: SemconvMode,
    /// The attribute value length limit from the environment, for the layers too.
    pub(crate) value_length: Option<usize>,
    pub(crate) stats: Vec<Arc<QueueStats>>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus_registry: Option<prometheus::Registry>,
    pub(crate) shutdown_timeout: Duration,
    /// The OTLP endpoints in use (`traces → http://…`), named in shutdown errors.
    pub(crate) endpoints: Vec<String>,
    /// Declared after the providers: it must outlive their final exports.
    pub(crate) runtime: Option<ExportRuntime>,
    pub(crate) finished: bool,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("resource", &self.resource)
            .field("logs", &self.logger_provider.is_some())
            .field("dropped_spans", &self.dropped_spans())
            .finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    /// The tracer provider (also the global one after [`Setup::install`](super::Setup::install)).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider (also the global one after [`Setup::install`](super::Setup::install)).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The logger provider, when the OTLP logs exporter is on: hand it to a log bridge of your
    /// choice (with [`Setup::with_tracing`](super::Setup::with_tracing), `tracing` is bridged
    /// already).
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger_provider.as_ref()
    }

    /// The resource every signal carries.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The propagator (also the global one after [`Setup::install`](super::Setup::install)).
    pub fn propagator(&self) -> &Propagator {
        &self.propagator
    }

    /// A layer [`Config`] that matches this setup: its tracer and meter providers, its
    /// propagator and semantic-convention mode. Start from it and add your own options.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), towerlight::setup::SetupError> {
    /// let telemetry = towerlight::setup::init()?;
    /// let layer = towerlight::HttpServerLayer::with_config(telemetry.config().opt_in_metrics(true));
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn config(&self) -> Config {
        let config = Config::new()
            .tracer_provider(self.tracer_provider.clone())
            .meter_provider(self.meter_provider.clone())
            .propagator(self.propagator.clone())
            .semconv(self.semconv);
        match self.value_length {
            Some(n) => config.max_attribute_length(n),
            None => config,
        }
    }

    /// Spans lost because an export queue was full (the collector too slow or unreachable),
    /// summed over every span exporter. Also exported as
    /// `otel.sdk.processor.span.processed{error.type="queue_full"}`.
    pub fn dropped_spans(&self) -> u64 {
        self.stats.iter().map(|s| s.dropped()).sum()
    }

    /// Spans lost because their export failed (timeout, refused, rejected), summed over every
    /// span exporter. Also exported as `otel.sdk.exporter.span.exported{error.type=…}`.
    pub fn failed_spans(&self) -> u64 {
        self.stats.iter().map(|s| s.failed()).sum()
    }

    /// The Prometheus registry when the `prometheus` metrics exporter is on: serve it with
    /// [`encode_metrics`](super::encode_metrics) (or `towerlight_axum::metrics_route`).
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus_registry(&self) -> Option<&prometheus::Registry> {
        self.prometheus_registry.as_ref()
    }

    /// Exports everything buffered now, without shutting down.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let mut failures = Vec::new();
        let mut check = |what, r: Result<(), OTelSdkError>| {
            if let Err(e) = r {
                failures.push((what, e));
            }
        };
        check("tracer provider", self.tracer_provider.force_flush());
        check("meter provider", self.meter_provider.force_flush());
        if let Some(logs) = &self.logger_provider {
            check("logger provider", logs.force_flush());
        }
        self.result(failures)
    }

    /// `Ok` when nothing failed, else the failures with the endpoints they concern.
    fn result(&self, failures: Vec<(&'static str, OTelSdkError)>) -> Result<(), ShutdownError> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError {
                failures,
                endpoints: self.endpoints.clone(),
            })
        }
    }

    /// Flushes and shuts down every provider (traces first, so the span-loss metrics are final
    /// when the metrics are), reporting each failure; then stops the export runtime.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.finish()
    }

    /// One deadline for the whole shutdown: the providers are flushed and shut down on a
    /// thread of their own and the caller waits at most `shutdown_timeout` for it (the SDK's
    /// own steps each wait up to 5 s whatever they are told, so a hung collector would hold
    /// the caller — often an async runtime's thread — three times as long). What is still
    /// running then finishes in the background.
    fn finish(&mut self) -> Result<(), ShutdownError> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        let timeout = self.shutdown_timeout;
        let providers = Providers {
            tracer: self.tracer_provider.clone(),
            meter: self.meter_provider.clone(),
            logs: self.logger_provider.clone(),
            runtime: self.runtime.take(),
            timeout,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("towerlight-shutdown".into())
            .spawn(move || {
                let _ = tx.send(providers.shut_down());
            });
        let failures = match spawned {
            Ok(_) => rx
                .recv_timeout(timeout)
                .unwrap_or_else(|_| vec![("telemetry shutdown", OTelSdkError::Timeout(timeout))]),
            Err(_) => vec![(
                "telemetry shutdown",
                OTelSdkError::InternalFailure("cannot start the shutdown thread".into()),
            )],
        };
        self.result(failures)
    }
}

/// What the shutdown thread owns.
struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    logs: Option<SdkLoggerProvider>,
    /// Dropped last: the final exports run on it.
    runtime: Option<ExportRuntime>,
    timeout: Duration,
}

impl Providers {
    fn shut_down(self) -> Vec<(&'static str, OTelSdkError)> {
        let mut failures = Vec::new();
        let mut check = |what, r: Result<(), OTelSdkError>| {
            if let Err(e) = r {
                failures.push((what, e));
            }
        };
        // The batch processor exports what it holds when it shuts down; flushing first makes the
        // console print complete traces before its shutdown prints the leftovers.
        check("tracer provider", self.tracer.force_flush());
        check(
            "tracer provider",
            self.tracer.shutdown_with_timeout(self.timeout),
        );
        // A periodic reader collects and exports once more when it shuts down.
        check(
            "meter provider",
            self.meter.shutdown_with_timeout(self.timeout),
        );
        if let Some(logs) = &self.logs {
            check("logger provider", logs.shutdown_with_timeout(self.timeout));
        }
        drop(self.runtime);
        failures
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!(target: "towerlight::setup", "{e}");
        }
    }
}
