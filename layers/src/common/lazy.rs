//! The tracer and metric instruments of a layer, resolved when its first request needs them.
//!
//! A layer built before the application installs its providers (`Router::layer(..)` before
//! `towerlight::setup::init()`, the natural order in `main`) would otherwise hold the no-op
//! tracer and meter of the moment it was built and record nothing. Resolving on first use makes
//! the order irrelevant as long as the providers are installed before the first request; after
//! that, reading them is one atomic load, never a lock.

use std::sync::OnceLock;

use opentelemetry::metrics::Meter;

use crate::common::sampling::SamplerHint;
use crate::common::tracer::LayerTracer;
use crate::config::Config;

/// Builds a protocol's metric instruments from the meter and the configuration.
pub(crate) type BuildMetrics<M> = fn(&Meter, &Config) -> M;

/// A tracer and the instruments `M`, built from `config` on first use.
pub(crate) struct Lazy<M> {
    config: Config,
    build: BuildMetrics<M>,
    cell: OnceLock<(LayerTracer, M, SamplerHint)>,
}

impl<M> Lazy<M> {
    pub(crate) fn new(config: &Config, build: BuildMetrics<M>) -> Lazy<M> {
        Lazy {
            config: config.clone(),
            build,
            cell: OnceLock::new(),
        }
    }

    fn get(&self) -> &(LayerTracer, M, SamplerHint) {
        self.cell.get_or_init(|| {
            tracing::debug!(
                target: "towerlight",
                config = ?self.config,
                "first request: tracer and metric instruments resolved"
            );
            let meter = self.config.build_meter();
            (
                self.config.build_tracer(),
                (self.build)(&meter, &self.config),
                self.config.resolve_sampler_hint(),
            )
        })
    }

    /// The tracer (resolved now if this is the first use).
    pub(crate) fn tracer(&self) -> &LayerTracer {
        &self.get().0
    }

    /// What the tracer's sampler is known to be (resolved with the tracer).
    pub(crate) fn sampler_hint(&self) -> SamplerHint {
        self.get().2
    }

    /// The metric instruments (resolved now if this is the first use).
    pub(crate) fn metrics(&self) -> &M {
        &self.get().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer as _};

    #[test]
    fn the_global_providers_are_read_at_first_use_not_at_build() {
        let lazy: Lazy<opentelemetry::metrics::Counter<u64>> =
            Lazy::new(&Config::new(), |meter, _| meter.u64_counter("c").build());
        // Installed after the layer was built, before its first request.
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        opentelemetry::global::set_tracer_provider(provider);
        lazy.tracer().start("first").end();
        lazy.metrics().add(1, &[]);
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "first");
        assert!(std::ptr::eq(lazy.tracer(), lazy.tracer()), "resolved once");
    }
}
