//! Byte-level scanning shared by the parser and the formatter: whitespace, comments,
//! string and bare literals, and error construction.
//!
//! Invariants:
//! - every function works on raw bytes and never assumes the input is UTF-8;
//! - acceptance matches tailscale/hujson exactly: whitespace is only space, tab, CR and
//!   LF; a line comment needs its terminating `\n`; literals are validated like Go's
//!   `json.Valid` (which, in Go's v1 JSON, does not check UTF-8 inside strings).

use super::quote::quote_rune;
use crate::syntax::tree::SyntaxError;

pub(crate) const READER: &str = "hujson";

/// The whitespace bytes of RFC 8259 (and of HuJSON: a BOM or form feed is not one).
#[inline]
pub(crate) fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// Length of the run of whitespace at the start of `bytes`.
#[inline]
pub(crate) fn consume_whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| !is_whitespace(b))
        .unwrap_or(bytes.len())
}

/// What [`consume_comment`] found at the start of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comment {
    /// The input does not start with `//` or `/*`.
    None,
    /// A complete comment of this many bytes (a line comment includes its `\n`).
    Complete(usize),
    /// A comment that runs to the end of the input without its terminator.
    Unterminated,
}

pub(crate) fn consume_comment(bytes: &[u8]) -> Comment {
    match bytes {
        [b'/', b'/', body @ ..] => match body.iter().position(|&b| b == b'\n') {
            Some(i) => Comment::Complete(2 + i + 1),
            None => Comment::Unterminated,
        },
        [b'/', b'*', body @ ..] => match body.windows(2).position(|w| w == b"*/") {
            Some(i) => Comment::Complete(2 + i + 2),
            None => Comment::Unterminated,
        },
        _ => Comment::None,
    }
}

/// A scanned string literal: `end` is the offset just past the closing quote.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScannedString {
    pub end: usize,
    pub has_escape: bool,
    pub valid: bool,
}

/// Bytes that stop the fast scan inside a string: `"`, `\` and control characters.
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Scans the string starting at the `"` at `start`, exactly as hujson does: to the next
/// quote not preceded by an escaping backslash. Validity (escapes well-formed, no raw
/// control characters) is judged on the way, without changing where the string ends.
/// `Err(offset)` means the input ended first.
#[inline]
pub(crate) fn scan_string(src: &[u8], start: usize) -> Result<ScannedString, usize> {
    let mut n = start + 1;
    let mut has_escape = false;
    let mut valid = true;
    loop {
        // Fast path: plain bytes, four at a time where possible.
        while n + 4 <= src.len()
            && !STRING_STOP[src[n] as usize]
            && !STRING_STOP[src[n + 1] as usize]
            && !STRING_STOP[src[n + 2] as usize]
            && !STRING_STOP[src[n + 3] as usize]
        {
            n += 4;
        }
        while n < src.len() && !STRING_STOP[src[n] as usize] {
            n += 1;
        }
        let Some(&byte) = src.get(n) else {
            return Err(src.len());
        };
        match byte {
            b'"' => {
                return Ok(ScannedString {
                    end: n + 1,
                    has_escape,
                    valid,
                });
            }
            b'\\' => {
                has_escape = true;
                let Some(&escaped) = src.get(n + 1) else {
                    return Err(src.len());
                };
                match escaped {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex_ok = src
                            .get(n + 2..n + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                        if hex_ok {
                            // Hex digits are plain bytes, so skipping them here ends the
                            // string exactly where hujson's byte-wise scan would.
                            n += 4;
                        } else {
                            valid = false;
                        }
                    }
                    _ => valid = false,
                }
                n += 2;
            }
            _ => {
                // A raw control character: invalid, but the string still ends at the
                // next unescaped quote.
                valid = false;
                n += 1;
            }
        }
    }
}

/// Bytes hujson gathers into a bare literal (null, booleans, numbers, or junk).
#[inline]
pub(crate) fn is_bare_literal_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'+' | b'.')
}

/// Whether a bare literal is `null`, `true`, `false` or an RFC 8259 number.
pub(crate) fn is_valid_bare_literal(lit: &[u8]) -> bool {
    matches!(lit, b"null" | b"true" | b"false") || is_json_number(lit)
}

/// RFC 8259: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`.
pub(crate) fn is_json_number(lit: &[u8]) -> bool {
    let digits = |from: usize| {
        lit.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let mut i = usize::from(lit.first() == Some(&b'-'));
    match lit.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return false,
    }
    if lit.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(lit.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(lit.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == lit.len()
}

/// 1-based line and byte column of `offset`, as hujson computes them.
pub(crate) fn line_column(src: &[u8], offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, 1 + before.len() - line_start)
}

#[cold]
pub(crate) fn error(
    reader: &'static str,
    src: &[u8],
    offset: usize,
    message: String,
) -> SyntaxError {
    let (line, column) = line_column(src, offset);
    SyntaxError {
        reader,
        offset,
        line,
        column,
        message,
    }
}

/// `invalid character 'c' <context>` for the character starting at `offset`.
#[cold]
pub(crate) fn invalid_character(src: &[u8], offset: usize, context: &str) -> SyntaxError {
    let message = format!(
        "invalid character {} {context}",
        quote_rune(&src[offset.min(src.len())..])
    );
    error(READER, src, offset, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_rfc_8259() {
        for ok in [
            "0",
            "-0",
            "1",
            "10",
            "1.5",
            "1e5",
            "1E+5",
            "1e-5",
            "-1.25e10",
            "3.14159E+435",
        ] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "--1", "1.2.3", "0x10", "NaN", "1-",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn comments_need_terminators() {
        assert_eq!(consume_comment(b"// x\ny"), Comment::Complete(5));
        assert_eq!(consume_comment(b"// x"), Comment::Unterminated);
        assert_eq!(consume_comment(b"/* x */y"), Comment::Complete(7));
        assert_eq!(consume_comment(b"/*/"), Comment::Unterminated);
        assert_eq!(consume_comment(b"/**/"), Comment::Complete(4));
        assert_eq!(consume_comment(b"/ x"), Comment::None);
    }

    #[test]
    fn string_scan_ends_where_hujson_does() {
        let s = br#""a\"b" x"#;
        let scanned = scan_string(s, 0).unwrap();
        assert_eq!(
            (scanned.end, scanned.has_escape, scanned.valid),
            (6, true, true)
        );
        // A bad \u escape does not swallow the closing quote.
        let scanned = scan_string(br#""\u12" "#, 0).unwrap();
        assert_eq!((scanned.end, scanned.valid), (6, false));
        // Raw control characters are invalid but do not end the string.
        let scanned = scan_string(b"\"a\nb\"", 0).unwrap();
        assert_eq!((scanned.end, scanned.valid), (5, false));
        assert_eq!(scan_string(b"\"abc\\", 0).unwrap_err(), 5);
        // Invalid UTF-8 is accepted, as Go's v1 json.Valid does.
        assert!(scan_string(b"\"\xff\"", 0).unwrap().valid);
    }

    #[test]
    fn line_column_counts_bytes() {
        assert_eq!(line_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nxé!".as_bytes(), 6), (2, 4));
        assert_eq!(line_column(b"", 0), (1, 1));
    }
}
