//! Allocation-free hexadecimal parsing and formatting for trace and span ids.

/// Every byte's value as a hex digit, or [`NOT_HEX`]: lowercase only, or either case.
const fn digit_table(upper: bool) -> [u8; 256] {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' if upper => d - b'A' + 10,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
}

/// A table entry for a byte that is not a hex digit (any high bit marks it).
const NOT_HEX: u8 = 0xff;
/// Lowercase hex digits (`0-9a-f`).
const LOWER: [u8; 256] = digit_table(false);
/// Hex digits of either case (`0-9a-fA-F`).
const ANY: [u8; 256] = digit_table(true);

/// Value of one hex digit of either case (`0-9a-fA-F`).
#[inline]
pub(super) fn any_nibble(b: u8) -> Option<u8> {
    let n = ANY[usize::from(b)];
    (n != NOT_HEX).then_some(n)
}

/// The digits' value, or `None` when one is not in `table` (`upper`: whether it takes
/// uppercase letters). Whole groups of eight — the 32 digits of a trace id, the 16 of a span id —
/// go eight at a time ([`eight`]); other lengths a digit at a time, branch-free (a table load, a
/// shift and an `or`; a bad digit only marks the result): the range matches and early exits
/// that replaced cost about twice as much on a `traceparent`. (Folding in two 64-bit halves
/// instead of one `u128` was measured: +170 instructions on a `traceparent`.)
#[inline(always)]
fn fold(digits: &[u8], table: &[u8; 256], upper: bool) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    if digits.len().is_multiple_of(8) {
        let mut value = 0u128;
        for group in digits.chunks_exact(8) {
            let group = <[u8; 8]>::try_from(group).ok()?;
            value = (value << 32) | u128::from(eight(group, upper)?);
        }
        return Some(value);
    }
    let mut value = 0u128;
    let mut marks = 0u8;
    for &b in digits {
        let n = table[usize::from(b)];
        marks |= n;
        value = (value << 4) | u128::from(n & 0xf);
    }
    (marks & 0xf0 == 0).then_some(value)
}

/// Eight hex digits' value (lowercase, or either case when `upper`), or `None`: all eight
/// bytes checked and converted at once in one 64-bit word, about three instructions a digit
/// where the table fold takes nine.
///
/// Below `0x80`, adding `0x80 - lo` to a byte sets its high bit when the byte is at least `lo`,
/// and adding `0x7f - hi` when it is above `hi`; no sum reaches `0x100`, so no carry crosses
/// into the next byte (a byte with the high bit already set is rejected first). A digit's
/// value is its low nibble, a letter's its low nibble plus 9; three shift-or steps then pack
/// the eight nibbles, first digit highest.
#[inline(always)]
fn eight(digits: [u8; 8], upper: bool) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let x = u64::from_be_bytes(digits);
    if x & HIGH != 0 {
        return None;
    }
    let within = |lo: u64, hi: u64| (x + ONES * (0x80 - lo)) & !(x + ONES * (0x7f - hi)) & HIGH;
    let digit = within(u64::from(b'0'), u64::from(b'9'));
    let mut letter = within(u64::from(b'a'), u64::from(b'f'));
    if upper {
        letter |= within(u64::from(b'A'), u64::from(b'F'));
    }
    if digit | letter != HIGH {
        return None;
    }
    let mut v = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    v = ((v >> 4) | v) & 0x00ff_00ff_00ff_00ff;
    v = ((v >> 8) | v) & 0x0000_ffff_0000_ffff;
    v = ((v >> 16) | v) & 0xffff_ffff;
    u32::try_from(v).ok()
}

/// Parses 1 to 32 lowercase hex digits. Anything else is `None`.
#[inline]
pub(super) fn lower_u128(digits: &[u8]) -> Option<u128> {
    fold(digits, &LOWER, false)
}

/// Parses 1 to 32 hex digits of either case. Anything else is `None`.
#[inline]
pub(super) fn any_case_u128(digits: &[u8]) -> Option<u128> {
    fold(digits, &ANY, true)
}

/// Both lowercase hex digits of every byte value, built at compile time.
const PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    pairs
};

/// Writes `bytes` as lowercase hex into `out`, two digits a byte (as far as `out` reaches).
/// Both digits of a byte come from one table entry, copied as one: a digit at a time (two
/// lookups, two shifts and masks) cost twice as much, shifting a `u128` a nibble at a time
/// more, and pushing `char`s one at a time a capacity check and a UTF-8 encoding each.
pub(super) fn write_lower(out: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
}

