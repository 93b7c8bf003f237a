//! Reading the standard `OTEL_*` variables through a lookup function, so tests (and programs
//! that keep their configuration elsewhere) never touch the process environment.
//!
//! Every parser returns a [`SetupError`] naming the variable and the value; an empty or
//! whitespace-only value counts as unset, as the specification asks.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::error::SetupError;
use super::{Exporter, OtlpProtocol};

/// Where variables come from: `std::env::var` by default, any function in tests.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment (a value that is not valid Unicode counts as unset).
pub(crate) fn process_env() -> Lookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// The three signals, with the names of their per-signal variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signal {
    pub(crate) name: &'static str,
    pub(crate) exporter_var: &'static str,
    pub(crate) endpoint_var: &'static str,
    pub(crate) protocol_var: &'static str,
    pub(crate) headers_var: &'static str,
    pub(crate) timeout_var: &'static str,
    pub(crate) compression_var: &'static str,
    pub(crate) certificate_var: &'static str,
    /// Appended to `OTEL_EXPORTER_OTLP_ENDPOINT` for OTLP/HTTP.
    pub(crate) http_path: &'static str,
}

pub(crate) const TRACES: Signal = Signal {
    name: "traces",
    exporter_var: "OTEL_TRACES_EXPORTER",
    endpoint_var: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    protocol_var: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    headers_var: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    timeout_var: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    compression_var: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    certificate_var: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    http_path: "/v1/traces",
};

pub(crate) const METRICS: Signal = Signal {
    name: "metrics",
    exporter_var: "OTEL_METRICS_EXPORTER",
    endpoint_var: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    protocol_var: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    headers_var: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    timeout_var: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    compression_var: "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    certificate_var: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    http_path: "/v1/metrics",
};

pub(crate) const LOGS: Signal = Signal {
    name: "logs",
    exporter_var: "OTEL_LOGS_EXPORTER",
    endpoint_var: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    protocol_var: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    headers_var: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    timeout_var: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    compression_var: "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    certificate_var: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    http_path: "/v1/logs",
};

pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub(crate) const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub(crate) const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub(crate) const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
pub(crate) const OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
pub(crate) const OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";

/// A lookup that treats empty values as unset and trims the rest.
pub(crate) struct Env<'a>(pub(crate) &'a (dyn Fn(&str) -> Option<String> + Send + Sync));

impl Env<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let value = (self.0)(name)?;
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// The first of `names` that is set, with its name.
    pub(crate) fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|&name| self.get(name).map(|v| (name, v)))
    }
}

/// Parses an exporter list such as `otlp,console` (`none` alone means no exporter).
pub(crate) fn parse_exporters(signal: &Signal, value: &str) -> Result<Vec<Exporter>, SetupError> {
    let var = signal.exporter_var;
    let mut out = Vec::new();
    let mut saw_none = false;
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let exporter = match name.to_ascii_lowercase().as_str() {
            "none" => {
                saw_none = true;
                continue;
            }
            "otlp" => Exporter::Otlp,
            "console" => Exporter::Console,
            "prometheus" if signal.name == "metrics" => Exporter::Prometheus,
            "prometheus" => {
                return Err(SetupError::invalid(
                    var,
                    value,
                    "prometheus is a metrics exporter; use otlp, console or none here",
                ))
            }
            _ => {
                let known = if signal.name == "metrics" {
                    "otlp, console, prometheus, none"
                } else {
                    "otlp, console, none"
                };
                return Err(SetupError::invalid(
                    var,
                    value,
                    format!("unknown exporter {name:?} (known: {known})"),
                ));
            }
        };
        if !out.contains(&exporter) {
            out.push(exporter);
        }
    }
    if saw_none && !out.is_empty() {
        return Err(SetupError::invalid(
            var,
            value,
            "\"none\" cannot be combined with other exporters",
        ));
    }
    Ok(out)
}

/// Parses `grpc`, `http/protobuf` or `http/json`.
pub(crate) fn parse_protocol(var: &'static str, value: &str) -> Result<OtlpProtocol, SetupError> {
    match value {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Ok(OtlpProtocol::HttpJson),
        _ => Err(SetupError::invalid(
            var,
            value,
            "unknown protocol (known: grpc, http/protobuf, http/json)",
        )),
    }
}

/// Parses a whole number of milliseconds.
pub(crate) fn parse_millis(var: &'static str, value: &str) -> Result<Duration, SetupError> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| SetupError::invalid(var, value, "expected a whole number of milliseconds"))
}

/// Parses a positive count.
pub(crate) fn parse_count(var: &'static str, value: &str) -> Result<usize, SetupError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(SetupError::invalid(
            var,
            value,
            "expected a whole number greater than 0",
        )),
    }
}

