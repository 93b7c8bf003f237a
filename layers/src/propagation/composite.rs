//! [`Propagator`]: a propagator resolved once (from `OTEL_PROPAGATORS` or in
//! code) and shared cheaply by every request.

use super::baggage::W3cBaggage;
use super::carrier::{HeaderExtractor, HeaderInjector, ScannedExtractor};
use super::error::{PropagationError, OTEL_PROPAGATORS};
use super::jaeger::JaegerPropagator;
use super::w3c::W3cTraceContext;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::Context;
use std::sync::Arc;

type DynPropagator = dyn TextMapPropagator + Send + Sync;

/// A resolved text-map propagator, cheap to clone (one `Arc`).
///
/// Build it once — [`Propagator::from_env`], [`Propagator::w3c`],
/// [`Propagator::new`] — and hand clones to layers: extraction and injection
/// then need no global state and take no lock.
///
/// When several propagators are combined, extraction runs each in order over
/// the context produced by the previous one (a later propagator's span
/// context wins), and injection runs each in order.
#[derive(Clone, Debug)]
pub struct Propagator {
    inner: Arc<DynPropagator>,
    /// How extraction from a scanned request head starts: the same result as `inner`'s.
    lead: Lead,
    /// For the propagators written here (W3C trace context and baggage, Jaeger), which read
    /// only the headers their `fields()` name (and Jaeger's `uberctx-*`): those headers as
    /// [`context_field_bit`]s, so a request that carries none of them skips extraction. `None`
    /// for a propagator given by the user, which is always run.
    reads_only: Option<u8>,
}

/// The bit of a request header a propagator written here reads (`traceparent`, `tracestate`,
/// `baggage`, `uber-trace-id`, `uberctx-*`), or 0. Matching on the name compares lengths
/// before bytes, so the other headers of a request cost next to nothing; the request head is
/// scanned with it once (`HeadScan`), and a propagator knows which of these bits it reads.
pub(crate) fn context_field_bit(name: &str) -> u8 {
    match name {
        "traceparent" => TRACEPARENT_BIT,
        "tracestate" => 2,
        "baggage" => 4,
        "uber-trace-id" => 8,
        n if n.starts_with("uberctx-") => JAEGER_BAGGAGE,
        _ => 0,
    }
}

/// Jaeger's `uberctx-*` baggage headers, read along with `uber-trace-id`.
const JAEGER_BAGGAGE: u8 = 16;

/// The propagation headers of a request head, noted by its one pass over the header names
/// (`HeadScan`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ContextFields<'a> {
    /// The [`context_field_bit`]s of the head's header names.
    pub(crate) seen: u8,
    /// The `traceparent` value, when the head has exactly one.
    traceparent: Option<&'a http::HeaderValue>,
}

impl<'a> ContextFields<'a> {
    /// Notes a header the scan found (one call per value: a repeated header comes again).
    pub(crate) fn note(&mut self, name: &str, value: &'a http::HeaderValue) {
        let bit = context_field_bit(name);
        if bit == TRACEPARENT_BIT {
            // A second value: the specification ignores them all (the full path decides).
            self.traceparent = (self.seen & bit == 0).then_some(value);
        }
        self.seen |= bit;
    }
}

/// The [`context_field_bit`] of `traceparent`.
const TRACEPARENT_BIT: u8 = 1;

/// The propagators of a list as one: `None` for none, a single one as it is (without a
/// composite around it), several in a composite.
fn combined(mut list: Vec<Box<DynPropagator>>) -> Option<Arc<DynPropagator>> {
    match list.len() {
        0 | 1 => list.pop().map(Arc::from),
        _ => Some(Arc::new(TextMapCompositePropagator::new(list))),
    }
}

/// How extraction from a scanned head starts.
#[derive(Clone, Debug)]
enum Lead {
    /// Every propagator through the carrier traits.
    Carrier,
    /// W3C Trace Context first, from the `traceparent` value the scan found (when it found
    /// exactly one), then these (the rest of the list, if any) through the carrier traits.
    TraceContext(Option<Arc<DynPropagator>>),
}

