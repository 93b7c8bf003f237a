//! Configuration errors.

use std::fmt;

use crate::propagation::PropagationError;

/// A bad configuration value, naming what is wrong and where it came from.
///
/// Layers never fail a request because of configuration: [`crate::Config::new`] logs one warning
/// and falls back to the default; [`crate::Config::from_env`] returns this error instead.
///
/// Its `Debug` form is the same sentence as its `Display` form, so `?` in `main` prints the
/// helpful text rather than a struct dump.
#[derive(Clone)]
#[non_exhaustive]
pub enum ConfigError {
    /// `OTEL_PROPAGATORS` (or a propagator list given in code) names something unusable.
    Propagators(PropagationError),
    /// An attribute value length limit variable is not a number of bytes.
    ValueLength {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Propagators(e) => write!(f, "invalid propagator configuration: {e}"),
            ConfigError::ValueLength { variable, value } => {
                write!(
                    f,
                    "{variable}={value:?}: expected a number of bytes (0 or more)"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Propagators(e) => Some(e),
            ConfigError::ValueLength { .. } => None,
        }
    }
}

impl From<PropagationError> for ConfigError {
    fn from(e: PropagationError) -> Self {
        ConfigError::Propagators(e)
    }
}
