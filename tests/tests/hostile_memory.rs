//! Memory stays bounded when a hostile client meets a hung collector: every span waits in the
//! export queue, so each one must be small. Its own test binary, because resident memory is
//! process-wide.

use std::time::Duration;

use towerlight::setup::Setup;
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::otlp_receiver::BlackHole;
use towerlight_tests::{client, vars, Harness};

/// Resident memory of this process, in bytes (Linux).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// 500 requests with a 300 KB User-Agent while the collector never answers: 150 MB of
/// client-controlled text went by, the queue (2048 spans) holds every span, and resident memory
/// grows by well under 48 MiB (measured: 5 MiB per 1000 such requests with the default cap,
/// 285 MiB per 1000 with values copied verbatim).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_with_a_hung_collector_keep_memory_flat() {
    const REQUESTS: usize = 500;
    let hole = BlackHole::start().await;
    let guard = Setup::new()
        .env_lookup(vars(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &hole.endpoint()),
        ]))
        .scheduled_delay(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let server = AxumHarness::start(guard.config()).await;
    let http = client::http();
    let huge_ua = "U".repeat(300_000);
    // Warm up the client, the server and the allocator with the same traffic first.
    for _ in 0..20 {
        http.get(server.url("/users/7"))
            .header("user-agent", &huge_ua)
            .send()
            .await
            .unwrap();
    }
    let before = rss();
    for _ in 0..REQUESTS {
        let res = http
            .get(server.url("/users/7"))
            .header("user-agent", &huge_ua)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let grown = rss().saturating_sub(before);
    assert_eq!(guard.dropped_spans(), 0, "the queue held every span");
    assert!(
        grown < 48 << 20,
        "resident memory grew by {} MiB",
        grown >> 20
    );
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
}
