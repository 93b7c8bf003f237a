//! Counters pre-bound to a fixed attribute set, where the meter provider is known to bind.
//!
//! The API's `bind` has a default implementation that drops every measurement; only the SDK,
//! built with `experimental_metrics_bound_instruments` (which this crate enables on the SDK it
//! depends on with the `setup` feature, so every SDK of that version in the build has it),
//! overrides it. Binding is therefore used only for a provider known to be the SDK's: an
//! `SdkMeterProvider` given to `Config::meter_provider`, or the global provider `setup`
//! installed. Any other provider records through the attribute slice: never a lost point.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::metrics::Counter;
use opentelemetry::KeyValue;

/// Set when `towerlight::setup` installs its SDK meter provider as the global one.
static GLOBAL_IS_SDK: AtomicBool = AtomicBool::new(false);

/// Whether meters of a provider of type `P` bind for real.
#[cfg_attr(not(feature = "setup"), allow(clippy::extra_unused_type_parameters))]
pub(crate) fn provider_binds<P: 'static>() -> bool {
    #[cfg(feature = "setup")]
    {
        std::any::TypeId::of::<P>()
            == std::any::TypeId::of::<opentelemetry_sdk::metrics::SdkMeterProvider>()
    }
    #[cfg(not(feature = "setup"))]
    false
}

/// Records that the global meter provider is now the SDK's (called by `setup`).
#[cfg(feature = "setup")]
pub(crate) fn mark_global_sdk() {
    GLOBAL_IS_SDK.store(true, Ordering::Relaxed);
}

/// Whether the global meter provider binds for real.
pub(crate) fn global_binds() -> bool {
    GLOBAL_IS_SDK.load(Ordering::Relaxed)
}

/// One counter series: bound when the provider binds, else the attribute list it records with.
pub(crate) struct FixedCounter {
    #[cfg(feature = "setup")]
    bound: Option<opentelemetry::metrics::BoundCounter<u64>>,
    attrs: Box<[KeyValue]>,
}

impl FixedCounter {
    /// The series of `counter` with `attrs`, bound when `binds`.
    pub(crate) fn new(counter: &Counter<u64>, attrs: Box<[KeyValue]>, binds: bool) -> Self {
        #[cfg(not(feature = "setup"))]
        let _ = (counter, binds);
        FixedCounter {
            #[cfg(feature = "setup")]
            bound: binds.then(|| counter.bind(&attrs)),
            attrs,
        }
    }

    /// The series' attributes (for other instruments recorded with the same set).
    pub(crate) fn attributes(&self) -> &[KeyValue] {
        &self.attrs
    }

    /// Adds `n` to the series.
    pub(crate) fn add(&self, counter: &Counter<u64>, n: u64) {
        #[cfg(feature = "setup")]
        if let Some(bound) = &self.bound {
            return bound.add(n);
        }
        counter.add(n, &self.attrs);
    }
}

#[cfg(all(test, feature = "setup"))]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    /// A provider the crate cannot know binds: the SDK's, behind another type.
    struct Wrapped(SdkMeterProvider);

    impl opentelemetry::metrics::MeterProvider for Wrapped {
        fn meter_with_scope(
            &self,
            scope: opentelemetry::InstrumentationScope,
        ) -> opentelemetry::metrics::Meter {
            self.0.meter_with_scope(scope)
        }
    }

    fn total(exporter: &InMemoryMetricExporter) -> u64 {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        let metrics = exporter.get_finished_metrics().unwrap();
        let mut sum = 0;
        for rm in &metrics {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    if let AggregatedMetrics::U64(MetricData::Sum(s)) = m.data() {
                        sum += s.data_points().map(|p| p.value()).sum::<u64>();
                    }
                }
            }
        }
        sum
    }

    fn count_three(binds: bool, provider: &dyn Fn() -> opentelemetry::metrics::Meter) {
        let counter = provider().u64_counter("c").build();
        let series = FixedCounter::new(&counter, vec![KeyValue::new("k", "v")].into(), binds);
        for _ in 0..3 {
            series.add(&counter, 1);
        }
        assert_eq!(series.attributes(), [KeyValue::new("k", "v")]);
    }

    #[test]
    fn only_the_sdk_provider_binds_and_both_paths_count_every_point() {
        assert!(provider_binds::<SdkMeterProvider>());
        assert!(!provider_binds::<Wrapped>());
        for binds in [true, false] {
            let exporter = InMemoryMetricExporter::default();
            let sdk = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter.clone()).build())
                .build();
            if binds {
                count_three(true, &|| sdk.meter("t"));
            } else {
                let wrapped = Wrapped(sdk.clone());
                count_three(provider_binds::<Wrapped>(), &|| wrapped.meter("t"));
            }
            sdk.force_flush().unwrap();
            assert_eq!(total(&exporter), 3, "binds = {binds}");
        }
    }
}