/// Appends `bytes` (an id: at most 16) as lowercase hex, written on the stack first.
pub(super) fn push_lower(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 32];
    let n = (bytes.len() * 2).min(buf.len());
    write_lower(&mut buf[..n], bytes);
    // Hex digits are ASCII: always valid.
    out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lowercase() {
        assert_eq!(lower_u128(b"0"), Some(0));
        assert_eq!(lower_u128(b"ff"), Some(255));
        assert_eq!(lower_u128(&[b'f'; 32]), Some(u128::MAX));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(lower_u128(b""), None);
        assert_eq!(lower_u128(b"FF"), None);
        assert_eq!(lower_u128(b"0x"), None);
        assert_eq!(lower_u128(b"+1"), None);
        assert_eq!(lower_u128(&[b'1'; 33]), None);
        assert_eq!(any_case_u128(&[b'1'; 33]), None);
        assert_eq!(any_case_u128(b"g"), None);
    }

    #[test]
    fn any_case_accepts_upper() {
        assert_eq!(any_case_u128(b"aF"), Some(0xaf));
    }

    #[test]
    fn formats_padded() {
        let mut s = String::new();
        push_lower(&mut s, &[0x00, 0x0a, 0xbc]);
        assert_eq!(s, "000abc");
        s.clear();
        push_lower(&mut s, &[0xff; 16]);
        assert_eq!(s, "f".repeat(32));
        let mut buf = *b"--------";
        write_lower(&mut buf[2..6], &[0x9f, 0x01, 0xee]);
        assert_eq!(&buf, b"--9f01--", "only as far as the slice reaches");
    }

    #[test]
    fn digits_parse_as_from_str_radix_reads_them() {
        let cases = [
            "0",
            "f",
            "F",
            "09af",
            "09AF",
            "g",
            "-1",
            "+1",
            " 1",
            "é",
            "ffffffffffffffffffffffffffffffff",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "0x1f",
            "1:2",
            // Either side of 64 bits, and a bad digit in each half.
            "00f067aa0ba902b7",
            "10000000000000000",
            "0123456789abcdef0",
            "g0000000000000000000",
            "0000000000000000000000000000000g",
        ];
        for raw in cases {
            let radix = || {
                u128::from_str_radix(raw, 16)
                    .ok()
                    .filter(|_| !raw.starts_with('+'))
            };
            let lower = radix().filter(|_| !raw.bytes().any(|b| b.is_ascii_uppercase()));
            assert_eq!(lower_u128(raw.as_bytes()), lower, "lower {raw:?}");
            assert_eq!(any_case_u128(raw.as_bytes()), radix(), "any {raw:?}");
        }
        for b in 0..=255u8 {
            let want = (b as char)
                .to_digit(16)
                .map(|d| d as u8)
                .filter(|_| b.is_ascii());
            assert_eq!(any_nibble(b), want, "{b}");
        }
    }

    /// The value of `digits` a digit at a time, through the table.
    fn by_table(digits: &[u8], upper: bool) -> Option<u32> {
        let table = if upper { &ANY } else { &LOWER };
        digits.iter().try_fold(0u32, |v, &b| {
            let n = table[usize::from(b)];
            (n != NOT_HEX).then_some((v << 4) | u32::from(n))
        })
    }

    #[test]
    fn eight_at_once_reads_every_byte_as_the_table_does() {
        let bases: [&[u8; 8]; 4] = [b"0123abcd", b"4567ef89", b"ABCDEF01", b"fFfF9a0A"];
        for upper in [false, true] {
            for base in bases {
                assert_eq!(eight(*base, upper), by_table(base, upper), "{base:?}");
                for at in 0..8 {
                    for b in 0..=255u8 {
                        let mut digits = *base;
                        digits[at] = b;
                        assert_eq!(
                            eight(digits, upper),
                            by_table(&digits, upper),
                            "{digits:?} upper={upper}"
                        );
                    }
                }
            }
        }
        // Neighbours of every range's edges, in every byte at once.
        for b in [b'/', b':', b'@', b'G', b'`', b'g', 0x7f, 0x80, 0xff, 0x00] {
            assert_eq!(eight([b; 8], true), None, "{b}");
        }
        assert_eq!(eight(*b"ffffffff", false), Some(u32::MAX));
        assert_eq!(eight(*b"00000000", false), Some(0));
    }

    #[test]
    fn every_byte_is_its_two_digits() {
        let all: Vec<u8> = (0..=255).collect();
        let mut s = String::new();
        for chunk in all.chunks(16) {
            push_lower(&mut s, chunk);
        }
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s, want);
    }
}
