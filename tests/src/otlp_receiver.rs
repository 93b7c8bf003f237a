//! A real OTLP receiver on `127.0.0.1:0` for end-to-end export tests: the collector's gRPC
//! services (tonic, with `opentelemetry-proto`'s generated server types) or its HTTP/protobuf
//! routes (axum + prost), keeping every request it gets. Plus a black hole: a listener that
//! accepts connections and never answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use prost::Message;
use tonic::transport::server::TcpIncoming;

use crate::axum_harness::AbortOnDrop;

/// Everything a receiver got, in arrival order.
#[derive(Default)]
struct Store {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    logs: Mutex<Vec<ExportLogsServiceRequest>>,
    /// The headers (gRPC metadata) of every export request.
    headers: Mutex<Vec<BTreeMap<String, String>>>,
}

impl Store {
    fn record_headers(&self, headers: &HeaderMap) {
        let map = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        self.headers.lock().unwrap().push(map);
    }
}

/// A running receiver; stopped when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    store: Arc<Store>,
    tls: bool,
    _task: AbortOnDrop,
}

/// One received span, flattened with its resource and scope.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// Resource attributes (values as strings).
    pub resource: BTreeMap<String, String>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// Span name.
    pub name: String,
    /// `SPAN_KIND_SERVER`, …
    pub kind: String,
    /// Span attributes (values as strings).
    pub attributes: BTreeMap<String, String>,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id (empty for roots).
    pub parent_span_id: String,
}

/// One received metric data point (sum, gauge or histogram), flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedPoint {
    /// Resource attributes.
    pub resource: BTreeMap<String, String>,
    /// Point attributes.
    pub attributes: BTreeMap<String, String>,
    /// The value of a sum or gauge; the count of a histogram.
    pub value: f64,
}

/// One received log record, flattened.
#[derive(Debug, Clone)]
pub struct ReceivedLog {
    /// Resource attributes.
    pub resource: BTreeMap<String, String>,
    /// The body, as a string.
    pub body: String,
    /// `INFO`, `WARN`, …
    pub severity_text: String,
    /// Hex trace id (empty when none).
    pub trace_id: String,
    /// Hex span id (empty when none).
    pub span_id: String,
    /// The event name (empty when none).
    pub event_name: String,
    /// The record's attributes (values as strings).
    pub attributes: BTreeMap<String, String>,
}

