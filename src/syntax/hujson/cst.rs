//! The lossless syntax tree that formatting works on: tailscale/hujson's
//! `Value{BeforeExtra, Value, AfterExtra}`, with `Object` and `Array` merged into one
//! [`Composite`] whose object members are stored as alternating name/value entries (the
//! order Go's `rangeValues` visits them in).
//!
//! Invariants:
//! - `pack` of a freshly parsed tree reproduces the input byte for byte;
//! - Go marks a trailing comma by a non-nil `AfterExtra` on the last value; here that is
//!   `Composite::trailing_comma`, and without a trailing comma the last value's `after`
//!   is empty (what was before the closing bracket lives in `Composite::after`);
//! - depth is bounded by the parser's `MAX_DEPTH`, so recursive walks are safe.

use super::parse::{self, Builder, Scalar};
use crate::syntax::tree::{Span, SyntaxError};

/// Whitespace and comments, exactly as written (until formatting changes them).
pub(crate) type Extra = Vec<u8>;

#[derive(Clone, Debug, Default)]
pub(crate) struct Value {
    pub before: Extra,
    pub value: Trimmed,
    pub after: Extra,
}

#[derive(Clone, Debug)]
pub(crate) enum Trimmed {
    /// A string, number, boolean or null, as raw JSON bytes.
    Literal(Vec<u8>),
    Composite(Box<Composite>),
}

impl Default for Trimmed {
    fn default() -> Self {
        Trimmed::Literal(Vec::new())
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Composite {
    pub is_object: bool,
    /// Array elements, or object members as `name, value, name, value, ...`.
    pub values: Vec<Value>,
    /// The extra before the closing bracket (after the last comma, or after `[`/`{`).
    pub after: Extra,
    pub trailing_comma: bool,
    /// Set by formatting: print one element per line.
    pub expand: bool,
}

impl Composite {
    /// Go's `setTrailingComma`: dropping the comma moves the extra that preceded it to
    /// the front of the closing extra.
    pub fn set_trailing_comma(&mut self, on: bool) {
        let Some(last) = self.values.last_mut() else {
            return;
        };
        if on {
            self.trailing_comma = true;
        } else if self.trailing_comma {
            self.trailing_comma = false;
            let mut merged = std::mem::take(&mut last.after);
            merged.extend_from_slice(&self.after);
            self.after = merged;
        }
    }
}

pub(crate) fn has_newline(extra: &[u8]) -> bool {
    extra.contains(&b'\n')
}

pub(crate) fn has_comment(extra: &[u8]) -> bool {
    extra.contains(&b'/')
}

impl Value {
    /// Go's `Value.Pack`.
    pub fn pack(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.before);
        match &self.value {
            Trimmed::Literal(lit) => out.extend_from_slice(lit),
            Trimmed::Composite(comp) => {
                let (open, close) = if comp.is_object {
                    (b'{', b'}')
                } else {
                    (b'[', b']')
                };
                out.push(open);
                let count = comp.values.len();
                for (i, value) in comp.values.iter().enumerate() {
                    value.pack(out);
                    let is_name = comp.is_object && i % 2 == 0;
                    if is_name {
                        out.push(b':');
                    } else if i + 1 < count || comp.trailing_comma {
                        out.push(b',');
                    }
                }
                out.extend_from_slice(&comp.after);
                out.push(close);
            }
        }
        out.extend_from_slice(&self.after);
    }

    /// Go's `Value.IsStandard`: no comments anywhere and no trailing commas.
    pub fn is_standard(&self) -> bool {
        if has_comment(&self.before) || has_comment(&self.after) {
            return false;
        }
        match &self.value {
            Trimmed::Literal(_) => true,
            Trimmed::Composite(comp) => {
                !comp.trailing_comma
                    && !has_comment(&comp.after)
                    && comp.values.iter().all(Value::is_standard)
            }
        }
    }
}

/// Parses `src` into the lossless tree.
pub(crate) fn parse(src: &[u8]) -> Result<Value, SyntaxError> {
    let mut builder = CstBuilder { src };
    let parsed = parse::parse(src, &mut builder)?;
    Ok(Value {
        before: builder.bytes(parsed.before),
        value: parsed.node,
        after: builder.bytes(parsed.after),
    })
}

struct CstBuilder<'a> {
    src: &'a [u8],
}

