//! The Axum implementation of the [`Harness`]: the standard routes on an Axum
//! router with `towerlight_axum::layer_with(config)` and `CatchPanicLayer` outside it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use towerlight::Config;

use crate::{describe_current_context, Harness, TestServer};

/// Axum under test.
pub struct AxumHarness;

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
pub fn routes() -> Router {
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

/// Serves `app` on `127.0.0.1:0` with connect info.
pub async fn serve(app: Router) -> TestServer {
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

/// Aborts a task when dropped (stops test servers).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

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
