//! The HuJSON grammar, as one iterative parser that drives a [`Builder`].
//!
//! The same parser builds the span tree (fast path for `check`), the lossless CST (for
//! `format`) and nothing at all (for `standardize`/`is_standard`), so all three accept
//! exactly the same inputs and report exactly the same errors.
//!
//! Invariants:
//! - control flow mirrors tailscale/hujson's `parseNext`/`parseNextTrimmed`, so the
//!   first error found, its offset and its wording are Go's;
//! - the parser keeps its own explicit stack and refuses to open a composite deeper than
//!   [`MAX_DEPTH`], so no input can overflow the thread stack, and no builder ever sees
//!   a deeper tree;
//! - every extra (whitespace and comments) is reported as the span between two tokens,
//!   in the positions Go's `Value{BeforeExtra, AfterExtra}` would hold it.

use super::scan::{
    Comment, READER, consume_comment, consume_whitespace, error, invalid_character,
    is_bare_literal_byte, is_valid_bare_literal, scan_string,
};
use crate::syntax::tree::{MAX_DEPTH, Span, SyntaxError};

/// What kind of scalar a literal is; strings say whether they need unescaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    Null,
    True,
    False,
    Number,
    String { has_escape: bool },
}

/// Receives the parse as it happens. Spans are byte ranges of the source. For each
/// value the parser reports the extra before it (after the preceding `{`, `[`, `:` or
/// `,`) and after it (up to the following `:`, `,`, `}` or `]`).
pub(crate) trait Builder {
    type Node;
    type Array;
    type Object;
    type Name;

    fn comment(&mut self, span: Span);
    fn scalar(&mut self, span: Span, scalar: Scalar) -> Self::Node;
    fn begin_array(&mut self) -> Self::Array;
    fn element(&mut self, array: &mut Self::Array, before: Span, node: Self::Node, after: Span);
    /// `close_extra` is the extra after the trailing comma (or after `[` when empty);
    /// without a trailing comma it is empty and the last element's `after` holds the
    /// extra before `]`.
    fn end_array(
        &mut self,
        array: Self::Array,
        span: Span,
        trailing_comma: bool,
        close_extra: Span,
    ) -> Self::Node;
    fn begin_object(&mut self) -> Self::Object;
    /// Only called for string nodes.
    fn name(&mut self, before: Span, node: Self::Node, after: Span) -> Self::Name;
    fn member(
        &mut self,
        object: &mut Self::Object,
        name: Self::Name,
        before: Span,
        node: Self::Node,
        after: Span,
    );
    fn end_object(
        &mut self,
        object: Self::Object,
        span: Span,
        trailing_comma: bool,
        close_extra: Span,
    ) -> Self::Node;
}

/// The root value with the extras around it.
pub(crate) struct Parsed<N> {
    pub before: Span,
    pub node: N,
    pub after: Span,
}

enum Frame<B: Builder> {
    Array {
        start: usize,
        before: Span,
        items: B::Array,
        has_items: bool,
    },
    Object {
        start: usize,
        before: Span,
        items: B::Object,
        has_items: bool,
        /// `Some` while parsing a member's value.
        name: Option<B::Name>,
    },
}

fn span(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

/// Consumes whitespace and comments from `n`, reporting each comment.
#[inline]
fn consume_extra<B: Builder>(
    src: &[u8],
    mut n: usize,
    builder: &mut B,
) -> Result<usize, SyntaxError> {
    while let Some(&byte) = src.get(n) {
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => n += consume_whitespace(&src[n..]),
            b'/' => match consume_comment(&src[n..]) {
                Comment::None => return Ok(n),
                Comment::Unterminated => {
                    return Err(error(
                        READER,
                        src,
                        n,
                        "parsing comment: unexpected EOF".to_owned(),
                    ));
                }
                Comment::Complete(len) => {
                    if std::str::from_utf8(&src[n..n + len]).is_err() {
                        return Err(error(READER, src, n, "invalid UTF-8 in comment".to_owned()));
                    }
                    builder.comment(span(n, n + len));
                    n += len;
                }
            },
            _ => return Ok(n),
        }
    }
    Ok(n)
}

