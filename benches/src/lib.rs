//! Shared set-up for the benchmarks: SDK providers that export nowhere, the request and the bare
//! service of each framework (Axum, Tonic, Actix) with the call that drives it in process, and the
//! summary table (overhead in ns and as ratios) printed after criterion has run.

use std::path::PathBuf;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use prost::Message;
use tower::{Service, ServiceExt};

#[cfg(feature = "peers")]
pub mod peers;

/// The benchmark request: `GET /users/42?page=1` with a host, a user agent and a peer address,
/// as a real server would hand it to the router.
pub fn request() -> http::Request<axum::body::Body> {
    let mut req = http::Request::get("/users/42?page=1")
        .header("host", "127.0.0.1:8080")
        .header("user-agent", "bench/1.0")
        .body(axum::body::Body::empty())
        .expect("valid request");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            50000,
        ))));
    req
}

/// The bare Axum app every HTTP variant wraps: `GET /users/{id}` answering `user`.
///
/// Its handler is turned into a route once, here, as `axum::serve` does for each connection
/// (`Router::with_state(())`): called without it, a `Router` converts its handler — and applies
/// every `Router::layer`, building the layer's service anew — on each request, a cost no server
/// pays.
pub fn users_router() -> axum::Router {
    axum::Router::new()
        .route("/users/{id}", axum::routing::get(|| async { "user" }))
        .with_state(())
}

/// Sends one [`request`] through `app` and reads the whole response body.
pub async fn axum_call(app: &axum::Router) {
    axum_send(app, request()).await
}

/// Sends `req` through `app` and reads the whole response body.
pub async fn axum_send(app: &axum::Router, req: http::Request<axum::body::Body>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap();
    std::hint::black_box(body);
}

/// A gRPC request to the test `Echo` service as a client would send it: path, content type, one
/// length-prefixed message asking for `count` streamed answers.
pub fn grpc_request(method: &str, count: u32) -> http::Request<tonic::body::Body> {
    let message = towerlight_tests::grpc_harness::echo("bench", count, 0, "").encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap());
    frame.put_slice(&message);
    http::Request::post(format!("/towerlight.test.v1.Echo/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(frame),
        )))
        .unwrap()
}

/// The bare generated gRPC server every gRPC variant wraps.
pub fn echo_server(
) -> towerlight_tests::proto::echo_server::EchoServer<towerlight_tests::grpc_harness::EchoService> {
    towerlight_tests::proto::echo_server::EchoServer::new(
        towerlight_tests::grpc_harness::EchoService,
    )
}

/// A gRPC server as the benchmarks drive it: it takes [`grpc_request`]s and answers with a body
/// of type `B`.
pub trait GrpcServer<B>:
    Service<http::Request<tonic::body::Body>, Response = http::Response<B>, Error: std::fmt::Debug>
    + Clone
{
}

impl<S, B> GrpcServer<B> for S where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<B>,
            Error: std::fmt::Debug,
        > + Clone
{
}

/// A response body the benchmarks read to its end.
pub trait ResponseBody: http_body::Body<Error: std::fmt::Debug> {}

impl<B> ResponseBody for B where B: http_body::Body<Error: std::fmt::Debug> {}

/// Sends one [`grpc_request`] through `svc` and reads the whole response (messages and trailers).
pub async fn grpc_call<S: GrpcServer<B>, B: ResponseBody>(svc: &S, method: &str, count: u32) {
    let res = svc
        .clone()
        .oneshot(grpc_request(method, count))
        .await
        .unwrap();
    let collected = res.into_body().collect().await.unwrap();
    assert!(collected.trailers().is_some());
    std::hint::black_box(collected);
}

/// Criterion's async driver on Actix's runtime (a current-thread Tokio runtime with a local set).
pub struct ActixExecutor(pub actix_rt::Runtime);

impl criterion::async_executor::AsyncExecutor for &ActixExecutor {
    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.0.block_on(future)
    }
}

/// The benchmark request for Actix: the same `GET /users/42?page=1`, host, user agent and peer
/// address as [`request`].
pub fn actix_request() -> actix_http::Request {
    actix_web::test::TestRequest::get()
        .uri("/users/42?page=1")
        .insert_header(("host", "127.0.0.1:8080"))
        .insert_header(("user-agent", "bench/1.0"))
        .peer_addr("127.0.0.1:50000".parse().unwrap())
        .to_request()
}

/// The one route of the bare Actix app (`/users/{id}` answering `user`).
pub fn actix_route() -> actix_web::Route {
    actix_web::web::get().to(|| async { actix_web::HttpResponse::Ok().body("user") })
}

