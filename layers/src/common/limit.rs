//! Size caps for values a client controls.
//!
//! A user agent, a path, a query, a `Host` header or a captured header can be as large as the
//! server accepts (hundreds of kilobytes over HTTP/1). Copied verbatim into attributes, a few such
//! requests fill the export queue's memory and make whole batches too large for a collector to
//! accept. Every such value goes through [`truncate`] before it becomes an attribute.

use std::borrow::Cow;

use opentelemetry::StringValue;

/// The default cap, in bytes, for a client-controlled attribute value: 2048, the classic
/// practical URL length limit. Other instrumentations cap such values between 1024 (Elastic APM's
/// keyword fields) and 4095 bytes (New Relic's attribute values).
pub const DEFAULT_VALUE_LENGTH: usize = 2048;

/// How many values of one repeated header (or metadata key) are captured at most.
pub(crate) const MAX_HEADER_VALUES: usize = 16;

/// Appended to a value that was cut, so a reader knows it was: `…` (three bytes in UTF-8).
pub(crate) const TRUNCATION_MARK: &str = "…";

/// `value` cut to at most `max` bytes (on a character boundary), ending in [`TRUNCATION_MARK`]
/// when it was cut. Borrowed when it fits, which is the common case.
pub(crate) fn truncate(value: &str, max: usize) -> Cow<'_, str> {
    if value.len() <= max {
        return Cow::Borrowed(value);
    }
    let (room, mark) = match max.checked_sub(TRUNCATION_MARK.len()) {
        Some(room) => (room, TRUNCATION_MARK),
        None => (max, ""),
    };
    let mut cut = room;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + mark.len());
    out.push_str(&value[..cut]);
    out.push_str(mark);
    Cow::Owned(out)
}

/// [`truncate`] into an attribute value.
pub(crate) fn capped(value: &str, max: usize) -> StringValue {
    StringValue::from(truncate(value, max).into_owned())
}

/// [`capped`] for raw bytes (header values), decoded lossily; only the first `max` bytes are
/// decoded, so a huge value costs no more than a small one.
pub(crate) fn capped_bytes(value: &[u8], max: usize) -> StringValue {
    let head = &value[..value.len().min(max.saturating_add(4))];
    let text = String::from_utf8_lossy(head);
    if value.len() > head.len() {
        // Force the mark even when lossy decoding shrank the text.
        let mut cut = text.len().min(max.saturating_sub(TRUNCATION_MARK.len()));
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut out = String::with_capacity(cut + TRUNCATION_MARK.len());
        out.push_str(&text[..cut]);
        out.push_str(TRUNCATION_MARK);
        return StringValue::from(out);
    }
    capped(&text, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_borrowed_unchanged() {
        assert!(matches!(truncate("abc", 3), Cow::Borrowed("abc")));
        assert!(matches!(truncate("", 0), Cow::Borrowed("")));
    }

    #[test]
    fn long_values_are_cut_and_marked_within_the_cap() {
        let v = "a".repeat(5000);
        let t = truncate(&v, 2048);
        assert_eq!(t.len(), 2048);
        assert!(t.ends_with('…'));
        assert!(t.starts_with("aaaa"));
        assert_eq!(truncate("abcdef", 5), "ab…");
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        // 'é' is two bytes: a cut inside it moves back.
        let v = "éééééé";
        let t = truncate(v, 8);
        assert!(t.len() <= 8);
        assert_eq!(t, "éé…");
    }

    #[test]
    fn tiny_caps_cut_without_a_mark() {
        assert_eq!(truncate("abcdef", 2), "ab");
        assert_eq!(truncate("abcdef", 0), "");
        assert_eq!(truncate("ééé", 1), "");
    }

    #[test]
    fn bytes_are_decoded_lossily_and_capped() {
        assert_eq!(capped_bytes(b"ok", 10).as_str(), "ok");
        let huge = vec![b'x'; 1 << 20];
        let v = capped_bytes(&huge, 100);
        assert_eq!(v.as_str().len(), 100);
        assert!(v.as_str().ends_with('…'));
        let bad = [0xffu8; 300];
        let v = capped_bytes(&bad, 20);
        assert!(v.as_str().len() <= 20, "{}", v.as_str().len());
        assert!(v.as_str().ends_with('…'));
    }
}
