//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.

use opentelemetry_sdk::trace::Sampler;

use super::env::Env;
use super::error::SetupError;

pub(crate) const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
pub(crate) const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// The sampler the variables select; `parentbased_always_on` (the specification's default)
/// when unset.
pub(crate) fn from_env(env: &Env<'_>) -> Result<Sampler, SetupError> {
    let Some(name) = env.get(OTEL_TRACES_SAMPLER) else {
        return Ok(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    };
    let ratio = || ratio(env.get(OTEL_TRACES_SAMPLER_ARG));
    Ok(match name.to_ascii_lowercase().as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()?)))
        }
        _ => {
            return Err(SetupError::invalid(
                OTEL_TRACES_SAMPLER,
                name,
                "unknown sampler (known: always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio)",
            ))
        }
    })
}

/// The ratio argument: a number in [0, 1]; 1.0 when unset, as the specification says.
fn ratio(arg: Option<String>) -> Result<f64, SetupError> {
    let Some(arg) = arg else { return Ok(1.0) };
    match arg.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(SetupError::invalid(
            OTEL_TRACES_SAMPLER_ARG,
            arg,
            "expected a sampling ratio between 0 and 1",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(name: Option<&'static str>, arg: Option<&'static str>) -> Result<String, String> {
        let f = move |var: &str| match var {
            OTEL_TRACES_SAMPLER => name.map(str::to_owned),
            OTEL_TRACES_SAMPLER_ARG => arg.map(str::to_owned),
            _ => None,
        };
        from_env(&Env(&f))
            .map(|s| format!("{s:?}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_name() {
        assert_eq!(sampler(None, None).unwrap(), "ParentBased(AlwaysOn)");
        assert_eq!(sampler(Some("always_on"), None).unwrap(), "AlwaysOn");
        assert_eq!(sampler(Some("always_off"), None).unwrap(), "AlwaysOff");
        assert_eq!(
            sampler(Some("traceidratio"), Some("0.25")).unwrap(),
            "TraceIdRatioBased(0.25)"
        );
        assert_eq!(
            sampler(Some("traceidratio"), None).unwrap(),
            "TraceIdRatioBased(1.0)"
        );
        assert_eq!(
            sampler(Some("parentbased_always_off"), None).unwrap(),
            "ParentBased(AlwaysOff)"
        );
        assert_eq!(
            sampler(Some("parentbased_traceidratio"), Some("0")).unwrap(),
            "ParentBased(TraceIdRatioBased(0.0))"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            sampler(Some("sometimes"), None).unwrap_err(),
            "OTEL_TRACES_SAMPLER=\"sometimes\": unknown sampler (known: always_on, always_off, \
             traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)"
        );
        assert_eq!(
            sampler(Some("traceidratio"), Some("1.5")).unwrap_err(),
            "OTEL_TRACES_SAMPLER_ARG=\"1.5\": expected a sampling ratio between 0 and 1"
        );
        assert_eq!(
            sampler(Some("parentbased_traceidratio"), Some("half")).unwrap_err(),
            "OTEL_TRACES_SAMPLER_ARG=\"half\": expected a sampling ratio between 0 and 1"
        );
    }
}
