//! Log records bridged from `tracing` carry no made-up event names.
//!
//! opentelemetry-appender-tracing sets every record's event name to the `tracing` metadata
//! name, which for an ordinary `info!(..)` is `event src/main.rs:12`: a file and line, not an
//! event name (`EventName` identifies a class of events). It has no option to leave it out and
//! the record has no way to unset it, so this processor, registered before the exporting one,
//! sets it to the empty string, which OTLP encodes exactly as "no event name". Names a user
//! gave (`info!(name: "user.login", ..)`) are kept.

use opentelemetry::logs::LogRecord as _;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

/// Clears `tracing`'s default `event <file>:<line>` names.
#[derive(Debug, Default)]
pub(crate) struct NoDefaultEventNames;

/// Whether `name` is `tracing`'s default for an event without a name of its own.
fn is_tracing_default(name: &str) -> bool {
    name.strip_prefix("event ")
        .is_some_and(|location| location.contains(':'))
}

impl LogProcessor for NoDefaultEventNames {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if record.event_name().is_some_and(is_tracing_default) {
            record.set_event_name("");
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tracing_default_names_are_cleared() {
        assert!(is_tracing_default("event src/main.rs:12"));
        assert!(is_tracing_default("event examples/src/storefront.rs:31"));
        assert!(!is_tracing_default("user.login"));
        assert!(!is_tracing_default("event"));
        assert!(!is_tracing_default("event_name"));
    }
}
