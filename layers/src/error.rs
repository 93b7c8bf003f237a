//! Configuration errors.

use std::fmt;

use crate::propagation::PropagationError;

/// A bad configuration value, naming what is wrong and where it came from.
///
/// Layers never fail a request because of configuration: [`crate::Config::new`] logs one warning
/// and falls back to the default; [`crate::Config::from_env`] returns this error instead.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigError {
    /// `OTEL_PROPAGATORS` (or a propagator list given in code) names something unusable.
    Propagators(PropagationError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Propagators(e) => write!(f, "invalid propagator configuration: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Propagators(e) => Some(e),
        }
    }
}

impl From<PropagationError> for ConfigError {
    fn from(e: PropagationError) -> Self {
        ConfigError::Propagators(e)
    }
}
