//! How far a response body has got, against what its head promised: servers stop polling (or
//! drop) a body once everything promised went out, without a final frame, so a call must know
//! when it is complete. One rule for server and client calls.

use http::{HeaderMap, Method, StatusCode};

/// How much response body to expect, from the request method, the status and the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A body of unknown length (chunked, streamed).
    Open,
    /// No body: HEAD, 1xx, 204, 304.
    Nothing,
    /// Exactly this many bytes (`Content-Length`).
    Bytes(u64),
}

/// The response body's progress for one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyProgress {
    head_request: bool,
    /// `None` until the response head is seen.
    expected: Option<Expected>,
    bytes: u64,
}

impl BodyProgress {
    pub(crate) fn new(method: &Method) -> BodyProgress {
        BodyProgress {
            head_request: method == Method::HEAD,
            expected: None,
            bytes: 0,
        }
    }

    /// The response head: what the body will carry.
    pub(crate) fn on_head(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.on_head_sized(status, headers, None);
    }

    /// [`on_head`](Self::on_head) with the body's exact length when the framework knows it
    /// without a `Content-Length` header: it counts as that header would.
    pub(crate) fn on_head_sized(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        length: Option<u64>,
    ) {
        let code = status.as_u16();
        self.expected = Some(
            if self.head_request || status.is_informational() || code == 204 || code == 304 {
                Expected::Nothing
            } else {
                length
                    .or_else(|| {
                        headers
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(crate::common::address::header_u64)
                    })
                    .map_or(Expected::Open, Expected::Bytes)
            },
        );
    }

    /// Body bytes went through.
    pub(crate) fn on_bytes(&mut self, n: u64) {
        self.bytes += n;
    }

    /// Body bytes so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The head was seen and everything it promised went through.
    pub(crate) fn is_complete(&self) -> bool {
        match self.expected {
            None | Some(Expected::Open) => false,
            Some(Expected::Nothing) => true,
            Some(Expected::Bytes(n)) => self.bytes >= n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(len: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(len) = len {
            h.insert(http::header::CONTENT_LENGTH, len.parse().unwrap());
        }
        h
    }

    #[test]
    fn completion_rules() {
        let mut p = BodyProgress::new(&Method::GET);
        assert!(!p.is_complete(), "no head yet");
        p.on_head(StatusCode::OK, &head(Some("3")));
        p.on_bytes(2);
        assert!(!p.is_complete());
        p.on_bytes(1);
        assert!(p.is_complete());
        let mut p = BodyProgress::new(&Method::HEAD);
        p.on_head(StatusCode::OK, &head(Some("100")));
        assert!(p.is_complete());
        for code in [204, 304, 101] {
            let mut p = BodyProgress::new(&Method::GET);
            p.on_head(StatusCode::from_u16(code).unwrap(), &head(None));
            assert!(p.is_complete(), "{code}");
        }
        let mut p = BodyProgress::new(&Method::GET);
        p.on_head(StatusCode::OK, &head(Some("nope")));
        p.on_bytes(10);
        assert!(!p.is_complete(), "unknown length stays open");
        // A length the framework declares counts as the header.
        let mut p = BodyProgress::new(&Method::GET);
        p.on_head_sized(StatusCode::OK, &head(None), Some(2));
        p.on_bytes(2);
        assert!(p.is_complete());
        let mut p = BodyProgress::new(&Method::HEAD);
        p.on_head_sized(StatusCode::OK, &head(None), Some(2));
        assert!(p.is_complete(), "HEAD: nothing, whatever the length");
    }
}