/// Propagates nothing; extraction returns the given context unchanged.
///
/// (`opentelemetry`'s `NoopTextMapPropagator` returns `Context::current()`
/// instead of the given context.)
#[derive(Debug)]
struct NoPropagation;

const NO_FIELDS: [String; 0] = [];

impl TextMapPropagator for NoPropagation {
    fn inject_context(&self, _cx: &Context, _injector: &mut dyn Injector) {}

    fn extract_with_context(&self, cx: &Context, _extractor: &dyn Extractor) -> Context {
        cx.clone()
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&NO_FIELDS)
    }
}

/// The propagators `OTEL_PROPAGATORS` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    TraceContext,
    Baggage,
    B3,
    B3Multi,
    Jaeger,
    Xray,
    None,
}

impl Name {
    fn parse(name: &str) -> Option<Self> {
        const NAMES: [(&str, Name); 7] = [
            ("tracecontext", Name::TraceContext),
            ("baggage", Name::Baggage),
            ("b3", Name::B3),
            ("b3multi", Name::B3Multi),
            ("jaeger", Name::Jaeger),
            ("xray", Name::Xray),
            ("none", Name::None),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, parsed)| parsed)
    }

    fn build(self, written: &str) -> Result<Box<DynPropagator>, PropagationError> {
        Ok(match self {
            Name::TraceContext => Box::new(W3cTraceContext::new()),
            Name::Baggage => Box::new(W3cBaggage::new()),
            Name::Jaeger => Box::new(JaegerPropagator::new()),
            Name::B3 | Name::B3Multi => b3(self == Name::B3Multi, written)?,
            Name::Xray => xray(written)?,
            Name::None => Box::new(NoPropagation),
        })
    }
}

// opentelemetry-zipkin 0.33 marks the whole crate deprecated (its exporter is
// superseded by OTLP); its B3 propagator is still the maintained one.
#[cfg(feature = "b3")]
#[allow(deprecated)]
fn b3(multi: bool, _written: &str) -> Result<Box<DynPropagator>, PropagationError> {
    use opentelemetry_zipkin::{B3Encoding, Propagator as B3};
    let encoding = if multi {
        B3Encoding::MultipleHeader
    } else {
        B3Encoding::SingleHeader
    };
    Ok(Box::new(B3::with_encoding(encoding)))
}

#[cfg(not(feature = "b3"))]
fn b3(_multi: bool, written: &str) -> Result<Box<DynPropagator>, PropagationError> {
    Err(PropagationError::FeatureDisabled {
        name: written.to_owned(),
        feature: "b3",
    })
}

#[cfg(feature = "xray")]
fn xray(_written: &str) -> Result<Box<DynPropagator>, PropagationError> {
    Ok(Box::new(opentelemetry_aws::trace::XrayPropagator::new()))
}

#[cfg(not(feature = "xray"))]
fn xray(written: &str) -> Result<Box<DynPropagator>, PropagationError> {
    Err(PropagationError::FeatureDisabled {
        name: written.to_owned(),
        feature: "xray",
    })
}

impl Propagator {
    /// Wraps any propagator.
    pub fn new(propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        Self::new_arc(Arc::new(propagator))
    }

    /// One of the propagators built here, whose reads are known (see `reads_only`).
    fn ours(inner: Arc<DynPropagator>) -> Self {
        let mut bits = 0;
        let mut known = true;
        for field in inner.fields() {
            let bit = context_field_bit(&field.to_ascii_lowercase());
            known &= bit != 0;
            bits |= bit;
        }
        if bits & context_field_bit("uber-trace-id") != 0 {
            bits |= JAEGER_BAGGAGE;
        }
        Self {
            inner,
            lead: Lead::Carrier,
            reads_only: known.then_some(bits),
        }
    }

    /// Whether extraction could find anything in `headers`: false only for a propagator built
    /// here and a request with none of its headers (one pass over the names, cheaper than the
    /// hashed lookups extraction makes for each field).
    fn may_carry_context(&self, headers: &http::HeaderMap) -> bool {
        let seen = headers
            .keys()
            .fold(0, |bits, name| bits | context_field_bit(name.as_str()));
        self.reads_any(seen)
    }

