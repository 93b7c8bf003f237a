//! The response future of [`HttpServerService`](super::HttpServerService).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::instrument::HttpServerCall;
use crate::body::{error_type_of, CallObserver, InstrumentedBody, UnwindGuard};

pin_project! {
    /// Polls the inner service with the request's context current; hands the call over to the
    /// response body, or ends it on error, panic or drop (= cancelled).
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        call: Option<HttpServerCall>,
        _error: PhantomData<fn() -> E>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: F, call: Option<HttpServerCall>) -> Self {
        ResponseFuture {
            inner,
            call,
            _error: PhantomData,
        }
    }
}

impl<F, E, B> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<InstrumentedBody<B, HttpServerCall>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.call.as_ref().map(|c| c.context().clone().attach());
        let guard = UnwindGuard(this.call);
        let result = ready!(this.inner.poll(cx));
        let slot = &mut *guard.0;
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let mut call = slot.take();
                if let Some(c) = call.as_mut() {
                    c.on_response(&parts);
                }
                if body.is_end_stream() {
                    if let Some(c) = call.take() {
                        CallObserver::end(c);
                    }
                }
                Ok(Response::from_parts(
                    parts,
                    InstrumentedBody::new(body, call),
                ))
            }
            Err(e) => {
                if let Some(c) = slot.take() {
                    c.end_with_error(error_type_of::<E>());
                }
                Err(e)
            }
        })
    }
}