#[cold]
fn eof(src: &[u8], what: &str) -> SyntaxError {
    error(
        READER,
        src,
        src.len(),
        format!("parsing {what}: unexpected EOF"),
    )
}

pub(crate) fn parse<B: Builder>(
    src: &[u8],
    builder: &mut B,
) -> Result<Parsed<B::Node>, SyntaxError> {
    if u32::try_from(src.len()).is_err() {
        return Err(error(
            READER,
            src,
            0,
            format!("input too large ({} bytes; at most 4 GiB)", src.len()),
        ));
    }
    let mut stack: Vec<Frame<B>> = Vec::new();
    let mut n = 0;
    'value: loop {
        // parseNext: the extra before a value, then the value itself.
        let before_start = n;
        n = consume_extra(src, n, builder)?;
        let mut before = span(before_start, n);
        let Some(&first) = src.get(n) else {
            return Err(eof(src, "value"));
        };
        let mut value_start = n;
        let mut node = match first {
            b'{' | b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error(
                        READER,
                        src,
                        n,
                        format!("exceeded max depth of {MAX_DEPTH}"),
                    ));
                }
                let frame = if first == b'{' {
                    Frame::Object {
                        start: n,
                        before,
                        items: builder.begin_object(),
                        has_items: false,
                        name: None,
                    }
                } else {
                    Frame::Array {
                        start: n,
                        before,
                        items: builder.begin_array(),
                        has_items: false,
                    }
                };
                stack.push(frame);
                n += 1;
                continue 'value;
            }
            // A closing bracket where a value may start ends the composite only in the
            // position right after `{`/`[` or after a comma (hujson's errInvalid*End).
            b'}' => match stack.pop() {
                Some(Frame::Object {
                    start,
                    before: outer_before,
                    items,
                    has_items,
                    name: None,
                }) => {
                    n += 1;
                    let node = builder.end_object(items, span(start, n), has_items, before);
                    before = outer_before;
                    value_start = start;
                    node
                }
                _ => return Err(invalid_character(src, n, "at start of value")),
            },
            b']' => match stack.pop() {
                Some(Frame::Array {
                    start,
                    before: outer_before,
                    items,
                    has_items,
                }) => {
                    n += 1;
                    let node = builder.end_array(items, span(start, n), has_items, before);
                    before = outer_before;
                    value_start = start;
                    node
                }
                _ => return Err(invalid_character(src, n, "at start of value")),
            },
            b'"' => {
                let scanned = scan_string(src, n).map_err(|_| eof(src, "string"))?;
                if !scanned.valid {
                    return Err(invalid_literal(src, n, scanned.end));
                }
                n = scanned.end;
                builder.scalar(
                    span(value_start, n),
                    Scalar::String {
                        has_escape: scanned.has_escape,
                    },
                )
            }
            _ => {
                let len = src[n..]
                    .iter()
                    .position(|&b| !is_bare_literal_byte(b))
                    .unwrap_or(src.len() - n);
                let lit = &src[n..n + len];
                if len == 0 {
                    return Err(invalid_character(src, n, "at start of value"));
                }
                if !is_valid_bare_literal(lit) {
                    return Err(invalid_literal(src, n, n + len));
                }
                let scalar = match lit {
                    b"null" => Scalar::Null,
                    b"true" => Scalar::True,
                    b"false" => Scalar::False,
                    _ => Scalar::Number,
                };
                n += len;
                builder.scalar(span(value_start, n), scalar)
            }
        };

        // A complete value: take the extra after it and hand it to its parent. Closing a
        // composite completes another value, hence the loop.
        loop {
            let after_start = n;
            n = consume_extra(src, n, builder)?;
            let after = span(after_start, n);
            let Some(frame) = stack.last_mut() else {
                if n < src.len() {
                    return Err(invalid_character(src, n, "after top-level value"));
                }
                return Ok(Parsed {
                    before,
                    node,
                    after,
                });
            };
            match frame {
                Frame::Array {
                    items, has_items, ..
                } => {
                    builder.element(items, before, node, after);
                    *has_items = true;
                    match src.get(n) {
                        None => return Err(eof(src, "array after value")),
                        Some(b',') => {
                            n += 1;
                            continue 'value;
                        }
                        Some(b']') => {
                            let Some(Frame::Array {
                                start,
                                before: outer_before,
                                items,
                                ..
                            }) = stack.pop()
                            else {
                                unreachable!("the top frame is this array");
                            };
                            n += 1;
                            node =
                                builder.end_array(items, span(start, n), false, span(n - 1, n - 1));
                            before = outer_before;
                            value_start = start;
                        }
                        Some(_) => {
                            return Err(invalid_character(
                                src,
                                n,
                                "after array value (expecting ',' or ']')",
                            ));
                        }
                    }
                }
                Frame::Object {
                    items,
                    has_items,
                    name,
                    ..
                } => match name.take() {
                    None => {
                        if src[value_start] != b'"' {
                            return Err(invalid_character(
                                src,
                                value_start,
                                "at start of object name",
                            ));
                        }
                        *name = Some(builder.name(before, node, after));
                        match src.get(n) {
                            None => return Err(eof(src, "object after name")),
                            Some(b':') => {
                                n += 1;
                                continue 'value;
                            }
                            Some(_) => {
                                return Err(invalid_character(src, n, "after object name"));
                            }
                        }
                    }
                    Some(member_name) => {
                        builder.member(items, member_name, before, node, after);
                        *has_items = true;
                        match src.get(n) {
                            None => return Err(eof(src, "object after value")),
                            Some(b',') => {
                                n += 1;
                                continue 'value;
                            }
                            Some(b'}') => {
                                let Some(Frame::Object {
                                    start,
                                    before: outer_before,
                                    items,
                                    ..
                                }) = stack.pop()
                                else {
                                    unreachable!("the top frame is this object");
                                };
                                n += 1;
                                node = builder.end_object(
                                    items,
                                    span(start, n),
                                    false,
                                    span(n - 1, n - 1),
                                );
                                before = outer_before;
                                value_start = start;
                            }
                            Some(_) => {
                                return Err(invalid_character(
                                    src,
                                    n,
                                    "after object value (expecting ',' or '}')",
                                ));
                            }
                        }
                    }
                },
            }
        }
    }
}

