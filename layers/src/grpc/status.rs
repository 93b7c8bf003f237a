//! gRPC status codes: names, parsing, and which codes are errors on which side.

use http::HeaderMap;

/// Status names indexed by code, as `rpc.response.status_code` reports them.
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `OK`.
pub const OK: u16 = 0;
/// `CANCELLED`.
pub const CANCELLED: u16 = 1;
/// `UNKNOWN`.
pub const UNKNOWN: u16 = 2;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u16 = 4;
/// `UNIMPLEMENTED`.
pub const UNIMPLEMENTED: u16 = 12;
/// `INTERNAL`.
pub const INTERNAL: u16 = 13;
/// `UNAVAILABLE`.
pub const UNAVAILABLE: u16 = 14;

/// The name of a status code; codes outside the gRPC set are `UNKNOWN`, as the gRPC spec asks.
pub fn name(code: u16) -> &'static str {
    NAMES.get(usize::from(code)).copied().unwrap_or("UNKNOWN")
}

/// The code, clamped into the known set (unknown codes become `UNKNOWN`).
pub(crate) fn normalize(code: u32) -> u16 {
    u16::try_from(code)
        .ok()
        .filter(|c| usize::from(*c) < NAMES.len())
        .unwrap_or(UNKNOWN)
}

/// `grpc-status` from a header or trailer map, if present and numeric.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<u16> {
    from_value(super::first_named(headers, "grpc-status")?)
}

/// `grpc-status` from its header value: `UNKNOWN` when it is not a number.
pub(crate) fn from_value(value: &http::HeaderValue) -> Option<u16> {
    let value = value.to_str().ok()?.trim();
    value.parse::<u32>().ok().map(normalize).or(Some(UNKNOWN))
}

/// `grpc-status` from the text block of a gRPC-Web trailer frame (`name: value` lines).
pub(crate) fn from_web_trailers(block: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(block).ok()?;
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("grpc-status") {
            return None;
        }
        Some(value.trim().parse::<u32>().map_or(UNKNOWN, normalize))
    })
}

/// Codes that make a *server* span an error (the RPC conventions' list): a server is not at
/// fault for NOT_FOUND, INVALID_ARGUMENT, CANCELLED and the like.
pub(crate) fn is_server_error(code: u16) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The gRPC status a client infers from a non-200 HTTP status (gRPC's HTTP mapping).
pub(crate) fn from_http_status(status: http::StatusCode) -> u16 {
    match status.as_u16() {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502 | 503 | 504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(name(0), "OK");
        assert_eq!(name(16), "UNAUTHENTICATED");
        assert_eq!(name(99), "UNKNOWN");
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(from_headers(&h), Some(5));
        h.insert("grpc-status", "77".parse().unwrap());
        assert_eq!(from_headers(&h), Some(UNKNOWN));
        h.insert("grpc-status", "nope".parse().unwrap());
        assert_eq!(from_headers(&h), Some(UNKNOWN));
    }

    #[test]
    fn web_trailer_blocks() {
        assert_eq!(
            from_web_trailers(b"grpc-status:0\r\ngrpc-message:\r\n"),
            Some(OK)
        );
        assert_eq!(from_web_trailers(b"Grpc-Status: 14\r\n"), Some(UNAVAILABLE));
        assert_eq!(from_web_trailers(b"grpc-message:x\r\n"), None);
        assert_eq!(from_web_trailers(&[0xff, 0xfe]), None);
    }

    #[test]
    fn server_error_set_is_exact() {
        let errors: Vec<&str> = (0..17).filter(|c| is_server_error(*c)).map(name).collect();
        assert_eq!(
            errors,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
    }
}
