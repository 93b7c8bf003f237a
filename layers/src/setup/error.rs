//! Errors of [`Setup`](super::Setup) and of [`TelemetryGuard::shutdown`](super::TelemetryGuard).

use std::fmt;

use opentelemetry_sdk::error::OTelSdkError;

/// Why telemetry could not be set up. Every variant names the setting at fault, so the message
/// alone tells an operator what to fix; its `Debug` form is the same sentence.
#[non_exhaustive]
pub enum SetupError {
    /// An environment variable (or the builder option standing for it) has a value that cannot be
    /// used.
    InvalidValue {
        /// The variable, e.g. `OTEL_TRACES_SAMPLER`.
        variable: &'static str,
        /// The value as written, except for secrets: header values are replaced by `***`.
        value: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A value that needs a towerlight cargo feature which is not enabled.
    FeatureDisabled {
        /// The variable, e.g. `OTEL_METRICS_EXPORTER`.
        variable: &'static str,
        /// The value that needs the feature.
        value: String,
        /// The towerlight feature to enable.
        feature: &'static str,
    },
    /// `OTEL_PROPAGATORS` (or the propagator list) could not be resolved.
    Propagators(crate::propagation::PropagationError),
    /// An exporter rejected its configuration when it was built.
    Exporter {
        /// Which exporter (`otlp traces`, `prometheus`, …).
        exporter: &'static str,
        /// The exporter's own message.
        message: String,
    },
    /// The background runtime that drives OTLP exports could not be started.
    Runtime(std::io::Error),
    /// `with_tracing(true)` but a global `tracing` subscriber was already installed.
    TracingSubscriber(String),
}

impl SetupError {
    pub(crate) fn invalid(
        variable: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> SetupError {
        SetupError::InvalidValue {
            variable,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn exporter(exporter: &'static str, error: impl fmt::Display) -> SetupError {
        SetupError::Exporter {
            exporter,
            message: error.to_string(),
        }
    }
}

impl fmt::Debug for SetupError {
    /// The same sentence as `Display`: `?` in `main` prints this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::InvalidValue {
                variable,
                value,
                reason,
            } => write!(f, "{variable}={value:?}: {reason}"),
            SetupError::FeatureDisabled {
                variable,
                value,
                feature,
            } => write!(
                f,
                "{variable}={value:?} needs towerlight's {feature:?} cargo feature; enable it with \
                 `towerlight = {{ features = [\"setup\", \"{feature}\"] }}`"
            ),
            SetupError::Propagators(e) => write!(f, "{e}"),
            SetupError::Exporter { exporter, message } => {
                write!(f, "cannot build the {exporter} exporter: {message}")
            }
            SetupError::Runtime(e) => write!(f, "cannot start the telemetry export runtime: {e}"),
            SetupError::TracingSubscriber(e) => write!(
                f,
                "with_tracing(true): a global tracing subscriber is already installed ({e})"
            ),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Propagators(e) => Some(e),
            SetupError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::propagation::PropagationError> for SetupError {
    fn from(e: crate::propagation::PropagationError) -> Self {
        SetupError::Propagators(e)
    }
}

/// What went wrong while flushing and shutting down the providers: one entry per provider that
/// reported a failure (the others were still shut down).
pub struct ShutdownError {
    pub(crate) failures: Vec<(&'static str, OTelSdkError)>,
    /// The OTLP endpoints in use, so the message says where the exports were going.
    pub(crate) endpoints: Vec<String>,
}

impl ShutdownError {
    /// The failures, as (provider, error) pairs: `("tracer provider", …)`.
    pub fn failures(&self) -> &[(&'static str, OTelSdkError)] {
        &self.failures
    }
}

impl fmt::Debug for ShutdownError {
    /// The same sentence as `Display`: `?` in `main` prints this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("telemetry shutdown failed: ")?;
        for (i, (what, e)) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{what}: {e}")?;
        }
        if !self.endpoints.is_empty() {
            write!(f, " (exporting to {})", self.endpoints.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ShutdownError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_variable_and_value() {
        let e = SetupError::invalid("OTEL_TRACES_SAMPLER", "sometimes", "unknown sampler");
        assert_eq!(
            e.to_string(),
            "OTEL_TRACES_SAMPLER=\"sometimes\": unknown sampler"
        );
        let e = SetupError::FeatureDisabled {
            variable: "OTEL_METRICS_EXPORTER",
            value: "prometheus".into(),
            feature: "prometheus",
        };
        assert_eq!(
            e.to_string(),
            "OTEL_METRICS_EXPORTER=\"prometheus\" needs towerlight's \"prometheus\" cargo \
             feature; enable it with `towerlight = { features = [\"setup\", \"prometheus\"] }`"
        );
        // `?` in `main` prints the Debug form: the same sentence, not a struct dump.
        assert_eq!(format!("{e:?}"), e.to_string());
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(format!("{boxed:?}").starts_with("OTEL_METRICS_EXPORTER=\"prometheus\" needs"));
    }

    #[test]
    fn shutdown_error_lists_every_failure() {
        let e = ShutdownError {
            failures: vec![
                ("tracer provider", OTelSdkError::AlreadyShutdown),
                (
                    "meter provider",
                    OTelSdkError::InternalFailure("boom".into()),
                ),
            ],
            endpoints: vec!["traces: grpc http://collector:4317".into()],
        };
        assert_eq!(e.failures().len(), 2);
        assert_eq!(
            e.to_string(),
            "telemetry shutdown failed: tracer provider: Shutdown already invoked; \
             meter provider: Operation failed: boom (exporting to traces: grpc \
             http://collector:4317)"
        );
    }
}
