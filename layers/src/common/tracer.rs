//! The tracer a layer starts its spans with: the SDK's own when the provider is known to be the
//! SDK's, else the API's boxed tracer.
//!
//! Through `BoxedTracer` every span is boxed twice (once by the boxed tracer, once more when it
//! goes into a `Context`) and every call on it is dynamic. With the SDK's tracer the span is
//! boxed once, by the context, as any direct use of the SDK does. The provider is recognised by
//! type: an `SdkTracerProvider` given to `Config::tracer_provider`, or the global provider that
//! `towerlight::setup` installed (remembered here). Any other provider goes through the box.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{Link, SpanBuilder, SpanContext, SpanKind, Status};
use opentelemetry::{Context, KeyValue};

#[cfg(feature = "setup")]
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

#[cfg(feature = "setup")]
use crate::common::sampling::SamplerHint;

/// A span builder with its fields set in place. `SpanBuilder`'s `with_*` methods take and
/// return the builder by value, and where they are not inlined each of those moves copies all
/// of it (a few hundred bytes: three `memcpy` calls per request in the HTTP server's profile).
pub(crate) fn span_builder(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    start_time: Option<SystemTime>,
    attributes: Vec<KeyValue>,
    links: Option<Vec<Link>>,
) -> SpanBuilder {
    let mut builder = SpanBuilder::from_name(name);
    builder.span_kind = Some(kind);
    builder.start_time = start_time;
    builder.attributes = Some(attributes);
    builder.links = links;
    builder
}

/// The global tracer provider, when `setup` installed the SDK's, and whether its sampler may
/// read span attributes.
#[cfg(feature = "setup")]
static GLOBAL_SDK: std::sync::RwLock<Option<(SdkTracerProvider, SamplerHint)>> =
    std::sync::RwLock::new(None);

/// Records the SDK provider `setup` just installed as the global one.
#[cfg(feature = "setup")]
pub(crate) fn set_global_sdk(provider: &SdkTracerProvider, sampler: SamplerHint) {
    if let Ok(mut g) = GLOBAL_SDK.write() {
        *g = Some((provider.clone(), sampler));
    }
}

/// The SDK provider behind the global one, if `setup` installed it.
#[cfg(feature = "setup")]
pub(crate) fn global_sdk() -> Option<SdkTracerProvider> {
    GLOBAL_SDK
        .read()
        .ok()
        .and_then(|g| g.as_ref().map(|g| g.0.clone()))
}

/// What the global provider's sampler is known to be: what `setup` said when it installed the
/// provider, else that it may read attributes.
#[cfg(feature = "setup")]
pub(crate) fn global_sampler_hint() -> SamplerHint {
    GLOBAL_SDK
        .read()
        .ok()
        .and_then(|g| g.as_ref().map(|g| g.1))
        .unwrap_or_default()
}

/// `provider` as the SDK's provider, when it is one.
#[cfg(feature = "setup")]
pub(crate) fn as_sdk<P: 'static>(provider: &P) -> Option<SdkTracerProvider> {
    (provider as &dyn std::any::Any)
        .downcast_ref::<SdkTracerProvider>()
        .cloned()
}

/// A layer's tracer.
#[derive(Debug)]
pub(crate) enum LayerTracer {
    /// The SDK's tracer, used directly.
    #[cfg(feature = "setup")]
    Sdk(SdkTracer),
    /// Any other provider's tracer, through the API's box.
    Boxed(BoxedTracer),
    /// The API's no-op provider (given to `Config::tracer_provider` for metrics only): no span
    /// is built at all; the request runs in the inbound context.
    Noop(opentelemetry::trace::noop::NoopTracer),
}

impl LayerTracer {
    /// Whether this tracer never records (its spans would only carry the parent's context).
    pub(crate) fn is_noop(&self) -> bool {
        matches!(self, LayerTracer::Noop(_))
    }

