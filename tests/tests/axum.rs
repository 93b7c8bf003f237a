//! The HTTP server scenario table against Axum, plus Axum-specific wiring checks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;
use opentelemetry::trace::SpanKind;
use tower_http::catch_panic::CatchPanicLayer;
use towerlight::Config;
use towerlight_tests::{client, describe_current_context, Harness, Telemetry, TestServer};

struct AxumHarness;

async fn user(Path(id): Path<String>) -> impl IntoResponse {
    ([("x-served-by", "test")], format!("user:{id}"))
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn stream() -> Body {
    let chunks = futures_util::stream::unfold(0u8, |n| async move {
        if n >= 3 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chunk = Bytes::from(vec![b'a' + n]);
        Some((Ok::<_, Infallible>(chunk), n + 1))
    });
    Body::from_stream(chunks)
}

async fn endless() -> Body {
    let chunks = futures_util::stream::unfold((), |()| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(&[b'x'; 64])), ()))
    });
    Body::from_stream(chunks)
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

async fn context() -> String {
    describe_current_context()
}

/// The standard routes, without instrumentation.
fn routes() -> Router {
    let nested = Router::new().route("/users/{id}", get(user));
    Router::new()
        .route("/users/{id}", get(user))
        .route("/status/{code}", get(status))
        .route("/any", any(|| async { "any" }))
        .route("/echo", post(echo))
        .route("/stream", get(stream))
        .route("/endless", get(endless))
        .route("/panic", get(panics))
        .route("/context", get(context))
        .nest("/api/v1", nested)
}

async fn serve(app: Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestServer {
        addr,
        stop: Box::new(AbortOnDrop(task)),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Harness for AxumHarness {
    const NAME: &'static str = "axum";

    async fn start(config: Config) -> TestServer {
        let app = routes()
            .layer(towerlight_axum::layer_with(config))
            .layer(CatchPanicLayer::new());
        serve(app).await
    }
}

towerlight_tests::scenario_tests!(AxumHarness);

/// Wrapping the whole router from the outside, with `RecordRoute` inside: same route and name.
#[tokio::test(flavor = "current_thread")]
async fn outer_layer_with_record_route() {
    let t = Telemetry::new();
    let router = routes().route_layer(towerlight_axum::RecordRoute);
    let app = tower::ServiceBuilder::new()
        .layer(towerlight_axum::layer_with(t.config()))
        .service(router);
    let server = serve(Router::new().fallback_service(app)).await;
    client::http()
        .get(server.url("/api/v1/users/3"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /api/v1/users/{id}");
    let route = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "http.route");
    assert_eq!(route.unwrap().value.as_str(), "/api/v1/users/{id}");
    let p = t.metrics().histogram("http.server.request.duration");
    assert_eq!(p[0].attributes["http.route"].as_str(), "/api/v1/users/{id}");

    // Unmatched through the outer layer: still no route.
    client::http()
        .get(server.url("/missing"))
        .send()
        .await
        .unwrap();
    let spans = t.wait_spans(SpanKind::Server, 2).await;
    let missing = spans
        .iter()
        .find(|s| s.name == "GET")
        .expect("unmatched span");
    assert!(missing
        .attributes
        .iter()
        .all(|kv| kv.key.as_str() != "http.route"));
}

/// The same layer used both outside and via `Router::layer` instruments each request once.
#[tokio::test(flavor = "current_thread")]
async fn layer_inside_and_outside_instruments_once() {
    let t = Telemetry::new();
    let layer = towerlight_axum::layer_with(t.config());
    let router = routes().layer(layer.clone());
    let app = tower::ServiceBuilder::new().layer(layer).service(router);
    let server = serve(Router::new().fallback_service(app)).await;
    client::http()
        .get(server.url("/users/1"))
        .send()
        .await
        .unwrap();
    let span = t.server_span().await;
    assert_eq!(span.name, "GET /users/{id}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.spans().len(), 1);
    assert_eq!(
        t.metrics().histogram("http.server.request.duration")[0].count,
        1
    );
}
