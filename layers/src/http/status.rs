//! The status code as an `error.type` value, without an allocation per request.

use std::borrow::Cow;
use std::sync::OnceLock;

/// `"100"` … `"999"`, built once.
static CODES: OnceLock<Box<[String]>> = OnceLock::new();

/// `error.type` for an HTTP status code: its three digits (a shared string for every valid
/// code; codes outside 100–999 cannot come from `http::StatusCode` and are formatted).
pub(crate) fn status_error_type(code: u16) -> Cow<'static, str> {
    if !(100..=999).contains(&code) {
        return Cow::Owned(code.to_string());
    }
    let codes = CODES.get_or_init(|| (100..=999u16).map(|c| c.to_string()).collect());
    Cow::Borrowed(codes[usize::from(code - 100)].as_str())
}

#[cfg(test)]
mod tests {
    use super::status_error_type;

    #[test]
    fn every_code_is_its_digits() {
        for code in [100, 404, 500, 503, 599, 999] {
            let s = status_error_type(code);
            assert_eq!(s, code.to_string());
            assert!(matches!(s, std::borrow::Cow::Borrowed(_)), "{code}");
        }
        assert_eq!(status_error_type(1000), "1000");
        assert_eq!(status_error_type(42), "42");
    }
}
