//! OTLP exporters (gRPC through tonic; HTTP/protobuf and HTTP/JSON through reqwest with rustls,
//! opentelemetry-otlp's `reqwest-rustls`) and the small runtime that drives them.
//!
//! The SDK's batch processors and periodic reader export from their own threads, outside any
//! Tokio runtime, while tonic and hyper need one. Rather than borrowing the application's
//! runtime — which deadlocks when a current-thread runtime blocks in the guard's shutdown while
//! the export needs that very runtime — setup starts one small runtime (one worker thread) that
//! owns the gRPC channels and runs every HTTP request. It works the same from `#[tokio::main]`,
//! a current-thread runtime or a plain `fn main`. This is also why the HTTP client is handed to
//! the exporter by us rather than built by it: opentelemetry-otlp's own reqwest client would
//! need the caller's runtime on the SDK's export threads.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};

use super::env::Signal;
use super::error::SetupError;
use super::OtlpProtocol;

/// Where and how one signal is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpTarget {
    pub(crate) signal: Signal,
    /// The full URL: for OTLP/HTTP including the signal's path (`/v1/traces`).
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    /// Already validated header names and values.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.
    pub(crate) gzip: bool,
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`: PEM certificates to trust besides the system's roots.
    pub(crate) certificate: Option<Vec<u8>>,
}

/// The runtime that owns the exporters' connections; stopped without blocking when dropped.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportRuntime {
    pub(crate) fn start() -> Result<ExportRuntime, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("towerlight-export")
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        Ok(ExportRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `f` inside the runtime's context (for code that spawns onto the current runtime).
    pub(crate) fn in_runtime<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let _entered = self.handle()?.enter();
        Some(f())
    }

    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle())
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        // `Runtime`'s own drop blocks, which panics inside an async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// reqwest's client, with every request run on the export runtime, so the SDK's export threads
/// can await it without a runtime of their own.
#[derive(Debug, Clone)]
struct RuntimeHttpClient {
    inner: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl HttpClient for RuntimeHttpClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let inner = self.inner.clone();
        let task = self
            .runtime
            .spawn(async move { inner.send_bytes(request).await });
        Box::pin(async move { task.await.map_err(|e| Box::new(e) as HttpError)? })
    }
}

/// Checks header names and values from `var` (the variable or builder option they came from),
/// so an error names where the bad entry was written. Values are never shown.
pub(crate) fn validate_headers(
    var: &'static str,
    headers: &[(String, String)],
) -> Result<http::HeaderMap, SetupError> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::try_from(k.as_str()).map_err(|_| {
            SetupError::invalid(
                var,
                format!("{k}=***"),
                format!("{k:?} is not a valid header name"),
            )
        })?;
        let value = http::HeaderValue::try_from(v.as_str()).map_err(|_| {
            SetupError::invalid(
                var,
                format!("{k}=***"),
                format!("the value of {k:?} is not a valid header value"),
            )
        })?;
        map.append(name, value);
    }
    Ok(map)
}

fn metadata(target: &OtlpTarget) -> Result<MetadataMap, SetupError> {
    let map = validate_headers(target.signal.headers_var, &target.headers)?;
    Ok(MetadataMap::from_headers(map))
}

fn compression(target: &OtlpTarget) -> Option<Compression> {
    target.gzip.then_some(Compression::Gzip)
}

fn http_client(target: &OtlpTarget, rt: &ExportRuntime) -> Result<RuntimeHttpClient, SetupError> {
    let runtime = rt
        .handle()
        .ok_or_else(|| SetupError::exporter("otlp", "the export runtime has stopped"))?
        .clone();
    // TLS with the system's roots (rustls-platform-verifier), plus the configured certificates.
    let mut builder = reqwest::Client::builder().timeout(target.timeout);
    if let Some(pem) = &target.certificate {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| SetupError::exporter("otlp", e))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    let _entered = runtime.enter();
    let inner = builder
        .build()
        .map_err(|e| SetupError::exporter("otlp", e))?;
    Ok(RuntimeHttpClient { inner, runtime })
}

/// Builds one OTLP exporter type (span, metric or log) for the target's protocol.
macro_rules! build_exporter {
    ($exporter:ident, $name:literal, $target:expr, $rt:expr) => {{
        let target: &OtlpTarget = $target;
        let rt: &ExportRuntime = $rt;
        // Validate headers for both protocols (the HTTP builder would drop bad ones silently).
        let metadata = metadata(target)?;
        match target.protocol {
            OtlpProtocol::Grpc => {
                let handle = rt
                    .handle()
                    .ok_or_else(|| SetupError::exporter($name, "the export runtime has stopped"))?;
                // tonic's lazy channel spawns its connection task on the current runtime.
                let _entered = handle.enter();
                let mut builder = $exporter::builder()
                    .with_tonic()
                    .with_endpoint(target.endpoint.clone())
                    .with_timeout(target.timeout)
                    .with_metadata(metadata);
                if let Some(c) = compression(target) {
                    builder = builder.with_compression(c);
                }
                builder.build().map_err(|e| SetupError::exporter($name, e))
            }
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                let headers: HashMap<String, String> = target.headers.iter().cloned().collect();
                let protocol = match target.protocol {
                    OtlpProtocol::HttpJson => Protocol::HttpJson,
                    _ => Protocol::HttpBinary,
                };
                let mut builder = $exporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(target.endpoint.clone())
                    .with_timeout(target.timeout)
                    .with_headers(headers)
                    .with_shared_http_client(Arc::new(http_client(target, rt)?));
                if let Some(c) = compression(target) {
                    builder = builder.with_compression(c);
                }
                builder.build().map_err(|e| SetupError::exporter($name, e))
            }
        }
    }};
}

pub(crate) fn span_exporter(
    target: &OtlpTarget,
    rt: &ExportRuntime,
) -> Result<SpanExporter, SetupError> {
    build_exporter!(SpanExporter, "otlp traces", target, rt)
}

pub(crate) fn metric_exporter(
    target: &OtlpTarget,
    rt: &ExportRuntime,
) -> Result<MetricExporter, SetupError> {
    build_exporter!(MetricExporter, "otlp metrics", target, rt)
}

pub(crate) fn log_exporter(
    target: &OtlpTarget,
    rt: &ExportRuntime,
) -> Result<LogExporter, SetupError> {
    build_exporter!(LogExporter, "otlp logs", target, rt)
}

/// The component type of the semantic conventions' SDK metrics for this exporter.
pub(crate) fn component_type(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::Grpc => "otlp_grpc_span_exporter",
        OtlpProtocol::HttpProtobuf => "otlp_http_span_exporter",
        OtlpProtocol::HttpJson => "otlp_http_json_span_exporter",
    }
}
