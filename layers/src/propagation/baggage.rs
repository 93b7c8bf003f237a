//! W3C Baggage propagator for the `baggage` header.
//!
//! ```text
//! baggage-string = list-member 0*179( OWS "," OWS list-member )
//! list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
//! property       = key OWS "=" OWS value / key OWS
//! key            = token                     ; RFC 7230
//! value          = *baggage-octet            ; percent-encoded UTF-8
//! baggage-octet  = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
//! ```
//!
//! Repeated headers are combined as if joined with `,`. At most 64 members
//! and 8192 bytes are taken, in order; the rest is dropped. A malformed
//! member is dropped alone. Keys and values are percent-decoded on
//! extraction; values (and any `%` in keys) are percent-encoded on injection.
//! Properties are kept verbatim as [`BaggageMetadata`] and re-emitted.
//!
//! [`BaggageMetadata`]: opentelemetry::baggage::BaggageMetadata

use super::hex::any_nibble;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::borrow::Cow;
use std::sync::OnceLock;

const BAGGAGE: &str = "baggage";
/// Most list members propagated.
const MAX_MEMBERS: usize = 64;
/// Most bytes of the serialised baggage-string propagated.
const MAX_BYTES: usize = 8192;
const OWS: [char; 2] = [' ', '\t'];

/// Bytes that are not baggage-octets, plus `%` itself: what gets
/// percent-encoded in values. Non-ASCII bytes are always encoded.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b',')
    .add(b';')
    .add(b'\\');

/// Keys are tokens already; only `%` needs encoding to survive decoding.
const KEY_ENCODE: &AsciiSet = &CONTROLS.add(b'%');

fn fields() -> &'static [String; 1] {
    static FIELDS: OnceLock<[String; 1]> = OnceLock::new();
    FIELDS.get_or_init(|| [BAGGAGE.to_owned()])
}

/// W3C Baggage propagator for the `baggage` header.
///
/// Extraction replaces the context's baggage with the members found (when at
/// least one is valid); injection writes every entry of the context's baggage
/// that fits the limits.
#[derive(Debug, Clone, Default)]
pub struct W3cBaggage {
    _private: (),
}

impl W3cBaggage {
    /// Creates the propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for W3cBaggage {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        let mut header = String::new();
        let mut count = 0;
        for (key, (value, metadata)) in baggage {
            if count == MAX_MEMBERS {
                break;
            }
            let start = header.len();
            if count > 0 {
                header.push(',');
            }
            header.extend(utf8_percent_encode(key.as_str(), KEY_ENCODE));
            header.push('=');
            header.extend(utf8_percent_encode(value.as_str(), VALUE_ENCODE));
            // Metadata set through the API may not be valid properties; it is
            // left out rather than corrupting the header.
            let metadata = metadata.as_str();
            if let Some(props) = (!metadata.is_empty())
                .then(|| properties(metadata))
                .flatten()
            {
                header.push(';');
                header.push_str(&props);
            }
            if header.len() > MAX_BYTES {
                // Entries come in no particular order: skip this one, a
                // smaller one may still fit.
                header.truncate(start);
                continue;
            }
            count += 1;
        }
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(values) = extractor.get_all(BAGGAGE) else {
            return cx.clone();
        };
        let mut baggage = Baggage::new();
        let mut count = 0;
        let mut bytes = 0;
        'headers: for value in values {
            for raw in value.split(',') {
                let raw = raw.trim_matches(OWS);
                if raw.is_empty() {
                    continue;
                }
                let Some(member) = Member::parse(raw) else {
                    continue;
                };
                let size = raw.len() + usize::from(count > 0);
                if count == MAX_MEMBERS || bytes + size > MAX_BYTES {
                    break 'headers;
                }
                count += 1;
                bytes += size;
                baggage.insert_with_metadata(
                    member.key.into_owned(),
                    member.value.into_owned(),
                    member.metadata.into_owned(),
                );
            }
        }
        if baggage.is_empty() {
            cx.clone()
        } else {
            cx.with_baggage(baggage)
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

/// One decoded list member.
#[derive(Debug, PartialEq)]
struct Member<'a> {
    key: Cow<'a, str>,
    value: Cow<'a, str>,
    metadata: Cow<'a, str>,
}

impl<'a> Member<'a> {
    /// Parses a list member with surrounding OWS already removed.
    fn parse(raw: &'a str) -> Option<Self> {
        let (pair, props) = match raw.split_once(';') {
            Some((pair, props)) => (pair, Some(props)),
            None => (raw, None),
        };
        let (key, value) = pair.split_once('=')?;
        let key = key.trim_matches(OWS);
        let value = value.trim_matches(OWS);
        if !is_token(key) || !value.bytes().all(is_baggage_octet) {
            return None;
        }
        let key = percent_decode(key)?;
        if !is_token(&key) {
            return None;
        }
        let value = percent_decode(value)?;
        let metadata = match props {
            Some(props) => properties(props)?,
            None => Cow::Borrowed(""),
        };
        Some(Member {
            key,
            value,
            metadata,
        })
    }
}

