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
//! [`SeriesCache`]. Each thread keeps its last few series in front of the caches (any cache's,
//! told apart by the cache's id): a request whose series is one of them skips the cache's hash
//! and read lock, so threads do not write the lock's cache line on every request.

use std::any::Any;
use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::common::intern::Near;
use std::sync::RwLock;

use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Histogram};
use opentelemetry::{KeyValue, Value};

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

/// One counter series, and optionally the same set's series of a histogram beside it: bound
/// when the provider binds, else the attribute list they record with.
pub(crate) struct FixedCounter {
    bound: Option<BoundCounter<u64>>,
    histogram: Option<BoundHistogram<u64>>,
    attrs: Box<[KeyValue]>,
}

impl FixedCounter {
    /// The series of `counter` (and of `histogram`, when given) with `attrs`, bound when
    /// `binds`.
    pub(crate) fn new(
        counter: &Counter<u64>,
        histogram: Option<&Histogram<u64>>,
        attrs: Box<[KeyValue]>,
        binds: bool,
    ) -> Self {
        FixedCounter {
            bound: binds.then(|| counter.bind(&attrs)),
            histogram: histogram.filter(|_| binds).map(|h| h.bind(&attrs)),
            attrs,
        }
    }

    /// Adds `n` to the series.
    pub(crate) fn add(&self, counter: &Counter<u64>, n: u64) {
        match &self.bound {
            Some(bound) => bound.add(n),
            None => counter.add(n, &self.attrs),
        }
    }

    /// Records `n` on `histogram` (the one given to [`FixedCounter::new`]) with this set.
    pub(crate) fn record(&self, histogram: &Histogram<u64>, n: u64) {
        match &self.histogram {
            Some(bound) => bound.record(n),
            None => histogram.record(n, &self.attrs),
        }
    }
}

/// Bound series keyed by their attribute set (or by a key the set is built from), bound on
/// first use.
///
/// Holds at most [`SeriesCache::CAP`] series (the attribute sets are bounded, but a misconfigured
/// route closure could make them many): past that, and for a provider that cannot bind,
/// [`SeriesCache::with`] answers `None` and the caller records through the attribute slice.
pub(crate) struct SeriesCache<V, O = Box<[KeyValue]>> {
    binds: bool,
    /// Tells this cache's entries apart in the threads' fronts.
    id: u64,
    hasher: rustc_hash::FxBuildHasher,
    map: RwLock<hashbrown::HashTable<Arc<Series<V, O>>>>,
}

/// Hands out the caches' ids (never 0, never reused).
static NEXT_CACHE: AtomicU64 = AtomicU64::new(1);

/// A series in a thread's front: its cache's id and the `Series<V, O>` of that cache's types.
type FrontEntry = (u64, Arc<dyn Any + Send + Sync>);

thread_local! {
    /// The thread's last few series, of any cache: a request whose series is one of them skips
    /// the cache's hash and lock, and with it the cache line every thread's read lock writes.
    static SERIES_FRONT: RefCell<Near<FrontEntry>> = const { RefCell::new(Near::new()) };
}

/// Cache `id`'s series in `front` that `hit` accepts.
fn front_series<T: 'static>(
    front: &Near<FrontEntry>,
    id: u64,
    hit: impl Fn(&T) -> bool,
) -> Option<&T> {
    let is =
        |(cache, entry): &FrontEntry| *cache == id && entry.downcast_ref::<T>().is_some_and(&hit);
    front.get(is)?.1.downcast_ref::<T>()
}

/// What a [`SeriesCache`] is keyed by: looked up borrowed, stored owned (as `Owned`, the
/// cache's `O`).
pub(crate) trait SeriesKey {
    /// The stored form.
    type Owned;
    /// Hashes what tells the sets of one call site apart.
    fn quick_hash<H: Hasher>(&self, state: &mut H);
    /// Whether `owned` is this key.
    fn matches(&self, owned: &Self::Owned) -> bool;
    /// The stored form of this key.
    fn to_owned_key(&self) -> Self::Owned;
}

impl SeriesKey for [KeyValue] {
    type Owned = Box<[KeyValue]>;
    fn quick_hash<H: Hasher>(&self, state: &mut H) {
        QuickKey(self).hash(state);
    }
    fn matches(&self, owned: &Box<[KeyValue]>) -> bool {
        same_set(owned, self)
    }
    fn to_owned_key(&self) -> Box<[KeyValue]> {
        self.into()
    }
}