/// Sends one [`actix_request`] through an initialised Actix app and reads the whole body.
pub async fn actix_call<S, B>(app: &S)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = actix_web::test::call_service(app, actix_request()).await;
    std::hint::black_box(actix_web::test::read_body(res).await);
}

/// The thirteen attributes the SDK-floor span carries: what the Axum layer sets for [`request`]
/// (the client-controlled values owned, as a server must own them).
pub fn floor_span_attributes() -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("url.path", "/users/42".to_owned()),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("server.address", "127.0.0.1".to_owned()),
        KeyValue::new("server.port", 8080),
        KeyValue::new("url.query", "page=1".to_owned()),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("client.address", "127.0.0.1".to_owned()),
        KeyValue::new("network.peer.address", "127.0.0.1".to_owned()),
        KeyValue::new("network.peer.port", 50000),
        KeyValue::new("user_agent.original", "bench/1.0".to_owned()),
        KeyValue::new("http.response.status_code", 200),
    ]
}

/// The five attributes of the SDK-floor histogram point (the layer's duration attributes).
pub fn floor_metric_attributes() -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("network.protocol.version", "1.1"),
    ]
}

/// The HTTP client layer's six span attributes for the client benchmark's request.
pub fn client_floor_span_attributes() -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1".to_owned()),
        KeyValue::new("server.port", 8080),
        KeyValue::new(
            "url.full",
            "http://127.0.0.1:8080/users/42?page=1".to_owned(),
        ),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("network.protocol.version", "1.1"),
    ]
}

/// The HTTP client layer's six duration attributes.
pub fn client_floor_metric_attributes() -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", 8080),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("network.protocol.version", "1.1"),
    ]
}

/// The gRPC layers' three span attributes (and three duration attributes) for an in-process
/// unary call: system, method, status.
pub fn grpc_floor_attributes() -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("rpc.system.name", "grpc"),
        KeyValue::new("rpc.method", "towerlight.test.v1.Echo/Unary"),
        KeyValue::new("rpc.response.status_code", "OK"),
    ]
}

/// The HTTP client benchmark's request: `GET http://127.0.0.1:8080/users/42?page=1`.
pub fn client_request() -> http::Request<http_body_util::Full<Bytes>> {
    let mut req = client_request_headerless();
    // What reqwest's requests carry by default: the header map exists before any layer.
    req.headers_mut()
        .insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
    req
}

/// [`client_request`] without any header: injecting the context then allocates the header
/// map itself (its index and its entries), which a request with a header already has.
pub fn client_request_headerless() -> http::Request<http_body_util::Full<Bytes>> {
    http::Request::get("http://127.0.0.1:8080/users/42?page=1")
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("valid request")
}

/// The bare "client" the HTTP client layer wraps: an in-memory service answering `user` at once.
pub fn client_answer() -> impl Service<
    http::Request<http_body_util::Full<Bytes>>,
    Response = http::Response<http_body_util::Full<Bytes>>,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    tower::service_fn(|_req: http::Request<http_body_util::Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            Bytes::from_static(b"user"),
        )))
    })
}

/// Sends one [`client_request`] through `client` and reads the whole response body.
pub async fn client_call<S, B>(client: &S)
where
    S: Service<http::Request<http_body_util::Full<Bytes>>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: ResponseBody,
{
    client_send(client, client_request()).await
}

/// Sends `req` through `client` and reads the whole response body.
pub async fn client_send<S, B>(client: &S, req: http::Request<http_body_util::Full<Bytes>>)
where
    S: Service<http::Request<http_body_util::Full<Bytes>>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: ResponseBody,
{
    let res = client.clone().oneshot(req).await.unwrap();
    std::hint::black_box(res.into_body().collect().await.unwrap());
}

/// The JSON-RPC benchmarks' module: one method, `add`, summing two integers.
pub fn jsonrpc_module() -> jsonrpsee::RpcModule<()> {
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_method("add", |params, _, _| {
            let (a, b): (i64, i64) = params.parse()?;
            Ok::<_, jsonrpsee::types::ErrorObjectOwned>(a + b)
        })
        .expect("one method, registered once");
    module
}

/// The JSON-RPC benchmark request: `add(1, 2)` posted as an HTTP client sends it.
pub fn jsonrpc_request() -> http::Request<jsonrpsee::server::HttpBody> {
    http::Request::post("/")
        .header("content-type", "application/json")
        .body(jsonrpsee::server::HttpBody::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#.to_owned(),
        ))
        .expect("valid request")
}

/// A jsonrpsee HTTP service as the benchmarks drive it.
pub trait JsonRpcService:
    Service<
        http::Request<jsonrpsee::server::HttpBody>,
        Response = http::Response<Self::Body>,
        Error: std::fmt::Debug,
    > + Clone
{
    /// The response body.
    type Body: ResponseBody;
}

