//! Resolving the builder and the environment into one validated set of settings.
//!
//! Precedence for every setting: what the code set on [`Setup`](super::Setup), then the
//! per-signal variable (`OTEL_EXPORTER_OTLP_TRACES_*`), then the general one, then the default.

use std::time::Duration;

use opentelemetry_sdk::Resource;

use super::env::{
    parse_count, parse_exporters, parse_key_values, parse_millis, parse_protocol, Env, Signal,
    LOGS, METRICS, OTLP_CERTIFICATE, OTLP_COMPRESSION, OTLP_ENDPOINT, OTLP_HEADERS, OTLP_PROTOCOL,
    OTLP_TIMEOUT, TRACES,
};
use super::error::SetupError;
use super::otlp::OtlpTarget;
use super::queue::BatchSettings;
use super::sampler::SamplerChoice;
use super::{resource, sampler, Exporter, OtlpProtocol, Setup};
use crate::{Propagator, SemconvMode};

pub(crate) const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
pub(crate) const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
pub(crate) const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
pub(crate) const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
pub(crate) const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
pub(crate) const OTEL_SEMCONV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";
pub(crate) const NO_COLOR: &str = "NO_COLOR";
pub(crate) const RUST_LOG: &str = "RUST_LOG";
pub(crate) const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// `info`, without the SDK's own informational chatter (its warnings and errors still show).
const DEFAULT_LOG_FILTER: &str = "info,opentelemetry=warn";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_METRIC_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_QUEUE: usize = 2048;
/// The largest span queue accepted. The SDK's batch processor allocates every slot of its queue
/// up front (a few hundred bytes each), so ten million slots take gigabytes before the first span
/// and four billion abort the process; 65 536 slots are about 25 MiB.
pub(crate) const MAX_QUEUE: usize = 65_536;
const DEFAULT_BATCH: usize = 512;
const DEFAULT_DELAY: Duration = Duration::from_secs(5);
/// The console is for people watching: traces appear within half a second.
const DEFAULT_CONSOLE_DELAY: Duration = Duration::from_millis(500);

/// Everything setup needs, validated.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) resource: Resource,
    pub(crate) traces: Vec<Exporter>,
    pub(crate) metrics: Vec<Exporter>,
    pub(crate) traces_otlp: Option<OtlpTarget>,
    pub(crate) metrics_otlp: Option<OtlpTarget>,
    pub(crate) logs_otlp: Option<OtlpTarget>,
    pub(crate) sampler: SamplerChoice,
    /// What the instruments may assume of that sampler (see [`sampler::from_env`], [`sampler::given_hint`]).
    pub(crate) sampler_hint: crate::config::SamplerHint,
    pub(crate) propagator: Propagator,
    pub(crate) semconv: SemconvMode,
    pub(crate) metric_interval: Duration,
    pub(crate) batch: BatchSettings,
    /// The console's batch settings: the same, with a shorter default delay.
    pub(crate) console_batch: BatchSettings,
    pub(crate) color: bool,
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` / `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, when set.
    pub(crate) value_length: Option<usize>,
    /// The `tracing` filter (read by the `tracing` feature).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) log_filter: String,
    /// Where the filter came from, for error messages.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) log_filter_var: &'static str,
}

/// The defaults when nothing is configured: console traces and metrics, no OTel logs.
fn default_exporters(signal: &Signal) -> Vec<Exporter> {
    match signal.name {
        "logs" => Vec::new(),
        _ => vec![Exporter::Console],
    }
}

