//! `server.address` / `server.port` and `client.address` from the request head.
//!
//! Precedence follows the HTTP semantic conventions: for the server, `Forwarded: host=`,
//! `X-Forwarded-Host`, the request target's authority (HTTP/2 `:authority`), then `Host`; for the
//! client, `Forwarded: for=`, the first `X-Forwarded-For` entry, then the connection's peer. These
//! values are client-controlled, so they go on spans only, never on metrics.

use http::header::{HeaderMap, HeaderValue};
use http::request::Parts;

/// The request headers the HTTP rules read, found in one pass over the header map (cheaper than
/// one hashed lookup per name, which is what made this the costliest part of a request's start).
/// Only the first value of each is kept. Its texts come from `HeaderValue::to_str` (visible
/// ASCII) or an authority, so trimming them is an ASCII trim (`trim_ascii`: no UTF-8 decoding).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HeadScan<'a> {
    forwarded: Option<&'a str>,
    x_forwarded_host: Option<&'a str>,
    x_forwarded_for: Option<&'a str>,
    x_forwarded_proto: Option<&'a str>,
    host: Option<&'a str>,
    /// `User-Agent`, raw.
    pub(crate) user_agent: Option<&'a HeaderValue>,
    /// `Content-Length`, parsed.
    pub(crate) content_length: Option<u64>,
    /// `Content-Type`, raw (what tells gRPC apart).
    pub(crate) content_type: Option<&'a HeaderValue>,
    /// `Upgrade`, raw.
    upgrade: Option<&'a HeaderValue>,
    /// `grpc-timeout`, raw.
    pub(crate) grpc_timeout: Option<&'a HeaderValue>,
    /// Whether `Sec-WebSocket-Version` is present.
    websocket_version: bool,
    /// The propagation headers: whether a propagator has anything to extract, and the one
    /// `traceparent`.
    pub(crate) context: crate::propagation::ContextFields<'a>,
}

impl<'a> HeadScan<'a> {
    pub(crate) fn new(headers: &'a HeaderMap) -> HeadScan<'a> {
        fn set<'a>(slot: &mut Option<&'a str>, value: &'a HeaderValue) {
            if slot.is_none() {
                *slot = value.to_str().ok();
            }
        }
        fn first<'a>(slot: &mut Option<&'a HeaderValue>, value: &'a HeaderValue) {
            slot.get_or_insert(value);
        }
        use http::header;
        let mut scan = HeadScan::default();
        for (name, value) in headers {
            // Standard names compare as their enum tag, no bytes read; the rest by text.
            if name == header::HOST {
                set(&mut scan.host, value);
            } else if name == header::USER_AGENT {
                first(&mut scan.user_agent, value);
            } else if name == header::CONTENT_LENGTH {
                if scan.content_length.is_none() {
                    scan.content_length = header_u64(value);
                }
            } else if name == header::CONTENT_TYPE {
                first(&mut scan.content_type, value);
            } else if name == header::FORWARDED {
                set(&mut scan.forwarded, value);
            } else if name == header::UPGRADE {
                first(&mut scan.upgrade, value);
            } else if name == header::SEC_WEBSOCKET_VERSION {
                scan.websocket_version = true;
            } else {
                match name.as_str() {
                    "x-forwarded-host" => set(&mut scan.x_forwarded_host, value),
                    "x-forwarded-for" => set(&mut scan.x_forwarded_for, value),
                    "x-forwarded-proto" => set(&mut scan.x_forwarded_proto, value),
                    "grpc-timeout" => first(&mut scan.grpc_timeout, value),
                    other => scan.context.note(other, value),
                }
            }
        }
        scan
    }

    /// Whether the request is gRPC (see [`crate::grpc::is_grpc`]).
    pub(crate) fn is_grpc(&self) -> bool {
        crate::grpc::is_grpc_content_type(self.content_type)
    }

    /// Whether the request asks to become a WebSocket: HTTP/1.1 `Upgrade: websocket`, or an
    /// HTTP/2 extended CONNECT (RFC 8441). The `:protocol` pseudo-header is a hyper/h2 type we
    /// do not depend on; a CONNECT carrying `Sec-WebSocket-Version` (which RFC 8441 requires)
    /// is the WebSocket bootstrap — a tunnel or another protocol never carries it.
    pub(crate) fn is_websocket_upgrade(&self, parts: &Parts) -> bool {
        let h2_bootstrap = parts.method == http::Method::CONNECT
            && parts.version >= http::Version::HTTP_2
            && self.websocket_version;
        h2_bootstrap
            || self
                .upgrade
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case("websocket"))
    }

    /// The `host[:port]` the client asked for, split.
    pub(crate) fn server_address(&self, parts: &'a Parts) -> Option<(&'a str, Option<u16>)> {
        let raw = self
            .forwarded_param("host")
            .or_else(|| first_list_value(self.x_forwarded_host))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .or(self.host)?;
        split_host_port(raw.trim_ascii())
    }

    /// The original client's address from forwarding headers (the caller falls back to the peer).
    pub(crate) fn client_address(&self) -> Option<&'a str> {
        let raw = self
            .forwarded_param("for")
            .or_else(|| first_list_value(self.x_forwarded_for))?;
        split_host_port(raw.trim_ascii()).map(|(h, _)| h)
    }

    /// `https` or `http` as the client used it: what a proxy said, else the absolute target's
    /// scheme, else whether this connection is TLS (`secure`, known only to the server).
    pub(crate) fn scheme(&self, parts: &Parts, secure: bool) -> &'static str {
        let forwarded = self
            .forwarded_param("proto")
            .or_else(|| first_list_value(self.x_forwarded_proto));
        match forwarded.or_else(|| parts.uri.scheme_str()) {
            Some(v) if v.eq_ignore_ascii_case("https") => "https",
            Some(_) => "http",
            None if secure => "https",
            None => "http",
        }
    }

    /// A parameter of the first `Forwarded` element (RFC 7239), unquoted.
    fn forwarded_param(&self, param: &str) -> Option<&'a str> {
        let first = self.forwarded?.split(',').next()?;
        first.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            if !k.trim_ascii().eq_ignore_ascii_case(param) {
                return None;
            }
            let v = v.trim_ascii();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (!v.is_empty()).then_some(v)
        })
    }
}