#[cold]
fn invalid_literal(src: &[u8], start: usize, end: usize) -> SyntaxError {
    error(
        READER,
        src,
        start,
        format!(
            "invalid literal: {}",
            String::from_utf8_lossy(&src[start..end])
        ),
    )
}

/// A builder that keeps nothing but comment spans and trailing-comma offsets: what
/// `standardize` and `is_standard` need.
#[derive(Default)]
pub(crate) struct ExtrasOnly {
    pub comments: Vec<Span>,
    /// Offsets of trailing commas.
    pub trailing_commas: Vec<usize>,
}

/// Where a composite's last comma was, when it turns out to be trailing.
#[derive(Default)]
pub(crate) struct LastComma(Option<usize>);

impl Builder for ExtrasOnly {
    type Node = ();
    type Array = LastComma;
    type Object = LastComma;
    type Name = ();

    fn comment(&mut self, span: Span) {
        self.comments.push(span);
    }
    fn scalar(&mut self, _: Span, _: Scalar) {}
    fn begin_array(&mut self) -> LastComma {
        LastComma(None)
    }
    fn element(&mut self, array: &mut LastComma, _: Span, _: (), after: Span) {
        // If a comma follows, it is right after this element's extra.
        array.0 = Some(after.end as usize);
    }
    fn end_array(&mut self, array: LastComma, _: Span, trailing_comma: bool, _: Span) {
        if trailing_comma && let Some(comma) = array.0 {
            self.trailing_commas.push(comma);
        }
    }
    fn begin_object(&mut self) -> LastComma {
        LastComma(None)
    }
    fn name(&mut self, _: Span, _: (), _: Span) {}
    fn member(&mut self, object: &mut LastComma, _: (), _: Span, _: (), after: Span) {
        object.0 = Some(after.end as usize);
    }
    fn end_object(&mut self, object: LastComma, _: Span, trailing_comma: bool, _: Span) {
        if trailing_comma && let Some(comma) = object.0 {
            self.trailing_commas.push(comma);
        }
    }
}
