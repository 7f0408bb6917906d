//! HuJSON (JWCC: JSON with comments and trailing commas) exactly as tailscale/hujson
//! reads, standardizes and formats it.
//!
//! Hand-written rather than built on serde_json or a JSON5 crate because we need what
//! none of them give: byte spans for every value, key and comment; Go's exact error
//! wording and byte columns; and a `Format` whose output is byte-identical to Go's
//! `hujson.Format`, which needs a lossless syntax tree.
//!
//! Layout:
//! - `scan`: bytes → whitespace, comments, literals; errors;
//! - `quote`: Go-compatible string decoding/encoding and rune quoting;
//! - `parse`: the one grammar, an iterative parser that drives a builder;
//! - `cst`: the lossless tree (Go's `Value{BeforeExtra, Value, AfterExtra}`) and `Pack`;
//! - `format`: a port of Go's `Value.Format`.
//!
//! Invariants:
//! - all four entry points accept exactly the same inputs and report the same errors,
//!   because they share one parser (`parse::parse`);
//! - no input can nest deeper than [`crate::syntax::tree::MAX_DEPTH`], so every
//!   recursive walk here (formatting, dropping) is bounded;
//! - [`standardize`] preserves length and the offset of every newline.

mod cst;
mod format;
mod parse;
pub(crate) mod quote;
pub(crate) mod scan;

use crate::syntax::tree::{Document, Kind, Member, Span, SyntaxError, Value};
use parse::{Builder, ExtrasOnly, Scalar};

/// Parses HuJSON into the span tree; `Document.comments` lists every comment.
pub fn parse(src: &[u8]) -> Result<Document, SyntaxError> {
    let mut builder = TreeBuilder {
        src,
        text: std::str::from_utf8(src).ok(),
        comments: Vec::new(),
        values: Vec::new(),
        members: Vec::new(),
    };
    let parsed = parse::parse(src, &mut builder)?;
    Ok(Document {
        root: parsed.node,
        comments: builder.comments,
    })
}

/// Go's `hujson.Standardize`: every comment byte other than whitespace and every
/// trailing comma becomes a space, so the result is RFC 8259 JSON of the same length
/// with every newline where it was.
pub fn standardize(src: &[u8]) -> Result<Vec<u8>, SyntaxError> {
    let mut extras = ExtrasOnly::default();
    parse::parse(src, &mut extras)?;
    let mut out = src.to_vec();
    for comment in &extras.comments {
        for byte in &mut out[comment.range()] {
            if !scan::is_whitespace(*byte) {
                *byte = b' ';
            }
        }
    }
    for &comma in &extras.trailing_commas {
        out[comma] = b' ';
    }
    Ok(out)
}

/// Go's `hujson.Format`: the canonical layout of a HuJSON document, byte for byte.
pub fn format(src: &[u8]) -> Result<Vec<u8>, SyntaxError> {
    let mut root = cst::parse(src)?;
    format::format(&mut root);
    let mut out = Vec::with_capacity(src.len() + src.len() / 8);
    root.pack(&mut out);
    Ok(out)
}

/// Whether the document is already standard JSON: no comments, no trailing commas.
pub fn is_standard(src: &[u8]) -> Result<bool, SyntaxError> {
    let mut extras = ExtrasOnly::default();
    parse::parse(src, &mut extras)?;
    Ok(extras.comments.is_empty() && extras.trailing_commas.is_empty())
}

/// Builds the span tree directly, allocating only the decoded strings and the vectors.
struct TreeBuilder<'a> {
    src: &'a [u8],
    /// The input as text when it is UTF-8 (as files are: `fsutil::check_text`), validated
    /// once here so that each string is sliced from it rather than validated again.
    text: Option<&'a str>,
    comments: Vec<Span>,
    /// The elements and members of the arrays and objects being read, innermost last:
    /// each container is moved out in one exact allocation when it closes (`split_off`
    /// copies into a new vector of the right size), rather than grown element by element.
    values: Vec<Value>,
    members: Vec<Member>,
}

impl TreeBuilder<'_> {
    fn string(&self, span: Span, has_escape: bool) -> String {
        let lit = &self.src[span.range()];
        if has_escape {
            return quote::decode_string(lit);
        }
        let inside = span.start as usize + 1..span.end as usize - 1;
        // Quotes are ASCII, so the body's ends are character boundaries.
        if let Some(text) = self.text {
            return text[inside].to_owned();
        }
        let body = &self.src[inside];
        match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                let mut out = String::with_capacity(body.len() + 8);
                quote::push_go_lossy(&mut out, body);
                out
            }
        }
    }
}

impl Builder for TreeBuilder<'_> {
    type Node = Value;
    type Array = usize;
    type Object = usize;
    type Name = (String, Span);

    fn comment(&mut self, span: Span) {
        self.comments.push(span);
    }

    #[inline]
    fn scalar(&mut self, span: Span, scalar: Scalar) -> Value {
        let kind = match scalar {
            Scalar::Null => Kind::Null,
            Scalar::True => Kind::Bool(true),
            Scalar::False => Kind::Bool(false),
            // Validated as an RFC 8259 number, so ASCII.
            Scalar::Number => Kind::Number(
                String::from_utf8_lossy(&self.src[span.range()])
                    .into_owned()
                    .into_boxed_str(),
            ),
            Scalar::String { has_escape } => Kind::String(self.string(span, has_escape)),
        };
        Value { span, kind }
    }

    /// Where the array's elements start on the stack.
    fn begin_array(&mut self) -> usize {
        self.values.len()
    }

    #[inline]
    fn element(&mut self, _: &mut usize, _: Span, node: Value, _: Span) {
        self.values.push(node);
    }

    fn end_array(&mut self, start: usize, span: Span, _: bool, _: Span) -> Value {
        Value {
            span,
            kind: Kind::Array(self.values.split_off(start)),
        }
    }

    /// Where the object's members start on the stack.
    fn begin_object(&mut self) -> usize {
        self.members.len()
    }

    #[inline]
    fn name(&mut self, _: Span, node: Value, _: Span) -> (String, Span) {
        match node.kind {
            Kind::String(key) => (key, node.span),
            // The parser only passes strings.
            _ => (String::new(), node.span),
        }
    }

    #[inline]
    fn member(
        &mut self,
        _: &mut usize,
        (key, key_span): (String, Span),
        _: Span,
        value: Value,
        _: Span,
    ) {
        self.members.push(Member {
            key,
            key_span,
            value,
        });
    }

    fn end_object(&mut self, start: usize, span: Span, _: bool, _: Span) -> Value {
        Value {
            span,
            kind: Kind::Object(self.members.split_off(start)),
        }
    }
}

#[cfg(test)]
mod tests;
