//! Bounded span export with visible losses.
//!
//! The SDK's `BatchSpanProcessor` already has a bounded queue, but it keeps its drop count
//! private. [`BoundedProcessor`] admits a span only while fewer than `capacity` spans are queued
//! or being exported (the count goes down when [`CountingExporter`] finishes an export, however it
//! ends), so the inner queue — of the same capacity — can never overflow, and every loss is
//! counted here: spans refused because the queue was full and spans whose export failed.
//!
//! The counts are published as the semantic conventions' SDK self-observability metrics
//! (`otel.sdk.processor.span.processed` with `error.type=queue_full`,
//! `otel.sdk.exporter.span.exported` with the failure's `error.type`,
//! `otel.sdk.processor.span.queue.size` / `.capacity`) and reported by one rate-limited
//! `tracing` warning.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::limits::{limit_span, split_batch, MAX_EXPORT_BYTES};
use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, OTEL_COMPONENT_NAME, OTEL_COMPONENT_TYPE,
};
use opentelemetry_semantic_conventions::metric::{
    OTEL_SDK_EXPORTER_SPAN_EXPORTED, OTEL_SDK_PROCESSOR_SPAN_PROCESSED,
    OTEL_SDK_PROCESSOR_SPAN_QUEUE_CAPACITY, OTEL_SDK_PROCESSOR_SPAN_QUEUE_SIZE,
};

/// How often, at most, the loss warning is repeated.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The batch settings of one span pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSettings {
    /// The attribute value length limit applied to every span (none: only oversized spans are
    /// cut).
    pub(crate) value_limit: Option<usize>,
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) scheduled_delay: Duration,
}

/// Counters shared by a processor, its exporter, the metric callbacks and the guard.
#[derive(Debug)]
pub(crate) struct QueueStats {
    processor_name: String,
    exporter_type: &'static str,
    exporter_name: String,
    capacity: usize,
    /// Spans admitted whose export has not finished yet.
    pending: AtomicUsize,
    admitted: AtomicU64,
    dropped: AtomicU64,
    exported: AtomicU64,
    /// Loss warnings logged so far (rate-limited).
    warnings: AtomicU64,
    failed: Mutex<Vec<(&'static str, u64)>>,
    warn: RateLimit,
}

impl QueueStats {
    pub(crate) fn new(index: usize, exporter_type: &'static str, capacity: usize) -> QueueStats {
        QueueStats {
            processor_name: format!("batching_span_processor/{index}"),
            exporter_type,
            exporter_name: format!("{exporter_type}/{index}"),
            capacity,
            pending: AtomicUsize::new(0),
            admitted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
            failed: Mutex::new(Vec::new()),
            warn: RateLimit::new(WARN_EVERY),
        }
    }

    /// Spans refused because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Spans whose export failed (any reason).
    pub(crate) fn failed(&self) -> u64 {
        self.failed_by_type().iter().map(|(_, n)| n).sum()
    }

    fn failed_by_type(&self) -> Vec<(&'static str, u64)> {
        self.failed.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn admit(&self) -> bool {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                (p < self.capacity).then_some(p + 1)
            })
            .is_ok()
    }

    fn record_failure(&self, error_type: &'static str, n: u64) {
        if let Ok(mut failed) = self.failed.lock() {
            match failed.iter_mut().find(|(t, _)| *t == error_type) {
                Some((_, count)) => *count += n,
                None => failed.push((error_type, n)),
            }
        }
    }

    fn warn_loss(&self) {
        if self.warn.allow() {
            self.warnings.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "towerlight::setup",
                exporter = %self.exporter_name,
                dropped_queue_full = self.dropped(),
                failed_exports = self.failed(),
                queue_capacity = self.capacity,
                "spans are being lost: the export queue is full or the exporter is failing \
                 (is the collector reachable?); see the otel.sdk.* metrics for counts"
            );
        }
    }
}

/// Allows one event, then at most one per period.
#[derive(Debug)]
struct RateLimit {
    start: Instant,
    period_ms: u64,
    /// Milliseconds since `start` of the last allowed event, plus one (0 = never).
    last: AtomicU64,
}

impl RateLimit {
    fn new(period: Duration) -> RateLimit {
        RateLimit {
            start: Instant::now(),
            period_ms: period.as_millis() as u64,
            last: AtomicU64::new(0),
        }
    }

