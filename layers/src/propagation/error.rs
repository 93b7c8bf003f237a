//! Errors from resolving a propagator configuration.

use std::fmt;

/// Why a propagator list (such as `OTEL_PROPAGATORS`) could not be resolved.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagationError {
    /// A name that is not a known propagator.
    Unknown {
        /// The unknown name, as written.
        name: String,
        /// The whole list it appeared in.
        value: String,
    },
    /// A known propagator whose support is behind a disabled cargo feature.
    FeatureDisabled {
        /// The propagator name, as written.
        name: String,
        /// The towerlight cargo feature that provides it.
        feature: &'static str,
    },
    /// `none` listed together with other propagators.
    NoneWithOthers {
        /// The whole list.
        value: String,
    },
    /// The environment variable is set but is not valid Unicode.
    NotUnicode {
        /// The variable name.
        variable: &'static str,
    },
}

/// The variable the names usually come from; named in error messages.
pub(crate) const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

impl fmt::Debug for PropagationError {
    /// The same sentence as `Display`: `?` in `main` prints this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PropagationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { name, value } => write!(
                f,
                "{OTEL_PROPAGATORS}={value:?}: unknown propagator {name:?} \
                 (known: tracecontext, baggage, b3, b3multi, jaeger, xray, none)"
            ),
            Self::FeatureDisabled { name, feature } => write!(
                f,
                "{OTEL_PROPAGATORS}: propagator {name:?} needs towerlight's {feature:?} \
                 cargo feature; enable it with `towerlight = {{ features = [\"{feature}\"] }}`"
            ),
            Self::NoneWithOthers { value } => write!(
                f,
                "{OTEL_PROPAGATORS}={value:?}: \"none\" cannot be combined with other propagators"
            ),
            Self::NotUnicode { variable } => {
                write!(f, "{variable} is set but is not valid Unicode")
            }
        }
    }
}

impl std::error::Error for PropagationError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_variable_and_value() {
        let err = PropagationError::Unknown {
            name: "foo".into(),
            value: "tracecontext,foo".into(),
        };
        let msg = err.to_string();
        assert!(msg.contains("OTEL_PROPAGATORS"), "{msg}");
        assert!(msg.contains("\"foo\""), "{msg}");
        assert!(msg.contains("tracecontext,foo"), "{msg}");

        let err = PropagationError::FeatureDisabled {
            name: "b3".into(),
            feature: "b3",
        };
        assert!(err
            .to_string()
            .contains("towerlight's \"b3\" cargo feature"));

        let err = PropagationError::NoneWithOthers {
            value: "none,baggage".into(),
        };
        assert!(err.to_string().contains("none,baggage"));

        let err = PropagationError::NotUnicode {
            variable: OTEL_PROPAGATORS,
        };
        assert!(err.to_string().contains("OTEL_PROPAGATORS"));
    }
}
