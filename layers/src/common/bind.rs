//! Metric series pre-bound to their attribute sets, where the meter provider is known to bind.
//!
//! The API's `bind` has a default implementation that drops every measurement; only the SDK,
//! built with `experimental_metrics_bound_instruments` (which this crate enables on the SDK it
//! depends on with the `setup` feature, so every SDK of that version in the build has it),
//! overrides it. Binding is therefore used only for a provider known to be the SDK's: an
//! `SdkMeterProvider` given to `Config::meter_provider`, or the global provider `setup`
//! installed. Any other provider records through the attribute slice: never a lost point.
//!
//! A bound series costs one atomic update per point where an unbound one hashes its attributes
//! and looks the series up (≈ 20 ns against ≈ 150 ns for five attributes, measured in
//! `benches/`). Per-request series whose attributes are bounded by construction (method ×
//! scheme × status × route × version × error type) are bound once, on first use, and kept in a
//! [`SeriesCache`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use opentelemetry::metrics::{BoundCounter, Counter};
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
    bound: Option<BoundCounter<u64>>,
    attrs: Box<[KeyValue]>,
}

impl FixedCounter {
    /// The series of `counter` with `attrs`, bound when `binds`.
    pub(crate) fn new(counter: &Counter<u64>, attrs: Box<[KeyValue]>, binds: bool) -> Self {
        FixedCounter {
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
        match &self.bound {
            Some(bound) => bound.add(n),
            None => counter.add(n, &self.attrs),
        }
    }
}

/// Bound series keyed by their attribute set, bound on first use.
///
/// Holds at most [`SeriesCache::CAP`] series (the attribute sets are bounded, but a misconfigured
/// route closure could make them many): past that, and for a provider that cannot bind,
/// [`SeriesCache::with`] answers `None` and the caller records through the attribute slice.
pub(crate) struct SeriesCache<V> {
    binds: bool,
    map: RwLock<hashbrown::HashMap<Box<[KeyValue]>, V>>,
}

impl<V> SeriesCache<V> {
    /// Series per cache (per instrument of a layer).
    pub(crate) const CAP: usize = 1024;

    /// An empty cache; `binds` says whether the provider binds for real.
    pub(crate) fn new(binds: bool) -> Self {
        SeriesCache {
            binds,
            map: RwLock::new(hashbrown::HashMap::new()),
        }
    }

    /// Runs `record` on the series of `attrs`, bound now with `bind` if it is new; `None` when
    /// the provider cannot bind or the cache is full (record unbound instead).
    pub(crate) fn with<R>(
        &self,
        attrs: &[KeyValue],
        bind: impl FnOnce(&[KeyValue]) -> V,
        record: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        if !self.binds {
            return None;
        }
        if let Some(series) = self.map.read().ok()?.get(attrs) {
            return Some(record(series));
        }
        let mut map = self.map.write().ok()?;
        if let Some(series) = map.get(attrs) {
            return Some(record(series));
        }
        if map.len() >= Self::CAP {
            return None;
        }
        let series = map.entry(attrs.into()).or_insert_with(|| bind(attrs));
        Some(record(series))
    }
}

impl<V> SeriesCache<V> {
    /// Series bound so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

impl<V> std::fmt::Debug for SeriesCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.map.read().map_or(0, |m| m.len());
        f.debug_struct("SeriesCache")
            .field("binds", &self.binds)
            .field("series", &len)
            .finish()
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
