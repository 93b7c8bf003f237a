//! Strict parser for the W3C Trace Context Level 2 `tracestate` header.
//!
//! ```text
//! list        = list-member 0*31( OWS "," OWS list-member )
//! list-member = key "=" value / OWS          ; empty members are skipped
//! key         = ( lcalpha / DIGIT ) 0*255( keychar )
//! keychar     = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
//! value       = 0*255( chr ) nblk-chr       ; 1 to 256 characters
//! nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
//! chr         = %x20 / nblk-chr
//! ```
//!
//! The key grammar is Level 2's (w3c/trace-context#584, June 2026): `@` is an ordinary key
//! character, and the old tenant/system split with its 241/14 limits is gone.
//!
//! Repeated headers are combined as if joined with `,` in order. More than 32 members or any
//! malformed member makes the whole `tracestate` invalid: it is then discarded (the
//! `traceparent` is still used). A key that appears twice keeps its first (left-most, most
//! recent) member. A list longer than [`MAX_HEADER_LEN`] is truncated as the specification
//! allows: members longer than 128 characters go first, then members from the end.

use opentelemetry::trace::TraceState;

/// Most list members a `tracestate` may carry.
const MAX_MEMBERS: usize = 32;
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 256;
/// The most characters of `tracestate` forwarded downstream: 512, what the specification asks
/// every vendor to propagate at least. A full list (32 members of 513 characters) is 16 KB,
/// which would otherwise ride along on every downstream call.
pub(crate) const MAX_HEADER_LEN: usize = 512;
/// Members longer than this are the first to go when the list is truncated.
const LONG_MEMBER: usize = 128;

/// Parses the `tracestate` header values, in order.
///
/// Returns `None` when the combined list is invalid and must be discarded;
/// `Some(TraceState::default())` when it is empty.
pub(crate) fn parse<'a, I>(values: I) -> Option<TraceState>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut members: [(&str, &str); MAX_MEMBERS] = [("", ""); MAX_MEMBERS];
    let mut len = 0;
    let mut seen = 0;
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) {
                return None;
            }
            seen += 1;
            if seen > MAX_MEMBERS {
                return None;
            }
            // A duplicate keeps the first member (the most recent vendor's).
            if members.iter().take(len).all(|(k, _)| *k != key) {
                members[len] = (key, val);
                len += 1;
            }
        }
    }
    let kept = truncate(
        members
            .iter()
            .take(len)
            .filter(|(key, _)| representable(key))
            .copied()
            .collect(),
    );
    TraceState::from_key_value(kept).ok()
}

/// Drops members until the list fits [`MAX_HEADER_LEN`]: long members first, then from the end.
fn truncate<'a>(mut members: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let size = |m: &[(&str, &str)]| -> usize {
        m.iter().map(|(k, v)| k.len() + 1 + v.len()).sum::<usize>() + m.len().saturating_sub(1)
    };
    while size(&members) > MAX_HEADER_LEN {
        match members
            .iter()
            .rposition(|(k, v)| k.len() + 1 + v.len() > LONG_MEMBER)
        {
            Some(long) => {
                members.remove(long);
            }
            None => {
                members.pop();
            }
        }
    }
    members
}

#[inline]
fn key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@')
}

/// Checks a key against the Level 2 grammar.
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    match bytes.split_first() {
        Some((&head, tail)) => {
            bytes.len() <= MAX_KEY
                && (head.is_ascii_lowercase() || head.is_ascii_digit())
                && tail.iter().all(|&b| key_char(b))
        }
        None => false,
    }
}

/// Checks a value against the W3C grammar (1 to 256 characters).
fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    match bytes.last() {
        Some(&last) => {
            bytes.len() <= MAX_VALUE
                && last != b' '
                && bytes
                    .iter()
                    .all(|&b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=')
        }
        None => false,
    }
}

