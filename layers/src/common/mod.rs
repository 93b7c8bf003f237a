//! What every protocol shares: the size caps on client-controlled values and the redaction rules.

pub(crate) mod address;
pub(crate) mod bind;
pub(crate) mod buckets;
pub(crate) mod headers;
pub(crate) mod intern;
pub(crate) mod lazy;
pub(crate) mod limit;
pub(crate) mod recent;
pub(crate) mod redact;
pub(crate) mod sampling;
#[cfg(all(test, feature = "setup"))]
pub(crate) mod testing;
pub(crate) mod tracer;
pub(crate) mod trust;

pub use limit::DEFAULT_VALUE_LENGTH;
