//! Randomised inputs for every header the propagators read: whatever arrives, extraction never
//! panics and a propagator never produces an invalid remote parent.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;

use super::{JaegerPropagator, Propagator, W3cBaggage, W3cTraceContext};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A header value: mostly fragments of valid syntax, sometimes raw bytes.
    fn value(&mut self) -> Vec<u8> {
        const PIECES: [&[u8]; 16] = [
            b"00",
            b"ff",
            b"01",
            b"-",
            b"4bf92f3577b34da6a3ce929d0e0e4736",
            b"00f067aa0ba902b7",
            b"0000000000000000",
            b",",
            b"=",
            b";",
            b"%",
            b"%2",
            b"k=v",
            b" ",
            b"\t",
            b":",
        ];
        let mut out = Vec::new();
        for _ in 0..self.below(12) {
            if self.below(8) == 0 {
                // Any byte a header value may hold (visible ASCII, tab, obs-text).
                let b = (self.next() % 256) as u8;
                if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
                    out.push(b);
                }
            } else {
                out.extend_from_slice(PIECES[self.below(PIECES.len())]);
            }
        }
        out
    }
}

#[test]
fn random_headers_never_panic_or_yield_invalid_parents() {
    let names = [
        "traceparent",
        "tracestate",
        "baggage",
        "uber-trace-id",
        "uberctx-user",
    ];
    let propagators: Vec<Box<dyn TextMapPropagator>> = vec![
        Box::new(W3cTraceContext::new()),
        Box::new(W3cBaggage::new()),
        Box::new(JaegerPropagator::new()),
        Box::new(Propagator::w3c()),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut headers = HeaderMap::new();
        for _ in 0..=rng.below(4) {
            let name = HeaderName::from_static(names[rng.below(names.len())]);
            if let Ok(value) = HeaderValue::from_bytes(&rng.value()) {
                headers.append(name, value);
            }
        }
        for p in &propagators {
            let cx = p.extract_with_context(&Context::new(), &super::HeaderExtractor(&headers));
            let sc = cx.span().span_context().clone();
            if sc.is_valid() {
                assert!(sc.is_remote());
            }
            // Whatever was extracted can be injected again without panicking.
            let mut out = HeaderMap::new();
            p.inject_context(&cx, &mut super::HeaderInjector(&mut out));
        }
    }
}
