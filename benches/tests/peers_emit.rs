//! What each configuration of the `peers` bench emits for the benchmark request, exported into
//! memory: the spans (name, kind, status, scope, attributes) and the metrics (name, attribute keys).
//! The checks pin what BENCHMARKS.md says about each peer; `--nocapture` prints the details.
//!
//! `cargo test -p towerlight-benches --features peers --test peers_emit -- --nocapture`

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::App;
use axum::Router;
use opentelemetry::trace::SpanKind;
use towerlight_benches::peers::{self, ActixFactory, Sdk, Setup, Visit};
use towerlight_benches::{
    actix_call, axum_call, grpc_call, ActixExecutor, GrpcServer, ResponseBody,
};
use towerlight_tests::telemetry::Telemetry;

/// What one configuration emitted for one request.
#[derive(Debug)]
struct Emitted {
    /// `(name, kind)` of every span.
    spans: Vec<(String, SpanKind)>,
    /// The attribute keys of the one span.
    span_keys: Vec<String>,
    /// Every metric name with the attribute keys of its first point.
    metrics: BTreeMap<String, Vec<String>>,
}

/// Runs each configuration once into in-memory exporters and keeps what it emitted.
struct Emit {
    tokio: tokio::runtime::Runtime,
    actix: ActixExecutor,
    current: Option<Telemetry>,
    seen: BTreeMap<String, Emitted>,
}

impl Emit {
    /// Records what `setup` emitted into the current telemetry, as `framework/label`.
    fn collect(&mut self, framework: &str, setup: &Setup) {
        let Some(telemetry) = self.current.take().filter(|_| setup.sdk.is_some()) else {
            return;
        };
        telemetry
            .tracer_provider
            .force_flush()
            .expect("flush spans");
        let spans = telemetry.spans();
        let metrics = telemetry.metrics();
        println!("\n### {framework} / {}", setup.label);
        for span in &spans {
            println!(
                "span {:?} kind={:?} status={:?} scope={} events={}",
                span.name,
                span.span_kind,
                span.status,
                span.instrumentation_scope.name(),
                span.events.len()
            );
            for kv in &span.attributes {
                println!("  {} = {}", kv.key, kv.value);
            }
        }
        let mut by_name = BTreeMap::new();
        for name in metrics.names() {
            let points = metrics.point_attributes(&name);
            let keys: Vec<String> = points
                .first()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            println!("metric {name} points={} attributes={keys:?}", points.len());
            if let Some(p) = points.first() {
                println!("  {p:?}");
            }
            by_name.insert(name, keys);
        }
        let span_keys = spans
            .first()
            .map(|s| s.attributes.iter().map(|kv| kv.key.to_string()).collect())
            .unwrap_or_default();
        self.seen.insert(
            format!("{framework}/{}", setup.label),
            Emitted {
                spans: spans
                    .iter()
                    .map(|s| (s.name.to_string(), s.span_kind.clone()))
                    .collect(),
                span_keys,
                metrics: by_name,
            },
        );
    }
}

impl Visit for Emit {
    fn sdk(&mut self) -> Sdk {
        let telemetry = Telemetry::new();
        let sdk = Sdk {
            tracer_provider: telemetry.tracer_provider.clone(),
            meter_provider: telemetry.meter_provider.clone(),
        };
        self.current = Some(telemetry);
        sdk
    }

    fn axum(&mut self, setup: Setup, app: Router) {
        {
            let _guard = setup.enter();
            self.tokio.block_on(axum_call(&app));
        }
        drop(app);
        self.collect("axum", &setup);
    }

    fn grpc<S: GrpcServer<B>, B: ResponseBody>(&mut self, setup: Setup, svc: S) {
        {
            let _guard = setup.enter();
            self.tokio.block_on(grpc_call(&svc, "Unary", 0));
        }
        drop(svc);
        self.collect("tonic", &setup);
    }

    fn actix<T: ActixFactory<B>, B: MessageBody + 'static>(&mut self, setup: Setup, app: App<T>) {
        {
            let app = self.actix.0.block_on(actix_web::test::init_service(app));
            let _guard = setup.enter();
            self.actix.0.block_on(actix_call(&app));
        }
        self.collect("actix", &setup);
    }
}

#[test]
fn each_configuration_emits_one_server_span_and_its_metrics() {
    peers::install_propagator();
    let mut emit = Emit {
        tokio: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap(),
        actix: ActixExecutor(actix_rt::Runtime::new().unwrap()),
        current: None,
        seen: BTreeMap::new(),
    };
    peers::axum(&mut emit);
    peers::grpc(&mut emit);
    peers::actix(&mut emit);

    // Per configuration (bare services emit nothing and are not listed): the span name and the
    // metrics, by name.
    const DURATION: &str = "http.server.request.duration";
    const ACTIVE: &str = "http.server.active_requests";
    const REQUEST_SIZE: &str = "http.server.request.body.size";
    const RESPONSE_SIZE: &str = "http.server.response.body.size";
    let http = "GET /users/{id}";
    let rpc = "towerlight.test.v1.Echo/Unary";
    let expected: [(&str, &str, &[&str]); 9] = [
        ("axum/towerlight", http, &[DURATION]),
        (
            "axum/opentelemetry-instrumentation-tower",
            http,
            &[DURATION, ACTIVE, RESPONSE_SIZE],
        ),
        (
            "axum/tower-otel",
            http,
            &[DURATION, ACTIVE, REQUEST_SIZE, RESPONSE_SIZE],
        ),
        ("axum/axum-tracing-opentelemetry", http, &[]),
        ("tonic/towerlight", rpc, &["rpc.server.call.duration"]),
        ("tonic/tonic-tracing-opentelemetry", rpc, &[]),
        ("tonic/tower-otel", rpc, &[]),
        ("actix/towerlight", http, &[DURATION]),
        (
            "actix/opentelemetry-instrumentation-actix-web",
            http,
            &[DURATION, ACTIVE, REQUEST_SIZE, RESPONSE_SIZE],
        ),
    ];
    assert_eq!(emit.seen.len(), expected.len(), "{:?}", emit.seen.keys());
    for (config, span_name, metric_names) in expected {
        let emitted = &emit.seen[config];
        assert_eq!(
            emitted.spans,
            [(span_name.to_owned(), SpanKind::Server)],
            "{config}"
        );
        assert!(!emitted.span_keys.is_empty(), "{config}");
        let mut metric_names = metric_names.to_vec();
        metric_names.sort_unstable();
        assert_eq!(
            emitted.metrics.keys().collect::<Vec<_>>(),
            metric_names,
            "{config}"
        );
    }
}
