//! Strict parser and formatter for the W3C Trace Context Level 2
//! `traceparent` header.
//!
//! ```text
//! traceparent = version "-" trace-id "-" parent-id "-" trace-flags
//! version     = 2HEXDIGLC   ; "ff" is invalid
//! trace-id    = 32HEXDIGLC  ; all zeroes is invalid
//! parent-id   = 16HEXDIGLC  ; all zeroes is invalid
//! trace-flags = 2HEXDIGLC
//! ```
//!
//! Version `00` must be exactly 55 characters. A future version is parsed by
//! its first four fields, which must be followed by the end of the value or
//! by a `-` (the extra fields are ignored).

use super::hex;
use opentelemetry::trace::{SpanContext, SpanId, TraceId};

/// Length of a version `00` traceparent.
const LEN: usize = 55;
/// The highest version number is reserved as invalid.
const INVALID_VERSION: u128 = 0xff;

/// Flag bits defined by version `00`: sampled (`0x01`) and, in Level 2,
/// random trace id (`0x02`). Other bits must be zero when propagating.
pub(crate) const KNOWN_FLAGS: u8 = 0x03;

/// The fields of a valid `traceparent` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    /// Non-zero trace id.
    pub(crate) trace_id: TraceId,
    /// Non-zero parent span id.
    pub(crate) span_id: SpanId,
    /// The trace-flags byte exactly as received.
    pub(crate) flags: u8,
}

/// Parses one `traceparent` value, as the header's raw bytes; `None` when it is not valid, or
/// not text (not UTF-8: no text carrier would hand it over). The four fields are ASCII when they
/// parse, so only what a future version adds after them is checked as UTF-8.
///
/// Surrounding optional whitespace (spaces and tabs) is ignored.
pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
    let bytes = trim_blanks(value);
    let (head, rest) = bytes.split_at_checked(LEN)?;
    if !rest.is_empty() && std::str::from_utf8(rest).is_err() {
        return None;
    }

    let version = hex::lower_u128(head.get(0..2)?)?;
    if version == INVALID_VERSION {
        return None;
    }
    if version == 0 && !rest.is_empty() {
        return None;
    }
    if !rest.is_empty() && rest.first() != Some(&b'-') {
        return None;
    }
    if head.get(2) != Some(&b'-') || head.get(35) != Some(&b'-') || head.get(52) != Some(&b'-') {
        return None;
    }

    let trace_id = hex::lower_u128(head.get(3..35)?)?;
    let span_id = u64::try_from(hex::lower_u128(head.get(36..52)?)?).ok()?;
    let flags = u8::try_from(hex::lower_u128(head.get(53..55)?)?).ok()?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }

    Some(TraceParent {
        trace_id: TraceId::from(trace_id),
        span_id: SpanId::from(span_id),
        flags,
    })
}

