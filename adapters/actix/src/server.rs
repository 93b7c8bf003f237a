//! The `App::wrap` middleware: a thin shell that drives towerlight's HTTP server instrument.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpMessage};
use bytes::Bytes;
use futures_util::Stream;
use pin_project_lite::pin_project;
use towerlight::body::{attach_own, ByteCounter, CallObserver, UnwindGuard};
use towerlight::http::server::{HttpServerCall, HttpServerInstrument, RequestInfo};
use towerlight::Config;

use crate::convert::{request_parts, response_parts};

/// Instruments an Actix-web app with towerlight's HTTP server instrument — the same span,
/// attributes, metrics and propagation as the Tower layer.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| {
///     App::new()
///         .wrap(towerlight_actix::Otel::new())
///         .route("/users/{id}", web::get().to(|| async { "user" }))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Otel {
    inst: Arc<HttpServerInstrument>,
    ws: Arc<towerlight::ws::WsInstrument>,
}

impl Default for Otel {
    fn default() -> Self {
        Otel::new()
    }
}

impl Otel {
    /// The middleware with the default [`Config`].
    pub fn new() -> Otel {
        Otel::with_config(Config::new())
    }

    /// The middleware with your [`Config`] (resolved now: build it once, outside the
    /// `HttpServer::new` factory, and clone it in).
    pub fn with_config(config: Config) -> Otel {
        Otel {
            inst: Arc::new(HttpServerInstrument::new(&config)),
            ws: Arc::new(towerlight::ws::WsInstrument::new(
                &config,
                towerlight::ws::WsSide::Server,
            )),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Otel
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<TracedBody<B>>;
    type Error = Error;
    type Transform = OtelMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(OtelMiddleware {
            service: Rc::new(service),
            inst: self.inst.clone(),
            ws: self.ws.clone(),
        }))
    }
}

/// The service [`Otel`] wraps around an app.
#[derive(Debug)]
pub struct OtelMiddleware<S> {
    service: Rc<S>,
    inst: Arc<HttpServerInstrument>,
    ws: Arc<towerlight::ws::WsInstrument>,
}

impl<S, B> Service<ServiceRequest> for OtelMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<TracedBody<B>>;
    type Error = Error;
    type Future = OtelFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let inst = &self.inst;
        let parts = request_parts(
            &req,
            inst.request_header_filter(),
            inst.needs_request_target(),
        );
        let upgrade = is_websocket_upgrade(&req);
        // `match_pattern` resolves against the app's resource map: `None` for unmatched
        // requests (the default service), never a made-up route. Here, before the router ran,
        // it routes the request a second time (a regex per dynamic segment); once the router
        // has run it reads the route it recorded. So the route is read after the app answers
        // unless the span's start needs it (or a WebSocket session will).
        let early = upgrade || inst.needs_route_at_start();
        let route = early
            .then(|| req.match_pattern())
            .flatten()
            .map(|p| towerlight::http::shared_route(&p));
        let ws_route = route.clone();
        let peer = req.peer_addr();
        let counter = self.inst.counts_body_sizes().then(ByteCounter::default);
        // A request without a body (`Payload::None`) has nothing to count: the counter reads 0,
        // and the payload is not boxed.
        if let Some(counter) = counter.as_ref().filter(|_| has_payload(&mut req)) {
            let payload = req.take_payload();
            let counted: Pin<Box<dyn Stream<Item = PayloadItem>>> = Box::pin(CountedPayload {
                inner: payload,
                counter: counter.clone(),
            });
            req.set_payload(Payload::from(counted));
        }
        let info = RequestInfo::new(route, peer)
            .with_request_bytes(counter)
            .with_secure(req.app_config().secure());
        let call = self.inst.start(&parts, info);
        if upgrade {
            // For the session that follows (`towerlight_actix::ws::handle`).
            req.extensions_mut().insert(towerlight::ws::WsHandshake {
                instrument: self.ws.clone(),
                cx: call.context().clone(),
                route: ws_route,
            });
        }
        let future = {
            let _attached = attach_own(&call);
            self.service.call(req)
        };
        OtelFuture {
            inner: future,
            call: Some(call),
            late_route: !early,
            needs_headers: self.inst.needs_response_headers(),
        }
    }
}

