//! The peer crates, each set up once here for both the `peers` bench and the `peers_emit` test, so
//! what is measured is what is checked.
//!
//! Every configuration gets its own SDK from [`Visit::sdk`]: the benchmark's is
//! [`Sdk::discarding`] (AlwaysOn, batch span processor into [`Discard`](crate::Discard), the
//! aggregating meter provider), the test's exports into memory. A peer is handed those providers
//! explicitly where its API takes them; where it only reads the globals, [`Sdk::install_globals`]
//! points the globals at the same providers before the peer is built. The tracing-based peers
//! (`tower-otel`'s traces, `axum-tracing-opentelemetry`, `tonic-tracing-opentelemetry`) report
//! through a `tracing` subscriber with `tracing_opentelemetry`'s layer on the same tracer
//! provider, made the thread's default while their configuration runs ([`Setup::enter`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::App;
use axum::Router;
use opentelemetry::global;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower::Layer;
use towerlight::{Config, Propagator};
use tracing::dispatcher::{DefaultGuard, Dispatch};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::{
    actix_route, echo_server, meter_provider, tracer_provider, users_router, GrpcServer,
    ResponseBody,
};

/// The tracer and meter providers one configuration records into.
pub struct Sdk {
    /// Where spans go.
    pub tracer_provider: SdkTracerProvider,
    /// Where metric points go.
    pub meter_provider: SdkMeterProvider,
}

impl Sdk {
    /// The benchmark SDK: AlwaysOn sampler, batch span processor into a discarding exporter, and
    /// a meter provider that aggregates (read once an hour).
    pub fn discarding() -> Sdk {
        Sdk {
            tracer_provider: tracer_provider(Sampler::AlwaysOn),
            meter_provider: meter_provider(),
        }
    }

    /// towerlight's configuration on these providers, with the W3C trace-context and baggage
    /// propagators.
    pub fn towerlight(&self) -> Config {
        Config::new()
            .tracer_provider(self.tracer_provider.clone())
            .meter_provider(self.meter_provider.clone())
            .propagator(Propagator::w3c())
    }

    /// Makes these providers the global ones, for the peers that read the globals when they are
    /// built.
    pub fn install_globals(&self) {
        global::set_tracer_provider(self.tracer_provider.clone());
        global::set_meter_provider(self.meter_provider.clone());
    }

    /// A `tracing` subscriber that turns spans into OpenTelemetry spans on these providers:
    /// `tracing_opentelemetry::layer()` with its defaults, behind a filter that lets through
    /// INFO and above plus the `otel::tracing` target at every level (the target and level the
    /// `tracing-opentelemetry-instrumentation-sdk` middlewares use; `init-tracing-opentelemetry`
    /// adds the same directive).
    pub fn subscriber(&self) -> Dispatch {
        let filter = Targets::new()
            .with_target("otel::tracing", Level::TRACE)
            .with_default(Level::INFO);
        let otel = tracing_opentelemetry::layer()
            .with_tracer(self.tracer_provider.tracer("tracing-opentelemetry"));
        Dispatch::new(tracing_subscriber::registry().with(filter).with(otel))
    }
}

/// Sets the global propagator to W3C trace context, the same as towerlight's. The peers all
/// extract the parent through the global propagator (the default one extracts nothing).
pub fn install_propagator() {
    global::set_text_map_propagator(TraceContextPropagator::new());
}

/// One configuration: its label, the SDK it records into (kept alive while it runs), and, for a
/// tracing-based peer, the subscriber to make the thread's default while it runs.
pub struct Setup {
    /// The row label (the crate's name, or `bare`).
    pub label: &'static str,
    /// The providers (none for the bare service).
    pub sdk: Option<Sdk>,
    /// The `tracing` subscriber the peer reports through, if it is tracing-based.
    pub subscriber: Option<Dispatch>,
}

impl Setup {
    fn bare() -> Setup {
        Setup {
            label: "bare",
            sdk: None,
            subscriber: None,
        }
    }

    fn direct(label: &'static str, sdk: Sdk) -> Setup {
        Setup {
            label,
            sdk: Some(sdk),
            subscriber: None,
        }
    }

    fn tracing(label: &'static str, sdk: Sdk) -> Setup {
        let subscriber = Some(sdk.subscriber());
        Setup {
            label,
            sdk: Some(sdk),
            subscriber,
        }
    }

    /// Makes the configuration's subscriber the thread's default until the guard is dropped
    /// (nothing for a peer that is not tracing-based).
    pub fn enter(&self) -> Option<DefaultGuard> {
        self.subscriber
            .as_ref()
            .map(tracing::dispatcher::set_default)
    }
}