    /// Whether extraction could find anything in a request whose headers have the
    /// [`context_field_bit`]s `seen`.
    pub(crate) fn reads_any(&self, seen: u8) -> bool {
        self.reads_only.is_none_or(|reads| reads & seen != 0)
    }

    /// W3C Trace Context followed by W3C Baggage: the default when
    /// `OTEL_PROPAGATORS` is unset or empty.
    pub fn w3c() -> Self {
        Self::ours(Arc::new(TextMapCompositePropagator::new(vec![
            Box::new(W3cTraceContext::new()),
            Box::new(W3cBaggage::new()),
        ])))
        .led_by_trace_context(vec![Box::new(W3cBaggage::new())])
    }

    /// This propagator, whose list starts with W3C Trace Context followed by `rest`.
    fn led_by_trace_context(mut self, rest: Vec<Box<DynPropagator>>) -> Self {
        self.lead = Lead::TraceContext(combined(rest));
        self
    }

    /// A propagator that neither extracts nor injects anything.
    pub fn none() -> Self {
        Self::ours(Arc::new(NoPropagation))
    }

    /// Resolves the `OTEL_PROPAGATORS` environment variable (see
    /// [`Propagator::from_names`]); unset means the default,
    /// `tracecontext,baggage`.
    pub fn from_env() -> Result<Self, PropagationError> {
        match std::env::var(OTEL_PROPAGATORS) {
            Ok(names) => Self::from_names(&names),
            Err(std::env::VarError::NotPresent) => Ok(Self::w3c()),
            Err(std::env::VarError::NotUnicode(_)) => Err(PropagationError::NotUnicode {
                variable: OTEL_PROPAGATORS,
            }),
        }
    }

    /// Resolves a comma-separated list of propagator names, as in
    /// `OTEL_PROPAGATORS`.
    ///
    /// Names are trimmed and case-insensitive; duplicates and empty entries
    /// are ignored; an empty list means `tracecontext,baggage`. Known names:
    /// `tracecontext`, `baggage`, `jaeger`, `b3` (single header) and
    /// `b3multi` (needs the `b3` feature), `xray` (needs the `xray` feature),
    /// and `none`, which must stand alone.
    pub fn from_names(names: &str) -> Result<Self, PropagationError> {
        let mut resolved: Vec<(Name, &str)> = Vec::new();
        for written in names.split(',').map(str::trim) {
            if written.is_empty() {
                continue;
            }
            let name = Name::parse(written).ok_or_else(|| PropagationError::Unknown {
                name: written.to_owned(),
                value: names.to_owned(),
            })?;
            if !resolved.iter().any(|(seen, _)| *seen == name) {
                resolved.push((name, written));
            }
        }
        if resolved.iter().any(|(name, _)| *name == Name::None) && resolved.len() > 1 {
            return Err(PropagationError::NoneWithOthers {
                value: names.to_owned(),
            });
        }
        // Upstream's B3 and X-Ray read headers their `fields()` do not name (B3 single reads
        // the multi headers too): only a list of our own propagators may skip extraction.
        let known_reads = resolved
            .iter()
            .all(|(name, _)| !matches!(name, Name::B3 | Name::B3Multi | Name::Xray));
        let led = resolved
            .first()
            .is_some_and(|(name, _)| *name == Name::TraceContext);
        let build = |names: &[(Name, &str)]| {
            names
                .iter()
                .map(|&(name, written)| name.build(written))
                .collect::<Result<Vec<_>, _>>()
        };
        let Some(inner) = combined(build(&resolved)?) else {
            return Ok(Self::w3c());
        };
        let propagator = match known_reads {
            true => Self::ours(inner),
            false => Self::new_arc(inner),
        };
        Ok(match led {
            true => propagator.led_by_trace_context(build(&resolved[1..])?),
            false => propagator,
        })
    }

    fn new_arc(inner: Arc<DynPropagator>) -> Self {
        Self {
            inner,
            lead: Lead::Carrier,
            reads_only: None,
        }
    }

    /// Extracts a context from request headers, on top of
    /// [`Context::current`].
    pub fn extract(&self, headers: &http::HeaderMap) -> Context {
        Context::map_current(|cx| self.extract_with_context(cx, headers))
    }