/// `bytes` without leading and trailing spaces and tabs (both ASCII, so never inside a
/// multi-byte character: the same as `str::trim_matches([' ', '\t'])`, without a char
/// pattern's decoding).
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Formats a version `00` `traceparent` value for `span_context`.
///
/// Flag bits not defined by version `00` are cleared.
/// `flags` are the flags to write (the span's own, possibly with the random bit added).
pub(crate) fn format(span_context: &SpanContext, flags: u8) -> String {
    let mut buf = [b'-'; LEN];
    buf[..2].copy_from_slice(b"00");
    hex::write_lower(&mut buf[3..35], &span_context.trace_id().to_bytes());
    hex::write_lower(&mut buf[36..52], &span_context.span_id().to_bytes());
    hex::write_lower(&mut buf[53..], &[flags & KNOWN_FLAGS]);
    // Hex digits and dashes are ASCII: always valid.
    std::str::from_utf8(&buf).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceState};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn tp(version: &str, flags: &str) -> String {
        format!("{version}-{TRACE}-{SPAN}-{flags}")
    }

    #[test]
    fn blanks_trim_as_the_char_pattern_does() {
        for raw in [
            "", " ", "\t \t", " a ", "\ta b\t", "é ", " é\t", "a", "\n a \n",
        ] {
            let want = raw.trim_matches([' ', '\t']).as_bytes();
            assert_eq!(trim_blanks(raw.as_bytes()), want, "{raw:?}");
        }
    }

    /// Parses a text value, as a header's bytes.
    fn parse_text(value: &str) -> Option<TraceParent> {
        parse(value.as_bytes())
    }

    #[test]
    fn bytes_after_a_future_versions_fields_must_be_text() {
        let with = |extra: &[u8]| {
            let mut value = tp("01", "03").into_bytes();
            value.extend_from_slice(extra);
            parse(&value).map(|p| p.flags)
        };
        assert_eq!(with(b""), Some(0x03));
        assert_eq!(with("-é".as_bytes()), Some(0x03));
        assert_eq!(with(b"-\xff"), None, "not UTF-8 after the fields");
        assert_eq!(with(b"-\xc3"), None, "a character cut short");
        let mut head = tp("00", "01").into_bytes();
        head[10] = 0xe9;
        assert_eq!(parse(&head), None, "not UTF-8 in a field");
    }

    #[test]
    fn parses_valid_version_00() {
        let parsed = parse_text(&tp("00", "01")).unwrap();
        assert_eq!(
            parsed.trace_id,
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        );
        assert_eq!(parsed.span_id, SpanId::from(0x00f0_67aa_0ba9_02b7));
        assert_eq!(parsed.flags, 0x01);
    }

    #[test]
    fn keeps_the_whole_flags_byte() {
        assert_eq!(parse_text(&tp("00", "03")).unwrap().flags, 0x03);
        assert_eq!(parse_text(&tp("00", "ff")).unwrap().flags, 0xff);
    }

    #[test]
    fn trims_ows_only() {
        assert!(parse_text(&format!(" \t{} \t", tp("00", "01"))).is_some());
        assert!(parse_text(&format!("{}\n", tp("00", "01"))).is_none());
        assert!(parse_text(&format!("\r{}", tp("00", "01"))).is_none());
    }

    #[test]
    fn future_versions() {
        assert!(parse_text(&tp("cc", "01")).is_some());
        assert!(parse_text(&format!("{}-what-ever", tp("cc", "01"))).is_some());
        assert!(parse_text(&format!("{}-", tp("01", "01"))).is_some());
        assert!(parse_text(&format!("{}.what", tp("cc", "01"))).is_none());
        assert!(parse_text(&format!("{}1", tp("cc", "01"))).is_none());
        assert!(parse_text(&tp("fe", "00")).is_some());
    }

    #[test]
    fn rejects_invalid() {
        let cases = [
            String::new(),
            "00".to_string(),
            tp("ff", "01"),
            tp("FF", "01"),
            tp("0A", "01"),
            tp("00", "0A"),
            tp("00", "1"),
            tp("00", "001"),
            tp("000", "01"),
            format!("{}-", tp("00", "01")),
            format!("{}-x", tp("00", "01")),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00_{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}_{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}_01"),
            // Multi-byte UTF-8 must not cause a char-boundary panic.
            format!("00-{}é-{SPAN}-01", &TRACE[..31]),
            "é".repeat(40),
        ];
        for case in cases {
            assert_eq!(parse_text(&case), None, "{case:?}");
        }
    }

    #[test]
    fn formats_version_00_with_known_flags() {
        let sc = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::new(0xff),
            true,
            TraceState::default(),
        );
        assert_eq!(format(&sc, sc.trace_flags().to_u8()), tp("00", "03"));
        let sc = SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::new(0x02),
            false,
            TraceState::default(),
        );
        assert_eq!(
            format(&sc, sc.trace_flags().to_u8()),
            "00-00000000000000000000000000000001-0000000000000002-02"
        );
    }
}
