//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.

use std::time::Duration;

use opentelemetry_sdk::trace::Sampler;

use crate::config::SamplerHint;

use super::env::Env;
use super::error::SetupError;

pub(crate) const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
pub(crate) const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// What `OTEL_TRACES_SAMPLER` selects: a sampler, or Jaeger's remote sampler, which can only be
/// built once the export runtime that polls its endpoint runs.
#[derive(Debug, Clone)]
pub(crate) enum SamplerChoice {
    /// Ready to use.
    Fixed(Sampler),
    /// `jaeger_remote` / `parentbased_jaeger_remote`.
    JaegerRemote(JaegerRemote),
}

/// The settings of Jaeger's remote sampler, from `OTEL_TRACES_SAMPLER_ARG`
/// (`endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JaegerRemote {
    pub(crate) parent_based: bool,
    /// The HTTP sampling endpoint (`/sampling` of the Jaeger agent, `/api/sampling` of the
    /// collector, or any service speaking the protocol); `?service=<name>` is appended.
    pub(crate) endpoint: String,
    pub(crate) polling_interval: Duration,
    /// The ratio used until the first strategy arrives (and whenever the endpoint fails).
    pub(crate) initial_rate: f64,
}

impl JaegerRemote {
    /// The sampler, polling from the current Tokio runtime (enter the export runtime first).
    pub(crate) fn build<C>(&self, client: C, service_name: &str) -> Result<Sampler, SetupError>
    where
        C: opentelemetry_http::HttpClient + 'static,
    {
        let remote = Sampler::jaeger_remote(
            opentelemetry_sdk::runtime::Tokio,
            client,
            Sampler::TraceIdRatioBased(self.initial_rate),
            service_name,
        )
        .with_endpoint(self.endpoint.clone())
        .with_update_interval(self.polling_interval)
        .build()
        .map_err(|e| SetupError::invalid(OTEL_TRACES_SAMPLER_ARG, &self.endpoint, e.to_string()))?;
        Ok(if self.parent_based {
            Sampler::ParentBased(Box::new(remote))
        } else {
            remote
        })
    }
}

/// The sampler the variables select, and the hint that describes it (none of them reads
/// attributes); `parentbased_always_on` (the specification's default) when unset.
pub(crate) fn from_env(env: &Env<'_>) -> Result<(SamplerChoice, SamplerHint), SetupError> {
    use SamplerHint::{AlwaysOn, ParentBased, ParentBasedAlwaysOn, ReadsNoAttributes};
    let Some(name) = env.get(OTEL_TRACES_SAMPLER) else {
        let default = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        return Ok((SamplerChoice::Fixed(default), ParentBasedAlwaysOn));
    };
    let ratio = || ratio(env.get(OTEL_TRACES_SAMPLER_ARG));
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "jaeger_remote" | "parentbased_jaeger_remote" => {
            let parent_based = lower.starts_with("parent");
            let remote = jaeger_remote(env.get(OTEL_TRACES_SAMPLER_ARG), parent_based)?;
            let hint = if parent_based {
                ParentBased
            } else {
                ReadsNoAttributes
            };
            return Ok((SamplerChoice::JaegerRemote(remote), hint));
        }
        "xray" => {
            return Err(SetupError::invalid(
                OTEL_TRACES_SAMPLER,
                name,
                "the AWS X-Ray remote sampler has no Rust implementation for OpenTelemetry 0.33 \
                 (opentelemetry-aws 0.21 has none); sample with parentbased_traceidratio here \
                 and with X-Ray's rules in the collector",
            ))
        }
        _ => {}
    }
    let parent_based = |delegate| Sampler::ParentBased(Box::new(delegate));
    let (sampler, hint) = match lower.as_str() {
        "always_on" => (Sampler::AlwaysOn, AlwaysOn),
        "always_off" => (Sampler::AlwaysOff, ReadsNoAttributes),
        "traceidratio" => (Sampler::TraceIdRatioBased(ratio()?), ReadsNoAttributes),
        "parentbased_always_on" => (parent_based(Sampler::AlwaysOn), ParentBasedAlwaysOn),
        "parentbased_always_off" => (parent_based(Sampler::AlwaysOff), ParentBased),
        "parentbased_traceidratio" => {
            let delegate = Sampler::TraceIdRatioBased(ratio()?);
            (parent_based(delegate), ParentBased)
        }
        _ => {
            return Err(SetupError::invalid(
                OTEL_TRACES_SAMPLER,
                name,
                "unknown sampler (known: always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio, \
                 jaeger_remote, parentbased_jaeger_remote)",
            ))
        }
    };
    Ok((SamplerChoice::Fixed(sampler), hint))
}

/// Jaeger's remote sampler from its argument, with the specification's defaults (a 60 s
/// polling interval, an initial rate of 0.001) and the Rust SDK's default HTTP endpoint.
fn jaeger_remote(arg: Option<String>, parent_based: bool) -> Result<JaegerRemote, SetupError> {
    let mut remote = JaegerRemote {
        parent_based,
        endpoint: "http://localhost:5778/sampling".to_owned(),
        polling_interval: Duration::from_secs(60),
        initial_rate: 0.001,
    };
    let Some(arg) = arg else { return Ok(remote) };
    let bad = |reason: &str| SetupError::invalid(OTEL_TRACES_SAMPLER_ARG, &arg, reason);
    for entry in arg.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected endpoint=…,pollingIntervalMs=…,initialSamplingRate=…"))?;
        match key.trim() {
            "endpoint" => {
                let uri: http::Uri = value.parse().map_err(|_| bad("endpoint is not a URL"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(bad("endpoint is not an http:// or https:// URL"));
                }
                remote.endpoint = value.to_owned();
            }
            "pollingIntervalMs" => {
                remote.polling_interval = value
                    .parse::<u64>()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| bad("pollingIntervalMs is not a number of milliseconds > 0"))?;
            }
            "initialSamplingRate" => {
                remote.initial_rate = value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad("initialSamplingRate is not a ratio between 0 and 1"))?;
            }
            other => return Err(bad(&format!("unknown key {other:?}"))),
        }
    }
    Ok(remote)
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