/// Whether `opentelemetry::trace::TraceState` (0.33) can hold this W3C-valid key.
///
/// Its key check still follows the Level 1 tenant/system grammar: at most one `@`, followed by
/// a letter or digit and at most 13 characters. It has no other constructor, so a member whose
/// key it refuses cannot be carried: that member alone is dropped and the rest of the list is
/// forwarded, the closest we can get to "inherit it unchanged".
fn representable(key: &str) -> bool {
    let Some((_, system)) = key.split_once('@') else {
        return true;
    };
    !system.contains('@')
        && system.len() <= 13
        && system
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(values: &[&str]) -> Option<String> {
        parse(values.iter().copied()).map(|ts| ts.header())
    }

    #[test]
    fn joins_repeated_headers_in_order() {
        assert_eq!(
            header(&["a=1,b=2", "c=3", "", "d=4"]).as_deref(),
            Some("a=1,b=2,c=3,d=4")
        );
    }

    #[test]
    fn empty_members_and_ows_are_skipped() {
        assert_eq!(header(&[""]).as_deref(), Some(""));
        assert_eq!(header(&[" , \t ,"]).as_deref(), Some(""));
        assert_eq!(header(&["\t a=1 \t, ,b=2\t"]).as_deref(), Some("a=1,b=2"));
        assert_eq!(parse([""]), Some(TraceState::default()));
        assert_eq!(parse(std::iter::empty()), Some(TraceState::default()));
    }

    #[test]
    fn duplicate_keys_keep_the_first_member() {
        assert_eq!(header(&["a=1,a=1"]).as_deref(), Some("a=1"));
        assert_eq!(header(&["a=1", "a=2"]).as_deref(), Some("a=1"));
        assert_eq!(header(&["b=0,a=1,b=2,c=3"]).as_deref(), Some("b=0,a=1,c=3"));
    }

    #[test]
    fn member_limit() {
        let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert!(header(&[&members.join(",")]).is_some());
        let with_empty = format!("{},,", members.join(","));
        assert!(header(&[&with_empty]).is_some());
        let too_many = format!("{},k32=v", members.join(","));
        assert_eq!(header(&[&too_many]), None);
    }

    #[test]
    fn level_2_key_grammar() {
        let long = "a".repeat(256);
        let too_long = "a".repeat(257);
        let at_256 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let valid = [
            "a",
            "0a",
            "a0_-*/",
            long.as_str(),
            "0tenant@sys",
            "t@s0_-*/",
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            "t@0s",
            at_256.as_str(),
        ];
        for key in valid {
            assert!(valid_key(key), "{key}");
        }
        let invalid = [
            "",
            "A",
            "fOo",
            "foo.bar",
            "foo ",
            " foo",
            too_long.as_str(),
            "@foo",
            "_t@s",
            "t@S",
            "é",
        ];
        for key in invalid {
            assert!(!valid_key(key), "{key}");
        }
    }

    #[test]
    fn value_grammar() {
        let all: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        let long = "v".repeat(256);
        for value in [all.as_str(), " x", "x y", "!", long.as_str()] {
            assert!(valid_value(value), "{value:?}");
        }
        let too_long = "v".repeat(257);
        for value in ["", "x ", "a=b", "a,b", "\t", "x\ty", "é", too_long.as_str()] {
            assert!(!valid_value(value), "{value:?}");
        }
    }

    #[test]
    fn malformed_members_invalidate() {
        for value in [
            "foo",
            "foo=bar=baz",
            "foo=,bar=3",
            "=1",
            "FOO=1",
            "foo =1",
            "@x=1",
        ] {
            assert_eq!(header(&["ok=1", value]), None, "{value:?}");
        }
    }

    #[test]
    fn keys_the_upstream_type_cannot_hold_are_dropped_alone() {
        for key in [
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            "foo@@bar".to_owned(),
            "foo@bar@baz".to_owned(),
            format!("t@{}", "v".repeat(15)),
            "foo@_x".to_owned(),
        ] {
            let value = format!("{key}=1");
            assert_eq!(
                header(&["foo=1", &value]).as_deref(),
                Some("foo=1"),
                "{key}"
            );
        }
        for key in [
            format!("t@{}", "v".repeat(13)),
            format!("{}@v", "t".repeat(242)),
            "foo@".to_owned(),
        ] {
            let value = format!("{key}=1");
            assert_eq!(header(&[&value]), Some(value.clone()));
        }
    }

    #[test]
    fn long_lists_are_truncated_long_members_first() {
        // 32 members of 256 + 1 + 256 characters: 16 KB in.
        let members: Vec<String> = (0..32)
            .map(|i| format!("{}{i:02}={}", "k".repeat(254), "v".repeat(256)))
            .collect();
        let out = header(&[&members.join(",")]).unwrap();
        assert_eq!(out, "");
        // The long member goes first…
        let mut list = vec![format!("big={}", "v".repeat(200))];
        list.extend((0..31).map(|i| format!("k{i:02}={}", "v".repeat(10))));
        let out = header(&[&list.join(",")]).unwrap();
        assert!(out.len() <= MAX_HEADER_LEN, "{}", out.len());
        assert!(!out.contains("big="), "{out}");
        assert_eq!(out.split(',').count(), 31);
        // …then members from the end.
        let list: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}={}", "v".repeat(16)))
            .collect();
        let out = header(&[&list.join(",")]).unwrap();
        assert_eq!(out, list[..24].join(","));
        let mixed = format!("a=1,big={},b=2", "v".repeat(200));
        assert_eq!(
            header(&[&mixed]).unwrap(),
            format!("a=1,big={},b=2", "v".repeat(200))
        );
    }
}