/// Whether the request carries a body stream (a request without one has `Payload::None`).
fn has_payload(req: &mut ServiceRequest) -> bool {
    match req.take_payload() {
        Payload::None => false,
        payload => {
            req.set_payload(payload);
            true
        }
    }
}

pin_project! {
    /// Polls the app with the request's context current and hands the call to the body.
    pub struct OtelFuture<F> {
        #[pin]
        inner: F,
        call: Option<HttpServerCall>,
        // The route is read from the answered request: what its router recorded.
        late_route: bool,
        needs_headers: bool,
    }
}

impl<F, B> Future for OtelFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<TracedBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.call.as_ref().and_then(attach_own);
        let guard = UnwindGuard(this.call);
        let result = ready!(this.inner.poll(cx));
        let slot = &mut *guard.0;
        Poll::Ready(match result {
            Ok(res) => {
                let late_route = *this.late_route;
                let size = res.response().body().size();
                let call = slot.take().and_then(|mut c| {
                    // `None` for unmatched requests (the default service): no made-up route.
                    if let Some(pattern) =
                        late_route.then(|| res.request().match_pattern()).flatten()
                    {
                        c.on_route(&pattern);
                    }
                    let mut head = response_parts(
                        res.response().head(),
                        res.response().headers(),
                        *this.needs_headers,
                    );
                    // Actix writes `Content-Length` from the body size only when encoding; the
                    // instrument needs the length to know when the body is complete. Headers
                    // that are read (captured, hooked) get it as the client will see it.
                    let length = match size {
                        BodySize::Sized(n) => Some(n),
                        _ => None,
                    };
                    if let (Some(n), true) = (length, *this.needs_headers) {
                        head.headers
                            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
                    }
                    c.on_response_with_length(&head, length);
                    if size == BodySize::None {
                        c.end();
                        None
                    } else {
                        // Empty bodies and HEAD/204/304 end at the head.
                        c.end_if_complete()
                    }
                });
                Ok(res.map_body(|_, body| TracedBody { inner: body, call }))
            }
            Err(err) => {
                // Actix turns this error into a response further out; record what it will be.
                if let Some(mut c) = slot.take() {
                    let response = err.error_response();
                    c.on_response(&response_parts(
                        response.head(),
                        response.headers(),
                        *this.needs_headers,
                    ));
                    c.end();
                }
                Err(err)
            }
        })
    }
}

pin_project! {
    /// A response body that ends the request's span and metrics with its last byte.
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        call: Option<HttpServerCall>,
    }
}

impl<B: MessageBody> MessageBody for TracedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let Some(call) = this.call.as_ref() else {
            return this.inner.poll_next(cx);
        };
        let _attached = attach_own(call);
        let guard = UnwindGuard(this.call);
        let result = this.inner.poll_next(cx);
        let slot = &mut *guard.0;
        match &result {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(bytes))) => {
                // A sized body may not be polled past its last byte: end when it is complete.
                if let Some(call) = slot.as_mut() {
                    CallObserver::on_data(call, bytes);
                }
                if let Some(call) = slot.take() {
                    *slot = call.end_if_complete();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = slot.take() {
                    call.end_with_error(std::any::type_name::<B::Error>());
                }
            }
            Poll::Ready(None) => {
                if let Some(call) = slot.take() {
                    call.end();
                }
            }
        }
        result
    }
}

pin_project! {
    /// The request payload, counted as the handler reads it.
    struct CountedPayload {
        #[pin]
        inner: Payload,
        counter: ByteCounter,
    }
}

type PayloadItem = Result<Bytes, actix_web::error::PayloadError>;

impl Stream for CountedPayload {
    type Item = PayloadItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = ready!(this.inner.poll_next(cx));
        if let Some(Ok(bytes)) = &item {
            this.counter.add(bytes);
        }
        Poll::Ready(item)
    }
}

/// Whether the request asks to become a WebSocket.
fn is_websocket_upgrade(req: &ServiceRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}
