//! How a server treats the inbound context: as its parent, or — for public endpoints, where the
//! caller is not trusted — as a link from a new root.

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::trace::{Link, TraceContextExt};
use opentelemetry::Context;

use crate::config::{Config, PublicEndpoint};

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

/// Whether a server call's context is the one current when it started: it starts no span (a
/// no-op tracer, metrics only), extracts nothing (the request carries no header the
/// propagator reads) and is not made a new root (not a public endpoint). Attaching it where it
/// was taken would change nothing, so the layers skip that attach.
pub(crate) fn inherits_current(config: &Config, noop_tracer: bool, extracts: bool) -> bool {
    noop_tracer && !extracts && matches!(config.public_endpoint, PublicEndpoint::No)
}

/// [`inherits_current`] for a client call: it extracts nothing and is never a public endpoint,
/// so without a span of its own (a no-op tracer) its context is the caller's, current at the
/// start.
pub(crate) fn client_inherits_current(noop_tracer: bool) -> bool {
    noop_tracer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_call_inherits_the_callers_context_exactly_when_it_has_no_span() {
        assert!(client_inherits_current(true));
        assert!(!client_inherits_current(false));
    }

    #[test]
    fn only_a_spanless_call_that_extracts_nothing_and_trusts_its_caller_inherits_the_context() {
        let trusted = Config::new();
        assert!(inherits_current(&trusted, true, false));
        assert!(
            !inherits_current(&trusted, false, false),
            "a span of its own"
        );
        assert!(
            !inherits_current(&trusted, true, true),
            "an extracted parent"
        );
        let public = Config::new().public_endpoint(true);
        assert!(!inherits_current(&public, true, false), "a new root");
    }
}