/// One cached series: its key, the key's quick hash, and the bound handles.
struct Series<V, O> {
    hash: u64,
    key: O,
    value: V,
}

/// What [`SeriesKey::quick_hash`] hashes of an attribute set.
struct QuickKey<'a>(&'a [KeyValue]);

impl Hash for QuickKey<'_> {
    /// The values only, and of a string only its length and first and last eight bytes: the
    /// keys of one call site are the same in every set, and the values are bounded by
    /// construction, so this separates the sets at a fraction of hashing every byte of every
    /// key and value (sets that collide are still told apart by comparing them whole).
    fn hash<H: Hasher>(&self, state: &mut H) {
        for kv in self.0 {
            match &kv.value {
                Value::I64(i) => state.write_i64(*i),
                Value::Bool(b) => state.write_u8(u8::from(*b)),
                Value::String(s) => quick_str(s.as_str(), state),
                _ => kv.hash(state),
            }
        }
    }
}

/// Hashes `s` by its length and first and last eight bytes (all of it when shorter).
pub(crate) fn quick_str<H: Hasher>(s: &str, state: &mut H) {
    let b = s.as_bytes();
    state.write_usize(b.len());
    match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(first), Some(last)) => {
            state.write_u64(u64::from_ne_bytes(*first));
            state.write_u64(u64::from_ne_bytes(*last));
        }
        _ => state.write(b),
    }
}

/// A hasher that feeds [`SeriesKey::quick_hash`] into the cache's hasher.
struct Quick<'a, K: ?Sized>(&'a K);

impl<K: ?Sized + SeriesKey> Hash for Quick<'_, K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.quick_hash(state);
    }
}

impl<V, O> SeriesCache<V, O> {
    /// Series per cache (per instrument of a layer).
    pub(crate) const CAP: usize = 1024;

    /// An empty cache; `binds` says whether the provider binds for real.
    pub(crate) fn new(binds: bool) -> Self {
        SeriesCache {
            binds,
            id: NEXT_CACHE.fetch_add(1, Ordering::Relaxed),
            hasher: rustc_hash::FxBuildHasher,
            map: RwLock::new(hashbrown::HashTable::new()),
        }
    }
}

impl<V: Send + Sync + 'static, O: Send + Sync + 'static> SeriesCache<V, O> {
    /// Runs `record` on the series of `key`, bound now with `bind` if it is new; `None` when
    /// the provider cannot bind or the cache is full (record unbound instead).
    pub(crate) fn with<K: ?Sized + SeriesKey<Owned = O>, R>(
        &self,
        key: &K,
        bind: impl FnOnce(&K) -> V,
        record: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        if !self.binds {
            return None;
        }
        // Taken only by a hit in the thread's front; otherwise still here for the cache's.
        let mut record = Some(record);
        let near = SERIES_FRONT.try_with(|front| {
            let front = front.try_borrow().ok()?;
            let series = front_series(&front, self.id, |s: &Series<V, O>| key.matches(&s.key))?;
            record.take().map(|record| record(&series.value))
        });
        if let Ok(Some(recorded)) = near {
            return Some(recorded);
        }
        let record = record?;
        let series = self.lookup(key, bind)?;
        let recorded = record(&series.value);
        let _ = SERIES_FRONT.try_with(|front| {
            if let Ok(mut front) = front.try_borrow_mut() {
                front.keep((self.id, series));
            }
        });
        Some(recorded)
    }

    /// The series of `key` from the cache, bound now with `bind` if it is new; `None` when the
    /// cache is full.
    fn lookup<K: ?Sized + SeriesKey<Owned = O>>(
        &self,
        key: &K,
        bind: impl FnOnce(&K) -> V,
    ) -> Option<Arc<Series<V, O>>> {
        let hash = self.hasher.hash_one(Quick(key));
        let eq = |s: &Arc<Series<V, O>>| s.hash == hash && key.matches(&s.key);
        if let Some(series) = self.map.read().ok()?.find(hash, eq) {
            return Some(series.clone());
        }
        let mut map = self.map.write().ok()?;
        if let Some(series) = map.find(hash, eq) {
            return Some(series.clone());
        }
        if map.len() >= Self::CAP {
            return None;
        }
        let series = Arc::new(Series {
            hash,
            key: key.to_owned_key(),
            value: bind(key),
        });
        map.insert_unique(hash, series.clone(), |s| s.hash);
        Some(series)
    }
}

