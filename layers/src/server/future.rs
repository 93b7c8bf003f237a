//! The response future every instrumented service returns, server or client.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::{attach_own, error_type_of, InstrumentedBody, ResponseObserver, UnwindGuard};

pin_project! {
    /// Polls the inner service with the call's context current; hands the call over to the
    /// response body, or ends it on error, panic or drop (= cancelled).
    pub struct ResponseFuture<F, E, C: ResponseObserver> {
        #[pin]
        inner: F,
        call: Option<C>,
        _error: PhantomData<fn() -> E>,
    }
}

impl<F, E, C: ResponseObserver> ResponseFuture<F, E, C> {
    pub(crate) fn new(inner: F, call: Option<C>) -> Self {
        ResponseFuture {
            inner,
            call,
            _error: PhantomData,
        }
    }
}

impl<F, E, B, C> Future for ResponseFuture<F, E, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    C: ResponseObserver,
{
    type Output = Result<Response<InstrumentedBody<B, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.call.as_ref().and_then(attach_own);
        let guard = UnwindGuard(this.call);
        let result = ready!(this.inner.poll(cx));
        let slot = &mut *guard.0;
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let call = slot.take().and_then(|mut c| {
                    c.on_response(&parts);
                    if body.is_end_stream() {
                        c.end();
                        None
                    } else {
                        c.end_if_complete()
                    }
                });
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
