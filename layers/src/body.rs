//! Body wrappers: they keep a call's telemetry alive until the last byte, the trailers, an error
//! or the drop of the body, and count the bytes that really went through.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};

use bytes::Buf;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::Context;
use pin_project_lite::pin_project;

/// What an instrumented call needs to hear from a body it wraps.
///
/// Implemented by the per-call instruments ([`crate::http::server::HttpServerCall`], …). The
/// `end*` methods consume the call: it is finished exactly once, and dropping an unfinished call
/// records a cancellation.
pub trait CallObserver {
    /// The call's context, made current while the body is polled.
    fn context(&self) -> &Context;
    /// Whether [`context`](Self::context) is only the context that was current when the call
    /// started (metrics only, nothing extracted): the call has no context of its own, so it is
    /// not attached and the call runs in whichever context polls it, as without the layer.
    fn inherits_current(&self) -> bool {
        false
    }
    /// A data frame went through (its length counts towards body sizes; gRPC calls also read
    /// the message framing from it when message events are on).
    fn on_data<D: Buf>(&mut self, data: &D);
    /// The trailers went through.
    fn on_trailers(&mut self, trailers: &HeaderMap);
    /// Whether everything the response will carry has gone through already — no body is
    /// expected (HEAD, 1xx, 204, 304) or the declared `Content-Length` has been sent. Servers
    /// stop polling (or drop) such bodies without a final frame, so the call must end here.
    fn is_complete(&self) -> bool {
        false
    }
    /// The body ended normally.
    fn end(self);
    /// Ends the call now if [`is_complete`](Self::is_complete) says nothing more will come, and
    /// hands it back otherwise (for adapters to wrap the body with).
    fn end_if_complete(self) -> Option<Self>
    where
        Self: Sized,
    {
        if self.is_complete() {
            self.end();
            None
        } else {
            Some(self)
        }
    }
    /// The body failed; `error_type` is a bounded `error.type` value.
    fn end_with_error(self, error_type: Cow<'static, str>);
    /// Polling panicked.
    fn end_with_panic(self);
}

/// Makes the call's context current (for the inner service's `call`, or a poll) until the
/// guard drops — unless the call has no context of its own
/// ([`CallObserver::inherits_current`]): then it runs in the context of whoever calls or polls
/// it, as without the layer. (A guard rather than a closure: a closure around `inner.call(req)`
/// would copy the request into itself.)
pub fn attach_own<C: CallObserver>(call: &C) -> Option<opentelemetry::ContextGuard> {
    (!call.inherits_current()).then(|| call.context().clone().attach())
}

/// A call that also hears the response head (every request/response instrument).
pub trait ResponseObserver: CallObserver {
    /// The response head arrived.
    fn on_response(&mut self, response: &http::response::Parts);
}

/// Finishes the call as panicked if it is dropped while the thread unwinds.
///
/// Put around each poll of user code: when the poll panics, the call is ended with
/// `error.type = "panic"` right then, whoever catches the panic further up (a `catch_unwind`
/// keeps the future alive, so waiting for its `Drop` would misreport the panic as a
/// cancellation).
///
/// ```
/// use towerlight::body::{CallObserver, UnwindGuard};
///
/// fn poll_user_code<O: CallObserver>(call: &mut Option<O>, user_code: impl FnOnce()) {
///     let guard = UnwindGuard(call);
///     user_code(); // if this panics, `guard` ends the call as panicked
///     drop(guard);
/// }
/// ```
pub struct UnwindGuard<'a, O: CallObserver>(pub &'a mut Option<O>);

impl<O: CallObserver> Drop for UnwindGuard<'_, O> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(call) = self.0.take() {
                call.end_with_panic();
            }
        }
    }
}

/// The `Debug` output every call type shares: its span context and whether it has finished.
pub(crate) fn debug_call(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    cx: &Context,
    finished: bool,
) -> std::fmt::Result {
    use opentelemetry::trace::TraceContextExt;
    f.debug_struct(name)
        .field("span_context", cx.span().span_context())
        .field("finished", &finished)
        .finish()
}

/// A bounded `error.type` for an error type: its type name.
pub(crate) fn error_type_of<E>() -> Cow<'static, str> {
    Cow::Borrowed(std::any::type_name::<E>())
}