/// Validates `;`-separated properties and returns them without OWS.
fn properties(props: &str) -> Option<Cow<'_, str>> {
    let mut clean = true;
    for prop in props.split(';') {
        let (key, value) = property(prop)?;
        clean &= key.len() + value.map_or(0, |v| v.len() + 1) == prop.len();
    }
    if clean {
        return Some(Cow::Borrowed(props));
    }
    let mut normalized = String::with_capacity(props.len());
    for prop in props.split(';') {
        let (key, value) = property(prop)?;
        if !normalized.is_empty() {
            normalized.push(';');
        }
        normalized.push_str(key);
        if let Some(value) = value {
            normalized.push('=');
            normalized.push_str(value);
        }
    }
    Some(Cow::Owned(normalized))
}

/// Splits and validates one property (`key`, or `key=value`), dropping OWS.
fn property(prop: &str) -> Option<(&str, Option<&str>)> {
    let (key, value) = match prop.split_once('=') {
        Some((key, value)) => (key, Some(value.trim_matches(OWS))),
        None => (prop, None),
    };
    let key = key.trim_matches(OWS);
    let valid_value = value.is_none_or(|v| v.bytes().all(is_baggage_octet));
    (is_token(key) && valid_value).then_some((key, value))
}

/// RFC 7230 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Strict percent-decoding: every `%` must start a `%XX` escape, and the
/// result must be UTF-8.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let high = any_nibble(bytes.next()?)?;
            let low = any_nibble(bytes.next()?)?;
            out.push((high << 4) | low);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::carrier::{HeaderExtractor, HeaderInjector};
    use http::header::HeaderValue;
    use http::HeaderMap;
    use opentelemetry::baggage::{BaggageMetadata, KeyValueMetadata};
    use opentelemetry::KeyValue;
    use std::collections::BTreeMap;

    fn extract(values: &[&str]) -> Context {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(BAGGAGE, HeaderValue::from_str(v).unwrap());
        }
        W3cBaggage::new().extract_with_context(&Context::new(), &HeaderExtractor(&headers))
    }

    /// key -> (value, metadata)
    fn entries(cx: &Context) -> BTreeMap<String, (String, String)> {
        cx.baggage()
            .iter()
            .map(|(k, (v, m))| (k.to_string(), (v.to_string(), m.as_str().to_owned())))
            .collect()
    }

    fn entry(value: &str, metadata: &str) -> (String, String) {
        (value.to_owned(), metadata.to_owned())
    }

    fn inject(cx: &Context) -> Option<String> {
        let mut headers = HeaderMap::new();
        W3cBaggage::new().inject_context(cx, &mut HeaderInjector(&mut headers));
        headers.get(BAGGAGE).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn extracts_members_with_ows() {
        let got = entries(&extract(&["a=1, b = 2 ,\tc=3\t,,"]));
        assert_eq!(got.len(), 3);
        assert_eq!(got["a"], entry("1", ""));
        assert_eq!(got["b"], entry("2", ""));
        assert_eq!(got["c"], entry("3", ""));
    }

    #[test]
    fn joins_repeated_headers() {
        let got = entries(&extract(&["a=1", "b=2,c=3"]));
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
    }

    #[test]
    fn empty_value_is_allowed() {
        assert_eq!(entries(&extract(&["a="]))["a"], entry("", ""));
    }

    #[test]
    fn percent_decodes_keys_and_values() {
        let got = entries(&extract(&["k%21=hello%20world%2C%3B%25%E2%9C%93"]));
        assert_eq!(got["k!"], entry("hello world,;%✓", ""));
    }

    #[test]
    fn invalid_members_are_dropped_alone() {
        let invalid = [
            "noequals",
            "=novalue",
            "bad key=1",
            "k(=1",
            "k=%zz",
            "k=%4",
            "k=%",
            "k=%ff",
            "k=a b",
            "k=a\"b",
            "k=a\\b",
            "k%20x=1",
            "k=1;bad prop",
            "k=1;p=a b",
            "k=1;=v",
        ];
        for bad in invalid {
            let got = entries(&extract(&[&format!("good=1,{bad},other=2")]));
            assert_eq!(got.len(), 2, "{bad:?}: {got:?}");
            assert_eq!(got["good"], entry("1", ""));
            assert_eq!(got["other"], entry("2", ""));
        }
    }

    #[test]
    fn only_invalid_members_keep_the_given_context() {
        let base = Context::new().with_baggage([KeyValue::new("kept", "yes")]);
        let mut headers = HeaderMap::new();
        headers.insert(BAGGAGE, HeaderValue::from_static("bad key=1"));
        let cx = W3cBaggage::new().extract_with_context(&base, &HeaderExtractor(&headers));
        assert_eq!(entries(&cx)["kept"], entry("yes", ""));
        let empty = HeaderMap::new();
        let cx = W3cBaggage::new().extract_with_context(&base, &HeaderExtractor(&empty));
        assert_eq!(entries(&cx).len(), 1);
    }

    #[test]
    fn keeps_first_64_members() {
        let members: Vec<String> = (0..70).map(|i| format!("k{i:02}={i}")).collect();
        let got = entries(&extract(&[&members.join(",")]));
        assert_eq!(got.len(), 64);
        assert!(got.contains_key("k00"));
        assert!(got.contains_key("k63"));
        assert!(!got.contains_key("k64"));
    }

    #[test]
    fn invalid_members_do_not_count_towards_the_limit() {
        let mut members: Vec<String> = (0..10).map(|i| format!("bad {i}=1")).collect();
        members.extend((0..64).map(|i| format!("k{i:02}={i}")));
        assert_eq!(entries(&extract(&[&members.join(",")])).len(), 64);
    }

    #[test]
    fn keeps_first_8192_bytes() {
        // Each member is 1000 bytes: "kN=" + value; 8 fit with separators.
        let members: Vec<String> = (0..10)
            .map(|i| format!("k{i}={}", "v".repeat(997)))
            .collect();
        let got = entries(&extract(&[&members.join(",")]));
        assert_eq!(got.len(), 8);
        assert!(got.contains_key("k7"));
        assert!(!got.contains_key("k8"));

        // Exactly 8192 bytes is allowed.
        let exact = format!("k={}", "v".repeat(8190));
        assert_eq!(entries(&extract(&[&exact])).len(), 1);
        let over = format!("k={}", "v".repeat(8191));
        assert_eq!(entries(&extract(&[&over])).len(), 0);
    }

    #[test]
    fn properties_are_kept_as_metadata() {
        let got = entries(&extract(&["a=1;p1=v1;flag, b=2 ; p = v ;x"]));
        assert_eq!(got["a"], entry("1", "p1=v1;flag"));
        assert_eq!(got["b"], entry("2", "p=v;x"));
    }

    #[test]
    fn properties_are_reemitted() {
        let cx = extract(&["a=1;p1=v1;flag"]);
        assert_eq!(inject(&cx).as_deref(), Some("a=1;p1=v1;flag"));
    }

    #[test]
    fn injects_percent_encoded_values() {
        let cx = Context::new().with_baggage([KeyValue::new("k%", "a b,c;d%e\"f\\g=h✓/")]);
        assert_eq!(
            inject(&cx).as_deref(),
            Some("k%25=a%20b%2Cc%3Bd%25e%22f%5Cg=h%E2%9C%93/")
        );
    }

    #[test]
    fn round_trips() {
        let cx = Context::new().with_baggage([
            KeyValueMetadata::new("user", "José Ñ, 100%", "p=1"),
            KeyValueMetadata::new("k!#$&'*+-.^_`|~", "=;,\\\"", BaggageMetadata::default()),
        ]);
        let header = inject(&cx).unwrap();
        let back = entries(&extract(&[&header]));
        assert_eq!(back, entries(&cx));
    }

    #[test]
    fn invalid_metadata_is_not_emitted() {
        let cx = Context::new().with_baggage([KeyValueMetadata::new("k", "v", "a,b=c")]);
        assert_eq!(inject(&cx).as_deref(), Some("k=v"));
    }

    #[test]
    fn inject_respects_byte_limit() {
        let cx = Context::new().with_baggage([
            KeyValue::new("big", "\u{7f}".repeat(3000)),
            KeyValue::new("small", "x"),
        ]);
        // "big" encodes to over 9000 bytes and is skipped; "small" still fits.
        assert_eq!(inject(&cx).as_deref(), Some("small=x"));
    }

    #[test]
    fn inject_nothing_for_empty_baggage() {
        assert_eq!(inject(&Context::new()), None);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(entries(&extract(&["a=1,a=2"]))["a"], entry("2", ""));
    }

    #[test]
    fn fields_is_baggage() {
        let propagator = W3cBaggage::new();
        assert_eq!(propagator.fields().collect::<Vec<_>>(), vec!["baggage"]);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for raw in [
            "%", "=%", "é=é", ";;;", "a=1;;", "a==", "=", ",=,", "a=%E2%9C",
        ] {
            let _ = Member::parse(raw);
        }
        assert_eq!(
            Member::parse("a=1"),
            Some(Member {
                key: Cow::Borrowed("a"),
                value: Cow::Borrowed("1"),
                metadata: Cow::Borrowed(""),
            })
        );
    }
}
