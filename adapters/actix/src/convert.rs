//! Actix-web speaks `http` 0.2; towerlight's instruments speak `http` 1. These conversions copy
//! the request head (method, target, version, headers) once per request — the price of one
//! instrument for every framework (see ARCHITECTURE.md).

use actix_web::dev::{RequestHead, ResponseHead, ServiceRequest};
use actix_web::http::header::HeaderMap as ActixHeaders;
use actix_web::http::Version as ActixVersion;

/// An `http` 1 method from Actix's; methods that are not valid tokens become `_OTHER`-bound
/// extension methods byte for byte, never a panic.
pub(crate) fn method(m: &actix_web::http::Method) -> http::Method {
    http::Method::from_bytes(m.as_str().as_bytes()).unwrap_or(http::Method::GET)
}

pub(crate) fn version(v: ActixVersion) -> http::Version {
    match v {
        ActixVersion::HTTP_09 => http::Version::HTTP_09,
        ActixVersion::HTTP_10 => http::Version::HTTP_10,
        ActixVersion::HTTP_2 => http::Version::HTTP_2,
        ActixVersion::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

/// Copies headers; a name or value `http` 1 rejects is skipped (both crates validate the same
/// grammar, so in practice nothing is).
pub(crate) fn headers(from: &ActixHeaders) -> http::HeaderMap {
    headers_where(from, |_| true)
}

/// Copies the headers `keep` selects (by lowercase name).
pub(crate) fn headers_where(from: &ActixHeaders, keep: impl Fn(&str) -> bool) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for (name, value) in from.iter() {
        if !keep(name.as_str()) {
            continue;
        }
        let name = standard_name(name)
            .map(Ok)
            .unwrap_or_else(|| http::HeaderName::from_bytes(name.as_str().as_bytes()));
        if let (Ok(n), Ok(v)) = (name, http::HeaderValue::from_bytes(value.as_bytes())) {
            out.append(n, v);
        }
    }
    out
}

/// The `http` 1 name of the standard headers every request carries that the rules read, found
/// by comparing standard names (a tag each, no bytes) instead of parsing the text again.
fn standard_name(name: &actix_web::http::header::HeaderName) -> Option<http::HeaderName> {
    use actix_web::http::header as actix;
    use http::header;
    if *name == actix::HOST {
        Some(header::HOST)
    } else if *name == actix::USER_AGENT {
        Some(header::USER_AGENT)
    } else if *name == actix::CONTENT_LENGTH {
        Some(header::CONTENT_LENGTH)
    } else if *name == actix::CONTENT_TYPE {
        Some(header::CONTENT_TYPE)
    } else {
        None
    }
}

/// The request head of an Actix request as `http` 1 parts, with the headers `keep` selects;
/// an origin-form target (`/path?query`) only when `target` says it is read.
pub(crate) fn request_parts(
    req: &ServiceRequest,
    keep: impl Fn(&str) -> bool,
    target: bool,
) -> http::request::Parts {
    let head: &RequestHead = req.head();
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method(&head.method);
    if target || !is_origin_form(&head.uri) {
        parts.uri = uri(&head.uri);
    }
    parts.version = version(head.version);
    parts.headers = headers_where(&head.headers, keep);
    parts
}

/// The request target; origin-form targets (the usual case) are parsed from the path and query
/// alone, without formatting the URI first.
pub(crate) fn uri(from: &actix_web::http::Uri) -> http::Uri {
    if is_origin_form(from) {
        let pq = from.path_and_query().map_or("/", |pq| pq.as_str());
        if let Ok(pq) = http::uri::PathAndQuery::try_from(pq) {
            return http::Uri::from(pq);
        }
    }
    http::Uri::try_from(from.to_string()).unwrap_or_default()
}

/// A target of path and query only (`/path?query`, what a request to an origin server
/// carries), as opposed to an absolute-form or authority-form one.
fn is_origin_form(uri: &actix_web::http::Uri) -> bool {
    uri.scheme().is_none() && uri.authority().is_none()
}

/// The response head as `http` 1 parts; headers are copied only when something reads them.
pub(crate) fn response_parts(
    head: &ResponseHead,
    response_headers: &ActixHeaders,
    with_headers: bool,
) -> http::response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = http::StatusCode::from_u16(head.status.as_u16()).unwrap_or(http::StatusCode::OK);
    parts.version = version(head.version);
    if with_headers {
        parts.headers = headers(response_headers);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_methods_convert() {
        let mut h = ActixHeaders::new();
        h.append(
            actix_web::http::header::HeaderName::from_static("x-a"),
            actix_web::http::header::HeaderValue::from_static("1"),
        );
        h.append(
            actix_web::http::header::HeaderName::from_static("x-a"),
            actix_web::http::header::HeaderValue::from_static("2"),
        );
        let out = headers(&h);
        let values: Vec<_> = out.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        let m = actix_web::http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method(&m).as_str(), "PURGE");
        let only = headers_where(&h, |n| n != "x-a");
        assert!(only.is_empty());
    }

    #[test]
    fn standard_names_convert_to_the_same_names() {
        use actix_web::http::header as actix;
        let mut h = ActixHeaders::new();
        for (name, value) in [
            (actix::HOST, "example.com"),
            (actix::USER_AGENT, "ua"),
            (actix::CONTENT_LENGTH, "3"),
            (actix::CONTENT_TYPE, "text/plain"),
            (actix::ACCEPT, "*/*"),
        ] {
            h.insert(name, actix::HeaderValue::from_static(value));
        }
        let out = headers(&h);
        assert_eq!(out.len(), 5);
        for (name, value) in [
            (http::header::HOST, "example.com"),
            (http::header::USER_AGENT, "ua"),
            (http::header::CONTENT_LENGTH, "3"),
            (http::header::CONTENT_TYPE, "text/plain"),
            (http::header::ACCEPT, "*/*"),
        ] {
            assert_eq!(out.get(&name).map(|v| v.as_bytes()), Some(value.as_bytes()));
        }
        let names: Vec<&str> = out.keys().map(|n| n.as_str()).collect();
        assert!(names.contains(&"host") && names.contains(&"content-type"));
    }

    #[test]
    fn uris_convert_with_and_without_origin() {
        let origin_form: actix_web::http::Uri = "/a/b?x=1&y".parse().unwrap();
        assert_eq!(uri(&origin_form), "/a/b?x=1&y");
        let absolute: actix_web::http::Uri = "http://h:8/p?q".parse().unwrap();
        assert_eq!(uri(&absolute), "http://h:8/p?q");
        let star: actix_web::http::Uri = "*".parse().unwrap();
        let _ = uri(&star);
    }
}
