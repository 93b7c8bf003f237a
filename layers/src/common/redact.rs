//! Redaction: secret values never leave the process verbatim.
//!
//! Query strings carry credentials far more often than the semantic conventions' seven keys
//! suggest: OAuth 2 codes and tokens (RFC 6749 / RFC 6750 put `access_token` in the query), API
//! keys and passwords. Keys are compared after percent-decoding (`%73ig` is `sig`) and without
//! regard to case (`SIG`, `x-amz-signature`), because servers decode them that way.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// The value that replaces anything secret.
pub(crate) const REDACTED: &str = "REDACTED";

/// Query keys whose values are exported as `REDACTED`, compared after percent-decoding and
/// ignoring case: the semantic conventions' list, OAuth 2 (RFC 6749, RFC 6750, RFC 7009, PKCE,
/// OpenID Connect), and the common API-key, token and password names.
pub const SENSITIVE_QUERY_PARAMS: [&str; 36] = [
    // The semantic conventions (`url.query`, `url.full`).
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    // OAuth 2 and OpenID Connect.
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "assertion",
    "token",
    // API keys and tokens.
    "api_key",
    "apikey",
    "api-key",
    "key",
    "x-api-key",
    "access_key",
    "secret_key",
    "private_token",
    "auth_token",
    "auth",
    "authorization",
    "jwt",
    "session",
    "sessionid",
    "session_id",
    "X-Goog-Credential",
    // Passwords and secrets.
    "password",
    "passwd",
    "pwd",
    "secret",
];

/// A set of sensitive query keys, normalised once (lowercase) so a request only compares.
///
/// Kept ordered by length, then text, with where each length starts: a key is compared only
/// with the keys of its own length, found by one index (no search).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SensitiveKeys(std::sync::Arc<Keys>);

#[derive(Debug, PartialEq, Eq)]
struct Keys {
    keys: Box<[Box<str>]>,
    /// `starts[n]`: the index of the first key at least `n` bytes long, for every `n` up to
    /// one past the longest key (so `starts[n]..starts[n + 1]` are the keys of length `n`).
    starts: Box<[usize]>,
}

impl SensitiveKeys {
    pub(crate) fn new<I, S>(keys: I) -> SensitiveKeys
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys: Vec<Box<str>> = keys
            .into_iter()
            .map(|k| k.as_ref().trim().to_ascii_lowercase().into_boxed_str())
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        keys.dedup();
        let longest = keys.last().map_or(0, |k| k.len());
        let starts = (0..=longest + 1)
            .map(|n| keys.partition_point(|k| k.len() < n))
            .collect();
        SensitiveKeys(std::sync::Arc::new(Keys {
            keys: keys.into(),
            starts,
        }))
    }

    /// The keys, lowercase.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.keys.iter().map(|k| &**k)
    }

    pub(crate) fn with<I, S>(&self, more: I) -> SensitiveKeys
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let extra: Vec<String> = more.into_iter().map(|k| k.as_ref().to_owned()).collect();
        SensitiveKeys::new(self.iter().chain(extra.iter().map(String::as_str)))
    }

    /// Whether the raw (still encoded) query key names a secret.
    pub(crate) fn matches(&self, raw_key: &str) -> bool {
        if self.0.keys.is_empty() {
            return false;
        }
        let key = decode_key(raw_key);
        let n = key.len();
        let Some(&[from, to]) = self.0.starts.get(n..n + 2) else {
            return false;
        };
        self.0.keys[from..to]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&key))
    }
}

impl Default for SensitiveKeys {
    fn default() -> Self {
        SensitiveKeys::new(SENSITIVE_QUERY_PARAMS)
    }
}

/// A query key as a server reads it: `+` is a space, `%XX` escapes decoded (lossily).
fn decode_key(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let plus = raw.replace('+', " ");
    Cow::Owned(percent_decode_str(&plus).decode_utf8_lossy().into_owned())
}

/// Replaces the values of sensitive query keys with `REDACTED`, keeping the keys and the order.
/// Borrowed when nothing needs redacting, which is the common case.
pub(crate) fn redact_query<'a>(query: &'a str, sensitive: &SensitiveKeys) -> Cow<'a, str> {
    if !has_secret(query, sensitive) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if sensitive.matches(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// Whether a `key=value` pair of `query` has a sensitive key. The common case (nothing to
/// redact) is decided on bytes, as `str`'s pattern searchers cost several times more on short
/// queries; a key is sliced from the `str` itself (`&` and `=` are ASCII, so always at a
/// character boundary), so no UTF-8 is validated again.
fn has_secret(query: &str, sensitive: &SensitiveKeys) -> bool {
    let bytes = query.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let pair = &bytes[start..];
        let end = pair.iter().position(|&b| b == b'&').unwrap_or(pair.len());
        let key_end = pair[..end].iter().position(|&b| b == b'=');
        if key_end.is_some_and(|k| sensitive.matches(&query[start..start + k])) {
            return true;
        }
        start += end + 1;
    }
    false
}

/// An authority (`user:password@host:port`) with any user information replaced by
/// `REDACTED:REDACTED`, the form the conventions give for `url.full`.
pub(crate) fn redact_authority(authority: &str) -> Cow<'_, str> {
    match split_userinfo(authority) {
        (true, host) => Cow::Owned(format!("{REDACTED}:{REDACTED}@{host}")),
        (false, _) => Cow::Borrowed(authority),
    }
}

