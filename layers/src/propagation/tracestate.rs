//! Strict parser for the W3C Trace Context Level 2 `tracestate` header.
//!
//! ```text
//! list             = list-member 0*31( OWS "," OWS list-member )
//! list-member      = key "=" value / OWS          ; empty members are skipped
//! key              = simple-key / multi-tenant-key
//! simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! multi-tenant-key = tenant-id "@" system-id
//! tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! value            = 0*255( chr ) nblk-chr       ; 1 to 256 characters
//! nblk-chr         = %x21-2B / %x2D-3C / %x3E-7E
//! chr              = %x20 / nblk-chr
//! ```
//!
//! Repeated headers are combined as if joined with `,` in order. More than 32
//! members, a duplicated key, or any malformed member makes the whole
//! `tracestate` invalid: it is then discarded (the `traceparent` is still used).

use opentelemetry::trace::TraceState;

/// Most list members a `tracestate` may carry.
const MAX_MEMBERS: usize = 32;
const MAX_SIMPLE_KEY: usize = 256;
const MAX_TENANT: usize = 241;
const MAX_SYSTEM: usize = 14;
const MAX_VALUE: usize = 256;

/// `opentelemetry::trace::TraceState` (0.33) rejects a multi-tenant key whose
/// system id is 14 characters long, although the W3C grammar allows it (its
/// `valid_key` accepts at most 13 characters after `@`). It has no other
/// constructor, so such a member cannot be represented: we drop that single
/// member and keep the rest of the otherwise valid `tracestate`, which is the
/// closest we can get to "inherit it unchanged".
const MAX_REPRESENTABLE_SYSTEM: usize = 13;

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
            if members.iter().take(len).any(|(k, _)| *k == key) {
                return None;
            }
            // A 33rd member finds no slot: the whole list is invalid.
            *members.get_mut(len)? = (key, val);
            len += 1;
        }
    }
    if len == 0 {
        return Some(TraceState::default());
    }
    let representable = members
        .iter()
        .take(len)
        .filter(|(key, _)| representable(key))
        .copied();
    TraceState::from_key_value(representable).ok()
}

#[inline]
fn key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// `first` followed by up to `max - 1` key characters.
#[inline]
fn key_part(part: &str, max: usize, first: fn(u8) -> bool) -> bool {
    let bytes = part.as_bytes();
    match bytes.split_first() {
        Some((&head, tail)) => {
            bytes.len() <= max && first(head) && tail.iter().all(|&b| key_char(b))
        }
        None => false,
    }
}

/// Checks a key against the W3C grammar.
fn valid_key(key: &str) -> bool {
    let lcalpha = |b: u8| b.is_ascii_lowercase();
    match key.split_once('@') {
        None => key_part(key, MAX_SIMPLE_KEY, lcalpha),
        Some((tenant, system)) => {
            key_part(tenant, MAX_TENANT, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit()
            }) && key_part(system, MAX_SYSTEM, lcalpha)
        }
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

/// Whether `TraceState` accepts this (already W3C-valid) key.
fn representable(key: &str) -> bool {
    match key.split_once('@') {
        Some((_, system)) => system.len() <= MAX_REPRESENTABLE_SYSTEM,
        None => true,
    }
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
    fn duplicate_keys_invalidate() {
        assert_eq!(header(&["a=1,a=1"]), None);
        assert_eq!(header(&["a=1", "a=2"]), None);
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
    fn key_grammar() {
        let long = "a".repeat(256);
        let too_long = "a".repeat(257);
        let tenant = format!("{}@v", "t".repeat(241));
        let tenant_too_long = format!("{}@v", "t".repeat(242));
        let system_too_long = format!("t@{}", "v".repeat(15));
        let valid = [
            "a",
            "a0_-*/",
            long.as_str(),
            "0tenant@sys",
            "t@s0_-*/",
            tenant.as_str(),
        ];
        for key in valid {
            assert!(valid_key(key), "{key}");
        }
        let invalid = [
            "",
            "0a",
            "A",
            "fOo",
            "foo.bar",
            "foo ",
            " foo",
            too_long.as_str(),
            "foo@",
            "@foo",
            "foo@@bar",
            "foo@bar@baz",
            "t@0s",
            "_t@s",
            "t@S",
            tenant_too_long.as_str(),
            system_too_long.as_str(),
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
        for value in ["foo", "foo=bar=baz", "foo=,bar=3", "=1", "FOO=1", "foo =1"] {
            assert_eq!(header(&["ok=1", value]), None, "{value:?}");
        }
    }

    #[test]
    fn fourteen_char_system_id_is_dropped_alone() {
        let key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let value = format!("{key}=1");
        assert_eq!(header(&["foo=1", &value]).as_deref(), Some("foo=1"));
        let key13 = format!("t@{}", "v".repeat(13));
        let value13 = format!("{key13}=1");
        assert_eq!(header(&[&value13]), Some(value13.clone()));
    }
}
