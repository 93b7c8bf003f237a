//! URL rules: redaction of sensitive query values (and, for clients, of credentials).

use std::borrow::Cow;

/// The value that replaces anything secret.
pub(crate) const REDACTED: &str = "REDACTED";

/// Replaces the values of `sensitive` query keys with `REDACTED`, keeping the keys and the order.
///
/// Keys are compared exactly as they appear (not percent-decoded), as the conventions specify.
/// Borrowed when nothing needs redacting, which is the common case.
pub(crate) fn redact_query<'a>(query: &'a str, sensitive: &[Box<str>]) -> Cow<'a, str> {
    let needs = query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        pair.contains('=') && sensitive.iter().any(|s| &**s == key)
    });
    if !needs {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if sensitive.iter().any(|s| &**s == key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// `url.full` for a client request: `scheme://host[:port]/path?query` with any `user:password@`
/// removed and sensitive query values redacted. A request that carries only a path (the origin
/// is added further down the stack) gives the path and query.
pub(crate) fn full_url(uri: &http::Uri, sensitive: &[Box<str>]) -> String {
    let mut out = String::with_capacity(uri.to_string().len());
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        out.push_str(scheme);
        out.push_str("://");
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, rest)| rest);
        out.push_str(host_port);
    }
    out.push_str(uri.path());
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(&redact_query(q, sensitive));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SENSITIVE_QUERY_PARAMS;

    fn sensitive() -> Vec<Box<str>> {
        SENSITIVE_QUERY_PARAMS.iter().map(|s| (*s).into()).collect()
    }

    #[test]
    fn redacts_only_sensitive_values() {
        let s = sensitive();
        assert!(matches!(
            redact_query("a=1&b=2", &s),
            Cow::Borrowed("a=1&b=2")
        ));
        assert_eq!(
            redact_query("q=x&sig=abc&X-Amz-Signature=zz&flag&Signature=", &s),
            "q=x&sig=REDACTED&X-Amz-Signature=REDACTED&flag&Signature=REDACTED"
        );
        // Case-sensitive: `SIG` is not a listed key.
        assert_eq!(redact_query("SIG=1", &s), "SIG=1");
    }

    #[test]
    fn full_urls_lose_credentials_and_secrets() {
        let s = sensitive();
        let uri: http::Uri = "https://user:pa%40ss@example.com:8443/a/b?sig=x&q=1"
            .parse()
            .unwrap();
        assert_eq!(
            full_url(&uri, &s),
            "https://example.com:8443/a/b?sig=REDACTED&q=1"
        );
        let uri: http::Uri = "http://example.com/".parse().unwrap();
        assert_eq!(full_url(&uri, &s), "http://example.com/");
        let uri: http::Uri = "/only/path?x=1".parse().unwrap();
        assert_eq!(full_url(&uri, &s), "/only/path?x=1");
    }
}
