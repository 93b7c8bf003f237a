#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

/// The tokio-tungstenite this crate is built on (its `Message`, `Error` and configuration).
pub use tokio_tungstenite;

mod stream;

pub use stream::{error_type, TracedWebSocketStream};

use std::sync::{Arc, Mutex};

use opentelemetry::context::FutureExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response as ClientResponse;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use towerlight::http::client::{ClientRequestInfo, HttpClientInstrument};
use towerlight::http::server::{HttpServerCall, HttpServerInstrument, RequestInfo};
use towerlight::ws::{WsHandshake, WsInstrument, WsSide};
use towerlight::Config;

/// Accepts instrumented WebSocket connections: the handshake is an HTTP SERVER span (and
/// `http.server.request.duration`) that ends at the `101`, with the caller's context extracted
/// from its headers; the session that follows is measured by towerlight's session instrument.
#[derive(Debug, Clone)]
pub struct WsServer {
    http: Arc<HttpServerInstrument>,
    ws: Arc<WsInstrument>,
}

impl WsServer {
    /// With `config`.
    pub fn new(config: Config) -> WsServer {
        WsServer {
            http: Arc::new(HttpServerInstrument::new(&config)),
            ws: Arc::new(WsInstrument::new(&config, WsSide::Server)),
        }
    }

    /// `tokio_tungstenite::accept_hdr_async` with the handshake and the session instrumented;
    /// `route` names the endpoint (`http.route`, the session span's name).
    // The callback's `Result` type is tungstenite's `Callback` signature, not ours to shrink.
    #[allow(clippy::result_large_err)]
    pub async fn accept<S>(
        &self,
        stream: S,
        route: Option<&str>,
    ) -> Result<TracedWebSocketStream<S>, WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let slot: Arc<Mutex<Option<HttpServerCall>>> = Arc::default();
        let http = self.http.clone();
        let route: Option<Arc<str>> = route.map(Arc::from);
        let info_route = route.clone();
        let seen = slot.clone();
        let callback = move |request: &Request,
                             response: Response|
              -> Result<Response, ErrorResponse> {
            let mut call = http.start(&request_parts(request), RequestInfo::new(info_route, None));
            call.on_response(&response_parts(&response));
            if let Ok(mut slot) = seen.lock() {
                *slot = Some(call);
            }
            Ok(response)
        };
        let accepted = tokio_tungstenite::accept_hdr_async(stream, callback).await;
        let call = slot.lock().ok().and_then(|mut slot| slot.take());
        match (accepted, call) {
            (Ok(stream), Some(call)) => {
                let handshake = WsHandshake {
                    instrument: self.ws.clone(),
                    cx: call.context().clone(),
                    route,
                };
                call.end();
                Ok(TracedWebSocketStream::new(stream, Some(handshake.start())))
            }
            (Ok(stream), None) => Ok(TracedWebSocketStream::new(stream, None)),
            (Err(e), call) => {
                if let Some(call) = call {
                    call.end_with_error(stream::error_type(&e));
                }
                Err(e)
            }
        }
    }
}

/// Opens instrumented WebSocket connections: a CLIENT span for the handshake (its context
/// injected into the request headers), then the client session's metrics.
#[derive(Debug, Clone)]
pub struct WsClient {
    http: Arc<HttpClientInstrument>,
    ws: Arc<WsInstrument>,
}

impl WsClient {
    /// With `config`.
    pub fn new(config: Config) -> WsClient {
        WsClient {
            http: Arc::new(HttpClientInstrument::new(&config)),
            ws: Arc::new(WsInstrument::new(&config, WsSide::Client)),
        }
    }

    /// `tokio_tungstenite::connect_async`, instrumented.
    pub async fn connect<R>(
        &self,
        request: R,
    ) -> Result<
        (
            TracedWebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
            ClientResponse,
        ),
        WsError,
    >
    where
        R: IntoClientRequest + Unpin,
    {
        let (mut parts, ()) = request.into_client_request()?.into_parts();
        let mut call = self.http.start(&mut parts, ClientRequestInfo::default());
        let cx = call.context().clone();
        let request = http::Request::from_parts(parts, ());
        match tokio_tungstenite::connect_async(request)
            .with_context(cx.clone())
            .await
        {
            Ok((stream, response)) => {
                call.on_response(&response_parts(&response));
                call.end();
                let handshake = WsHandshake {
                    instrument: self.ws.clone(),
                    cx,
                    route: None,
                };
                Ok((
                    TracedWebSocketStream::new(stream, Some(handshake.start())),
                    response,
                ))
            }
            Err(e) => {
                call.end_with_error(stream::error_type(&e));
                Err(e)
            }
        }
    }
}

/// A copy of a handshake request's head.
fn request_parts(request: &Request) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = request.method().clone();
    parts.uri = request.uri().clone();
    parts.version = request.version();
    parts.headers = request.headers().clone();
    parts
}

/// A copy of a handshake response's head.
fn response_parts<B>(response: &http::Response<B>) -> http::response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = response.status();
    parts.version = response.version();
    parts.headers = response.headers().clone();
    parts
}

/// A plain `WebSocketStream`'s type, for users naming it.
pub type Inner<S> = WebSocketStream<S>;