    /// Extracts a context from request headers, on top of `cx`.
    pub fn extract_with_context(&self, cx: &Context, headers: &http::HeaderMap) -> Context {
        if !self.may_carry_context(headers) {
            return cx.clone();
        }
        self.inner
            .extract_with_context(cx, &HeaderExtractor(headers))
    }

    /// [`Propagator::extract_with_context`] for a request head already scanned, whose
    /// propagation headers are `fields`: a header it did not see is not looked up, and a single
    /// `traceparent` it found is read as it is.
    pub(crate) fn extract_scanned(
        &self,
        cx: &Context,
        headers: &http::HeaderMap,
        fields: ContextFields<'_>,
    ) -> Context {
        let seen = fields.seen;
        if !self.reads_any(seen) {
            return cx.clone();
        }
        let extractor = ScannedExtractor { headers, seen };
        match (&self.lead, fields.traceparent) {
            (Lead::TraceContext(rest), Some(traceparent)) => {
                let cx = W3cTraceContext::extract_single(cx, traceparent.as_bytes(), &extractor);
                match rest {
                    Some(rest) => rest.extract_with_context(&cx, &extractor),
                    None => cx,
                }
            }
            _ => self.inner.extract_with_context(cx, &extractor),
        }
    }

    /// Injects `cx` into request headers, replacing existing values of the
    /// propagated fields.
    pub fn inject(&self, cx: &Context, headers: &mut http::HeaderMap) {
        self.inner.inject_context(cx, &mut HeaderInjector(headers));
    }
}

impl Default for Propagator {
    /// Same as [`Propagator::w3c`].
    fn default() -> Self {
        Self::w3c()
    }
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.inner.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.inner.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.inner.fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;
    use http::HeaderMap;
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::KeyValue;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const UBER: &str = "00000000000000000000000000000abc:0000000000000def:0:1";

    fn fields(p: &Propagator) -> Vec<String> {
        let mut fields: Vec<String> = p.fields().map(str::to_owned).collect();
        fields.sort_unstable();
        fields
    }

