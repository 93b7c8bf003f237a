//! Turning resolved settings into providers, and installing them.

use std::sync::{Arc, Mutex};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use super::console::{ConsoleMetricExporter, ConsoleSpanExporter, Sink};
use super::error::SetupError;
use super::guard::TelemetryGuard;
use super::otlp::{self, ExportRuntime};
use super::queue::{self, BoundedProcessor, QueueStats};
use super::sampler::SamplerChoice;
use super::settings::Settings;
use super::{Exporter, Setup};

pub(crate) fn build(mut setup: Setup, install: bool) -> Result<TelemetryGuard, SetupError> {
    let settings = Settings::resolve(&setup)?;
    if install && setup.tracing && !cfg!(feature = "tracing") {
        return Err(SetupError::FeatureDisabled {
            variable: "Setup::with_tracing",
            value: "true".to_owned(),
            feature: "tracing",
        });
    }
    let needs_runtime = settings.traces_otlp.is_some()
        || settings.metrics_otlp.is_some()
        || settings.logs_otlp.is_some()
        || matches!(settings.sampler, SamplerChoice::JaegerRemote(_));
    let runtime = if needs_runtime {
        Some(ExportRuntime::start()?)
    } else {
        None
    };
    let console = Sink::new(
        setup
            .console_output
            .take()
            .unwrap_or_else(|| Arc::new(Mutex::new(Box::new(std::io::stdout())))),
        settings.color,
    );

    // Traces: one bounded batch pipeline per exporter.
    let mut tracer = SdkTracerProvider::builder()
        .with_resource(settings.resource.clone())
        .with_sampler(sampler(&settings, runtime.as_ref())?);
    let mut stats: Vec<Arc<QueueStats>> = Vec::new();
    for (index, exporter) in settings.traces.iter().enumerate() {
        match (exporter, &settings.traces_otlp, &runtime) {
            (Exporter::Otlp, Some(target), Some(rt)) => {
                let s = Arc::new(QueueStats::new(
                    index,
                    otlp::component_type(target.protocol),
                    settings.batch.max_queue_size,
                ));
                tracer = tracer.with_span_processor(BoundedProcessor::new(
                    otlp::span_exporter(target, rt)?,
                    settings.batch,
                    s.clone(),
                ));
                stats.push(s);
            }
            (Exporter::Console, ..) => {
                let s = Arc::new(QueueStats::new(
                    index,
                    "console_span_exporter",
                    settings.console_batch.max_queue_size,
                ));
                tracer = tracer.with_span_processor(BoundedProcessor::new(
                    ConsoleSpanExporter::from_sink(console.clone()),
                    settings.console_batch,
                    s.clone(),
                ));
                stats.push(s);
            }
            // Settings never pair these (validated there).
            _ => {}
        }
    }
    let tracer_provider = tracer.build();

    // Metrics: one reader per exporter.
    let mut meter = SdkMeterProvider::builder().with_resource(settings.resource.clone());
    #[cfg(feature = "prometheus")]
    let mut prometheus_registry = None;
    for exporter in &settings.metrics {
        match (exporter, &settings.metrics_otlp, &runtime) {
            (Exporter::Otlp, Some(target), Some(rt)) => {
                meter = meter.with_reader(
                    PeriodicReader::builder(otlp::metric_exporter(target, rt)?)
                        .with_interval(settings.metric_interval)
                        .build(),
                );
            }
            (Exporter::Console, ..) => {
                meter = meter.with_reader(
                    PeriodicReader::builder(ConsoleMetricExporter::from_sink(console.clone()))
                        .with_interval(settings.metric_interval)
                        .build(),
                );
            }
            #[cfg(feature = "prometheus")]
            (Exporter::Prometheus, ..) => {
                let registry = prometheus::Registry::new();
                meter = meter.with_reader(super::prom::reader(&registry)?);
                prometheus_registry = Some(registry);
            }
            _ => {}
        }
    }
    let meter_provider = meter.build();
    let self_meter = meter_provider.meter_with_scope(
        InstrumentationScope::builder("towerlight")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    queue::register_metrics(&self_meter, stats.clone());

    // Logs: only OTLP builds a provider (the console view of logs is the `tracing` output).
    let logger_provider = match (&settings.logs_otlp, &runtime) {
        (Some(target), Some(rt)) => Some(
            SdkLoggerProvider::builder()
                .with_resource(settings.resource.clone())
                .with_log_processor(super::log_names::NoDefaultEventNames)
                .with_batch_exporter(otlp::log_exporter(target, rt)?)
                .build(),
        ),
        _ => None,
    };

    if install {
        #[cfg(feature = "tracing")]
        if setup.tracing {
            super::subscriber::install(
                &settings,
                &tracer_provider,
                logger_provider.as_ref(),
                setup.log_writer.take(),
            )?;
        }
        opentelemetry::global::set_tracer_provider(tracer_provider.clone());
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        crate::common::bind::mark_global_sdk();
        crate::common::tracer::set_global_sdk(&tracer_provider, settings.sampler_hint);
        opentelemetry::global::set_text_map_propagator(settings.propagator.clone());
    }

    let endpoints = [
        &settings.traces_otlp,
        &settings.metrics_otlp,
        &settings.logs_otlp,
    ]
    .into_iter()
    .flatten()
    .map(|t| format!("{}: {} {}", t.signal.name, t.protocol.as_str(), t.endpoint))
    .collect();
    Ok(TelemetryGuard {
        tracer_provider,
        meter_provider,
        logger_provider,
        resource: settings.resource,
        propagator: settings.propagator,
        semconv: settings.semconv,
        value_length: settings.value_length,
        endpoints,
        stats,
        #[cfg(feature = "prometheus")]
        prometheus_registry,
        shutdown_timeout: setup.shutdown_timeout,
        runtime,
        finished: false,
    })
}

/// The sampler; Jaeger's remote one polls its endpoint from the export runtime.
fn sampler(settings: &Settings, runtime: Option<&ExportRuntime>) -> Result<Sampler, SetupError> {
    match (&settings.sampler, runtime) {
        (SamplerChoice::Fixed(s), _) => Ok(s.clone()),
        (SamplerChoice::JaegerRemote(remote), Some(rt)) => {
            let service = settings
                .resource
                .get(&opentelemetry::Key::from_static_str(
                    opentelemetry_semantic_conventions::attribute::SERVICE_NAME,
                ))
                .map(|v| v.to_string())
                .unwrap_or_default();
            rt.in_runtime(|| remote.build(reqwest::Client::new(), &service))
                .ok_or_else(|| SetupError::exporter("jaeger_remote", "the runtime has stopped"))?
        }
        (SamplerChoice::JaegerRemote(_), None) => Err(SetupError::exporter(
            "jaeger_remote",
            "no export runtime to poll the sampling endpoint from",
        )),
    }
}