/// The hint for a sampler given to `setup` (`Setup::sampler`): a `ParentBased` may delegate to
/// the application's own sampler, which may read attributes; the others decide from the parent
/// and the trace id.
pub(crate) fn given_hint(given: &Sampler) -> SamplerHint {
    match given {
        Sampler::AlwaysOn => SamplerHint::AlwaysOn,
        Sampler::ParentBased(_) => SamplerHint::MayReadAttributes,
        _ => SamplerHint::ReadsNoAttributes,
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
            .map(|(s, _)| match s {
                SamplerChoice::Fixed(s) => format!("{s:?}"),
                SamplerChoice::JaegerRemote(r) => format!("{r:?}"),
            })
            .map_err(|e| e.to_string())
    }

    /// The hint `setup` gives: the given sampler's, else that of the one `env` names.
    fn hint(given: Option<&Sampler>, env: Option<&str>) -> SamplerHint {
        let env = env.map(str::to_owned);
        let f = move |var: &str| (var == OTEL_TRACES_SAMPLER).then(|| env.clone()).flatten();
        match given {
            Some(given) => given_hint(given),
            None => from_env(&Env(&f)).unwrap().1,
        }
    }

    fn reads_attributes(given: Option<&Sampler>) -> bool {
        hint(given, None).may_read_attributes()
    }

    #[test]
    fn each_sampler_setup_installs_has_the_hint_that_describes_it() {
        let env = |name| hint(None, Some(name));
        assert_eq!(hint(None, None), SamplerHint::ParentBasedAlwaysOn);
        assert_eq!(
            env("parentbased_always_on"),
            SamplerHint::ParentBasedAlwaysOn
        );
        assert_eq!(env("Always_On"), SamplerHint::AlwaysOn);
        for name in [
            "parentbased_always_off",
            "parentbased_traceidratio",
            "parentbased_jaeger_remote",
        ] {
            assert_eq!(env(name), SamplerHint::ParentBased, "{name}");
        }
        for name in ["always_off", "traceidratio", "jaeger_remote"] {
            assert_eq!(env(name), SamplerHint::ReadsNoAttributes, "{name}");
        }
        let given = |s: Sampler| hint(Some(&s), Some("always_on"));
        assert_eq!(given(Sampler::AlwaysOn), SamplerHint::AlwaysOn);
        assert_eq!(given(Sampler::AlwaysOff), SamplerHint::ReadsNoAttributes);
        let custom = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert_eq!(given(custom), SamplerHint::MayReadAttributes);
    }

    #[test]
    fn only_a_given_parent_based_sampler_may_read_attributes() {
        assert!(!reads_attributes(None));
        assert!(!reads_attributes(Some(&Sampler::AlwaysOn)));
        assert!(!reads_attributes(Some(&Sampler::AlwaysOff)));
        assert!(!reads_attributes(Some(&Sampler::TraceIdRatioBased(0.5))));
        let custom = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert!(reads_attributes(Some(&custom)));
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
    fn jaeger_remote_arguments_and_defaults() {
        assert_eq!(
            sampler(Some("jaeger_remote"), None).unwrap(),
            "JaegerRemote { parent_based: false, endpoint: \"http://localhost:5778/sampling\", \
             polling_interval: 60s, initial_rate: 0.001 }"
        );
        assert_eq!(
            sampler(
                Some("parentbased_jaeger_remote"),
                Some("endpoint=http://agent:5778/sampling, pollingIntervalMs=5000,initialSamplingRate=0.25")
            )
            .unwrap(),
            "JaegerRemote { parent_based: true, endpoint: \"http://agent:5778/sampling\", \
             polling_interval: 5s, initial_rate: 0.25 }"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            sampler(Some("sometimes"), None).unwrap_err(),
            "OTEL_TRACES_SAMPLER=\"sometimes\": unknown sampler (known: always_on, always_off, \
             traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, \
             jaeger_remote, parentbased_jaeger_remote)"
        );
        assert!(sampler(Some("xray"), None)
            .unwrap_err()
            .starts_with("OTEL_TRACES_SAMPLER=\"xray\": the AWS X-Ray remote sampler has no Rust"));
        assert_eq!(
            sampler(Some("jaeger_remote"), Some("endpoint=localhost:5778")).unwrap_err(),
            "OTEL_TRACES_SAMPLER_ARG=\"endpoint=localhost:5778\": endpoint is not an http:// or \
             https:// URL"
        );
        assert_eq!(
            sampler(Some("jaeger_remote"), Some("pollingIntervalMs=0")).unwrap_err(),
            "OTEL_TRACES_SAMPLER_ARG=\"pollingIntervalMs=0\": pollingIntervalMs is not a number \
             of milliseconds > 0"
        );
        assert_eq!(
            sampler(Some("jaeger_remote"), Some("colour=blue")).unwrap_err(),
            "OTEL_TRACES_SAMPLER_ARG=\"colour=blue\": unknown key \"colour\""
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
