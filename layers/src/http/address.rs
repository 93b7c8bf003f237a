//! `server.address` / `server.port` and `client.address` from the request head.
//!
//! Precedence follows the HTTP semantic conventions: for the server, `Forwarded: host=`,
//! `X-Forwarded-Host`, the request target's authority (HTTP/2 `:authority`), then `Host`; for the
//! client, `Forwarded: for=`, the first `X-Forwarded-For` entry, then the connection's peer. These
//! values are client-controlled, so they go on spans only, never on metrics.

use http::header::{HeaderMap, FORWARDED, HOST};
use http::request::Parts;

const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The `host[:port]` the client asked for, split.
pub(crate) fn server_address(parts: &Parts) -> Option<(&str, Option<u16>)> {
    let raw = forwarded_param(&parts.headers, "host")
        .or_else(|| first_list_value(&parts.headers, X_FORWARDED_HOST))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .or_else(|| header_str(&parts.headers, HOST.as_str()))?;
    split_host_port(raw.trim())
}

/// The original client's address: forwarded headers first, the peer otherwise.
pub(crate) fn client_address(parts: &Parts) -> Option<&str> {
    let raw = forwarded_param(&parts.headers, "for")
        .or_else(|| first_list_value(&parts.headers, X_FORWARDED_FOR))?;
    split_host_port(raw.trim()).map(|(h, _)| h)
}

/// `https` or `http` as the client used it, when a proxy said so or the target is absolute.
pub(crate) fn scheme(parts: &Parts) -> &'static str {
    let forwarded = forwarded_param(&parts.headers, "proto")
        .or_else(|| first_list_value(&parts.headers, X_FORWARDED_PROTO));
    let value = forwarded.or_else(|| parts.uri.scheme_str());
    match value {
        Some(v) if v.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn first_list_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    header_str(headers, name)
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A parameter of the first `Forwarded` element (RFC 7239), unquoted.
fn forwarded_param<'a>(headers: &'a HeaderMap, param: &str) -> Option<&'a str> {
    let value = header_str(headers, FORWARDED.as_str())?;
    let first = value.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(param) {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then_some(v)
    })
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address has no port.
pub(crate) fn split_host_port(raw: &str) -> Option<(&str, Option<u16>)> {
    if raw.is_empty() {
        return None;
    }
    if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    match raw.rsplit_once(':') {
        // More than one ':' without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Some((raw, None)),
        Some((host, port)) => match port.parse() {
            Ok(p) if !host.is_empty() => Some((host, Some(p))),
            _ => Some((raw, None)),
        },
        None => Some((raw, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn host_precedence() {
        let p = parts(
            &[
                ("host", "h:1"),
                ("x-forwarded-host", "xf:2, other"),
                (
                    "forwarded",
                    "for=1.2.3.4;host=\"fw.example:3\", for=5.6.7.8",
                ),
            ],
            "/",
        );
        assert_eq!(server_address(&p), Some(("fw.example", Some(3))));
        let p = parts(&[("host", "h:1"), ("x-forwarded-host", "xf")], "/");
        assert_eq!(server_address(&p), Some(("xf", None)));
        let p = parts(&[("host", "[::1]:8080")], "/");
        assert_eq!(server_address(&p), Some(("::1", Some(8080))));
        let p = parts(&[], "http://abs.example:81/x");
        assert_eq!(server_address(&p), Some(("abs.example", Some(81))));
        assert_eq!(server_address(&parts(&[], "/")), None);
    }

    #[test]
    fn client_precedence() {
        let p = parts(&[("x-forwarded-for", "9.9.9.9, 10.0.0.1")], "/");
        assert_eq!(client_address(&p), Some("9.9.9.9"));
        let p = parts(
            &[
                ("x-forwarded-for", "9.9.9.9"),
                ("forwarded", "for=\"[2001:db8::1]:4711\""),
            ],
            "/",
        );
        assert_eq!(client_address(&p), Some("2001:db8::1"));
        assert_eq!(client_address(&parts(&[], "/")), None);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for raw in ["", ":", "[", "[]", "[::1", "a:b:c", "host:99999", ":80"] {
            let _ = split_host_port(raw);
        }
        assert_eq!(split_host_port("host:99999"), Some(("host:99999", None)));
    }

    #[test]
    fn scheme_from_proxy_or_uri() {
        assert_eq!(
            scheme(&parts(&[("x-forwarded-proto", "HTTPS")], "/")),
            "https"
        );
        assert_eq!(scheme(&parts(&[], "https://a/")), "https");
        assert_eq!(
            scheme(&parts(&[("x-forwarded-proto", "gopher")], "/")),
            "http"
        );
    }
}
