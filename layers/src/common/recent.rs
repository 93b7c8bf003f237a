//! The values a connection repeats on every request (its peer address, user agent, `Host` and a
//! client's target host),
//! kept per thread: the next request with the same value shares the string instead of
//! allocating and copying its own, which on a keep-alive connection is most requests.
//!
//! One entry per [`Kind`] and thread, each no longer than the value cap (a value over the cap
//! is cut as before and not kept), so the memory is bounded; an entry is replaced by the next
//! different value. Only values that go into attributes verbatim are kept, never one a rule
//! redacts.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

use opentelemetry::StringValue;

use super::limit::capped;

/// Which repeated text an entry holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// `User-Agent`.
    UserAgent = 0,
    /// The `Host` (or forwarded host) the client asked for.
    Host = 1,
    /// The host an outgoing request goes to (HTTP client `server.address`).
    Target = 2,
}

thread_local! {
    static RECENT: RefCell<[Option<Arc<str>>; 3]> = const { RefCell::new([None, None, None]) };
    /// The last peer address and its text, compared as an address (nothing is formatted).
    static PEER: RefCell<Option<(IpAddr, Arc<str>)>> = const { RefCell::new(None) };
}

/// The text of peer address `ip`: the thread's last one when it is the same address, else
/// `format`'s, which becomes the thread's last.
pub(crate) fn peer_text(ip: IpAddr, format: impl Fn(IpAddr) -> Arc<str>) -> Arc<str> {
    let kept = PEER.try_with(|last| {
        let mut last = last.try_borrow_mut().ok()?;
        match &*last {
            Some((kept, text)) if *kept == ip => Some(text.clone()),
            _ => Some(last.insert((ip, format(ip))).1.clone()),
        }
    });
    match kept {
        Ok(Some(text)) => text,
        _ => format(ip),
    }
}

/// `text` as a shared string: the thread's last value of `kind` when it is the same text, else
/// a new one that becomes the thread's last.
pub(crate) fn shared_arc(kind: Kind, text: &str) -> Arc<str> {
    shared(kind, text.as_bytes(), || Some(Arc::from(text))).unwrap_or_else(|| Arc::from(text))
}

/// The thread's last value of `kind` when its bytes are `bytes`, else `make`'s, which becomes
/// the thread's last (`None` when `make` gives none or the thread's entries are unavailable).
fn shared(kind: Kind, bytes: &[u8], make: impl FnOnce() -> Option<Arc<str>>) -> Option<Arc<str>> {
    let kept = RECENT.try_with(|recent| {
        let mut recent = recent.try_borrow_mut().ok()?;
        let slot = &mut recent[kind as usize];
        match slot {
            Some(last) if last.as_bytes() == bytes => Some(last.clone()),
            _ => Some(slot.insert(make()?).clone()),
        }
    });
    kept.ok().flatten()
}

/// [`capped`], sharing the value with the thread's last of `kind` when it fits the cap.
pub(crate) fn capped_shared(kind: Kind, value: &str, max: usize) -> StringValue {
    if value.len() <= max {
        StringValue::from(shared_arc(kind, value))
    } else {
        capped(value, max)
    }
}

/// [`capped_shared`] for raw header bytes; bytes that are not UTF-8 are decoded as
/// [`super::limit::capped_bytes`] does, and not kept.
pub(crate) fn capped_bytes_shared(kind: Kind, value: &[u8], max: usize) -> StringValue {
    if value.len() <= max {
        // The thread's last value is compared as bytes first: when they are the same, they were
        // validated as UTF-8 before, and are not validated again.
        let utf8 = || std::str::from_utf8(value).ok().map(Arc::from);
        if let Some(text) = shared(kind, value, utf8) {
            return StringValue::from(text);
        }
    }
    match std::str::from_utf8(value) {
        Ok(text) => capped_shared(kind, text, max),
        Err(_) => super::limit::capped_bytes(value, max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_shared_and_a_different_one_replaces_it() {
        let a = shared_arc(Kind::UserAgent, "curl/8.5");
        let b = shared_arc(Kind::UserAgent, "curl/8.5");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "curl/8.5");
        let other_kind = shared_arc(Kind::Host, "curl/8.5");
        assert!(!Arc::ptr_eq(&a, &other_kind), "one entry per kind");
        let c = shared_arc(Kind::UserAgent, "curl/8.6");
        assert_eq!(&*c, "curl/8.6");
        assert!(!Arc::ptr_eq(&a, &c));
        let d = shared_arc(Kind::UserAgent, "curl/8.5");
        assert!(!Arc::ptr_eq(&a, &d), "replaced by the different value");
        assert_eq!(&*d, "curl/8.5");
    }

    #[test]
    fn header_bytes_are_shared_only_when_they_are_utf8() {
        let text = |v: StringValue| v.as_str().to_owned();
        let a = capped_bytes_shared(Kind::UserAgent, b"agent/1", 64);
        assert_eq!(text(a), "agent/1");
        let kept = shared_arc(Kind::UserAgent, "agent/1");
        assert!(Arc::ptr_eq(&kept, &shared_arc(Kind::UserAgent, "agent/1")));
        let bad = capped_bytes_shared(Kind::UserAgent, b"agent/\xff", 64);
        assert_eq!(text(bad), "agent/\u{fffd}");
        assert!(
            Arc::ptr_eq(&kept, &shared_arc(Kind::UserAgent, "agent/1")),
            "bytes that are not UTF-8 are not kept"
        );
        let long = capped_bytes_shared(Kind::UserAgent, "é".repeat(40).as_bytes(), 16);
        assert_eq!(text(long), format!("{}…", "é".repeat(6)));
    }

    #[test]
    fn the_same_peer_address_is_formatted_once() {
        let formatted = std::cell::Cell::new(0);
        let format = |ip: IpAddr| {
            formatted.set(formatted.get() + 1);
            Arc::from(ip.to_string())
        };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = peer_text(a, format);
        assert!(Arc::ptr_eq(&first, &peer_text(a, format)));
        assert_eq!(formatted.get(), 1);
        assert_eq!(&*peer_text(b, format), "10.0.0.2");
        assert_eq!(&*peer_text(a, format), "10.0.0.1");
        assert_eq!(formatted.get(), 3);
    }

    #[test]
    fn values_over_the_cap_are_cut_and_not_kept_and_bad_bytes_are_decoded() {
        let long = "x".repeat(40);
        let cut = capped_shared(Kind::Host, &long, 10);
        assert_eq!(cut.as_str(), "xxxxxxx…");
        let kept = shared_arc(Kind::Host, "h");
        assert!(Arc::ptr_eq(&kept, &shared_arc(Kind::Host, "h")));
        assert_eq!(capped_shared(Kind::Host, "h", 10).as_str(), "h");
        let bad = capped_bytes_shared(Kind::UserAgent, b"a\xffb", 10);
        assert_eq!(bad.as_str(), "a\u{fffd}b");
        assert_eq!(
            capped_bytes_shared(Kind::UserAgent, b"ok", 10).as_str(),
            "ok"
        );
    }
}
