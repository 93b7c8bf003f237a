//! What every protocol shares: the size caps on client-controlled values and the redaction rules.

pub(crate) mod lazy;
pub(crate) mod limit;
pub(crate) mod redact;

pub use limit::DEFAULT_VALUE_LENGTH;
