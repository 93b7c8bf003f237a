//! `url.full` for clients: credentials and sensitive query values redacted, size capped.

use crate::common::limit::truncate;
use crate::common::redact::{redact_authority, redact_query, SensitiveKeys};

/// `url.full` for a client request: `scheme://host[:port]/path?query` with any `user:password@`
/// replaced by `REDACTED:REDACTED@` and sensitive query values redacted, at most `max` bytes. A
/// request that carries only a path (the origin is added further down the stack) gives the path
/// and query.
pub(crate) fn full_url(uri: &http::Uri, sensitive: &SensitiveKeys, max: usize) -> String {
    let origin = uri
        .scheme_str()
        .zip(uri.authority())
        .map(|(scheme, authority)| (scheme, redact_authority(authority.as_str())));
    let query = uri.query().map(|q| redact_query(q, sensitive));
    // Sized exactly: growing it reallocated up to four times, and the attribute's conversion
    // to a boxed string reallocates once more when the capacity is larger than the text.
    let len = origin.as_ref().map_or(0, |(s, a)| s.len() + 3 + a.len())
        + uri.path().len()
        + query.as_ref().map_or(0, |q| 1 + q.len());
    let mut out = String::with_capacity(len);
    if let Some((scheme, authority)) = &origin {
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(authority);
    }
    out.push_str(uri.path());
    if let Some(q) = &query {
        out.push('?');
        out.push_str(q);
    }
    match truncate(&out, max) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_urls_redact_credentials_and_secrets() {
        let s = SensitiveKeys::default();
        let uri: http::Uri = "https://user:pa%40ss@example.com:8443/a/b?sig=x&q=1&access_token=t"
            .parse()
            .unwrap();
        assert_eq!(
            full_url(&uri, &s, 2048),
            "https://REDACTED:REDACTED@example.com:8443/a/b?sig=REDACTED&q=1&access_token=REDACTED"
        );
        let uri: http::Uri = "http://example.com/".parse().unwrap();
        assert_eq!(full_url(&uri, &s, 2048), "http://example.com/");
        let uri: http::Uri = "/only/path?x=1".parse().unwrap();
        assert_eq!(full_url(&uri, &s, 2048), "/only/path?x=1");
    }

    #[test]
    fn full_urls_are_capped() {
        let s = SensitiveKeys::default();
        let uri: http::Uri = format!("http://h/{}", "p".repeat(5000)).parse().unwrap();
        let full = full_url(&uri, &s, 100);
        assert_eq!(full.len(), 100);
        assert!(full.starts_with("http://h/ppp") && full.ends_with('…'));
    }
}