    fn request() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(TP));
        headers.insert("uber-trace-id", HeaderValue::from_static(UBER));
        headers.insert("baggage", HeaderValue::from_static("k=v"));
        headers
    }

    fn span_id(p: &Propagator) -> SpanId {
        p.extract_with_context(&Context::new(), &request())
            .span()
            .span_context()
            .span_id()
    }

    /// Every header a built propagator injects (and so reads) makes it extract, the skip only
    /// applies to requests without any of them, and what is extracted is what the propagator
    /// itself extracts.
    #[test]
    fn extraction_is_skipped_only_without_any_propagation_header() {
        let mut names = vec![
            "tracecontext",
            "baggage",
            "jaeger",
            "tracecontext,baggage,jaeger",
        ];
        if cfg!(feature = "b3") {
            names.extend(["b3", "b3multi"]);
        }
        if cfg!(feature = "xray") {
            names.push("xray");
        }
        let sc = SpanContext::new(
            TraceId::from(0xabc),
            SpanId::from(0xdef),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let sent = Context::new()
            .with_remote_span_context(sc.clone())
            .with_baggage([KeyValue::new("user", "7")]);
        for names in names {
            let p = Propagator::from_names(names).unwrap();
            let mut headers = HeaderMap::new();
            p.inject(&sent, &mut headers);
            assert!(!headers.is_empty(), "{names}");
            for name in headers.keys() {
                let mut one = HeaderMap::new();
                one.insert(name.clone(), headers[name].clone());
                assert!(p.may_carry_context(&one), "{names}: {name}");
            }
            let ours = p.extract_with_context(&Context::new(), &headers);
            let inner = p
                .inner
                .extract_with_context(&Context::new(), &HeaderExtractor(&headers));
            assert_eq!(ours.span().span_context(), inner.span().span_context());
            let pairs = |cx: &Context| {
                let mut v: Vec<String> = cx
                    .baggage()
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.0))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(pairs(&ours), pairs(&inner), "{names}");
            let mut other = HeaderMap::new();
            other.insert("user-agent", HeaderValue::from_static("x"));
            other.insert("x-request-id", HeaderValue::from_static("1"));
            let upstream = names.starts_with("b3") || names == "xray";
            assert_eq!(p.may_carry_context(&other), upstream, "{names}");
            let base = Context::new().with_baggage([KeyValue::new("local", "1")]);
            let cx = p.extract_with_context(&base, &other);
            assert_eq!(cx.baggage().get("local"), Some(&"1".into()));
            assert!(!cx.span().span_context().is_valid());
        }
        let mut uberctx = HeaderMap::new();
        uberctx.insert("uberctx-user", HeaderValue::from_static("7"));
        let jaeger = Propagator::from_names("jaeger").unwrap();
        let cx = jaeger.extract_with_context(&Context::new(), &uberctx);
        assert_eq!(cx.baggage().get("user"), Some(&"7".into()));
        // A user's propagator is always run: its reads are not known.
        assert!(Propagator::new(W3cBaggage::new()).may_carry_context(&HeaderMap::new()));
    }

    #[test]
    fn context_field_bits_name_whole_headers_and_the_uberctx_prefix() {
        use super::context_field_bit as bit;
        let names = ["traceparent", "tracestate", "baggage", "uber-trace-id"];
        let bits: Vec<u8> = names.iter().map(|n| bit(n)).collect();
        assert_eq!(bits, [1, 2, 4, 8]);
        assert_eq!(bit("uberctx-user"), 16);
        for other in [
            "traceparen",
            "traceparent2",
            "tracestatf",
            "host",
            "",
            "uberctx",
        ] {
            assert_eq!(bit(other), 0, "{other}");
        }
        let w3c = Propagator::w3c();
        assert_eq!(w3c.reads_only, Some(1 | 2 | 4));
        assert!(!w3c.reads_any(8 | 16));
        assert!(w3c.reads_any(4));
        let jaeger = Propagator::from_names("jaeger").unwrap();
        assert_eq!(jaeger.reads_only, Some(8 | 16));
        assert_eq!(Propagator::none().reads_only, Some(0));
        assert!(Propagator::new(W3cBaggage::new()).reads_any(0));
    }

    #[test]
    fn default_is_tracecontext_and_baggage() {
        for names in ["", "   ", ",", " , ,"] {
            let p = Propagator::from_names(names).unwrap();
            assert_eq!(
                fields(&p),
                vec!["baggage", "traceparent", "tracestate"],
                "{names:?}"
            );
        }
        assert_eq!(
            fields(&Propagator::w3c()),
            vec!["baggage", "traceparent", "tracestate"]
        );
        assert_eq!(
            fields(&Propagator::default()),
            vec!["baggage", "traceparent", "tracestate"]
        );
    }

    #[test]
    fn names_are_trimmed_and_case_insensitive() {
        let p = Propagator::from_names(" TraceContext ,\tBAGGAGE ").unwrap();
        assert_eq!(fields(&p), vec!["baggage", "traceparent", "tracestate"]);
        let p = Propagator::from_names("Jaeger").unwrap();
        assert_eq!(fields(&p), vec!["uber-trace-id"]);
    }

    #[test]
    fn duplicates_are_ignored() {
        let p = Propagator::from_names("tracecontext,TRACECONTEXT, tracecontext").unwrap();
        assert_eq!(fields(&p), vec!["traceparent", "tracestate"]);
        // A single propagator is used directly, without a composite around it.
        assert!(format!("{p:?}").contains("W3cTraceContext"));
        assert!(!format!("{p:?}").contains("Composite"));
    }

    #[test]
    fn none_propagates_nothing() {
        let p = Propagator::from_names("none").unwrap();
        assert!(fields(&p).is_empty());
        let base = Context::new().with_baggage([KeyValue::new("kept", "1")]);
        let cx = p.extract_with_context(&base, &request());
        assert!(!cx.span().span_context().is_valid());
        assert_eq!(cx.baggage().len(), 1);
        let mut out = HeaderMap::new();
        p.inject(&base, &mut out);
        assert!(out.is_empty());
        assert!(fields(&Propagator::none()).is_empty());
        assert!(Propagator::from_names(" NONE , none").is_ok());
    }

    #[test]
    fn none_with_others_is_an_error() {
        let err = Propagator::from_names("none,tracecontext").unwrap_err();
        assert_eq!(
            err,
            PropagationError::NoneWithOthers {
                value: "none,tracecontext".into()
            }
        );
    }

    #[test]
    fn unknown_name_is_an_error() {
        let err = Propagator::from_names("tracecontext, zipkin").unwrap_err();
        assert_eq!(
            err,
            PropagationError::Unknown {
                name: "zipkin".into(),
                value: "tracecontext, zipkin".into()
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("OTEL_PROPAGATORS") && msg.contains("zipkin"),
            "{msg}"
        );
        assert!(Propagator::from_names("ottrace").is_err());
        assert!(Propagator::from_names("trace context").is_err());
    }

    #[cfg(not(feature = "b3"))]
    #[test]
    fn b3_needs_the_feature() {
        for name in ["b3", "B3Multi"] {
            let err = Propagator::from_names(&format!("tracecontext,{name}")).unwrap_err();
            assert_eq!(
                err,
                PropagationError::FeatureDisabled {
                    name: name.into(),
                    feature: "b3"
                }
            );
            assert!(err
                .to_string()
                .contains("towerlight's \"b3\" cargo feature"));
        }
    }

    #[cfg(feature = "b3")]
    #[test]
    fn b3_single_and_multi() {
        let p = Propagator::from_names("b3").unwrap();
        assert_eq!(fields(&p), vec!["b3"]);
        let p = Propagator::from_names("b3multi").unwrap();
        assert!(
            fields(&p).contains(&"x-b3-traceid".to_owned()),
            "{:?}",
            fields(&p)
        );
        let p = Propagator::from_names("b3,b3multi").unwrap();
        assert!(fields(&p).contains(&"b3".to_owned()));
    }

    #[cfg(not(feature = "xray"))]
    #[test]
    fn xray_needs_the_feature() {
        let err = Propagator::from_names("xray").unwrap_err();
        assert_eq!(
            err,
            PropagationError::FeatureDisabled {
                name: "xray".into(),
                feature: "xray"
            }
        );
    }

    #[cfg(feature = "xray")]
    #[test]
    fn xray_resolves() {
        let p = Propagator::from_names("XRay").unwrap();
        assert_eq!(fields(&p), vec!["x-amzn-trace-id"]);
    }

    #[test]
    fn extraction_runs_in_order() {
        let w3c_span = SpanId::from(0xb7ad_6b71_6920_3331);
        let jaeger_span = SpanId::from(0xdef);
        let p = Propagator::from_names("tracecontext,jaeger").unwrap();
        assert_eq!(span_id(&p), jaeger_span);
        let p = Propagator::from_names("jaeger,tracecontext").unwrap();
        assert_eq!(span_id(&p), w3c_span);
        let p = Propagator::from_names("tracecontext,baggage").unwrap();
        let cx = p.extract_with_context(&Context::new(), &request());
        assert_eq!(cx.span().span_context().span_id(), w3c_span);
        assert_eq!(cx.baggage().get("k").map(|v| v.as_str()), Some("v"));
    }

    #[test]
    fn injects_every_propagator() {
        let p = Propagator::from_names("tracecontext,baggage,jaeger").unwrap();
        let cx = Context::new()
            .with_remote_span_context(SpanContext::new(
                TraceId::from(0xabc),
                SpanId::from(0xdef),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ))
            .with_baggage([KeyValue::new("k", "v")]);
        let mut out = HeaderMap::new();
        p.inject(&cx, &mut out);
        assert_eq!(
            out["traceparent"],
            "00-00000000000000000000000000000abc-0000000000000def-01"
        );
        assert_eq!(out["baggage"], "k=v");
        assert_eq!(out["uber-trace-id"], UBER);
    }

    #[test]
    fn wraps_custom_propagators_and_delegates() {
        let p = Propagator::new(W3cBaggage::new());
        let clone = p.clone();
        assert_eq!(fields(&clone), vec!["baggage"]);
        let headers = request();
        let cx = TextMapPropagator::extract_with_context(
            &p,
            &Context::new(),
            &HeaderExtractor(&headers),
        );
        assert_eq!(cx.baggage().len(), 1);
        let mut out = HeaderMap::new();
        TextMapPropagator::inject_context(&p, &cx, &mut HeaderInjector(&mut out));
        assert_eq!(out["baggage"], "k=v");
    }

    #[test]
    fn extract_uses_the_current_context() {
        let _guard = Context::new()
            .with_baggage([KeyValue::new("outer", "1")])
            .attach();
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(TP));
        let cx = Propagator::w3c().extract(&headers);
        assert!(cx.span().span_context().is_valid());
        assert_eq!(cx.baggage().get("outer").map(|v| v.as_str()), Some("1"));
    }

    #[test]
    fn is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Propagator>();
    }

    /// What the extraction leaves: the span context (trace state included) and the baggage.
    fn extracted(cx: &Context) -> (SpanContext, Vec<(String, String)>) {
        let mut baggage: Vec<(String, String)> = cx
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        baggage.sort_unstable();
        (cx.span().span_context().clone(), baggage)
    }

    /// A scanned head's extraction (the one `traceparent` read as the scan found it, for a list
    /// led by W3C Trace Context) gives what the propagator gives through the carrier traits,
    /// for every head: none, one valid, one invalid, two, one not UTF-8 (in a field, or after a
    /// future version's fields), with `tracestate`,
    /// baggage and Jaeger's headers beside it.
    #[test]
    fn a_scanned_head_extracts_what_the_carrier_path_extracts() {
        const OTHER: &str = "00-11111111111111111111111111111111-2222222222222222-00";
        let heads: [&[(&str, &[u8])]; 11] = [
            &[],
            &[("traceparent", TP.as_bytes())],
            &[(
                "traceparent",
                b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
            )],
            &[
                ("traceparent", TP.as_bytes()),
                ("traceparent", OTHER.as_bytes()),
            ],
            &[(
                "traceparent",
                b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-\xe9",
            )],
            &[("traceparent", TP.as_bytes()), ("traceparent", b"\xff")],
            &[(
                "traceparent",
                b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-\xff",
            )],
            &[("traceparent", TP.as_bytes()), ("tracestate", b"a=1,b=2")],
            &[("traceparent", TP.as_bytes()), ("baggage", b"k=v,user=7")],
            &[("baggage", b"k=v"), ("uber-trace-id", UBER.as_bytes())],
            &[
                ("uber-trace-id", UBER.as_bytes()),
                ("traceparent", OTHER.as_bytes()),
            ],
        ];
        let lists = [
            "tracecontext,baggage",
            "tracecontext",
            "tracecontext,baggage,jaeger",
            "tracecontext,jaeger",
            "baggage,tracecontext",
            "jaeger,tracecontext",
        ];
        let parent = Context::new().with_baggage([KeyValue::new("kept", "1")]);
        for names in lists {
            let p = Propagator::from_names(names).unwrap();
            assert_eq!(
                matches!(p.lead, Lead::TraceContext(_)),
                names.starts_with("tracecontext"),
                "{names}"
            );
            for head in heads {
                let mut headers = HeaderMap::new();
                for (name, value) in head {
                    headers.append(*name, HeaderValue::from_bytes(value).unwrap());
                }
                let scan = crate::common::address::HeadScan::new(&headers);
                let scanned = p.extract_scanned(&parent, &headers, scan.context);
                let carried = p
                    .inner
                    .extract_with_context(&parent, &HeaderExtractor(&headers));
                assert_eq!(extracted(&scanned), extracted(&carried), "{names} {head:?}");
            }
        }
        let default = Propagator::w3c();
        assert!(matches!(&default.lead, Lead::TraceContext(Some(_))));
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(TP));
        let scan = crate::common::address::HeadScan::new(&headers);
        let cx = default.extract_scanned(&Context::new(), &headers, scan.context);
        assert_eq!(
            cx.span().span_context().span_id(),
            SpanId::from(0xb7ad_6b71_6920_3331)
        );
    }
}
