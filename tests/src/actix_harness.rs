//! The Actix-web implementation of the [`Harness`]: the standard routes on an Actix app wrapped
//! in `towerlight_actix::Otel`, with a catch-panic middleware outside it (Actix has none built
//! in), served by a one-worker `HttpServer` on its own Actix system thread.

use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, App, Error, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use towerlight::Config;

use crate::{describe_current_context, Harness, TestServer};

/// Actix-web under test.
pub struct ActixHarness;

async fn user(path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("x-served-by", "test"))
        .body(format!("user:{}", path.into_inner()))
}

async fn status(path: web::Path<u16>) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(path.into_inner())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::new(code)
}

async fn echo(body: Bytes) -> HttpResponse {
    HttpResponse::Ok().body(body)
}

async fn stream() -> HttpResponse {
    let chunks = futures_util::stream::unfold(0u8, |n| async move {
        if n >= 3 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((Ok::<_, Error>(Bytes::from(vec![b'a' + n])), n + 1))
    });
    HttpResponse::Ok().streaming(chunks)
}

async fn endless() -> HttpResponse {
    let chunks = futures_util::stream::unfold((), |()| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, Error>(Bytes::from_static(&[b'x'; 64])), ()))
    });
    HttpResponse::Ok().streaming(chunks)
}

async fn panics() -> HttpResponse {
    panic!("handler panicked on purpose")
}

async fn context() -> String {
    describe_current_context()
}

/// The standard routes on an Actix app.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}", web::get().to(user))
        .route("/status/{code}", web::get().to(status))
        .route("/any", web::route().to(|| async { "any" }))
        .route("/echo", web::post().to(echo))
        .route("/stream", web::get().to(stream))
        .route("/endless", web::get().to(endless))
        .route("/panic", web::get().to(panics))
        .route("/context", web::get().to(context))
        .service(web::scope("/api/v1").route("/users/{id}", web::get().to(user)));
}

/// Serves an Actix app (`configure`d routes, wrapped in `otel` and a catch-panic middleware
/// outside it) with one worker on its own Actix system thread; stopped when dropped.
///
/// The test thread's `tracing` dispatcher is installed on the worker thread, so scenarios that
/// set a subscriber see the handlers' `tracing` spans.
pub fn serve_actix<C>(configure: C, otel: towerlight_actix::Otel) -> TestServer
where
    C: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let server = HttpServer::new(move || {
                // Workers run on their own threads: give them the test's dispatcher.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                App::new()
                    .wrap(otel.clone())
                    .wrap(CatchPanic)
                    .configure(configure.clone())
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .expect("bind");
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).expect("report address");
            server.await
        })
    });
    let (addr, handle): (SocketAddr, actix_web::dev::ServerHandle) =
        rx.recv().expect("actix server started");
    TestServer {
        addr,
        stop: Box::new(StopActix(handle)),
    }
}

struct StopActix(actix_web::dev::ServerHandle);

impl Drop for StopActix {
    fn drop(&mut self) {
        drop(self.0.stop(false));
    }
}

impl Harness for ActixHarness {
    const NAME: &'static str = "actix-web";

    async fn start(config: Config) -> TestServer {
        serve_actix(routes, towerlight_actix::Otel::with_config(config))
    }
}

/// Turns a panicking handler into a 500 (what Axum's `CatchPanicLayer` does).
pub struct CatchPanic;

impl<S, B> Transform<S, ServiceRequest> for CatchPanic
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CatchPanicService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CatchPanicService {
            service: Rc::new(service),
        }))
    }
}

/// The service of [`CatchPanic`].
pub struct CatchPanicService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for CatchPanicService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // Holding a clone of the request during routing is not allowed in Actix (routing needs
        // the only reference), so the 500 is answered on a stand-in request.
        let future = self.service.call(req);
        Box::pin(async move {
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(result) => result.map(ServiceResponse::map_into_left_body),
                Err(_) => Ok(ServiceResponse::new(
                    actix_web::test::TestRequest::default().to_http_request(),
                    HttpResponse::InternalServerError().finish(),
                )
                .map_into_right_body()),
            }
        })
    }
}

/// An Actix server (wrapped in `otel`) whose `GET /relay` calls `target` with awc through
/// `tracing` — a GET, or a POST of `body` — and answers the target's body.
pub fn serve_awc_relay(
    target: String,
    tracing: towerlight_actix::AwcTracing,
    body: Option<&'static str>,
    otel: towerlight_actix::Otel,
) -> TestServer {
    serve_actix(
        move |cfg: &mut web::ServiceConfig| {
            let target = target.clone();
            let tracing = tracing.clone();
            cfg.route(
                "/relay",
                web::get().to(move || {
                    let target = target.clone();
                    let tracing = tracing.clone();
                    async move {
                        let client = awc::Client::default();
                        let sent = match body {
                            Some(body) => tracing.send_body(client.post(target), body).await,
                            None => tracing.send(client.get(target)).await,
                        };
                        let mut res = sent.expect("awc call");
                        let body = res.body().await.expect("awc body");
                        String::from_utf8_lossy(&body).into_owned()
                    }
                }),
            );
        },
        otel,
    )
}

/// `GET url` with a plain client, answering the body.
pub async fn get_text(url: &str) -> String {
    crate::client::get_text(url, &[]).await
}