pin_project! {
    /// A response body that ends its call's span and metrics when the body ends.
    ///
    /// While it is polled, the call's OpenTelemetry context is current.
    pub struct InstrumentedBody<B, O: CallObserver> {
        #[pin]
        inner: B,
        call: Option<O>,
    }
}

impl<B, O: CallObserver> InstrumentedBody<B, O> {
    /// Wraps `inner`; `call` (if any) is finished when the body ends, fails or is dropped.
    pub fn new(inner: B, call: Option<O>) -> Self {
        InstrumentedBody { inner, call }
    }
}

impl<B, O> Body for InstrumentedBody<B, O>
where
    B: Body,
    O: CallObserver,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(call) = this.call.as_ref() else {
            return this.inner.poll_frame(cx);
        };
        let _attached = attach_own(call);
        let guard = UnwindGuard(this.call);
        let mut inner = this.inner;
        let result = inner.as_mut().poll_frame(cx);
        let slot = &mut *guard.0;
        match &result {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                let mut last = inner.is_end_stream();
                if let Some(call) = slot.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        call.on_data(data);
                        last |= call.is_complete();
                    } else if let Some(trailers) = frame.trailers_ref() {
                        call.on_trailers(trailers);
                        // Trailers are always the last frame.
                        last = true;
                    }
                }
                // Servers may stop polling once the body says it is done: end here.
                if last {
                    if let Some(call) = slot.take() {
                        call.end();
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = slot.take() {
                    call.end_with_error(error_type_of::<B::Error>());
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

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a request-body wrapper reports to: the byte count and, for gRPC calls with message
/// events on, the message framing. Shared between the body (owned by the handler) and the call.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<Tap>);

#[derive(Debug, Default)]
struct Tap {
    bytes: AtomicU64,
    messages: OnceLock<Mutex<crate::grpc::MessageTap>>,
}

impl ByteCounter {
    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }

    /// Counts a data frame (and reads its gRPC framing when message events are on).
    pub fn add<D: Buf>(&self, data: &D) {
        self.0
            .bytes
            .fetch_add(data.remaining() as u64, Ordering::Relaxed);
        if let Some(tap) = self.0.messages.get() {
            if let Ok(mut tap) = tap.lock() {
                tap.feed(data);
            }
        }
    }

    /// Also record `rpc.message` events for the messages in this body.
    pub(crate) fn tap_messages(&self, tap: crate::grpc::MessageTap) {
        let _ = self.0.messages.set(Mutex::new(tap));
    }
}

pin_project! {
    /// A request body that counts the bytes the handler actually reads.
    #[derive(Debug)]
    pub struct CountingBody<B> {
        #[pin]
        inner: B,
        counter: ByteCounter,
    }
}

impl<B> CountingBody<B> {
    /// Wraps `inner`, adding every data frame's length to `counter`.
    pub fn new(inner: B, counter: ByteCounter) -> Self {
        CountingBody { inner, counter }
    }
}

impl<B: Body> Body for CountingBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let result = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &result {
            if let Some(data) = frame.data_ref() {
                this.counter.add(data);
            }
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a server layer hands the request body to the inner service.
///
/// Counting the request bytes needs a wrapper around the body, which changes the body type the
/// inner service sees. [`Passthrough`] (the default) keeps the type and falls back to
/// `Content-Length` for `http.server.request.body.size`; [`Counted`] wraps it in
/// [`CountingBody`]. Framework adapters provide a mode that wraps only when counting is on and
/// converts back to the framework's own body type.
pub trait RequestBodyMode<B> {
    /// The body type the inner service receives.
    type Body;
    /// Wraps (or not) `body`; `counter` is `Some` only when body-size metrics are on.
    fn wrap(body: B, counter: Option<ByteCounter>) -> Self::Body;
    /// Whether this mode counts bytes itself (otherwise `Content-Length` is used).
    fn counts() -> bool;
}

/// Leave the request body untouched (request size from `Content-Length`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Passthrough;

impl<B> RequestBodyMode<B> for Passthrough {
    type Body = B;
    fn wrap(body: B, _: Option<ByteCounter>) -> B {
        body
    }
    fn counts() -> bool {
        false
    }
}

/// Hand the inner service a [`CountingBody`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Counted;

impl<B> RequestBodyMode<B> for Counted {
    type Body = CountingBody<B>;
    fn wrap(body: B, counter: Option<ByteCounter>) -> CountingBody<B> {
        CountingBody::new(body, counter.unwrap_or_default())
    }
    fn counts() -> bool {
        true
    }
}