/// What the bench (measure) and the test (look at the telemetry) do with each configuration.
pub trait Visit {
    /// Fresh providers for the next configuration.
    fn sdk(&mut self) -> Sdk;

    /// One Axum configuration: the bare router of [`users_router`], layered.
    fn axum(&mut self, setup: Setup, app: Router);

    /// One Tonic configuration: the generated `Echo` server of [`echo_server`], layered.
    fn grpc<S: GrpcServer<B>, B: ResponseBody>(&mut self, setup: Setup, svc: S);

    /// One Actix configuration: the app with the one route of [`actix_route`], wrapped.
    fn actix<T: ActixFactory<B>, B: MessageBody + 'static>(&mut self, setup: Setup, app: App<T>);
}

/// What an Actix `App<T>` needs of its `T` to be initialised as a service answering with a body
/// of type `B`.
pub trait ActixFactory<B>:
    ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
        InitError = (),
    > + 'static
{
}

impl<T, B> ActixFactory<B> for T where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static
{
}

/// The Axum configurations: bare, towerlight, `opentelemetry-instrumentation-tower`,
/// `tower-otel` (traces + metrics layers) and `axum-tracing-opentelemetry`, each as documented.
pub fn axum(v: &mut impl Visit) {
    v.axum(Setup::bare(), users_router());

    let sdk = v.sdk();
    let app = users_router().layer(towerlight_axum::layer_with(sdk.towerlight()));
    v.axum(Setup::direct("towerlight", sdk), app);

    // Reads the global tracer and meter providers when the layer is built.
    let sdk = v.sdk();
    sdk.install_globals();
    let app = users_router().layer(opentelemetry_instrumentation_tower::http::server::Layer::new());
    v.axum(
        Setup::direct("opentelemetry-instrumentation-tower", sdk),
        app,
    );

    // Metrics on a meter it is given; traces through tracing.
    let sdk = v.sdk();
    let meter = sdk.meter_provider.meter("tower-otel");
    let app = users_router()
        .layer(tower_otel::metrics::HttpLayer::server(&meter))
        .layer(tower_otel::trace::HttpLayer::server(Level::INFO));
    v.axum(Setup::tracing("tower-otel", sdk), app);

    let sdk = v.sdk();
    let app =
        users_router().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
    v.axum(Setup::tracing("axum-tracing-opentelemetry", sdk), app);
}

/// The Tonic configurations: bare, towerlight's server layer, `tonic-tracing-opentelemetry`'s
/// server layer and `tower-otel`'s gRPC trace layer.
pub fn grpc(v: &mut impl Visit) {
    v.grpc(Setup::bare(), echo_server());

    let sdk = v.sdk();
    let svc = towerlight_tonic::server_with(sdk.towerlight()).layer(echo_server());
    v.grpc(Setup::direct("towerlight", sdk), svc);

    let sdk = v.sdk();
    let svc = tonic_tracing_opentelemetry::middleware::server::OtelGrpcLayer::default()
        .layer(echo_server());
    v.grpc(Setup::tracing("tonic-tracing-opentelemetry", sdk), svc);

    let sdk = v.sdk();
    let svc = tower_otel::trace::GrpcLayer::server(Level::INFO).layer(echo_server());
    v.grpc(Setup::tracing("tower-otel", sdk), svc);
}

/// The Actix configurations: bare, towerlight's `Otel`, and
/// `opentelemetry-instrumentation-actix-web`'s `RequestTracing` + `RequestMetrics` (in the order
/// its documentation wraps them).
pub fn actix(v: &mut impl Visit) {
    v.actix(
        Setup::bare(),
        App::new().route("/users/{id}", actix_route()),
    );

    let sdk = v.sdk();
    let app = App::new()
        .wrap(towerlight_actix::Otel::with_config(sdk.towerlight()))
        .route("/users/{id}", actix_route());
    v.actix(Setup::direct("towerlight", sdk), app);

    // `RequestTracing` reads the global tracer provider when the app is initialised (inside
    // `Visit::actix`); `RequestMetrics` takes the meter provider.
    let sdk = v.sdk();
    sdk.install_globals();
    let metrics = opentelemetry_instrumentation_actix_web::RequestMetrics::builder()
        .with_meter_provider(sdk.meter_provider.clone())
        .build();
    let app = App::new()
        .wrap(opentelemetry_instrumentation_actix_web::RequestTracing::new())
        .wrap(metrics)
        .route("/users/{id}", actix_route());
    v.actix(
        Setup::direct("opentelemetry-instrumentation-actix-web", sdk),
        app,
    );
}