impl Settings {
    pub(crate) fn resolve(setup: &Setup) -> Result<Settings, SetupError> {
        let env = Env(&*setup.lookup);

        let disabled = match env.get(OTEL_SDK_DISABLED) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(SetupError::invalid(
                    OTEL_SDK_DISABLED,
                    v,
                    "expected true or false",
                ))
            }
        };
        let exporters = |signal: &Signal, code: &Option<Vec<Exporter>>| match code {
            Some(list) => Ok(list.clone()),
            None if disabled => Ok(Vec::new()),
            None => match env.get(signal.exporter_var) {
                Some(value) => parse_exporters(signal, &value),
                None => Ok(default_exporters(signal)),
            },
        };
        let traces = exporters(&TRACES, &setup.traces)?;
        let metrics = exporters(&METRICS, &setup.metrics)?;
        let logs = exporters(&LOGS, &setup.logs)?;
        if metrics.contains(&Exporter::Prometheus) && !cfg!(feature = "prometheus") {
            return Err(SetupError::FeatureDisabled {
                variable: METRICS.exporter_var,
                value: "prometheus".to_owned(),
                feature: "prometheus",
            });
        }
        for (signal, list) in [(&TRACES, &traces), (&LOGS, &logs)] {
            if list.contains(&Exporter::Prometheus) {
                return Err(SetupError::invalid(
                    signal.exporter_var,
                    "prometheus",
                    "prometheus is a metrics exporter",
                ));
            }
        }

        let otlp = |signal: &Signal, list: &[Exporter]| -> Result<Option<OtlpTarget>, SetupError> {
            if list.contains(&Exporter::Otlp) {
                otlp_target(signal, &env, setup).map(Some)
            } else {
                Ok(None)
            }
        };
        let traces_otlp = otlp(&TRACES, &traces)?;
        let metrics_otlp = otlp(&METRICS, &metrics)?;
        let logs_otlp = otlp(&LOGS, &logs)?;

        let (sampler, sampler_hint) = match &setup.sampler {
            Some(s) => (SamplerChoice::Fixed(s.clone()), sampler::given_hint(s)),
            None => sampler::from_env(&env)?,
        };
        let propagator = match &setup.propagator {
            Some(p) => p.clone(),
            None => match env.get(OTEL_PROPAGATORS) {
                Some(names) => Propagator::from_names(&names)?,
                None => Propagator::w3c(),
            },
        };
        let semconv = setup.semconv.unwrap_or_else(|| {
            env.get(OTEL_SEMCONV_STABILITY_OPT_IN)
                .map(|v| SemconvMode::parse(&v))
                .unwrap_or_default()
        });
        let metric_interval = match setup.metric_interval {
            Some(d) => d,
            None => match env.get(OTEL_METRIC_EXPORT_INTERVAL) {
                Some(v) => positive(
                    OTEL_METRIC_EXPORT_INTERVAL,
                    &v,
                    parse_millis(OTEL_METRIC_EXPORT_INTERVAL, &v)?,
                )?,
                None => DEFAULT_METRIC_INTERVAL,
            },
        };

        let count = |code: Option<usize>, var: &'static str, builder: &'static str, default| {
            let (source, raw, n) = match code {
                Some(n) => (builder, n.to_string(), n.max(1)),
                None => match env.get(var) {
                    Some(v) => (var, v.clone(), parse_count(var, &v)?),
                    None => (var, String::new(), default),
                },
            };
            if n > MAX_QUEUE {
                return Err(SetupError::invalid(
                    source,
                    raw,
                    format!("expected a whole number between 1 and {MAX_QUEUE}"),
                ));
            }
            Ok(n)
        };
        let max_queue_size = count(
            setup.max_queue_size,
            OTEL_BSP_MAX_QUEUE_SIZE,
            "Setup::max_queue_size",
            DEFAULT_QUEUE,
        )?;
        let max_export_batch_size = count(
            setup.max_export_batch_size,
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            "Setup::max_export_batch_size",
            DEFAULT_BATCH,
        )?
        .min(max_queue_size);
        // A zero delay makes the batch processor spin a core while idle.
        let delay = match setup.scheduled_delay {
            Some(d) => Some(positive("Setup::scheduled_delay", &format!("{d:?}"), d)?),
            None => match env.get(OTEL_BSP_SCHEDULE_DELAY) {
                Some(v) => Some(positive(
                    OTEL_BSP_SCHEDULE_DELAY,
                    &v,
                    parse_millis(OTEL_BSP_SCHEDULE_DELAY, &v)?,
                )?),
                None => None,
            },
        };
        let value_length =
            crate::config::value_length_from_env(|k| env.get(k)).map_err(|e| match e {
                crate::ConfigError::ValueLength { variable, value } => {
                    SetupError::invalid(variable, value, "expected a number of bytes (0 or more)")
                }
                other => {
                    SetupError::invalid("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "", other.to_string())
                }
            })?;
        let batch = BatchSettings {
            value_limit: value_length,
            max_queue_size,
            max_export_batch_size,
            scheduled_delay: delay.unwrap_or(DEFAULT_DELAY),
        };
        let console_batch = BatchSettings {
            scheduled_delay: delay.unwrap_or(DEFAULT_CONSOLE_DELAY),
            ..batch
        };

        let no_color = env.get(NO_COLOR);
        let color = setup
            .console_color
            .unwrap_or_else(|| super::console::stdout_wants_color(no_color.as_deref()));
        let (log_filter_var, log_filter) = match &setup.log_filter {
            Some(f) => ("Setup::log_filter", f.clone()),
            None => (
                RUST_LOG,
                env.get(RUST_LOG)
                    .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
            ),
        };

        Ok(Settings {
            resource: resource::build(&env, &setup.resource)?,
            traces,
            metrics,
            traces_otlp,
            metrics_otlp,
            logs_otlp,
            sampler,
            sampler_hint,
            propagator,
            semconv,
            metric_interval,
            batch,
            console_batch,
            color,
            value_length,
            log_filter,
            log_filter_var,
        })
    }
}