    fn allow(&self) -> bool {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.period_ms {
            return false;
        }
        self.last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// A batch span processor whose queue is bounded *and* whose losses are counted.
#[derive(Debug)]
pub(crate) struct BoundedProcessor {
    inner: BatchSpanProcessor,
    stats: Arc<QueueStats>,
    value_limit: Option<usize>,
}

impl BoundedProcessor {
    pub(crate) fn new<E>(exporter: E, settings: BatchSettings, stats: Arc<QueueStats>) -> Self
    where
        E: SpanExporter + 'static,
    {
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(settings.max_queue_size)
            .with_max_export_batch_size(settings.max_export_batch_size.min(settings.max_queue_size))
            .with_scheduled_delay(settings.scheduled_delay)
            .build();
        let exporter = CountingExporter {
            inner: exporter,
            stats: stats.clone(),
        };
        BoundedProcessor {
            inner: BatchSpanProcessor::new(exporter, config),
            stats,
            value_limit: settings.value_limit,
        }
    }
}

impl SpanProcessor for BoundedProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        // The batch processor ignores unsampled spans; they must not take a queue slot.
        if !span.span_context.is_sampled() {
            return;
        }
        if self.stats.admit() {
            self.stats.admitted.fetch_add(1, Ordering::Relaxed);
            // Limited before it waits in the queue: memory is bounded by the queue's length.
            limit_span(&mut span, self.value_limit);
            self.inner.on_end(span);
        } else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            self.stats.warn_loss();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Wraps the real exporter: counts exported and failed spans and frees their queue slots when an
/// export ends — also when the export future is dropped before it finishes.
pub(crate) struct CountingExporter<E> {
    inner: E,
    stats: Arc<QueueStats>,
}

impl<E: fmt::Debug> fmt::Debug for CountingExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingExporter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Frees `n` queue slots on drop; spans not yet settled (exported or failed) when the export
/// future is dropped count as timed out.
struct InFlight<'a> {
    stats: &'a QueueStats,
    n: usize,
    settled: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.settled < self.n {
            self.stats
                .record_failure("timeout", (self.n - self.settled) as u64);
        }
        self.stats.pending.fetch_sub(self.n, Ordering::AcqRel);
    }
}

