//! Go-compatible text conversions that must match tailscale/hujson byte for byte:
//! decoding a JSON string the way Go's `json.Unmarshal` does, re-encoding it the way
//! `hujson.String` does (RFC 8785 style), and quoting a rune for error messages the way
//! Go's `jsonwire.QuoteRune`/`strconv.QuoteRune` do.
//!
//! Invariants:
//! - invalid UTF-8 becomes one U+FFFD *per offending byte* (Go's `utf8.DecodeRune`
//!   advances one byte on error), unlike Rust's `from_utf8_lossy`, which replaces a whole
//!   maximal invalid subsequence with one U+FFFD;
//! - a lone or mismatched UTF-16 surrogate escape decodes to U+FFFD, as in Go.

/// Decodes the body of a JSON string literal that [`super::scan::scan_string`] has
/// already validated (`lit` includes the quotes).
pub(crate) fn decode_string(lit: &[u8]) -> String {
    let body = &lit[1..lit.len() - 1];
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let run = body[i..]
            .iter()
            .position(|&b| b == b'\\')
            .map_or(body.len(), |p| i + p);
        push_go_lossy(&mut out, &body[i..run]);
        i = run;
        if i >= body.len() {
            break;
        }
        // `body[i]` is a backslash; validation guarantees a well-formed escape.
        let escaped = body.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let ch = match escaped {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(unit) = hex4(body, i) else {
                    out.push(char::REPLACEMENT_CHARACTER);
                    continue;
                };
                i += 4;
                if (0xD800..0xE000).contains(&unit) {
                    let low = (body.get(i) == Some(&b'\\') && body.get(i + 1) == Some(&b'u'))
                        .then(|| hex4(body, i + 2))
                        .flatten();
                    match low {
                        Some(low) if unit < 0xDC00 && (0xDC00..0xE000).contains(&low) => {
                            i += 6;
                            let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                        }
                        _ => char::REPLACEMENT_CHARACTER,
                    }
                } else {
                    char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            other => other as char,
        };
        out.push(ch);
    }
    out
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Appends `bytes`, replacing each byte that does not start a valid UTF-8 sequence with
/// U+FFFD, as Go's decoders do.
pub(crate) fn push_go_lossy(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return;
            }
            Err(err) => {
                let (valid, rest) = bytes.split_at(err.valid_up_to());
                // `valid_up_to` guarantees this prefix is UTF-8.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                bytes = &rest[1..];
            }
        }
    }
}

/// `hujson.String(s)`: the JSON string literal for `s` in RFC 8785 form. Only `"`, `\`
/// and control characters are escaped (`<`, `>`, `&`, U+2028, U+2029 and DEL are not).
pub(crate) fn encode_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut plain_from = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape: &[u8] = match byte {
            b'\x08' => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\x0c' => b"\\f",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            0..0x20 => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[plain_from..i]);
        plain_from = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&s.as_bytes()[plain_from..]);
    out.push(b'"');
}

/// The first character of `bytes` as Go's `jsonwire.QuoteRune` prints it: `'\xff'` for
/// a byte that does not start valid UTF-8, otherwise `strconv.QuoteRune`.
pub(crate) fn quote_rune(bytes: &[u8]) -> String {
    let Some(&first) = bytes.first() else {
        return "'\\x00'".to_owned();
    };
    let head = &bytes[..bytes.len().min(4)];
    let valid_prefix = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(err) => std::str::from_utf8(&head[..err.valid_up_to()]).unwrap_or_default(),
    };
    match valid_prefix.chars().next() {
        Some(ch) => go_quote_rune(ch),
        None => format!("'\\x{first:02x}'"),
    }
}

/// Go's `strconv.QuoteRune`.
fn go_quote_rune(ch: char) -> String {
    let mut out = String::from("'");
    push_go_escaped(&mut out, ch, '\'');
    out.push('\'');
    out
}

/// Go's `strconv.Quote` (and `%q` / `%#v` of a string), as the control plane prints
/// values in its messages. `s` is valid UTF-8, so Go's `\xNN` for invalid bytes never
/// arises.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        push_go_escaped(&mut out, ch, '"');
    }
    out.push('"');
    out
}

