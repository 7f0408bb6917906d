//! JSON5 (<https://spec.json5.org>) into the same span tree as HuJSON, for the intents
//! file.
//!
//! Hand-written rather than using the `json5` crate because we need byte spans for every
//! value, key and comment (for diagnostics that point into the file) and bounded,
//! non-recursive parsing; the crates deserialize straight into Rust types and give
//! neither.
//!
//! Accepted beyond JSON: `//` and `/* */` comments (a line comment may end the file);
//! trailing commas; unquoted keys (identifier names: letters, digits, `$`, `_`, not
//! starting with a digit); single-quoted strings; the escapes `\'`, `\v`, `\0`, `\xHH`,
//! line continuations and "non-escape" characters (`\q` is `q`); hexadecimal numbers,
//! leading or trailing decimal points, an explicit `+`, `Infinity` and `NaN`; the extra
//! whitespace characters of the spec (NBSP, BOM, U+2028, U+2029, other Zs).
//!
//! Invariants:
//! - the input must be UTF-8 (checked once up front), so every span is on a char
//!   boundary; columns still count bytes, like the HuJSON reader's;
//! - numbers are stored exactly as written (e.g. `0x1F`, `+.5`, `-Infinity`);
//! - lone UTF-16 surrogate escapes decode to U+FFFD, since a Rust `String` cannot hold
//!   them;
//! - parsing is iterative and refuses to nest deeper than [`MAX_DEPTH`].

use crate::syntax::hujson::quote::quote_rune;
use crate::syntax::hujson::scan::error;
use crate::syntax::tree::{Document, Kind, MAX_DEPTH, Member, Span, SyntaxError, Value};

const READER: &str = "json5";

/// Parses a JSON5 document into the span tree.
pub fn parse(src: &[u8]) -> Result<Document, SyntaxError> {
    let text = match std::str::from_utf8(src) {
        Ok(text) => text,
        Err(e) => {
            return Err(error(
                READER,
                src,
                e.valid_up_to(),
                "invalid UTF-8".to_owned(),
            ));
        }
    };
    if u32::try_from(src.len()).is_err() {
        return Err(error(
            READER,
            src,
            0,
            format!("input too large ({} bytes; at most 4 GiB)", src.len()),
        ));
    }
    let mut parser = Parser {
        src,
        text,
        pos: 0,
        comments: Vec::new(),
    };
    let root = parser.document()?;
    Ok(Document {
        root,
        comments: parser.comments,
    })
}

struct Parser<'a> {
    src: &'a [u8],
    /// `src` as text (it is checked to be UTF-8 up front).
    text: &'a str,
    pos: usize,
    comments: Vec<Span>,
}

enum Frame {
    Array {
        start: usize,
        items: Vec<Value>,
    },
    Object {
        start: usize,
        members: Vec<Member>,
        /// The key whose value is being parsed.
        key: Option<(String, Span)>,
    },
}

/// What the parser expects next inside the current composite.
enum Expect {
    /// A value (or `]` right after `[` or `,` in an array).
    Value,
    /// An object key (or `}` right after `{` or `,`).
    Key,
}

