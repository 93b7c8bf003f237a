//! What the instruments know of the tracer's sampler before a span exists, and which of the
//! span's attributes go in at its creation because of it.
//!
//! The SDK takes a span's creation attributes as the span's own `Vec`; any attribute after
//! creation goes through `Span::set_attribute`, one call each (≈ 60 instructions apiece against
//! ≈ 15 for a push into the creation `Vec`). So when a span is sure to record, every attribute
//! goes in at creation; when it may be dropped and the sampler reads none, none do (a dropped
//! span builds nothing); otherwise those a sampler may read do, and the rest wait.

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::Context;

/// What the instruments may assume of the tracer provider's sampler (the SDK does not say
/// which sampler a provider has). Set with [`Config::sampler_hint`](crate::Config::sampler_hint);
/// [`crate::setup`] sets it for the sampler it installs.
///
/// A hint only decides *when* a span's attributes are handed to the SDK, never *which*: a span
/// that records ends with the same attributes under every hint. A wrong hint costs time, or
/// hides attributes from a sampler that reads them — so give one only for a sampler the hint
/// describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SamplerHint {
    /// Any sampler: it may read the attributes a span is created with (`http.request.method`,
    /// `url.scheme`, `url.path`, `http.route`, `server.address`, `server.port` on an HTTP server
    /// span), so those are built for every span, sampled or not. The default for a provider
    /// `setup` did not install.
    #[default]
    MayReadAttributes,
    /// A sampler that reads no attributes and may drop any span (`TraceIdRatioBased`,
    /// `AlwaysOff`, Jaeger's remote sampler): a span's attributes are built only once it
    /// records. The same as [`Config::sampler_reads_attributes(false)`](crate::Config::sampler_reads_attributes).
    ReadsNoAttributes,
    /// `Sampler::AlwaysOn`: every span records, so each gets all its attributes at creation.
    AlwaysOn,
    /// `Sampler::ParentBased` of a sampler that reads no attributes: a child of a sampled span
    /// records (all attributes at creation), a child of an unsampled one does not (none built);
    /// a root is decided by the delegate (attributes only once it records).
    ParentBased,
    /// `Sampler::ParentBased(Box::new(Sampler::AlwaysOn))` (the specification's default, and
    /// [`crate::setup`]'s when `OTEL_TRACES_SAMPLER` is unset): as [`ParentBased`](Self::ParentBased),
    /// and every root records too.
    ParentBasedAlwaysOn,
}

/// Which of a span's attributes go in at its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtCreation {
    /// Those a sampler may read; the rest once the span records.
    SamplerVisible,
    /// None: the sampler reads none and may drop the span, so they wait for the decision.
    Nothing,
    /// All: the sampler reads none and the span records for sure.
    All,
}

impl AtCreation {
    /// Whether the sampler-visible attributes go in at creation.
    pub(crate) fn sampler_visible(self) -> bool {
        self != AtCreation::Nothing
    }

    /// Whether every attribute goes in at creation.
    pub(crate) fn all(self) -> bool {
        self == AtCreation::All
    }
}

impl SamplerHint {
    /// Whether the sampler may read a span's creation attributes.
    pub(crate) fn may_read_attributes(self) -> bool {
        self == SamplerHint::MayReadAttributes
    }

    /// The hint [`Config::sampler_reads_attributes`](crate::Config::sampler_reads_attributes)
    /// gives.
    pub(crate) fn from_reads(reads: bool) -> SamplerHint {
        match reads {
            true => SamplerHint::MayReadAttributes,
            false => SamplerHint::ReadsNoAttributes,
        }
    }

    /// Which attributes of a span started under `parent` go in at creation. As the SDK's
    /// `ParentBased`: a parent is a context with a span (valid or not), and its sampled flag
    /// decides.
    pub(crate) fn at_creation(self, parent: &Context) -> AtCreation {
        let parent_sampled = || {
            parent
                .has_active_span()
                .then(|| parent.span().span_context().is_sampled())
        };
        let records = match self {
            SamplerHint::MayReadAttributes => return AtCreation::SamplerVisible,
            SamplerHint::ReadsNoAttributes => false,
            SamplerHint::AlwaysOn => true,
            SamplerHint::ParentBased => parent_sampled() == Some(true),
            SamplerHint::ParentBasedAlwaysOn => parent_sampled() != Some(false),
        };
        match records {
            true => AtCreation::All,
            false => AtCreation::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn under(flags: Option<TraceFlags>) -> Context {
        match flags {
            None => Context::new(),
            Some(flags) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(7),
                SpanId::from(9),
                flags,
                true,
                TraceState::default(),
            )),
        }
    }

    #[test]
    fn every_attribute_goes_in_at_creation_only_when_the_span_records_for_sure() {
        use AtCreation::*;
        let (root, sampled, unsampled) = (
            under(None),
            under(Some(TraceFlags::SAMPLED)),
            under(Some(TraceFlags::default())),
        );
        let cases = [
            (SamplerHint::MayReadAttributes, [SamplerVisible; 3]),
            (SamplerHint::ReadsNoAttributes, [Nothing; 3]),
            (SamplerHint::AlwaysOn, [All; 3]),
            (SamplerHint::ParentBased, [Nothing, All, Nothing]),
            (SamplerHint::ParentBasedAlwaysOn, [All, All, Nothing]),
        ];
        for (hint, want) in cases {
            let got = [&root, &sampled, &unsampled].map(|p| hint.at_creation(p));
            assert_eq!(got, want, "{hint:?}");
        }
    }

    #[test]
    fn only_the_default_hint_lets_the_sampler_see_attributes() {
        assert_eq!(SamplerHint::default(), SamplerHint::from_reads(true));
        assert!(SamplerHint::from_reads(true).may_read_attributes());
        assert_eq!(
            SamplerHint::from_reads(false),
            SamplerHint::ReadsNoAttributes
        );
        for hint in [
            SamplerHint::ReadsNoAttributes,
            SamplerHint::AlwaysOn,
            SamplerHint::ParentBased,
            SamplerHint::ParentBasedAlwaysOn,
        ] {
            assert!(!hint.may_read_attributes(), "{hint:?}");
        }
        assert!(AtCreation::All.sampler_visible() && AtCreation::All.all());
        assert!(AtCreation::SamplerVisible.sampler_visible() && !AtCreation::SamplerVisible.all());
        assert!(!AtCreation::Nothing.sampler_visible() && !AtCreation::Nothing.all());
    }
}