fn positive(var: &'static str, raw: &str, d: Duration) -> Result<Duration, SetupError> {
    if d.is_zero() {
        Err(SetupError::invalid(
            var,
            raw,
            "expected a number of milliseconds greater than 0",
        ))
    } else {
        Ok(d)
    }
}

/// The OTLP endpoint, protocol, headers and timeout of one signal.
fn otlp_target(signal: &Signal, env: &Env<'_>, setup: &Setup) -> Result<OtlpTarget, SetupError> {
    let protocol = match setup.otlp_protocol {
        Some(p) => p,
        None => match env.first(&[signal.protocol_var, OTLP_PROTOCOL]) {
            Some((var, v)) => parse_protocol(var, &v)?,
            None => OtlpProtocol::HttpProtobuf,
        },
    };
    // A base endpoint gets the signal's path for OTLP/HTTP; a per-signal one is used as is.
    let with_path = |base: &str| match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
            format!("{}{}", base.trim_end_matches('/'), signal.http_path)
        }
    };
    // (where the value came from, the value as written, the URL to use)
    let (var, written, endpoint) = match &setup.otlp_endpoint {
        Some(base) => ("Setup::otlp_endpoint", base.clone(), with_path(base)),
        None => match env.get(signal.endpoint_var) {
            Some(full) => (signal.endpoint_var, full.clone(), full),
            None => match env.get(OTLP_ENDPOINT) {
                Some(base) => (OTLP_ENDPOINT, base.clone(), with_path(&base)),
                None => {
                    let base = match protocol {
                        OtlpProtocol::Grpc => "http://localhost:4317",
                        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                            "http://localhost:4318"
                        }
                    };
                    (OTLP_ENDPOINT, base.to_owned(), with_path(base))
                }
            },
        },
    };
    validate_endpoint(var, &written)?;
    validate_endpoint(var, &endpoint)?;

    let mut headers: Vec<(String, String)> = Vec::new();
    let mut add = |list: Vec<(String, String)>| {
        for (k, v) in list {
            headers.retain(|(old, _)| !old.eq_ignore_ascii_case(&k));
            headers.push((k, v));
        }
    };
    for var in [OTLP_HEADERS, signal.headers_var] {
        if let Some(v) = env.get(var) {
            let list = parse_key_values(var, &v, true)?;
            // Checked here, where the variable that holds them is known.
            super::otlp::validate_headers(var, &list)?;
            add(list);
        }
    }
    super::otlp::validate_headers("Setup::otlp_header", &setup.otlp_headers)?;
    add(setup.otlp_headers.clone());

    let timeout = match setup.otlp_timeout {
        Some(t) => positive("Setup::otlp_timeout", &format!("{t:?}"), t)?,
        None => match env.first(&[signal.timeout_var, OTLP_TIMEOUT]) {
            Some((var, v)) => positive(var, &v, parse_millis(var, &v)?)?,
            None => DEFAULT_TIMEOUT,
        },
    };
    let gzip = match env.first(&[signal.compression_var, OTLP_COMPRESSION]) {
        None => false,
        Some((_, v)) if v.eq_ignore_ascii_case("gzip") => true,
        Some((_, v)) if v.eq_ignore_ascii_case("none") => false,
        Some((var, v)) => return Err(SetupError::invalid(var, v, "expected gzip or none")),
    };
    let certificate = match env.first(&[signal.certificate_var, OTLP_CERTIFICATE]) {
        Some((var, path)) => Some(read_certificate(var, &path)?),
        None => None,
    };
    Ok(OtlpTarget {
        signal: *signal,
        endpoint,
        protocol,
        headers,
        timeout,
        gzip,
        certificate,
    })
}