impl Parser<'_> {
    fn err(&self, offset: usize, message: impl Into<String>) -> SyntaxError {
        error(READER, self.src, offset, message.into())
    }

    fn invalid_character(&self, offset: usize, context: &str) -> SyntaxError {
        let message = format!(
            "invalid character {} {context}",
            quote_rune(&self.src[offset..])
        );
        self.err(offset, message)
    }

    /// The character starting at `offset` (`None` at the end or inside a character).
    fn char_at(&self, offset: usize) -> Option<char> {
        self.text.get(offset..)?.chars().next()
    }

    fn document(&mut self) -> Result<Value, SyntaxError> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut expect = Expect::Value;
        loop {
            self.skip_trivia()?;
            let mut value = match expect {
                Expect::Value => {
                    let Some(&byte) = self.src.get(self.pos) else {
                        return Err(
                            self.err(self.pos, "unexpected end of input (expecting a value)")
                        );
                    };
                    match byte {
                        b'{' | b'[' => {
                            if stack.len() >= MAX_DEPTH {
                                return Err(self
                                    .err(self.pos, format!("exceeded max depth of {MAX_DEPTH}")));
                            }
                            let start = self.pos;
                            self.pos += 1;
                            if byte == b'{' {
                                stack.push(Frame::Object {
                                    start,
                                    members: Vec::new(),
                                    key: None,
                                });
                                expect = Expect::Key;
                            } else {
                                stack.push(Frame::Array {
                                    start,
                                    items: Vec::new(),
                                });
                            }
                            continue;
                        }
                        b']' if matches!(stack.last(), Some(Frame::Array { .. })) => {
                            let Some(Frame::Array { start, items }) = stack.pop() else {
                                unreachable!("checked above");
                            };
                            self.pos += 1;
                            array(start, self.pos, items)
                        }
                        _ => self.scalar()?,
                    }
                }
                Expect::Key => {
                    if self.src.get(self.pos) == Some(&b'}') {
                        let Some(Frame::Object { start, members, .. }) = stack.pop() else {
                            unreachable!("keys are only expected inside objects");
                        };
                        self.pos += 1;
                        object(start, self.pos, members)
                    } else {
                        let key = self.key()?;
                        self.skip_trivia()?;
                        match self.src.get(self.pos) {
                            Some(b':') => self.pos += 1,
                            Some(_) => {
                                return Err(self.invalid_character(
                                    self.pos,
                                    "after object key (expecting ':')",
                                ));
                            }
                            None => {
                                return Err(
                                    self.err(self.pos, "unexpected end of input (expecting ':')")
                                );
                            }
                        }
                        if let Some(Frame::Object { key: slot, .. }) = stack.last_mut() {
                            *slot = Some(key);
                        }
                        expect = Expect::Value;
                        continue;
                    }
                }
            };

            // A complete value: give it to its parent; closing a composite completes
            // another value, hence the loop.
            loop {
                self.skip_trivia()?;
                let next = self.src.get(self.pos).copied();
                match stack.last_mut() {
                    None => {
                        if next.is_some() {
                            return Err(self.invalid_character(self.pos, "after top-level value"));
                        }
                        return Ok(value);
                    }
                    Some(Frame::Array { items, .. }) => {
                        items.push(value);
                        match next {
                            Some(b',') => {
                                self.pos += 1;
                                expect = Expect::Value;
                                break;
                            }
                            Some(b']') => {
                                let Some(Frame::Array { start, items }) = stack.pop() else {
                                    unreachable!("the top frame is this array");
                                };
                                self.pos += 1;
                                value = array(start, self.pos, items);
                            }
                            Some(_) => {
                                return Err(self.invalid_character(
                                    self.pos,
                                    "after array value (expecting ',' or ']')",
                                ));
                            }
                            None => {
                                return Err(self.err(
                                    self.pos,
                                    "unexpected end of input (expecting ',' or ']')",
                                ));
                            }
                        }
                    }
                    Some(Frame::Object { members, key, .. }) => {
                        let (key, key_span) = key.take().unwrap_or_default();
                        members.push(Member {
                            key,
                            key_span,
                            value,
                        });
                        match next {
                            Some(b',') => {
                                self.pos += 1;
                                expect = Expect::Key;
                                break;
                            }
                            Some(b'}') => {
                                let Some(Frame::Object { start, members, .. }) = stack.pop() else {
                                    unreachable!("the top frame is this object");
                                };
                                self.pos += 1;
                                value = object(start, self.pos, members);
                            }
                            Some(_) => {
                                return Err(self.invalid_character(
                                    self.pos,
                                    "after object value (expecting ',' or '}')",
                                ));
                            }
                            None => {
                                return Err(self.err(
                                    self.pos,
                                    "unexpected end of input (expecting ',' or '}')",
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            let Some(&byte) = self.src.get(self.pos) else {
                return Ok(());
            };
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => self.pos += 1,
                b'/' => match self.src.get(self.pos + 1) {
                    Some(b'/') => {
                        let start = self.pos;
                        let mut end = self.pos + 2;
                        while end < self.src.len() && !self.is_line_terminator_at(end) {
                            end += 1;
                        }
                        self.comments.push(Span::new(start, end));
                        self.pos = end;
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        let Some(len) = self.src[start + 2..].windows(2).position(|w| w == b"*/")
                        else {
                            return Err(self.err(start, "unterminated comment"));
                        };
                        let end = start + 2 + len + 2;
                        self.comments.push(Span::new(start, end));
                        self.pos = end;
                    }
                    _ => return Ok(()),
                },
                0x80.. => match self.char_at(self.pos) {
                    Some(ch) if is_json5_space(ch) => self.pos += ch.len_utf8(),
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    fn is_line_terminator_at(&self, offset: usize) -> bool {
        match self.src[offset] {
            b'\n' | b'\r' => true,
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9.
            0xE2 => matches!(
                self.src.get(offset + 1..offset + 3),
                Some([0x80, 0xA8 | 0xA9])
            ),
            _ => false,
        }
    }

    /// A string key or an identifier name.
    fn key(&mut self) -> Result<(String, Span), SyntaxError> {
        let start = self.pos;
        match self.src.get(start) {
            None => Err(self.err(
                start,
                "unexpected end of input (expecting an object key or '}')",
            )),
            Some(&quote @ (b'"' | b'\'')) => {
                let text = self.string(quote)?;
                Ok((text, Span::new(start, self.pos)))
            }
            Some(_) => {
                let end = self.identifier_end(start);
                if end == start {
                    return Err(self.invalid_character(
                        start,
                        "at start of object key (expecting a string or an identifier)",
                    ));
                }
                self.pos = end;
                let key = String::from_utf8_lossy(&self.src[start..end]).into_owned();
                Ok((key, Span::new(start, end)))
            }
        }
    }

    /// End of the identifier name starting at `start` (`start` itself if none).
    fn identifier_end(&self, start: usize) -> usize {
        let mut end = start;
        while let Some(ch) = self.char_at_fast(end) {
            let ok = if end == start {
                ch.is_alphabetic() || ch == '$' || ch == '_'
            } else {
                ch.is_alphanumeric() || matches!(ch, '$' | '_' | '\u{200c}' | '\u{200d}')
            };
            if !ok {
                break;
            }
            end += ch.len_utf8();
        }
        end
    }

    fn char_at_fast(&self, offset: usize) -> Option<char> {
        match self.src.get(offset) {
            Some(&b) if b.is_ascii() => Some(b as char),
            Some(_) => self.char_at(offset),
            None => None,
        }
    }

    fn scalar(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let byte = self.src[start];
        let kind = match byte {
            b'"' | b'\'' => Kind::String(self.string(byte)?),
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let len = self.src[start..]
                    .iter()
                    .position(|&b| {
                        !(b.is_ascii_alphanumeric()
                            || matches!(b, b'.' | b'+' | b'-' | b'_' | b'$'))
                    })
                    .unwrap_or(self.src.len() - start);
                let text = &self.src[start..start + len];
                if !is_json5_number(text) {
                    return Err(self.err(
                        start,
                        format!("invalid number: {}", String::from_utf8_lossy(text)),
                    ));
                }
                self.pos += len;
                Kind::Number(String::from_utf8_lossy(text).into_owned().into_boxed_str())
            }
            _ => {
                let end = self.identifier_end(start);
                if end == start {
                    return Err(self.invalid_character(start, "at start of value"));
                }
                let word = &self.src[start..end];
                let kind = match word {
                    b"null" => Kind::Null,
                    b"true" => Kind::Bool(true),
                    b"false" => Kind::Bool(false),
                    b"Infinity" | b"NaN" => {
                        Kind::Number(String::from_utf8_lossy(word).into_owned().into_boxed_str())
                    }
                    _ => {
                        return Err(self.err(
                            start,
                            format!(
                                "invalid literal: {} (strings must be quoted)",
                                String::from_utf8_lossy(word)
                            ),
                        ));
                    }
                };
                self.pos = end;
                kind
            }
        };
        Ok(Value {
            span: Span::new(start, self.pos),
            kind,
        })
    }

    /// The string starting at the quote at `self.pos`; leaves `pos` after its end.
    fn string(&mut self, quote: u8) -> Result<String, SyntaxError> {
        let start = self.pos;
        let mut out = String::new();
        let mut pos = start + 1;
        let mut plain_from = pos;
        loop {
            let Some(&byte) = self.src.get(pos) else {
                return Err(self.err(start, "unterminated string"));
            };
            match byte {
                b'\n' | b'\r' => {
                    return Err(self.err(
                        pos,
                        "line break inside a string (write \\n, or end the line with \\ to continue it)",
                    ));
                }
                b'\\' => {
                    out.push_str(self.text(plain_from, pos));
                    pos = self.escape(pos, &mut out)?;
                    plain_from = pos;
                }
                _ if byte == quote => {
                    out.push_str(self.text(plain_from, pos));
                    self.pos = pos + 1;
                    return Ok(out);
                }
                _ => pos += 1,
            }
        }
    }

    fn text(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// Decodes the escape at `at` (a backslash) into `out`; returns the offset after it.
    fn escape(&self, at: usize, out: &mut String) -> Result<usize, SyntaxError> {
        let Some(escaped) = self.char_at_fast(at + 1) else {
            return Err(self.err(at, "unterminated string"));
        };
        let after = at + 1 + escaped.len_utf8();
        let bad = |len: usize| {
            let end = (at + len).min(self.src.len());
            self.err(
                at,
                format!(
                    "invalid escape sequence {:?} in string",
                    String::from_utf8_lossy(&self.src[at..end])
                ),
            )
        };
        let ch = match escaped {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '0' if !self.src.get(after).is_some_and(u8::is_ascii_digit) => '\0',
            '0'..='9' => return Err(bad(2)),
            'x' => {
                let code = self.hex(after, 2).ok_or_else(|| bad(4))?;
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                return Ok(after + 2);
            }
            'u' => {
                let unit = self.hex(after, 4).ok_or_else(|| bad(6))?;
                let mut end = after + 4;
                let ch = if (0xD800..0xDC00).contains(&unit) {
                    let low = (self.src.get(end..end + 2) == Some(b"\\u"))
                        .then(|| self.hex(end + 2, 4))
                        .flatten()
                        .filter(|low| (0xDC00..0xE000).contains(low));
                    match low {
                        Some(low) => {
                            end += 6;
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(unit)
                };
                out.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
                return Ok(end);
            }
            // Line continuations.
            '\r' => {
                let end = if self.src.get(after) == Some(&b'\n') {
                    after + 1
                } else {
                    after
                };
                return Ok(end);
            }
            '\n' | '\u{2028}' | '\u{2029}' => return Ok(after),
            other => other,
        };
        out.push(ch);
        Ok(after)
    }

    fn hex(&self, at: usize, len: usize) -> Option<u32> {
        let digits = self.src.get(at..at + len)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }
}

fn array(start: usize, end: usize, items: Vec<Value>) -> Value {
    Value {
        span: Span::new(start, end),
        kind: Kind::Array(items),
    }
}

fn object(start: usize, end: usize, members: Vec<Member>) -> Value {
    Value {
        span: Span::new(start, end),
        kind: Kind::Object(members),
    }
}

/// JSON5 white space beyond ASCII: NBSP, BOM, line/paragraph separators, Zs.
fn is_json5_space(ch: char) -> bool {
    matches!(
        ch,
        '\u{a0}' | '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// `[+-]? (Infinity | NaN | 0[xX]hex+ | decimal)` where decimal is ECMAScript's
/// `(0 | [1-9][0-9]*) (. [0-9]*)? | . [0-9]+`, then an optional exponent.
fn is_json5_number(text: &[u8]) -> bool {
    let unsigned = match text.first() {
        Some(b'+' | b'-') => &text[1..],
        _ => text,
    };
    if matches!(unsigned, b"Infinity" | b"NaN") {
        return true;
    }
    if let Some(hex) = unsigned
        .strip_prefix(b"0x")
        .or_else(|| unsigned.strip_prefix(b"0X"))
    {
        return !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit);
    }
    let digits = |from: usize| {
        unsigned[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int_len = digits(0);
    if int_len > 1 && unsigned[0] == b'0' {
        return false;
    }
    let mut i = int_len;
    let mut frac_len = 0;
    if unsigned.get(i) == Some(&b'.') {
        frac_len = digits(i + 1);
        i += 1 + frac_len;
    }
    if int_len == 0 && frac_len == 0 {
        return false;
    }
    if matches!(unsigned.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(unsigned.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_len = digits(i);
        if exp_len == 0 {
            return false;
        }
        i += exp_len;
    }
    i == unsigned.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Value {
        parse(src.as_bytes())
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
            .root
    }

    fn error_text(src: &str) -> String {
        parse(src.as_bytes()).expect_err(src).to_string()
    }

    #[test]
    fn accepts_json5_extensions() {
        let doc = parse(
            br#"// intents
{
  unquoted: 'single \'quoted\'',
  $dollar_1: "line \
continued",
  hex: 0x1F, lead: .5, trail: 5., plus: +1, inf: -Infinity, nan: NaN,
  esc: '\x41\u00e9\0\v\q',
  list: [1, 2, /* two */ ],
  "quoted": {nested: null,},
}
"#,
        )
        .unwrap();
        let root = &doc.root;
        assert_eq!(
            root.get("unquoted").unwrap().as_str(),
            Some("single 'quoted'")
        );
        assert_eq!(
            root.get("$dollar_1").unwrap().as_str(),
            Some("line continued")
        );
        let number = |key: &str| match &root.get(key).unwrap().kind {
            Kind::Number(n) => n.to_string(),
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(number("hex"), "0x1F");
        assert_eq!(number("lead"), ".5");
        assert_eq!(number("trail"), "5.");
        assert_eq!(number("plus"), "+1");
        assert_eq!(number("inf"), "-Infinity");
        assert_eq!(number("nan"), "NaN");
        assert_eq!(root.get("esc").unwrap().as_str(), Some("Aé\0\u{b}q"));
        assert_eq!(root.get("list").unwrap().as_array().unwrap().len(), 2);
        assert!(root.get("quoted").unwrap().get("nested").unwrap().is_null());
        assert_eq!(doc.comments.len(), 2);
    }

    #[test]
    fn spans_cover_values_keys_and_comments() {
        let src = "{a: 'x', \"b\": [1] /* c */} // end";
        let doc = parse(src.as_bytes()).unwrap();
        let members = doc.root.as_object().unwrap();
        assert_eq!(&src[members[0].key_span.range()], "a");
        assert_eq!(&src[members[0].value.span.range()], "'x'");
        assert_eq!(&src[members[1].key_span.range()], "\"b\"");
        assert_eq!(&src[members[1].value.span.range()], "[1]");
        assert_eq!(
            &src[doc.root.span.range()],
            &src[..src.find('}').unwrap() + 1]
        );
        let comments: Vec<&str> = doc.comments.iter().map(|c| &src[c.range()]).collect();
        assert_eq!(comments, ["/* c */", "// end"]);
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            error_text("{a: }"),
            "json5: line 1, column 5: invalid character '}' at start of value"
        );
        assert_eq!(
            error_text("{a: 'x"),
            "json5: line 1, column 5: unterminated string"
        );
        assert_eq!(
            error_text("['a\nb']"),
            "json5: line 1, column 4: line break inside a string (write \\n, or end the line with \\ to continue it)"
        );
        assert_eq!(
            error_text("/* x"),
            "json5: line 1, column 1: unterminated comment"
        );
        assert_eq!(
            error_text("[01]"),
            "json5: line 1, column 2: invalid number: 01"
        );
        assert_eq!(
            error_text("{a b}"),
            "json5: line 1, column 4: invalid character 'b' after object key (expecting ':')"
        );
        assert_eq!(
            error_text("[1 2]"),
            "json5: line 1, column 4: invalid character '2' after array value (expecting ',' or ']')"
        );
        assert_eq!(
            error_text("{1: 2}"),
            "json5: line 1, column 2: invalid character '1' at start of object key (expecting a string or an identifier)"
        );
        assert_eq!(
            error_text("[undefined]"),
            "json5: line 1, column 2: invalid literal: undefined (strings must be quoted)"
        );
        assert_eq!(
            error_text("[,]"),
            "json5: line 1, column 2: invalid character ',' at start of value"
        );
        assert_eq!(
            error_text("{} x"),
            "json5: line 1, column 4: invalid character 'x' after top-level value"
        );
        assert_eq!(
            error_text("[1,"),
            "json5: line 1, column 4: unexpected end of input (expecting a value)"
        );
        assert_eq!(
            error_text("'\\x4g'"),
            "json5: line 1, column 2: invalid escape sequence \"\\\\x4g\" in string"
        );
        let err = parse(b"[\"\xff\"]").unwrap_err();
        assert_eq!(err.to_string(), "json5: line 1, column 3: invalid UTF-8");
    }

    #[test]
    fn numbers_follow_the_spec() {
        for ok in [
            "0", "-0", "+1", "1.", ".1", "1.5e3", "1E-2", "0x0", "-0XaF", "Infinity", "+NaN",
            "5.e2",
        ] {
            assert!(is_json5_number(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", ".", "+", "01", "0x", "1e", "1.2.3", "0xg", "--1", "Inf", "1_000",
        ] {
            assert!(!is_json5_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn surrogates_and_unicode() {
        assert_eq!(root(r#""\ud83d\ude02""#).as_str(), Some("😂"));
        assert_eq!(root(r#""\ud83d""#).as_str(), Some("\u{fffd}"));
        assert_eq!(root("{ünï: 1}").as_object().unwrap()[0].key, "ünï");
        assert!(root("\u{feff}\u{a0}null\u{2028}").is_null());
        assert_eq!(root("'a\u{2028}b'").as_str(), Some("a\u{2028}b"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let err = parse(deep.as_bytes()).unwrap_err();
        assert_eq!(err.message, format!("exceeded max depth of {MAX_DEPTH}"));
        assert_eq!(err.offset, MAX_DEPTH);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