impl<S, B: ResponseBody> JsonRpcService for S
where
    S: Service<
            http::Request<jsonrpsee::server::HttpBody>,
            Response = http::Response<B>,
            Error: std::fmt::Debug,
        > + Clone,
{
    type Body = B;
}

/// The stop signal of a benchmark server: it runs until the process ends (dropping the handle
/// would stop it).
fn forever() -> jsonrpsee::server::StopHandle {
    let (stop, handle) = jsonrpsee::server::stop_channel();
    std::mem::forget(handle);
    stop
}

/// The bare jsonrpsee server's Tower service for [`jsonrpc_module`].
pub fn jsonrpc_bare() -> impl JsonRpcService {
    jsonrpsee::server::Server::builder()
        .to_service_builder()
        .build(jsonrpc_module(), forever())
}

/// The same service behind towerlight's HTTP layer (context exposed) and its RPC middleware.
pub fn jsonrpc_traced(config: towerlight::Config) -> impl JsonRpcService {
    use jsonrpsee::core::middleware::RpcServiceBuilder;
    let http = towerlight::ServerLayer::with_config(config.clone()).expose_context(true);
    let rpc = towerlight_jsonrpsee::ServerLayer::for_methods(config, jsonrpc_module());
    jsonrpsee::server::Server::builder()
        .set_http_middleware(tower::ServiceBuilder::new().layer(http))
        .set_rpc_middleware(RpcServiceBuilder::new().layer(rpc))
        .to_service_builder()
        .build(jsonrpc_module(), forever())
}

/// Sends one [`jsonrpc_request`] through `svc` and reads the whole response body.
pub async fn jsonrpc_call(svc: &impl JsonRpcService) {
    let res = svc.clone().oneshot(jsonrpc_request()).await.unwrap();
    std::hint::black_box(res.into_body().collect().await.ok());
}

/// The SDK floor: a tracer and a histogram on providers of the same kind as every row's.
pub struct Floor {
    _provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
    histogram: opentelemetry::metrics::Histogram<f64>,
}

impl Floor {
    /// A floor on its own AlwaysOn tracer provider and aggregating meter provider.
    pub fn new() -> Floor {
        use opentelemetry::metrics::MeterProvider as _;
        use opentelemetry::trace::TracerProvider as _;
        let provider = tracer_provider(Sampler::AlwaysOn);
        let tracer = provider.tracer("floor");
        let histogram = meter_provider()
            .meter("floor")
            .f64_histogram("floor.duration")
            .build();
        Floor {
            _provider: provider,
            tracer,
            histogram,
        }
    }

    /// The SDK floor's work for one request: one span with `span_attributes`, held in a context
    /// as every instrumentation must hold it, ended, and one histogram point with
    /// `metric_attributes`.
    pub fn once(
        &self,
        span_attributes: Vec<opentelemetry::KeyValue>,
        metric_attributes: &[opentelemetry::KeyValue],
    ) {
        use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
        let span = self
            .tracer
            .span_builder("GET /users/{id}")
            .with_kind(SpanKind::Server)
            .with_attributes(span_attributes)
            .start(&self.tracer);
        let cx = opentelemetry::Context::current_with_span(span);
        cx.span().end();
        self.histogram.record(0.001, metric_attributes);
    }
}

impl Default for Floor {
    fn default() -> Self {
        Floor::new()
    }
}

/// Benchmarks the SDK floor as `sdk_floor/{id}` in this run, with its own providers of the same
/// kind as every row's, so each table's ratio uses a floor measured beside it with the same
/// attribute counts as the layer it is compared with.
pub fn bench_floor(
    c: &mut criterion::Criterion,
    id: &str,
    span_attributes: fn() -> Vec<opentelemetry::KeyValue>,
    metric_attributes: &[opentelemetry::KeyValue],
) {
    let floor = Floor::new();
    let mut group = c.benchmark_group("sdk_floor");
    group.bench_function(id, |b| {
        b.iter(|| floor.once(span_attributes(), metric_attributes))
    });
    group.finish();
}

/// A span exporter that drops everything (the cost of export is not ours to measure).
#[derive(Debug, Clone, Default)]
pub struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// A tracer provider with `sampler` and a batch processor into [`Discard`].
pub fn tracer_provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_batch_exporter(Discard)
        .build()
}

/// A meter provider whose reader collects once an hour (recording still aggregates).
pub fn meter_provider() -> SdkMeterProvider {
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
        .with_interval(std::time::Duration::from_secs(3600))
        .build();
    SdkMeterProvider::builder().with_reader(reader).build()
}