fn first_list_value(value: Option<&str>) -> Option<&str> {
    value
        .and_then(|v| v.split(',').next())
        .map(str::trim_ascii)
        .filter(|v| !v.is_empty())
}

/// An IP address as a shared string: the thread's last peer address when it is the same
/// ([`super::recent`]), else allocated once. IPv4 is formatted on the stack, without `fmt`
/// (the common case on the hot path); IPv4-mapped IPv6 peers (dual-stack sockets) are shown as
/// IPv4.
pub(crate) fn ip_arc(ip: std::net::IpAddr) -> std::sync::Arc<str> {
    super::recent::peer_text(ip, |ip| ip_text(ip, |s| std::sync::Arc::from(s)))
}

/// Hands the text of `ip` to `make`: IPv4 formatted on the stack, IPv6 through `fmt`.
fn ip_text<T>(ip: std::net::IpAddr, make: impl FnOnce(&str) -> T) -> T {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                for (digit, shown) in [
                    (octet / 100, octet >= 100),
                    ((octet / 10) % 10, octet >= 10),
                ] {
                    if shown {
                        buf[len] = b'0' + digit;
                        len += 1;
                    }
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            make(std::str::from_utf8(&buf[..len]).unwrap_or_default())
        }
        v6 => make(&v6.to_string()),
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address has no port.
/// Searched on bytes: `str`'s pattern searchers cost several times more on values this short,
/// and `:`, `[` and `]` are ASCII, so every cut is at a character boundary.
pub(crate) fn split_host_port(raw: &str) -> Option<(&str, Option<u16>)> {
    let bytes = raw.as_bytes();
    match bytes.first()? {
        b'[' => {
            let close = bytes.iter().position(|&b| b == b']')?;
            let port = match bytes.get(close + 1) {
                Some(b':') => raw[close + 2..].parse().ok(),
                _ => None,
            };
            Some((&raw[1..close], port))
        }
        // Plain loops, not `contains`/`parse`: on a `host:port` of a few bytes the vectorised
        // search and the generic integer parser cost more than the walk itself.
        #[allow(clippy::manual_contains)]
        _ => match bytes.iter().rposition(|&b| b == b':') {
            // More than one ':' without brackets: a bare IPv6 address.
            Some(colon) if bytes[..colon].iter().any(|&b| b == b':') => Some((raw, None)),
            Some(colon) => match parse_port(&bytes[colon + 1..]) {
                Some(p) if colon > 0 => Some((&raw[..colon], Some(p))),
                _ => Some((raw, None)),
            },
            None => Some((raw, None)),
        },
    }
}

/// A port as `u16::from_str` reads it (decimal digits, an optional leading `+`, at most
/// 65535), on bytes.
fn parse_port(digits: &[u8]) -> Option<u16> {
    decimal(digits, u64::from(u16::MAX)).and_then(|p| u16::try_from(p).ok())
}

/// A header value as `to_str`, `trim` and `u64::from_str` read it (a `Content-Length`), on
/// bytes: a valid `str` of a header value is visible ASCII, so its `trim` is an ASCII trim and
/// any other byte fails the digit test as it fails `to_str`.
pub(crate) fn header_u64(value: &HeaderValue) -> Option<u64> {
    decimal(value.as_bytes().trim_ascii(), u64::MAX)
}

/// Decimal digits with an optional leading `+`, at most `max`, as `from_str` reads them.
fn decimal(digits: &[u8], max: u64) -> Option<u64> {
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
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

    fn server_address(p: &Parts) -> Option<(&str, Option<u16>)> {
        HeadScan::new(&p.headers).server_address(p)
    }

    fn client_address(p: &Parts) -> Option<&str> {
        HeadScan::new(&p.headers).client_address()
    }

    fn scheme(p: &Parts) -> &'static str {
        HeadScan::new(&p.headers).scheme(p, false)
    }

    #[test]
    fn header_numbers_read_as_the_standard_parser_reads_them() {
        let old = |v: &HeaderValue| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok());
        let samples: &[&[u8]] = &[
            b"0",
            b"12",
            b" 12 ",
            b"\t7\t",
            b"+3",
            b"++3",
            b"-1",
            b"",
            b" ",
            b"1 2",
            b"12a",
            b"18446744073709551615",
            b"18446744073709551616",
            b"99999999999999999999",
            b"\x801",
            b"1\xff",
            b"007",
        ];
        for raw in samples {
            let v = HeaderValue::from_bytes(raw).unwrap();
            assert_eq!(header_u64(&v), old(&v), "{raw:?}");
        }
        for port in ["0", "65535", "65536", "+80", "8o", ""] {
            assert_eq!(parse_port(port.as_bytes()), port.parse().ok(), "{port}");
        }
    }

    #[test]
    fn scan_keeps_first_values() {
        let p = parts(
            &[
                ("user-agent", "a"),
                ("user-agent", "b"),
                ("content-length", " 12 "),
                ("host", "h"),
            ],
            "/",
        );
        let scan = HeadScan::new(&p.headers);
        assert_eq!(scan.user_agent.unwrap(), "a");
        assert_eq!(scan.content_length, Some(12));
        assert_eq!(scan.host, Some("h"));
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
        let p = parts(&[("host", "h:1")], "http://abs.example:81/x");
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
        let cases = [
            ("", None),
            (":", Some((":", None))),
            ("[", None),
            ("[]", Some(("", None))),
            ("[::1", None),
            ("[::1]", Some(("::1", None))),
            ("[::1]:8080", Some(("::1", Some(8080)))),
            ("[::1]x", Some(("::1", None))),
            ("[::1]:", Some(("::1", None))),
            ("a:b:c", Some(("a:b:c", None))),
            ("::1", Some(("::1", None))),
            (":80", Some((":80", None))),
            ("h:80", Some(("h", Some(80)))),
            ("h:", Some(("h:", None))),
            ("é.example:443", Some(("é.example", Some(443)))),
            ("host", Some(("host", None))),
        ];
        for (raw, want) in cases {
            assert_eq!(split_host_port(raw), want, "{raw}");
        }
    }

    #[test]
    fn ports_read_as_from_str_reads_them() {
        for raw in [
            "",
            "+",
            "0",
            "80",
            "+80",
            "0080",
            "65535",
            "65536",
            "99999",
            "8a",
            "-1",
            "١٢",
            "000000000000000443",
            "++1",
        ] {
            assert_eq!(parse_port(raw.as_bytes()), raw.parse().ok(), "{raw:?}");
        }
    }

    #[test]
    fn ip_strings_match_display() {
        use std::net::IpAddr;
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "192.168.100.1",
            "::1",
            "2001:db8::7",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(&*ip_arc(parsed), parsed.to_string());
        }
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(&*ip_arc(mapped), "1.2.3.4");
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
