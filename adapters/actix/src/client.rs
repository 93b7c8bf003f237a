//! Outgoing requests with `awc`: [`AwcTracing`] drives towerlight's HTTP client instrument.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};

use actix_web::error::PayloadError;
use awc::error::SendRequestError;
use awc::{ClientRequest, ClientResponse};
use bytes::Bytes;
use futures_util::Stream;
use opentelemetry::context::FutureExt as _;
use pin_project_lite::pin_project;
use towerlight::body::CallObserver;
use towerlight::http::client::{ClientRequestInfo, HttpClientCall, HttpClientInstrument};
use towerlight::Config;

use crate::convert::{headers, version};

/// Sends `awc` requests with a CLIENT span, `http.client.request.duration` and the current
/// context injected into the request headers. The span ends when the response payload ends.
///
/// ```no_run
/// # async fn call() -> Result<(), Box<dyn std::error::Error>> {
/// let tracing = towerlight_actix::AwcTracing::new();
/// let client = awc::Client::default();
/// let mut response = tracing.send(client.get("http://127.0.0.1:8080/users/7")).await?;
/// let body = response.body().await?;
/// # let _ = body;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AwcTracing {
    inst: Arc<HttpClientInstrument>,
}

impl Default for AwcTracing {
    fn default() -> Self {
        AwcTracing::new()
    }
}

impl AwcTracing {
    /// With the default [`Config`].
    pub fn new() -> AwcTracing {
        AwcTracing::with_config(Config::new())
    }

    /// With your [`Config`] (resolved now).
    pub fn with_config(config: Config) -> AwcTracing {
        AwcTracing {
            inst: Arc::new(HttpClientInstrument::new(&config)),
        }
    }

    /// Sends `request` without a body.
    pub async fn send(
        &self,
        request: ClientRequest,
    ) -> Result<ClientResponse<TracedPayload>, SendRequestError> {
        self.send_with(request, Some(0), |r| r.send()).await
    }

    /// Sends `request` with `body`.
    pub async fn send_body<B>(
        &self,
        request: ClientRequest,
        body: B,
    ) -> Result<ClientResponse<TracedPayload>, SendRequestError>
    where
        B: actix_web::body::MessageBody + 'static,
    {
        let size = match body.size() {
            actix_web::body::BodySize::Sized(n) => Some(n),
            actix_web::body::BodySize::None => Some(0),
            actix_web::body::BodySize::Stream => None,
        };
        self.send_with(request, size, |r| r.send_body(body)).await
    }

    async fn send_with<F, Fut, S>(
        &self,
        mut request: ClientRequest,
        body_size: Option<u64>,
        send: F,
    ) -> Result<ClientResponse<TracedPayload>, SendRequestError>
    where
        F: FnOnce(ClientRequest) -> Fut,
        Fut: std::future::Future<Output = Result<ClientResponse<S>, SendRequestError>>,
        S: Stream<Item = Result<Bytes, PayloadError>> + 'static,
    {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = crate::convert::method(request.get_method());
        parts.uri = crate::convert::uri(request.get_uri());
        parts.version = version(*request.get_version());
        parts.headers = headers(request.headers());
        let info = ClientRequestInfo::default().with_body_size(body_size);
        let mut call = self.inst.start(&mut parts, info);
        copy_injected(&parts.headers, request.headers_mut());

        let cx = call.context().clone();
        let response = match send(request).with_context(cx).await {
            Ok(response) => response,
            Err(err) => {
                call.end_with_error(error_type(&err));
                return Err(err);
            }
        };
        let response_headers = if self.inst.needs_response_headers() {
            headers(response.headers())
        } else {
            http::HeaderMap::new()
        };
        let status =
            http::StatusCode::from_u16(response.status().as_u16()).unwrap_or(http::StatusCode::OK);
        // The length and status decide whether a body follows, so read them even when no other
        // response header is wanted.
        let mut head_headers = response_headers;
        if let Some(len) = response
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
        {
            if let Ok(v) = http::HeaderValue::from_bytes(len.as_bytes()) {
                head_headers.insert(http::header::CONTENT_LENGTH, v);
            }
        }
        call.on_response_head(status, version(response.version()), &head_headers);
        let call = call.end_if_complete();
        Ok(response.map_body(|_, payload| {
            let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
                Box::pin(payload);
            actix_web::dev::Payload::Stream {
                payload: TracedPayload {
                    inner: stream,
                    call,
                },
            }
        }))
    }
}

/// Copies the headers the instrument injected (trace context, baggage) into the awc request.
fn copy_injected(from: &http::HeaderMap, to: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    for name in from.keys() {
        let Ok(actix_name) = HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        let new: Vec<&[u8]> = from.get_all(name).iter().map(|v| v.as_bytes()).collect();
        let old: Vec<&[u8]> = to.get_all(&actix_name).map(|v| v.as_bytes()).collect();
        if new == old {
            continue;
        }
        to.remove(&actix_name);
        for value in new {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                to.append(actix_name.clone(), v);
            }
        }
    }
}

/// A bounded `error.type` for awc's send errors.
fn error_type(err: &SendRequestError) -> &'static str {
    match err {
        SendRequestError::Url(_) => "invalid_url",
        SendRequestError::Connect(_) => "connect_error",
        SendRequestError::Send(_) => "send_error",
        SendRequestError::Response(_) => "response_parse_error",
        SendRequestError::Http(_) => "http_error",
        SendRequestError::H2(_) => "h2_error",
        SendRequestError::Timeout => "timeout",
        SendRequestError::TunnelNotSupported => "tunnel_not_supported",
        SendRequestError::Body(_) => "body_error",
        _ => "_OTHER",
    }
}

pin_project! {
    /// The response payload; the request's span ends when it ends (or is dropped).
    pub struct TracedPayload {
        #[pin]
        inner: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
        call: Option<HttpClientCall>,
    }
}

impl Stream for TracedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = ready!(this.inner.poll_next(cx));
        match &item {
            Some(Ok(bytes)) => {
                if let Some(call) = this.call.as_mut() {
                    call.on_body_bytes(bytes.len() as u64);
                }
            }
            Some(Err(_)) => {
                if let Some(call) = this.call.take() {
                    call.end_with_error("payload_error");
                }
            }
            None => {
                if let Some(call) = this.call.take() {
                    call.end();
                }
            }
        }
        Poll::Ready(item)
    }
}