/// The no-op tracer in `config`: metrics only.
pub fn metrics_only(config: towerlight::Config) -> towerlight::Config {
    config.tracer_provider(opentelemetry::trace::noop::NoopTracerProvider::new())
}

/// An `AlwaysOff` tracer in `config`: every span unsampled, metrics recorded.
pub fn unsampled(config: towerlight::Config) -> towerlight::Config {
    config.tracer_provider(tracer_provider(Sampler::AlwaysOff))
}

/// The criterion settings every benchmark here uses: short warm-up and measurement, 50
/// samples, so the whole suite runs in minutes on a 2-core machine.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(50)
}

/// Ends a run: criterion's summary, then one overhead table per `(group, bare, variants)`, with
/// the overhead also as a ratio to the SDK floor measured in this run as `sdk_floor/{floor}`
/// (see [`bench_floor`]).
pub fn finish_run(floor: &str, tables: &[(&str, &str, &[&str])]) {
    finish_run_with(Some(("sdk_floor", floor)), tables);
}

/// [`finish_run`] with another SDK floor, or none (`None`: no ratio-to-floor column).
pub fn finish_run_with(floor: Option<(&str, &str)>, tables: &[(&str, &str, &[&str])]) {
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    for (group, bare, variants) in tables {
        print_table(group, bare, floor, variants);
    }
}

/// Mean time (ns) criterion measured for `group/id` in this run.
pub fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("mean")?.get("point_estimate")?.as_f64()
}

/// Prints a Markdown table: each variant's time, its overhead over `bare` (in ns and as the ratio
/// of the variant's time to the bare one), and, with a `floor`, that overhead as a ratio to the SDK
/// floor's time.
pub fn print_table(group: &str, bare: &str, floor: Option<(&str, &str)>, variants: &[&str]) {
    let Some(bare_ns) = mean_ns(group, bare) else {
        return;
    };
    let floor_ns = floor.and_then(|(g, id)| mean_ns(g, id));
    let (floor_head, floor_rule, floor_none) = match floor {
        Some(_) => (" overhead / SDK floor |", "---:|", " – |"),
        None => ("", "", ""),
    };
    println!("\n| {group} | time / request | overhead vs bare |{floor_head}");
    println!("|---|---:|---:|{floor_rule}");
    println!("| {bare} | {bare_ns:.0} ns | – |{floor_none}");
    for id in variants {
        if let Some(ns) = mean_ns(group, id) {
            let over = ns - bare_ns;
            let ratio = match (floor, floor_ns) {
                (Some(_), Some(f)) => format!(" {:.2}× |", over / f),
                (Some(_), None) => floor_none.to_owned(),
                (None, _) => String::new(),
            };
            println!(
                "| {id} | {ns:.0} ns | {over:+.0} ns ({:.2}× bare) |{ratio}",
                ns / bare_ns
            );
        }
    }
    if let (Some((g, id)), Some(f)) = (floor, floor_ns) {
        println!("| SDK floor ({g}/{id}) | {f:.0} ns | | 1.00× |");
    }
}

/// A hand-written minimal Tower layer with the same shape as the server layer (a service, a
/// response future and a response body wrapper) and no telemetry: what the framework's own
/// layering costs, reported beside the instrumented rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinimalLayer;

impl<S> tower::Layer<S> for MinimalLayer {
    type Service = MinimalService<S>;
    fn layer(&self, inner: S) -> MinimalService<S> {
        MinimalService(inner)
    }
}

/// The service of [`MinimalLayer`].
#[derive(Debug, Clone)]
pub struct MinimalService<S>(S);

impl<S, Req, B> Service<Req> for MinimalService<S>
where
    S: Service<Req, Response = http::Response<B>>,
{
    type Response = http::Response<PassBody<B>>;
    type Error = S::Error;
    type Future = MinimalFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        MinimalFuture {
            inner: self.0.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`MinimalLayer`].
    pub struct MinimalFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> std::future::Future for MinimalFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<PassBody<B>>, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project()
            .inner
            .poll(cx)
            .map(|r| r.map(|res| res.map(|inner| PassBody { inner })))
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`MinimalLayer`]: every frame passed through.
    pub struct PassBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B: http_body::Body> http_body::Body for PassBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Heap allocations per call of `f` counted by `counter` (the binary's counting global
/// allocator), after `warm_up` calls that fill every cache, over `calls` calls.
pub fn allocations_per_call(
    counter: &'static stats_alloc::StatsAlloc<std::alloc::System>,
    warm_up: usize,
    calls: u32,
    mut f: impl FnMut(),
) -> f64 {
    for _ in 0..warm_up {
        f();
    }
    let region = stats_alloc::Region::new(counter);
    for _ in 0..calls {
        f();
    }
    region.change().allocations as f64 / f64::from(calls)
}
