//! How a server treats the inbound context: as its parent, or — for public endpoints, where the
//! caller is not trusted — as a link from a new root.

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::trace::{Link, TraceContextExt};
use opentelemetry::Context;

use crate::config::Config;

/// The parent context and links for a server span.
///
/// In public-endpoint mode the span starts a new trace with a link to the inbound span context.
/// The inbound baggage is kept (it is data for the application, not a parent).
pub(crate) fn server_parent(
    config: &Config,
    parts: &http::request::Parts,
    inbound: Context,
) -> (Context, Option<Vec<Link>>) {
    if !config.is_public(parts) {
        return (inbound, None);
    }
    let remote = inbound.span().span_context().clone();
    let baggage: Baggage = inbound
        .baggage()
        .iter()
        .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
        .collect();
    let root = Context::new().with_baggage(baggage);
    let links = remote.is_valid().then(|| vec![Link::with_context(remote)]);
    (root, links)
}