fn value_string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => d.to_string(),
        Some(AnyValueKind::ArrayValue(a)) => format!(
            "[{}]",
            a.values
                .iter()
                .map(|v| value_string(&Some(v.clone())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_string(&kv.value)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Grpc(Arc<Store>);

/// Implements one collector gRPC service: keep the request and its metadata, answer success.
macro_rules! grpc_service {
    ($service:ident, $request:ty, $response:ty, $field:ident) => {
        #[tonic::async_trait]
        impl $service for Grpc {
            async fn export(
                &self,
                request: tonic::Request<$request>,
            ) -> Result<tonic::Response<$response>, tonic::Status> {
                self.0
                    .record_headers(&request.metadata().clone().into_headers());
                self.0.$field.lock().unwrap().push(request.into_inner());
                Ok(tonic::Response::new(<$response>::default()))
            }
        }
    };
}

grpc_service!(
    TraceService,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    traces
);
grpc_service!(
    MetricsService,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    metrics
);
grpc_service!(
    LogsService,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    logs
);

/// One OTLP/HTTP route, as a collector serves it: a protobuf or JSON body, possibly gzipped;
/// keep it, answer with the default (full success) response in the request's encoding.
async fn http_export<M, R>(
    store: &Store,
    list: &Mutex<Vec<M>>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<axum::response::Response, StatusCode>
where
    M: Message + Default + serde::de::DeserializeOwned,
    R: Message + Default + serde::Serialize,
{
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let body = match text(header::CONTENT_ENCODING) {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body.as_ref()), &mut out)
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            out
        }
        Some(_) => return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    let (request, response) = match text(header::CONTENT_TYPE) {
        Some("application/x-protobuf") => (
            M::decode(body.as_slice()).map_err(|_| StatusCode::BAD_REQUEST)?,
            R::default().encode_to_vec(),
        ),
        Some("application/json") => (
            serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_REQUEST)?,
            serde_json::to_vec(&R::default()).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?,
        ),
        _ => return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    store.record_headers(headers);
    list.lock().unwrap().push(request);
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default().to_owned();
    Ok(([(header::CONTENT_TYPE, content_type)], response).into_response())
}

async fn http_traces(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, StatusCode> {
    http_export::<_, ExportTraceServiceResponse>(&store, &store.traces, &headers, &body).await
}

async fn http_metrics(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, StatusCode> {
    http_export::<_, ExportMetricsServiceResponse>(&store, &store.metrics, &headers, &body).await
}

async fn http_logs(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, StatusCode> {
    http_export::<_, ExportLogsServiceResponse>(&store, &store.logs, &headers, &body).await
}

fn http_routes(store: Arc<Store>) -> Router {
    Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/v1/metrics", post(http_metrics))
        .route("/v1/logs", post(http_logs))
        .with_state(store)
}

impl OtlpReceiver {
    /// An OTLP/gRPC receiver (trace, metrics and logs services).
    pub async fn grpc() -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Store::default());
        // Like a collector, accept gzip-compressed requests.
        let gzip = tonic::codec::CompressionEncoding::Gzip;
        let services = (
            TraceServiceServer::new(Grpc(store.clone())).accept_compressed(gzip),
            MetricsServiceServer::new(Grpc(store.clone())).accept_compressed(gzip),
            LogsServiceServer::new(Grpc(store.clone())).accept_compressed(gzip),
        );
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(services.0)
                .add_service(services.1)
                .add_service(services.2)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
        });
        OtlpReceiver {
            addr,
            store,
            tls: false,
            _task: AbortOnDrop(task),
        }
    }

    /// An OTLP/HTTP receiver (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`; protobuf or JSON
    /// bodies, plain or gzipped).
    pub async fn http() -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Store::default());
        let app = http_routes(store.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OtlpReceiver {
            addr,
            store,
            tls: false,
            _task: AbortOnDrop(task),
        }
    }

    /// The same OTLP/HTTP receiver over TLS, with a certificate for `localhost` made now and
    /// signed by itself; `ca_pem` is that certificate, for the client to trust.
    pub async fn https() -> (OtlpReceiver, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let ca_pem = cert.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Store::default());
        let app = http_routes(store.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        tower::ServiceExt::oneshot(app.clone(), req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        let receiver = OtlpReceiver {
            addr,
            store,
            tls: true,
            _task: AbortOnDrop(task),
        };
        (receiver, ca_pem)
    }

    /// `http://127.0.0.1:port`, or `https://localhost:port` for the TLS receiver.
    pub fn endpoint(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let mut out = Vec::new();
        for request in self.store.traces.lock().unwrap().iter() {
            for rs in &request.resource_spans {
                let resource = attrs(
                    rs.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default(),
                );
                for ss in &rs.scope_spans {
                    let scope = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for span in &ss.spans {
                        out.push(ReceivedSpan {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            name: span.name.clone(),
                            kind: span.kind().as_str_name().to_owned(),
                            attributes: attrs(&span.attributes),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                        });
                    }
                }
            }
        }
        out
    }

    /// The points of metric `name` in the *last* export that contains it (metrics are
    /// cumulative, so the last export holds the totals).
    pub fn metric_points(&self, name: &str) -> Vec<ReceivedPoint> {
        let requests = self.store.metrics.lock().unwrap();
        for request in requests.iter().rev() {
            let mut out = Vec::new();
            for rm in &request.resource_metrics {
                let resource = attrs(
                    rm.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default(),
                );
                for metric in rm
                    .scope_metrics
                    .iter()
                    .flat_map(|s| &s.metrics)
                    .filter(|m| m.name == name)
                {
                    let number = |v: &Option<NumberValue>| match v {
                        Some(NumberValue::AsDouble(d)) => *d,
                        Some(NumberValue::AsInt(i)) => *i as f64,
                        None => f64::NAN,
                    };
                    let mut push = |a: &[KeyValue], value: f64| {
                        out.push(ReceivedPoint {
                            resource: resource.clone(),
                            attributes: attrs(a),
                            value,
                        })
                    };
                    match &metric.data {
                        Some(Data::Sum(s)) => {
                            for p in &s.data_points {
                                push(&p.attributes, number(&p.value));
                            }
                        }
                        Some(Data::Gauge(g)) => {
                            for p in &g.data_points {
                                push(&p.attributes, number(&p.value));
                            }
                        }
                        Some(Data::Histogram(h)) => {
                            for p in &h.data_points {
                                push(&p.attributes, p.count as f64);
                            }
                        }
                        _ => {}
                    }
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
        Vec::new()
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        let mut out = Vec::new();
        for request in self.store.logs.lock().unwrap().iter() {
            for rl in &request.resource_logs {
                let resource = attrs(
                    rl.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default(),
                );
                for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    out.push(ReceivedLog {
                        resource: resource.clone(),
                        body: value_string(&record.body),
                        severity_text: record.severity_text.clone(),
                        trace_id: hex(&record.trace_id),
                        span_id: hex(&record.span_id),
                        event_name: record.event_name.clone(),
                        attributes: attrs(&record.attributes),
                    });
                }
            }
        }
        out
    }

    /// The headers of every export request received so far.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.store.headers.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until `n` spans have arrived, and returns every span.
    pub async fn wait_spans(&self, n: usize) -> Vec<ReceivedSpan> {
        for _ in 0..500 {
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} span(s), got {:#?}", self.spans());
    }
}

/// A listener that accepts connections and never reads or answers: a collector that hangs.
pub struct BlackHole {
    addr: SocketAddr,
    _task: AbortOnDrop,
}

impl BlackHole {
    /// Starts accepting on `127.0.0.1:0`.
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        BlackHole {
            addr,
            _task: AbortOnDrop(task),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An address nothing listens on (bound, then released): connections are refused.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
