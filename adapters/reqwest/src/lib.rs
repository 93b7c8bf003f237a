#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

use std::sync::Arc;

use http::Extensions;
use opentelemetry::context::FutureExt as _;
use reqwest::{Request, Response, ResponseBuilderExt};
use reqwest_middleware::{Middleware, Next};
use towerlight::body::{CallObserver, InstrumentedBody};
use towerlight::http::client::{ClientRequestInfo, HttpClientInstrument};
use towerlight::{Config, ResendCount, UrlTemplate};

/// The towerlight middleware for `reqwest_middleware::ClientBuilder::with`.
#[derive(Debug, Clone)]
pub struct OtelMiddleware {
    inst: Arc<HttpClientInstrument>,
}

impl Default for OtelMiddleware {
    fn default() -> Self {
        OtelMiddleware::new()
    }
}

impl OtelMiddleware {
    /// With the default [`Config`].
    pub fn new() -> OtelMiddleware {
        OtelMiddleware::with_config(Config::new())
    }

    /// With your [`Config`] (resolved now).
    pub fn with_config(config: Config) -> OtelMiddleware {
        OtelMiddleware {
            inst: Arc::new(HttpClientInstrument::new(&config)),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for OtelMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // Extensions live as long as the whole middleware chain, across retries.
        let resend_count = extensions
            .get_or_insert_default::<ResendCount>()
            .next_attempt();
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = req.method().clone();
        parts.uri = http::Uri::try_from(req.url().as_str()).unwrap_or_default();
        parts.version = req.version();
        parts.headers = std::mem::take(req.headers_mut());
        if let Some(template) = extensions.get::<UrlTemplate>() {
            parts.extensions.insert(template.clone());
        }
        // reqwest adds `Content-Length` below the middleware: an in-memory body knows its size.
        let body_size = match req.body() {
            None => Some(0),
            Some(body) => body.as_bytes().map(|b| b.len() as u64),
        };
        let info = ClientRequestInfo::new(resend_count).with_body_size(body_size);
        let mut call = self.inst.start(&mut parts, info);
        *req.headers_mut() = parts.headers;

        let cx = call.context().clone();
        let response = match next.run(req, extensions).with_context(cx).await {
            Ok(response) => response,
            Err(err) => {
                call.end_with_error(error_type(&err));
                return Err(err);
            }
        };
        // The conversion to `http::Response` drops the final URL: keep it and put it back, so
        // the caller's `response.url()` is unchanged.
        let url = response.url().clone();
        let response: http::Response<reqwest::Body> = response.into();
        let (mut head, body) = response.into_parts();
        call.on_response(&head);
        // HEAD, 204, 304, `Content-Length: 0`: nothing more will arrive.
        let call = call.end_if_complete();
        let body = reqwest::Body::wrap(InstrumentedBody::new(body, call));
        let (url_head, ()) = http::Response::builder()
            .url(url)
            .body(())
            .unwrap_or_default()
            .into_parts();
        head.extensions.extend(url_head.extensions);
        Ok(Response::from(http::Response::from_parts(head, body)))
    }
}

/// A bounded `error.type` for reqwest's errors.
fn error_type(err: &reqwest_middleware::Error) -> &'static str {
    match err {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect_error",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect_error",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() => "body_error",
        reqwest_middleware::Error::Reqwest(e) if e.is_decode() => "decode_error",
        reqwest_middleware::Error::Reqwest(e) if e.is_request() => "request_error",
        reqwest_middleware::Error::Reqwest(_) => "_OTHER",
        reqwest_middleware::Error::Middleware(_) => "middleware_error",
    }
}