/// Reads the PEM file of trusted certificates that `var` names (for a collector whose
/// certificate the system's roots do not cover, such as a self-signed one).
fn read_certificate(var: &'static str, path: &str) -> Result<Vec<u8>, SetupError> {
    let pem = std::fs::read(path)
        .map_err(|e| SetupError::invalid(var, path, format!("cannot read the file: {e}")))?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .ok()
        .filter(|certs| !certs.is_empty())
        .ok_or_else(|| SetupError::invalid(var, path, "no PEM certificate in the file"))?;
    Ok(pem)
}

fn validate_endpoint(var: &'static str, endpoint: &str) -> Result<(), SetupError> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| SetupError::invalid(var, endpoint, format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(SetupError::invalid(
                var,
                endpoint,
                "expected an http:// or https:// URL",
            ))
        }
    }
    if uri.host().is_none() {
        return Err(SetupError::invalid(var, endpoint, "the URL has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::Sampler;
    use std::sync::Arc;

    fn setup(vars: &[(&'static str, &'static str)]) -> Setup {
        let vars: Vec<(&'static str, &'static str)> = vars.to_vec();
        Setup::new().env_lookup(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn resolve(s: Setup) -> Settings {
        Settings::resolve(&s).unwrap()
    }

    fn err(s: Setup) -> String {
        Settings::resolve(&s).unwrap_err().to_string()
    }

    #[test]
    fn hostile_values_are_refused_with_the_variable_named() {
        let otlp = ("OTEL_TRACES_EXPORTER", "otlp");
        for huge in ["4000000000", "18446744073709551615", "10000000", "65537"] {
            let vars: &'static [(&'static str, &'static str)] =
                Box::leak(vec![("OTEL_BSP_MAX_QUEUE_SIZE", huge)].into_boxed_slice());
            assert_eq!(
                err(setup(vars)),
                format!(
                    "OTEL_BSP_MAX_QUEUE_SIZE=\"{huge}\": expected a whole number between 1 and \
                     65536"
                )
            );
        }
        assert_eq!(
            resolve(setup(&[("OTEL_BSP_MAX_QUEUE_SIZE", "65536")]))
                .batch
                .max_queue_size,
            65536
        );
        assert_eq!(
            err(setup(&[]).max_queue_size(1 << 30)),
            "Setup::max_queue_size=\"1073741824\": expected a whole number between 1 and 65536"
        );
        assert_eq!(
            err(setup(&[("OTEL_BSP_SCHEDULE_DELAY", "0")])),
            "OTEL_BSP_SCHEDULE_DELAY=\"0\": expected a number of milliseconds greater than 0"
        );
        assert_eq!(
            err(setup(&[]).scheduled_delay(Duration::ZERO)),
            "Setup::scheduled_delay=\"0ns\": expected a number of milliseconds greater than 0"
        );
        assert_eq!(
            err(setup(&[otlp, ("OTEL_EXPORTER_OTLP_TIMEOUT", "0")])),
            "OTEL_EXPORTER_OTLP_TIMEOUT=\"0\": expected a number of milliseconds greater than 0"
        );
        assert_eq!(
            err(setup(&[otlp, ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")])),
            "OTEL_EXPORTER_OTLP_COMPRESSION=\"brotli\": expected gzip or none"
        );
        assert_eq!(
            err(setup(&[("OTEL_RESOURCE_ATTRIBUTES", "a=%ZZ")])),
            "OTEL_RESOURCE_ATTRIBUTES=\"a=%ZZ\": the value of \"a\" is not valid \
             percent-encoded UTF-8"
        );
        // A bad general header list is reported under the general variable.
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=secret")
            ])),
            "OTEL_EXPORTER_OTLP_HEADERS=\"bad key=***\": \"bad key\" is not a valid header name"
        );
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=a%0Ab")
            ])),
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS=\"k=***\": the value of \"k\" is not a valid \
             header value"
        );
        assert_eq!(
            err(setup(&[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "big")])),
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=\"big\": expected a number of bytes (0 or more)"
        );
    }

    #[test]
    fn compression_and_value_limits_are_read() {
        let s = resolve(setup(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "300"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "200"),
        ]));
        assert!(s.traces_otlp.unwrap().gzip);
        assert!(!s.metrics_otlp.unwrap().gzip);
        assert_eq!(s.value_length, Some(200));
        assert_eq!(s.batch.value_limit, Some(200));
        assert_eq!(resolve(setup(&[])).value_length, None);
    }

    #[test]
    fn defaults_when_nothing_is_configured() {
        let s = resolve(setup(&[]).console_color(false));
        assert_eq!(s.traces, vec![Exporter::Console]);
        assert_eq!(s.metrics, vec![Exporter::Console]);
        assert_eq!(s.logs_otlp, None);
        assert_eq!(s.traces_otlp, None);
        assert_eq!(format!("{:?}", s.sampler), "Fixed(ParentBased(AlwaysOn))");
        assert_eq!(s.sampler_hint, crate::SamplerHint::ParentBasedAlwaysOn);
        assert_eq!(s.metric_interval, Duration::from_secs(60));
        assert_eq!(
            s.batch,
            BatchSettings {
                value_limit: None,
                max_queue_size: 2048,
                max_export_batch_size: 512,
                scheduled_delay: Duration::from_secs(5),
            }
        );
        assert_eq!(s.console_batch.scheduled_delay, Duration::from_millis(500));
        assert_eq!(s.semconv, SemconvMode::STABLE);
        assert_eq!(s.log_filter, "info,opentelemetry=warn");
        assert!(!s.color);
    }

    #[test]
    fn otlp_http_endpoints_get_signal_paths() {
        let s = resolve(setup(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp,console"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-team=shop"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-KEY=traces"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700"),
        ]));
        let t = s.traces_otlp.unwrap();
        assert_eq!(t.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(t.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(
            t.headers,
            vec![
                ("x-team".to_owned(), "shop".to_owned()),
                ("API-KEY".to_owned(), "traces".to_owned())
            ]
        );
        assert_eq!(t.timeout, Duration::from_millis(2500));
        let m = s.metrics_otlp.unwrap();
        assert_eq!(m.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(m.timeout, Duration::from_millis(700));
        assert_eq!(
            m.headers,
            vec![
                ("api-key".to_owned(), "a b".to_owned()),
                ("x-team".to_owned(), "shop".to_owned())
            ]
        );
        assert_eq!(s.logs_otlp.unwrap().endpoint, "http://logs:9999/custom");
        assert_eq!(s.metrics, vec![Exporter::Otlp, Exporter::Console]);
    }

    #[test]
    fn grpc_endpoints_are_used_as_given_and_code_wins() {
        let s = resolve(setup(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]));
        assert_eq!(s.traces_otlp.unwrap().endpoint, "http://localhost:4317");
        let s = resolve(
            setup(&[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:4317"),
            ])
            .otlp_protocol(OtlpProtocol::HttpProtobuf)
            .otlp_endpoint("http://code:4318")
            .otlp_header("authorization", "Bearer t")
            .otlp_timeout(Duration::from_millis(300)),
        );
        let t = s.traces_otlp.unwrap();
        assert_eq!(t.endpoint, "http://code:4318/v1/traces");
        assert_eq!(t.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(
            t.headers,
            vec![("authorization".to_owned(), "Bearer t".to_owned())]
        );
        assert_eq!(t.timeout, Duration::from_millis(300));
        let s = resolve(setup(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]));
        assert_eq!(
            s.traces_otlp.unwrap().endpoint,
            "http://localhost:4318/v1/traces"
        );
    }

    #[test]
    fn bad_values_name_variable_and_value() {
        let otlp = ("OTEL_TRACES_EXPORTER", "otlp");
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
            ])),
            "OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4318\": expected an http:// or https:// URL"
        );
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")
            ])),
            "OTEL_EXPORTER_OTLP_CERTIFICATE=\"/nonexistent/ca.pem\": cannot read the file: No \
             such file or directory (os error 2)"
        );
        assert_eq!(
            err(setup(&[
                otlp,
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                    "/proc/self/cmdline"
                )
            ])),
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=\"/proc/self/cmdline\": no PEM certificate in \
             the file"
        );
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift")
            ])),
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"thrift\": unknown protocol (known: grpc, \
             http/protobuf, http/json)"
        );
        assert_eq!(
            err(setup(&[otlp, ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")])),
            "OTEL_EXPORTER_OTLP_TIMEOUT=\"soon\": expected a whole number of milliseconds"
        );
        assert_eq!(
            err(setup(&[
                otlp,
                ("OTEL_EXPORTER_OTLP_HEADERS", "authorization")
            ])),
            "OTEL_EXPORTER_OTLP_HEADERS=\"***\": entry \"***\" is not key=value"
        );
        assert_eq!(
            err(setup(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")])),
            "OTEL_METRIC_EXPORT_INTERVAL=\"0\": expected a number of milliseconds greater than 0"
        );
        assert_eq!(
            err(setup(&[("OTEL_BSP_MAX_QUEUE_SIZE", "-1")])),
            "OTEL_BSP_MAX_QUEUE_SIZE=\"-1\": expected a whole number greater than 0"
        );
        assert_eq!(
            err(setup(&[("OTEL_PROPAGATORS", "tracecontext,carrier-pigeon")])),
            "OTEL_PROPAGATORS=\"tracecontext,carrier-pigeon\": unknown propagator \"carrier-pigeon\" \
             (known: tracecontext, baggage, b3, b3multi, jaeger, xray, none)"
        );
        assert_eq!(
            err(setup(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2")
            ])),
            "OTEL_TRACES_SAMPLER_ARG=\"2\": expected a sampling ratio between 0 and 1"
        );
        // A value the code overrides is never read, so it cannot fail.
        let s = resolve(
            setup(&[
                ("OTEL_TRACES_EXPORTER", "zipkin"),
                ("OTEL_TRACES_SAMPLER", "bad"),
            ])
            .traces_exporters([Exporter::Console])
            .sampler(Sampler::AlwaysOn),
        );
        assert_eq!(s.traces, vec![Exporter::Console]);
        assert_eq!(
            s.sampler_hint,
            crate::SamplerHint::AlwaysOn,
            "the given sampler's"
        );
    }

    #[test]
    fn sdk_disabled_turns_every_env_exporter_off() {
        let s = resolve(setup(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
        ]));
        assert_eq!((s.traces, s.metrics, s.logs_otlp), (vec![], vec![], None));
        // Code still decides for itself.
        let s =
            resolve(setup(&[("OTEL_SDK_DISABLED", "true")]).traces_exporters([Exporter::Console]));
        assert_eq!(s.traces, vec![Exporter::Console]);
        assert_eq!(
            err(setup(&[("OTEL_SDK_DISABLED", "yes")])),
            "OTEL_SDK_DISABLED=\"yes\": expected true or false"
        );
    }

    #[cfg(not(feature = "prometheus"))]
    #[test]
    fn prometheus_needs_its_feature() {
        assert_eq!(
            err(setup(&[("OTEL_METRICS_EXPORTER", "prometheus")])),
            "OTEL_METRICS_EXPORTER=\"prometheus\" needs towerlight's \"prometheus\" cargo feature; \
             enable it with `towerlight = { features = [\"setup\", \"prometheus\"] }`"
        );
    }

    #[test]
    fn batch_sampler_semconv_color_and_filter_from_env() {
        let s = resolve(setup(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
            ("NO_COLOR", "1"),
            ("RUST_LOG", "warn,shop=debug"),
        ]));
        assert_eq!(
            s.batch,
            BatchSettings {
                value_limit: None,
                max_queue_size: 16,
                max_export_batch_size: 16,
                scheduled_delay: Duration::from_millis(100),
            }
        );
        assert_eq!(s.console_batch, s.batch);
        assert_eq!(
            format!("{:?}", s.sampler),
            "Fixed(ParentBased(TraceIdRatioBased(0.5)))"
        );
        assert_eq!(s.sampler_hint, crate::SamplerHint::ParentBased);
        assert!(s.semconv.http_dup);
        assert_eq!(s.metric_interval, Duration::from_millis(250));
        assert!(!s.color);
        assert_eq!(s.log_filter, "warn,shop=debug");
    }

    #[test]
    fn the_lookup_is_the_only_source() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = calls.clone();
        let s = Setup::new().env_lookup(move |name| {
            seen.lock().unwrap().push(name.to_owned());
            None
        });
        resolve(s);
        let calls = calls.lock().unwrap();
        for var in [
            "OTEL_TRACES_EXPORTER",
            "OTEL_SERVICE_NAME",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_PROPAGATORS",
            "NO_COLOR",
        ] {
            assert!(
                calls.iter().any(|c| c == var),
                "{var} not read through the lookup: {calls:?}"
            );
        }
    }
}
