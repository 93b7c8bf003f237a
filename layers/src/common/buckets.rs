//! Histogram bucket lists every protocol shares.

/// Bucket boundaries (seconds) the HTTP and RPC conventions recommend for durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Bucket boundaries (milliseconds) of the pre-stable `*.duration` metrics (`http/dup`).
pub(crate) const OLD_DURATION_BUCKETS_MS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];