/// One character inside Go's quotes (`quote` is `'` or `"`), as `strconv.appendEscapedRune`.
fn push_go_escaped(out: &mut String, ch: char, quote: char) {
    use std::fmt::Write as _;
    match ch {
        _ if ch == quote || ch == '\\' => {
            out.push('\\');
            out.push(ch);
        }
        _ if go_is_print(ch) => out.push(ch),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        _ if (ch as u32) < 0x20 || ch == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", ch as u32);
        }
        _ if (ch as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", ch as u32);
        }
        _ => {
            let _ = write!(out, "\\U{:08x}", ch as u32);
        }
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Rust's `char::escape_debug` leaves exactly those categories unescaped (it
/// escapes Z* but space, and C*) except that it also escapes grapheme extenders at the
/// start of a string, so the character is probed after a leading `a`.
fn go_is_print(ch: char) -> bool {
    if ch.is_ascii() {
        return (' '..='~').contains(&ch);
    }
    let probe: String = ['a', ch].iter().collect();
    probe.escape_debug().eq(probe.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &[u8]) -> String {
        decode_string(s)
    }

    #[test]
    fn decodes_like_go() {
        assert_eq!(decode(br#""a\n\u00e9\/""#), "a\né/");
        assert_eq!(decode(br#""\ud83d\ude02""#), "😂");
        assert_eq!(decode(br#""\ud83d""#), "\u{fffd}");
        assert_eq!(decode(br#""\ud83dx""#), "\u{fffd}x");
        assert_eq!(decode(br#""\ude02\ud83d""#), "\u{fffd}\u{fffd}");
        assert_eq!(decode(br#""\ud83d\u0041""#), "\u{fffd}A");
        // Go replaces each invalid byte separately.
        assert_eq!(decode(b"\"\xe2\x82A\""), "\u{fffd}\u{fffd}A");
        assert_eq!(decode(b"\"\xed\xa0\x80\""), "\u{fffd}\u{fffd}\u{fffd}");
    }

    #[test]
    fn encodes_rfc_8785_style() {
        let mut out = Vec::new();
        encode_string("\u{f}\n/😂<>&\u{2028}\u{7f}\"\\\u{8}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"\\u000f\\n/😂<>&\u{2028}\u{7f}\\\"\\\\\\b\""
        );
    }

    #[test]
    fn quotes_runes_like_go() {
        assert_eq!(quote_rune(b"/x"), "'/'");
        assert_eq!(quote_rune(b"'"), "'\\''");
        assert_eq!(quote_rune(b"\\"), "'\\\\'");
        assert_eq!(quote_rune(b"\xff"), "'\\xff'");
        assert_eq!(quote_rune(b"\xe2\x82"), "'\\xe2'");
        assert_eq!(quote_rune("\u{feff}".as_bytes()), "'\\ufeff'");
        assert_eq!(quote_rune("\u{a0}".as_bytes()), "'\\u00a0'");
        assert_eq!(quote_rune("\u{101234}".as_bytes()), "'\\U00101234'");
        assert_eq!(quote_rune("💩".as_bytes()), "'💩'");
        assert_eq!(quote_rune("é".as_bytes()), "'é'");
        assert_eq!(quote_rune("\u{301}".as_bytes()), "'\u{301}'");
        assert_eq!(quote_rune(b"\x01"), "'\\x01'");
        assert_eq!(quote_rune(b"\x7f"), "'\\x7f'");
        assert_eq!(quote_rune(b"\x0b"), "'\\v'");
    }

    #[test]
    fn quotes_strings_like_go() {
        assert_eq!(go_quote(""), "\"\"");
        assert_eq!(go_quote("a\"b'c\\"), "\"a\\\"b'c\\\\\"");
        assert_eq!(
            go_quote("\u{1b}\t\u{7f}é\u{a0}"),
            "\"\\x1b\\t\\x7fé\\u00a0\""
        );
        assert_eq!(go_quote("tag:сервер"), "\"tag:сервер\"");
    }
}