impl CstBuilder<'_> {
    fn bytes(&self, span: Span) -> Vec<u8> {
        self.src[span.range()].to_vec()
    }

    fn value(&self, before: Span, value: Trimmed, after: Span) -> Value {
        Value {
            before: self.bytes(before),
            value,
            after: self.bytes(after),
        }
    }

    fn finish(
        &self,
        mut comp: Composite,
        is_object: bool,
        trailing_comma: bool,
        close_extra: Span,
    ) -> Trimmed {
        comp.is_object = is_object;
        comp.trailing_comma = trailing_comma;
        comp.after = self.bytes(close_extra);
        if !trailing_comma && let Some(last) = comp.values.last_mut() {
            // Without a trailing comma, the extra after the last value is the extra
            // before the closing bracket.
            comp.after = std::mem::take(&mut last.after);
        }
        Trimmed::Composite(Box::new(comp))
    }
}

impl Builder for CstBuilder<'_> {
    type Node = Trimmed;
    type Array = Composite;
    type Object = Composite;
    type Name = Value;

    fn comment(&mut self, _: Span) {}

    fn scalar(&mut self, span: Span, _: Scalar) -> Trimmed {
        Trimmed::Literal(self.bytes(span))
    }

    fn begin_array(&mut self) -> Composite {
        Composite::default()
    }

    fn element(&mut self, array: &mut Composite, before: Span, node: Trimmed, after: Span) {
        array.values.push(self.value(before, node, after));
    }

    fn end_array(
        &mut self,
        array: Composite,
        _: Span,
        trailing_comma: bool,
        close_extra: Span,
    ) -> Trimmed {
        self.finish(array, false, trailing_comma, close_extra)
    }

    fn begin_object(&mut self) -> Composite {
        Composite::default()
    }

    fn name(&mut self, before: Span, node: Trimmed, after: Span) -> Value {
        self.value(before, node, after)
    }

    fn member(
        &mut self,
        object: &mut Composite,
        name: Value,
        before: Span,
        node: Trimmed,
        after: Span,
    ) {
        object.values.push(name);
        object.values.push(self.value(before, node, after));
    }

    fn end_object(
        &mut self,
        object: Composite,
        _: Span,
        trailing_comma: bool,
        close_extra: Span,
    ) -> Trimmed {
        self.finish(object, true, trailing_comma, close_extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_is_lossless() {
        for src in [
            "null",
            " // c\n{ \"a\" /*x*/ : [1 , 2 ,/*y*/ ] , \"b\":{},}\n/* end */ ",
            "[\r\n\t1,\r\n]",
            "{}",
            "[ ]",
        ] {
            let tree = parse(src.as_bytes()).unwrap();
            let mut out = Vec::new();
            tree.pack(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), src);
        }
    }

    #[test]
    fn trailing_comma_is_a_flag_with_the_extra_before_it() {
        let tree = parse(b"[1 /*a*/, /*b*/]").unwrap();
        let Trimmed::Composite(comp) = &tree.value else {
            panic!("array expected");
        };
        assert!(comp.trailing_comma);
        assert_eq!(comp.values[0].after, b" /*a*/");
        assert_eq!(comp.after, b" /*b*/");

        let tree = parse(b"[1 /*a*/]").unwrap();
        let Trimmed::Composite(comp) = &tree.value else {
            panic!("array expected");
        };
        assert!(!comp.trailing_comma);
        assert!(comp.values[0].after.is_empty());
        assert_eq!(comp.after, b" /*a*/");
    }
}