    /// Ends a call's span (the one in the call's context) at `at` — unless this is the no-op
    /// tracer, whose calls run in their parent's context: that span is not ours to end.
    pub(crate) fn end_call_span(&self, span: &opentelemetry::trace::SpanRef<'_>, at: SystemTime) {
        if !self.is_noop() {
            span.end_with_timestamp(at);
        }
    }
}

/// Whether `provider` is the API's no-op provider.
pub(crate) fn is_noop<P: 'static>(provider: &P) -> bool {
    (provider as &dyn std::any::Any).is::<opentelemetry::trace::noop::NoopTracerProvider>()
}

/// A span of a [`LayerTracer`]. Not boxed: the context boxes it once, and a second box is
/// exactly what this type exists to avoid.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum LayerSpan {
    /// The SDK's span.
    #[cfg(feature = "setup")]
    Sdk(opentelemetry_sdk::trace::Span),
    /// Any other span.
    Boxed(opentelemetry::global::BoxedSpan),
    /// A no-op span (the parent's context).
    Noop(opentelemetry::trace::noop::NoopSpan),
}

impl opentelemetry::trace::Tracer for LayerTracer {
    type Span = LayerSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> LayerSpan {
        match self {
            #[cfg(feature = "setup")]
            LayerTracer::Sdk(t) => LayerSpan::Sdk(t.build_with_context(builder, parent_cx)),
            LayerTracer::Boxed(t) => LayerSpan::Boxed(t.build_with_context(builder, parent_cx)),
            LayerTracer::Noop(t) => LayerSpan::Noop(t.build_with_context(builder, parent_cx)),
        }
    }
}

/// Calls `$call` on whichever span `$span` holds.
macro_rules! each {
    ($span:expr, $s:ident => $call:expr) => {
        match $span {
            #[cfg(feature = "setup")]
            LayerSpan::Sdk($s) => $call,
            LayerSpan::Boxed($s) => $call,
            LayerSpan::Noop($s) => $call,
        }
    };
}

impl opentelemetry::trace::Span for LayerSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        each!(self, s => s.add_event_with_timestamp(name, timestamp, attributes))
    }
    fn span_context(&self) -> &SpanContext {
        each!(self, s => s.span_context())
    }
    fn is_recording(&self) -> bool {
        each!(self, s => s.is_recording())
    }
    fn set_attribute(&mut self, attribute: KeyValue) {
        each!(self, s => s.set_attribute(attribute))
    }
    fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        each!(self, s => s.set_attributes(attributes))
    }
    fn set_status(&mut self, status: Status) {
        each!(self, s => s.set_status(status))
    }
    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        each!(self, s => s.update_name(new_name))
    }
    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        each!(self, s => s.add_link(span_context, attributes))
    }
    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        each!(self, s => s.end_with_timestamp(timestamp))
    }
}

/// Hands each attribute to the span as it comes (`Span::set_attribute`), so the recording-only
/// attributes need no buffer of their own.
pub(crate) struct SpanSink<'s, S>(pub(crate) &'s mut S);

impl<S: opentelemetry::trace::Span> Extend<KeyValue> for SpanSink<'_, S> {
    fn extend<I: IntoIterator<Item = KeyValue>>(&mut self, attributes: I) {
        for attribute in attributes {
            self.0.set_attribute(attribute);
        }
    }
}

/// Pushes attributes into a span's creation `Vec` one by one. Not `Vec`'s own `extend`: every
/// function handing attributes to a `Vec` through it shares its `SpecExtend` copies, and once
/// one more does, the compiler stops inlining them into the span start (≈ 60 instructions a
/// call, four calls on every HTTP server span). The `Vec` is sized up front, so a push does
/// not grow it.
pub(crate) struct PushSink<'v>(pub(crate) &'v mut Vec<KeyValue>);

impl Extend<KeyValue> for PushSink<'_> {
    fn extend<I: IntoIterator<Item = KeyValue>>(&mut self, attributes: I) {
        for attribute in attributes {
            self.0.push(attribute);
        }
    }
}

/// One attribute into `out`.
pub(crate) fn push(out: &mut impl Extend<KeyValue>, attribute: KeyValue) {
    out.extend(std::iter::once(attribute));
}