/// An authority's `host[:port]`, and whether user information (`user:password@`) came before
/// it. On bytes: `@` is ASCII (so the cut is at a character boundary), and `str`'s pattern
/// searchers cost several times more on values this short.
pub(crate) fn split_userinfo(authority: &str) -> (bool, &str) {
    match authority.as_bytes().iter().rposition(|&b| b == b'@') {
        Some(at) => (true, &authority[at + 1..]),
        None => (false, authority),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_by_length_at_every_edge() {
        let keys = SensitiveKeys::new(["ab", " ABC ", "x", "", "xy"]);
        for hit in ["AB", "abc", "x", "Xy", "a%62"] {
            assert!(keys.matches(hit), "{hit}");
        }
        for miss in ["", "a", "abcd", "zz", "abd", "longer-than-any-key"] {
            assert!(!keys.matches(miss), "{miss}");
        }
        assert!(!SensitiveKeys::new(Vec::<&str>::new()).matches("x"));
    }

    #[test]
    fn secrets_are_found_in_any_pair_and_edge() {
        let keys = SensitiveKeys::default();
        for yes in [
            "token=1",
            "a=1&token=2",
            "&token=",
            "é=1&token=2",
            "a&&Token=x&b",
        ] {
            assert!(has_secret(yes, &keys), "{yes}");
        }
        for no in [
            "",
            "&",
            "=",
            "=token",
            "token",
            "a=token",
            "é=ü&x=1&",
            "tokens=1",
        ] {
            assert!(!has_secret(no, &keys), "{no}");
        }
    }

    #[test]
    fn nothing_sensitive_stays_borrowed() {
        let s = SensitiveKeys::default();
        assert!(matches!(
            redact_query("a=1&b=2&flag", &s),
            Cow::Borrowed("a=1&b=2&flag")
        ));
    }

    #[test]
    fn semconv_keys_are_redacted() {
        let s = SensitiveKeys::default();
        assert_eq!(
            redact_query("q=x&sig=abc&X-Amz-Signature=zz&flag&Signature=", &s),
            "q=x&sig=REDACTED&X-Amz-Signature=REDACTED&flag&Signature=REDACTED"
        );
    }

    #[test]
    fn oauth_api_key_and_password_names_are_redacted() {
        let s = SensitiveKeys::default();
        for key in [
            "access_token",
            "token",
            "password",
            "api_key",
            "client_secret",
            "code",
            "refresh_token",
            "apikey",
        ] {
            let q = format!("page=2&{key}=s3cret");
            assert_eq!(
                redact_query(&q, &s),
                format!("page=2&{key}=REDACTED"),
                "{key}"
            );
        }
    }

    #[test]
    fn keys_match_decoded_and_in_any_case() {
        let s = SensitiveKeys::default();
        assert_eq!(redact_query("SIG=1", &s), "SIG=REDACTED");
        assert_eq!(
            redact_query("x-amz-signature=1", &s),
            "x-amz-signature=REDACTED"
        );
        // `%73ig` decodes to `sig`; the key is kept as the client sent it.
        assert_eq!(redact_query("%73ig=1&a=b", &s), "%73ig=REDACTED&a=b");
        assert_eq!(
            redact_query("Access%5FToken=1", &s),
            "Access%5FToken=REDACTED"
        );
        // Not a prefix or substring match.
        assert_eq!(
            redact_query("codec=h264&tokens=3", &s),
            "codec=h264&tokens=3"
        );
        // Invalid escapes never panic.
        assert_eq!(redact_query("%ZZ=1&%=2&%e9=3", &s), "%ZZ=1&%=2&%e9=3");
    }

    #[test]
    fn custom_lists_replace_or_extend() {
        let only = SensitiveKeys::new(["Session"]);
        assert_eq!(
            redact_query("session=1&sig=2", &only),
            "session=REDACTED&sig=2"
        );
        let more = SensitiveKeys::default().with(["otp"]);
        assert_eq!(
            redact_query("OTP=1&sig=2", &more),
            "OTP=REDACTED&sig=REDACTED"
        );
        let none = SensitiveKeys::new(Vec::<String>::new());
        assert_eq!(redact_query("sig=1", &none), "sig=1");
    }

    #[test]
    fn every_listed_key_matches_and_keys_of_the_same_length_do_not() {
        let s = SensitiveKeys::default();
        for key in SENSITIVE_QUERY_PARAMS {
            assert!(s.matches(key), "{key}");
            assert!(s.matches(&key.to_ascii_uppercase()), "{key}");
            let near = format!("{}_", &key[..key.len() - 1]);
            assert!(!s.matches(&near), "{near}");
        }
        assert!(!s.matches(""));
        assert!(!s.matches("page"));
        let custom = SensitiveKeys::new(["a", "bb", "cc", "ddd"]);
        assert!(custom.matches("cc") && custom.matches("BB") && custom.matches("a"));
        assert!(!custom.matches("b") && !custom.matches("dd") && !custom.matches("dddd"));
    }

    #[test]
    fn authority_credentials_become_redacted() {
        assert_eq!(
            redact_authority("user:pa%40ss@example.com:8443"),
            "REDACTED:REDACTED@example.com:8443"
        );
        assert_eq!(redact_authority("user@h"), "REDACTED:REDACTED@h");
        assert!(matches!(redact_authority("h:1"), Cow::Borrowed("h:1")));
    }
}