/// Parses a W3C-baggage-style list `key1=value1,key2=value2` with percent-encoded values, as
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` use.
///
/// With `secret`, the value quoted in an error is masked (headers carry credentials).
pub(crate) fn parse_key_values(
    var: &'static str,
    value: &str,
    secret: bool,
) -> Result<Vec<(String, String)>, SetupError> {
    let shown = |v: &str| -> String {
        if secret {
            mask_values(v)
        } else {
            v.to_owned()
        }
    };
    let mut out = Vec::new();
    for entry in value.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, val)) = entry.split_once('=') else {
            return Err(SetupError::invalid(
                var,
                shown(value),
                format!(
                    "entry {:?} is not key=value",
                    if secret { "***" } else { entry }
                ),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(SetupError::invalid(
                var,
                shown(value),
                "an entry has an empty key",
            ));
        }
        let bad_escape = || {
            SetupError::invalid(
                var,
                shown(value),
                format!("the value of {key:?} is not valid percent-encoded UTF-8"),
            )
        };
        if !escapes_are_valid(val) {
            return Err(bad_escape());
        }
        let decoded = percent_decode_str(val.trim()).decode_utf8().map_err(|_| {
            SetupError::invalid(
                var,
                shown(value),
                format!("the value of {key:?} is not valid percent-encoded UTF-8"),
            )
        })?;
        out.push((key.to_owned(), Cow::into_owned(decoded)));
    }
    Ok(out)
}

/// Whether every `%` starts a two-hex-digit escape (`percent_decode_str` keeps bad ones as they
/// are, which would export `%ZZ` verbatim instead of saying the value is wrong).
fn escapes_are_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// `a=secret,b=x` → `a=***,b=***`: keeps the shape of a header list, hides every value.
fn mask_values(value: &str) -> String {
    value
        .split(',')
        .map(|entry| match entry.split_once('=') {
            Some((k, _)) => format!("{}=***", k.trim()),
            None => "***".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_lists() {
        assert_eq!(
            parse_exporters(&TRACES, "otlp, console,otlp").unwrap(),
            vec![Exporter::Otlp, Exporter::Console]
        );
        assert_eq!(parse_exporters(&TRACES, "none").unwrap(), vec![]);
        assert_eq!(
            parse_exporters(&METRICS, "PROMETHEUS").unwrap(),
            vec![Exporter::Prometheus]
        );
        assert_eq!(
            parse_exporters(&TRACES, "zipkin").unwrap_err().to_string(),
            "OTEL_TRACES_EXPORTER=\"zipkin\": unknown exporter \"zipkin\" (known: otlp, console, none)"
        );
        assert_eq!(
            parse_exporters(&LOGS, "prometheus").unwrap_err().to_string(),
            "OTEL_LOGS_EXPORTER=\"prometheus\": prometheus is a metrics exporter; use otlp, console or none here"
        );
        assert_eq!(
            parse_exporters(&METRICS, "none,otlp")
                .unwrap_err()
                .to_string(),
            "OTEL_METRICS_EXPORTER=\"none,otlp\": \"none\" cannot be combined with other exporters"
        );
    }

    #[test]
    fn protocols_and_numbers() {
        assert_eq!(
            parse_protocol(OTLP_PROTOCOL, "grpc").unwrap(),
            OtlpProtocol::Grpc
        );
        assert_eq!(
            parse_protocol(OTLP_PROTOCOL, "http/protobuf").unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        assert_eq!(
            parse_protocol(OTLP_PROTOCOL, "udp")
                .unwrap_err()
                .to_string(),
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"udp\": unknown protocol (known: grpc, http/protobuf, http/json)"
        );
        assert_eq!(
            parse_millis(OTLP_TIMEOUT, "1500").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_millis(OTLP_TIMEOUT, "1.5s").unwrap_err().to_string(),
            "OTEL_EXPORTER_OTLP_TIMEOUT=\"1.5s\": expected a whole number of milliseconds"
        );
        assert!(escapes_are_valid("a%20b%e9"));
        assert!(!escapes_are_valid("%ZZ"));
        assert!(!escapes_are_valid("abc%2"));
        assert!(!escapes_are_valid("%"));
        assert_eq!(
            parse_key_values("OTEL_RESOURCE_ATTRIBUTES", "a=%ZZ", false)
                .unwrap_err()
                .to_string(),
            "OTEL_RESOURCE_ATTRIBUTES=\"a=%ZZ\": the value of \"a\" is not valid \
             percent-encoded UTF-8"
        );
        assert_eq!(parse_count("OTEL_BSP_MAX_QUEUE_SIZE", "16").unwrap(), 16);
        assert!(parse_count("OTEL_BSP_MAX_QUEUE_SIZE", "0").is_err());
    }

    #[test]
    fn key_value_lists_are_percent_decoded() {
        assert_eq!(
            parse_key_values(
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=shop,team=a%2Cb , note=hello%20world,",
                false
            )
            .unwrap(),
            vec![
                ("service.name".to_owned(), "shop".to_owned()),
                ("team".to_owned(), "a,b".to_owned()),
                ("note".to_owned(), "hello world".to_owned()),
            ]
        );
        assert_eq!(
            parse_key_values("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken", false)
                .unwrap_err()
                .to_string(),
            "OTEL_RESOURCE_ATTRIBUTES=\"a=1,broken\": entry \"broken\" is not key=value"
        );
        assert_eq!(
            parse_key_values("OTEL_RESOURCE_ATTRIBUTES", "=1", false)
                .unwrap_err()
                .to_string(),
            "OTEL_RESOURCE_ATTRIBUTES=\"=1\": an entry has an empty key"
        );
        assert_eq!(
            parse_key_values("OTEL_RESOURCE_ATTRIBUTES", "a=%FF", false)
                .unwrap_err()
                .to_string(),
            "OTEL_RESOURCE_ATTRIBUTES=\"a=%FF\": the value of \"a\" is not valid percent-encoded UTF-8"
        );
    }

    #[test]
    fn header_errors_never_show_values() {
        let err = parse_key_values(OTLP_HEADERS, "api-key=s3cr3t,oops", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_HEADERS=\"api-key=***,***\": entry \"***\" is not key=value"
        );
    }

    #[test]
    fn empty_values_are_unset() {
        let lookup = |name: &str| match name {
            "A" => Some("  ".to_owned()),
            "B" => Some(" x ".to_owned()),
            _ => None,
        };
        let env = Env(&lookup);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B").as_deref(), Some("x"));
        assert_eq!(env.first(&["A", "C", "B"]), Some(("B", "x".to_owned())));
    }
}
