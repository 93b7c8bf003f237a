//! The HTTP client side: [`HttpClientLayer`] (Tower) and the [`HttpClientInstrument`] it drives
//! (also driven by the reqwest middleware and the awc extension).

mod instrument;
mod layer;

pub use instrument::{
    ClientRequestInfo, HttpClientCall, HttpClientInstrument, ResendCount, UrlTemplate,
};
pub use layer::{HttpClientLayer, HttpClientService};
