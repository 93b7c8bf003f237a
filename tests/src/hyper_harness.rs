//! The plain hyper + Tower implementation of the [`Harness`]: no framework, a hand-written
//! router as a `service_fn`, towerlight's `ServerLayer` (with a route matcher and the
//! `PeerAddr` extension) and `CatchPanicLayer` outside it, served by hyper-util.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use towerlight::body::{Counted, CountingBody};
use towerlight::http::PeerAddr;
use towerlight::{Config, ServerLayer};

use crate::{describe_current_context, Harness, TestServer};

/// Plain hyper under test.
pub struct HyperHarness;

type Body = BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

/// The route templates this router knows, matched segment by segment (`{x}` = any segment).
const ROUTES: [&str; 9] = [
    "/users/{id}",
    "/api/v1/users/{id}",
    "/status/{code}",
    "/any",
    "/echo",
    "/stream",
    "/endless",
    "/panic",
    "/context",
];

fn match_route(path: &str) -> Option<&'static str> {
    ROUTES.iter().copied().find(|template| {
        let mut t = template.split('/');
        let mut p = path.split('/');
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => {}
                (Some(ts), Some(ps)) if ts == ps => {}
                _ => return false,
            }
        }
    })
}

/// The route function the layer uses: this router's template for the request path.
fn route_of(parts: &http::request::Parts) -> Option<Arc<str>> {
    match_route(parts.uri.path()).map(Arc::from)
}

fn segment(path: &str, n: usize) -> &str {
    path.split('/').nth(n).unwrap_or_default()
}

async fn router(req: Request<CountingBody<Incoming>>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let response = match (match_route(&path), method.as_str()) {
        (Some("/users/{id}"), "GET") | (Some("/api/v1/users/{id}"), "GET") => {
            let id = path.rsplit('/').next().unwrap_or_default();
            Response::builder()
                .header("x-served-by", "test")
                .body(full(format!("user:{id}")))
                .unwrap()
        }
        (Some("/status/{code}"), "GET") => {
            let code = segment(&path, 2).parse().unwrap_or(400);
            Response::builder()
                .status(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST))
                .body(Empty::new().boxed())
                .unwrap()
        }
        (Some("/any"), _) => Response::new(full("any")),
        (Some("/echo"), "POST") => {
            let body = req.into_body().collect().await.map(|c| c.to_bytes());
            Response::new(full(body.unwrap_or_default()))
        }
        (Some("/stream"), "GET") => {
            let chunks = futures_util::stream::unfold(0u8, |n| async move {
                if n >= 3 {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let frame = Frame::data(Bytes::from(vec![b'a' + n]));
                Some((Ok::<_, Infallible>(frame), n + 1))
            });
            Response::new(StreamBody::new(chunks).boxed())
        }
        (Some("/endless"), "GET") => {
            let chunks = futures_util::stream::unfold((), |()| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let frame = Frame::data(Bytes::from_static(&[b'x'; 64]));
                Some((Ok::<_, Infallible>(frame), ()))
            });
            Response::new(StreamBody::new(chunks).boxed())
        }
        (Some("/panic"), "GET") => panic!("handler panicked on purpose"),
        (Some("/context"), "GET") => Response::new(full(describe_current_context())),
        (Some(_), _) => Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Empty::new().boxed())
            .unwrap(),
        (None, _) => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Empty::new().boxed())
            .unwrap(),
    };
    Ok(response)
}

impl Harness for HyperHarness {
    const NAME: &'static str = "hyper";

    async fn start(config: Config) -> TestServer {
        let layer = ServerLayer::with_config(config)
            .route_from(route_of)
            .body_mode::<Counted>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let service = ServiceBuilder::new()
                    .map_request(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(PeerAddr(peer));
                        req
                    })
                    .layer(CatchPanicLayer::new())
                    .layer(layer.clone())
                    .service(tower::service_fn(router));
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                        .await;
                });
            }
        });
        TestServer {
            addr,
            stop: Box::new(crate::axum_harness::AbortOnDrop(task)),
        }
    }
}