fn error_type(e: &OTelSdkError) -> &'static str {
    match e {
        OTelSdkError::Timeout(_) => "timeout",
        OTelSdkError::AlreadyShutdown => "already_shutdown",
        OTelSdkError::InternalFailure(_) => "export_failed",
    }
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    /// Exports in requests a collector accepts: a batch heavier than [`MAX_EXPORT_BYTES`] goes
    /// out in several, and a refused request loses only its own spans.
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut in_flight = InFlight {
            stats: &self.stats,
            n: batch.len(),
            settled: 0,
        };
        let mut result = Ok(());
        for chunk in split_batch(batch, MAX_EXPORT_BYTES) {
            let n = chunk.len();
            match self.inner.export(chunk).await {
                Ok(()) => {
                    self.stats.exported.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    self.stats.record_failure(error_type(&e), n as u64);
                    self.stats.warn_loss();
                    result = Err(e);
                }
            }
            in_flight.settled += n;
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Observes a success count under `attrs` and each failure count under `attrs` plus its
/// `error.type`, the shape of the conventions' `processed` and `exported` counters.
fn observe_outcomes(
    obs: &dyn AsyncInstrument<u64>,
    attrs: &[KeyValue],
    ok: u64,
    failures: &[(&'static str, u64)],
) {
    obs.observe(ok, attrs);
    for (error_type, n) in failures {
        let mut with_error = attrs.to_vec();
        with_error.push(KeyValue::new(ERROR_TYPE, *error_type));
        obs.observe(*n, &with_error);
    }
}

/// Publishes the counters of every span pipeline as observable instruments on `meter`.
pub(crate) fn register_metrics(meter: &Meter, all: Vec<Arc<QueueStats>>) {
    if all.is_empty() {
        return;
    }
    let processor_attrs = |s: &QueueStats| {
        [
            KeyValue::new(OTEL_COMPONENT_TYPE, "batching_span_processor"),
            KeyValue::new(OTEL_COMPONENT_NAME, s.processor_name.clone()),
        ]
    };
    let exporter_attrs = |s: &QueueStats| {
        [
            KeyValue::new(OTEL_COMPONENT_TYPE, s.exporter_type),
            KeyValue::new(OTEL_COMPONENT_NAME, s.exporter_name.clone()),
        ]
    };

    let stats = all.clone();
    meter
        .u64_observable_counter(OTEL_SDK_PROCESSOR_SPAN_PROCESSED)
        .with_unit("{span}")
        .with_description("Spans handed to the exporter, or dropped because the queue was full")
        .with_callback(move |obs| {
            for s in &stats {
                let admitted = s.admitted.load(Ordering::Relaxed);
                let dropped = [("queue_full", s.dropped())];
                observe_outcomes(obs, &processor_attrs(s), admitted, &dropped);
            }
        })
        .build();

    let stats = all.clone();
    meter
        .i64_observable_up_down_counter(OTEL_SDK_PROCESSOR_SPAN_QUEUE_SIZE)
        .with_unit("{span}")
        .with_description("Spans queued or being exported")
        .with_callback(move |obs| {
            for s in &stats {
                let n = s.pending.load(Ordering::Relaxed) as i64;
                obs.observe(n, &processor_attrs(s));
            }
        })
        .build();

    let stats = all.clone();
    meter
        .i64_observable_up_down_counter(OTEL_SDK_PROCESSOR_SPAN_QUEUE_CAPACITY)
        .with_unit("{span}")
        .with_description("The most spans the export queue holds")
        .with_callback(move |obs| {
            for s in &stats {
                obs.observe(s.capacity as i64, &processor_attrs(s));
            }
        })
        .build();

    meter
        .u64_observable_counter(OTEL_SDK_EXPORTER_SPAN_EXPORTED)
        .with_unit("{span}")
        .with_description("Spans the exporter sent, or failed to send")
        .with_callback(move |obs| {
            for s in &all {
                let exported = s.exported.load(Ordering::Relaxed);
                observe_outcomes(obs, &exporter_attrs(s), exported, &s.failed_by_type());
            }
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::sync::mpsc;

    use crate::setup::test_support::SharedBuf;

    /// An exporter that blocks every export until told to go on, and counts what it got.
    #[derive(Debug)]
    struct Gate {
        release: Mutex<mpsc::Receiver<()>>,
        got: Arc<AtomicUsize>,
    }

    impl SpanExporter for Gate {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let _ = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(5));
            self.got.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_blocks() {
        let (tx, rx) = mpsc::channel();
        let got = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(QueueStats::new(0, "test_span_exporter", 4));
        let processor = BoundedProcessor::new(
            Gate {
                release: Mutex::new(rx),
                got: got.clone(),
            },
            BatchSettings {
                value_limit: None,
                max_queue_size: 4,
                max_export_batch_size: 4,
                scheduled_delay: Duration::from_secs(60),
            },
            stats.clone(),
        );
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("t");
        let log = SharedBuf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..10 {
                tracer.start("s").end();
            }
        });
        // One warning for six drops: the first, then at most one per 30 s.
        assert_eq!(stats.warnings.load(Ordering::SeqCst), 1);
        // Its text, when this thread's subscriber saw it: `tracing` caches callsite interest
        // process-wide, so a scoped subscriber can miss an event another test thread
        // registered first; the count above is the reliable check.
        let text = log.text();
        assert!(
            text.is_empty() || text ==
            " WARN towerlight::setup: spans are being lost: the export queue is full or the \
             exporter is failing (is the collector reachable?); see the otel.sdk.* metrics for \
             counts exporter=test_span_exporter/0 dropped_queue_full=1 failed_exports=0 \
             queue_capacity=4\n",
            "{text}"
        );
        // Four spans fill the queue (the gate holds the export); six are refused.
        assert_eq!(stats.admitted.load(Ordering::SeqCst), 4);
        assert_eq!(stats.dropped(), 6);
        for _ in 0..4 {
            tx.send(()).unwrap();
        }
        provider.force_flush().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 4);
        assert_eq!(stats.pending.load(Ordering::SeqCst), 0);
        assert_eq!(stats.exported.load(Ordering::SeqCst), 4);
        // Slots are free again.
        tracer.start("again").end();
        assert_eq!(stats.admitted.load(Ordering::SeqCst), 5);
        tx.send(()).unwrap();
        provider.shutdown().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 5);
    }

    #[derive(Debug)]
    struct Failing;

    impl SpanExporter for Failing {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure("collector down".into()))
        }
    }

    #[test]
    fn failed_exports_are_counted_by_type_and_free_their_slots() {
        let stats = Arc::new(QueueStats::new(1, "test_span_exporter", 8));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BoundedProcessor::new(
                Failing,
                BatchSettings {
                    value_limit: None,
                    max_queue_size: 8,
                    max_export_batch_size: 8,
                    scheduled_delay: Duration::from_secs(60),
                },
                stats.clone(),
            ))
            .build();
        let tracer = provider.tracer("t");
        for _ in 0..3 {
            tracer.start("s").end();
        }
        let _ = provider.force_flush();
        assert_eq!(stats.failed_by_type(), vec![("export_failed", 3)]);
        assert_eq!(stats.failed(), 3);
        assert_eq!(stats.pending.load(Ordering::SeqCst), 0);
        assert_eq!(stats.dropped(), 0);
        let _ = provider.shutdown();
    }

    #[test]
    fn rate_limit_allows_the_first_then_one_per_period() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert!(limit.allow());
        assert!(!limit.allow());
        assert!(!limit.allow());
        let limit = RateLimit::new(Duration::ZERO);
        assert!(limit.allow());
        assert!(limit.allow());
    }
}
