//! HTTP: the server instrument and layer, the body rules, and the method/URL/header rules.

pub mod client;
mod method;
pub mod metrics;
mod progress;
mod resolved;
pub mod server;
pub(crate) mod status;
mod url;

pub use crate::common::intern::shared_route;
pub use client::{HttpClientLayer, HttpClientService, ResendCount, UrlTemplate};
pub use server::{
    HttpServerLayer, HttpServerService, PeerAddr, Protocol, RouteSlot, ServerLayer, ServerService,
};