/// `a == b`, element by element, deciding most pairs without reading a string: the keys of one
/// call site are the same `&'static str`s, and most values are the same static or shared
/// strings, so equal pointers settle them; anything else falls back to `==`.
fn same_set(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_kv(x, y))
}

fn same_kv(a: &KeyValue, b: &KeyValue) -> bool {
    same_str(a.key.as_str(), b.key.as_str())
        && match (&a.value, &b.value) {
            (Value::I64(x), Value::I64(y)) => x == y,
            (Value::String(x), Value::String(y)) => same_str(x.as_str(), y.as_str()),
            (x, y) => x == y,
        }
}

/// `a == b`, settled by the pointers first (the same static or shared string).
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    (a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())) || a == b
}

/// [`same_str`] for optional strings (both absent is the same).
pub(crate) fn same_opt_str(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_str(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

impl<T: Copy + Send + Sync + 'static, O: Send + Sync + 'static> SeriesCache<BoundHistogram<T>, O> {
    /// Records `value` on `histogram`'s series of `key`, whose attribute list is `attributes`:
    /// bound when the provider binds and the set is `bindable` (bounded by construction) and
    /// the cache has room, else through the attribute slice.
    pub(crate) fn record<K, A>(
        &self,
        histogram: &Histogram<T>,
        value: T,
        key: &K,
        attributes: impl Fn(&K) -> A,
        bindable: bool,
    ) where
        K: ?Sized + SeriesKey<Owned = O>,
        A: AsRef<[KeyValue]>,
    {
        let bound = bindable
            .then(|| {
                self.with(
                    key,
                    |k| histogram.bind(attributes(k).as_ref()),
                    |h| h.record(value),
                )
            })
            .flatten();
        if bound.is_none() {
            histogram.record(value, attributes(key).as_ref());
        }
    }
}

impl<V, O> SeriesCache<V, O> {
    /// Series bound so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

impl<V, O> std::fmt::Debug for SeriesCache<V, O> {
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

    /// The counter's sum and the histogram's point count and sum.
    fn total(exporter: &InMemoryMetricExporter) -> (u64, u64, u64) {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        let metrics = exporter.get_finished_metrics().unwrap();
        let (mut sum, mut count, mut recorded) = (0, 0, 0);
        for rm in &metrics {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    match m.data() {
                        AggregatedMetrics::U64(MetricData::Sum(s)) => {
                            sum += s.data_points().map(|p| p.value()).sum::<u64>();
                        }
                        AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                            count += h.data_points().map(|p| p.count()).sum::<u64>();
                            recorded += h.data_points().map(|p| p.sum()).sum::<u64>();
                        }
                        _ => {}
                    }
                }
            }
        }
        (sum, count, recorded)
    }

    fn count_three(binds: bool, provider: &dyn Fn() -> opentelemetry::metrics::Meter) {
        let counter = provider().u64_counter("c").build();
        let histogram = provider().u64_histogram("h").build();
        let attrs = vec![KeyValue::new("k", "v")].into();
        let series = FixedCounter::new(&counter, Some(&histogram), attrs, binds);
        for _ in 0..3 {
            series.add(&counter, 1);
            series.record(&histogram, 2);
        }
        assert_eq!(*series.attrs, [KeyValue::new("k", "v")]);
    }

    /// Per attribute set: point count and sum of histogram "h".
    fn points(exporter: &InMemoryMetricExporter) -> Vec<(String, u64, f64)> {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        let mut out = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                        for p in h.data_points() {
                            let attrs: Vec<_> = p
                                .attributes()
                                .map(|kv| format!("{}={}", kv.key, kv.value))
                                .collect();
                            out.push((attrs.join(","), p.count(), p.sum()));
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn cached_histogram_series_export_what_unbound_recording_does() {
        let run = |binds: bool| {
            let exporter = InMemoryMetricExporter::default();
            let sdk = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter.clone()).build())
                .build();
            let wrapped = Wrapped(sdk.clone());
            let meter = if binds {
                sdk.meter("t")
            } else {
                wrapped.meter("t")
            };
            let histogram = meter.f64_histogram("h").build();
            let cache = SeriesCache::new(binds);
            let a = [KeyValue::new("rpc.method", "a")];
            let b = [KeyValue::new("rpc.method", "b")];
            for _ in 0..3 {
                cache.record(&histogram, 1.0, &a[..], <[_]>::to_vec, true);
            }
            cache.record(&histogram, 2.0, &b[..], <[_]>::to_vec, true);
            cache.record(&histogram, 4.0, &b[..], <[_]>::to_vec, false);
            let cached = cache.len();
            sdk.force_flush().unwrap();
            (points(&exporter), cached)
        };
        let (bound, cached) = run(true);
        let (unbound, none) = run(false);
        assert_eq!((cached, none), (2, 0), "only a binding provider caches");
        assert_eq!(bound, unbound);
        assert_eq!(
            bound,
            [
                ("rpc.method=a".to_owned(), 3, 3.0),
                ("rpc.method=b".to_owned(), 2, 6.0)
            ]
        );
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
            assert_eq!(total(&exporter), (3, 3, 6), "binds = {binds}");
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn set(route: &str, status: i64) -> Vec<KeyValue> {
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("http.response.status_code", status),
        ]
    }

    #[test]
    fn sets_whose_quick_hashes_collide_are_still_separate_series() {
        let cache = SeriesCache::<usize>::new(true);
        // Same length, same first and last eight bytes: the same quick hash.
        let a = set("/users/{id}/aaaa/x/posts", 200);
        let b = set("/users/{id}/bbbb/x/posts", 200);
        let hash = |s: &[KeyValue]| cache.hasher.hash_one(Quick(s));
        assert_eq!(hash(&a), hash(&b));
        let mut next = 0;
        let mut bind = |_: &[KeyValue]| {
            next += 1;
            next
        };
        assert_eq!(cache.with(&a[..], &mut bind, |v| *v), Some(1));
        assert_eq!(cache.with(&b[..], &mut bind, |v| *v), Some(2));
        assert_eq!(cache.with(&a[..], &mut bind, |v| *v), Some(1));
        assert_eq!(cache.with(&set("/a", 200)[..], &mut bind, |v| *v), Some(3));
        assert_eq!(cache.with(&set("/a", 500)[..], &mut bind, |v| *v), Some(4));
        assert_eq!(cache.with(&b[..], &mut bind, |v| *v), Some(2));
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn sets_are_the_same_exactly_when_equal() {
        let a = set("/a", 200);
        assert!(same_set(&a, &a.clone()));
        assert!(same_set(&a, &set("/a", 200)), "equal, not shared");
        assert!(!same_set(&a, &set("/b", 200)));
        assert!(!same_set(&a, &set("/a", 500)));
        assert!(!same_set(&a, &a[..2]));
        let float = |f: f64| [KeyValue::new("k", f)];
        assert!(same_set(&float(1.5), &float(1.5)));
        assert!(!same_set(&float(1.5), &float(2.5)));
        let key = |k: &str| [KeyValue::new(k.to_owned(), "v")];
        assert!(same_set(&key("k"), &key("k")));
        assert!(!same_set(&key("k"), &key("j")));
        assert!(!same_set(
            &[KeyValue::new("k", 1)],
            &[KeyValue::new("k", "1")]
        ));
    }

    #[test]
    fn the_threads_front_keeps_each_caches_series_apart() {
        let (a, b) = (
            SeriesCache::<usize>::new(true),
            SeriesCache::<usize>::new(true),
        );
        let other_type = SeriesCache::<&'static str>::new(true);
        let key = set("/front", 200);
        for _ in 0..3 {
            // The second round on is served by the thread's front.
            assert_eq!(a.with(&key[..], |_| 1, |v| *v), Some(1));
            assert_eq!(b.with(&key[..], |_| 2, |v| *v), Some(2));
            assert_eq!(other_type.with(&key[..], |_| "c", |v| *v), Some("c"));
            assert_eq!(a.with(&set("/front", 500)[..], |_| 3, |v| *v), Some(3));
        }
        assert_eq!((a.len(), b.len(), other_type.len()), (2, 1, 1));
        // More sets than the front holds: each still its own series.
        for round in 0..2 {
            for i in 0..6 {
                let k = set(&format!("/many/{i}"), 200);
                assert_eq!(
                    b.with(&k[..], |_| 100 + i, |v| *v),
                    Some(100 + i),
                    "{round}"
                );
            }
        }
        assert_eq!(b.len(), 1 + 6, "more sets than the front's four");
    }

    #[test]
    fn a_cache_for_a_provider_that_cannot_bind_answers_none() {
        let cache = SeriesCache::<()>::new(false);
        assert_eq!(cache.with(&set("/a", 200)[..], |_| (), |_| 1), None);
        assert_eq!(cache.len(), 0);
    }
}
