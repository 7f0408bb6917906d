//! A faithful port of tailscale/hujson's `Value.Format` (format.go), so our output is
//! byte-identical to `hujson.Format` and to what Tailscale's tools write.
//!
//! The passes, in Go's order: format the leading extra; note whether the input is
//! standard JSON; `normalize` (re-encode escaped strings, drop whitespace-only extras
//! around `:` and `,`, empty `{}`/`[]`); `expand_composites` (decide which composites
//! are printed one element per line); `format_whitespace` (indentation, blank lines,
//! comments, trailing commas); `align_object_values`; format the trailing extra.
//!
//! Invariants:
//! - quirks of the Go code are kept on purpose, because matching its output is the
//!   point: e.g. the "multi-line object with more than one member" rule reads a stats
//!   value that is still zero, so it never fires, and alignment resets only on blank
//!   lines and comments (its indent-suffix check compares against an empty suffix);
//! - lengths are byte counts, as in Go (so non-ASCII keys align by bytes);
//! - recursion follows tree depth, which the parser bounds.

use super::cst::{Composite, Extra, Trimmed, Value, has_comment, has_newline};
use super::quote::{decode_string, encode_string};
use super::scan::{Comment, consume_comment, consume_whitespace};

/// Go's `punchCardWidth`: lines longer than this force a composite to expand.
const PUNCH_CARD_WIDTH: usize = 80;

pub(crate) fn format(root: &mut Value) {
    format_extra(&mut root.before, 0, FormatOptions::default());
    let leading = consume_whitespace(&root.before);
    root.before.drain(..leading);

    let standard = root.is_standard();
    normalize(root);
    expand_composites(root);
    format_whitespace(root, 0, standard);
    align_object_values(root);

    format_extra(&mut root.after, 0, FormatOptions::default());
    let kept = trim_end_space(&root.after).len();
    root.after.truncate(kept);
    root.after.push(b'\n');
}

/// Re-encodes escaped strings, empties whitespace-only extras before `:` and `,`, and
/// empties whitespace-only `{ }`/`[ ]`.
fn normalize(value: &mut Value) {
    match &mut value.value {
        Trimmed::Literal(lit) => {
            if lit.first() == Some(&b'"') && lit.contains(&b'\\') {
                let decoded = decode_string(lit);
                let mut encoded = Vec::with_capacity(lit.len());
                encode_string(&decoded, &mut encoded);
                *lit = encoded;
            }
        }
        Trimmed::Composite(comp) => {
            if comp.values.is_empty() {
                if !has_comment(&comp.after) {
                    comp.after.clear();
                }
                return;
            }
            for child in &mut comp.values {
                if !has_comment(&child.after) {
                    child.after.clear();
                }
            }
            // In Go this nils the last value's AfterExtra, which is what marks the
            // trailing comma.
            if comp.values.last().is_some_and(|last| last.after.is_empty()) {
                comp.trailing_comma = false;
            }
            for child in &mut comp.values {
                normalize(child);
            }
        }
    }
}

/// Go's `lineStats`: the lengths of the first and last line of some output.
#[derive(Clone, Copy, Debug, Default)]
struct LineStats {
    first_length: usize,
    last_length: usize,
    multiline: bool,
}

/// Accumulates line lengths across a composite, like the Go closure `updateStats`.
struct LineLengths {
    current: usize,
    first: Option<usize>,
    last: usize,
    count: usize,
    longest: usize,
}

impl LineLengths {
    fn new() -> Self {
        LineLengths {
            current: 0,
            first: None,
            last: 0,
            count: 0,
            longest: 0,
        }
    }

    fn end_line(&mut self) {
        self.first.get_or_insert(self.current);
        self.last = self.current;
        self.count += 1;
        self.longest = self.longest.max(self.current);
    }

    fn update(&mut self, stats: LineStats) {
        self.current += stats.first_length;
        if stats.multiline {
            self.end_line();
            self.current = stats.last_length;
        }
    }
}

/// Decides which composites to expand (sets `Composite::expand`) and returns the line
/// statistics of the value as it would be printed.
fn expand_composites(value: &mut Value) -> LineStats {
    let comp = match &mut value.value {
        Trimmed::Literal(lit) => {
            return LineStats {
                first_length: lit.len(),
                last_length: lit.len(),
                multiline: false,
            };
        }
        Trimmed::Composite(comp) => comp,
    };

    let mut expand = false;
    let mut lines = LineLengths::new();
    lines.current += 1; // "{" or "["
    if comp.is_object {
        for pair in comp.values.chunks_mut(2) {
            let [name, member_value] = pair else {
                continue;
            };
            expand = expand || has_newline(&name.before);
            lines.update(extra_line_stats(&name.before));
            lines.update(expand_composites(name));
            lines.update(extra_line_stats(&name.after));
            lines.current += 2; // ": "
            lines.update(extra_line_stats(&member_value.before));
            lines.update(expand_composites(member_value));
            lines.update(extra_line_stats(&member_value.after));
            lines.current += 2; // ", "
        }
    } else {
        for element in &mut comp.values {
            expand = expand || has_newline(&element.before);
            lines.update(extra_line_stats(&element.before));
            lines.update(expand_composites(element));
            lines.update(extra_line_stats(&element.after));
            lines.current += 2; // ", "
        }
    }
    lines.current += 1; // "}" or "]"
    if let Some(last) = comp.values.last() {
        expand = expand || has_newline(&last.after);
    }
    expand = expand || has_newline(&comp.after);

    lines.end_line();
    let mut stats = LineStats {
        first_length: lines.first.unwrap_or(0),
        last_length: lines.last,
        multiline: lines.count > 1,
    };
    expand = expand || lines.longest > PUNCH_CARD_WIDTH;

    if expand {
        let first_extra = comp.values.first().map_or(&comp.after, |v| &v.before);
        stats = LineStats {
            first_length: 1 + extra_line_stats(first_extra).first_length,
            last_length: 1,
            multiline: true,
        };
        comp.expand = true;
    }
    stats
}

/// Go's `Extra.lineStats`: approximate printed lengths of an extra's first and last line.
fn extra_line_stats(extra: &[u8]) -> LineStats {
    match extra.iter().position(|&b| b == b'\n') {
        None => {
            let n = approximate_comment_length(extra);
            LineStats {
                first_length: n,
                last_length: n,
                multiline: false,
            }
        }
        Some(first_newline) => {
            let last_newline = extra.iter().rposition(|&b| b == b'\n').unwrap_or(0);
            LineStats {
                first_length: approximate_comment_length(&extra[..first_newline]),
                last_length: approximate_comment_length(&extra[last_newline + 1..]),
                multiline: true,
            }
        }
    }
}

fn approximate_comment_length(mut line: &[u8]) -> usize {
    let mut n = 0;
    loop {
        line = &line[consume_whitespace(line)..];
        if line.starts_with(b"//") {
            return n + 1 + line.len(); // a line comment runs to the end
        }
        if line.starts_with(b"/*") {
            match consume_comment(line) {
                Comment::Complete(len) => {
                    n += 1 + len;
                    line = &line[len..];
                    continue;
                }
                // Cut at a newline: the comment runs to the end of this line.
                _ => return n + 1 + line.len(),
            }
        }
        if n > 0 {
            n += 1; // the space padding after a block comment
        }
        return n;
    }
}

/// Indentation, blank lines, comment layout and trailing commas.
fn format_whitespace(value: &mut Value, depth: usize, standard: bool) {
    let Trimmed::Composite(comp) = &mut value.value else {
        return;
    };
    let expand = comp.expand;
    if comp.is_object {
        for (i, pair) in comp.values.chunks_mut(2).enumerate() {
            let [name, member_value] = pair else {
                continue;
            };
            format_extra(
                &mut name.before,
                depth + 1,
                FormatOptions {
                    ensure_leading_newline: expand,
                    remove_leading_empty_lines: i == 0,
                    append_space_if_empty: i != 0,
                    ..FormatOptions::default()
                },
            );
            format_extra(&mut name.after, depth + 2, FormatOptions::TRIM_EMPTY_LINES);
            format_extra(
                &mut member_value.before,
                depth + 2,
                FormatOptions {
                    append_space_if_empty: true,
                    ..FormatOptions::TRIM_EMPTY_LINES
                },
            );
            let mut value_depth = depth;
            if expand {
                value_depth += 1;
            }
            if has_newline(&name.after) || has_newline(&member_value.before) {
                value_depth += 1;
            }
            format_whitespace(member_value, value_depth, standard);
            format_extra(
                &mut member_value.after,
                depth + 2,
                FormatOptions::TRIM_EMPTY_LINES,
            );
        }
    } else {
        for (i, element) in comp.values.iter_mut().enumerate() {
            format_extra(
                &mut element.before,
                depth + 1,
                FormatOptions {
                    ensure_leading_newline: expand,
                    remove_leading_empty_lines: i == 0,
                    append_space_if_empty: i != 0,
                    ..FormatOptions::default()
                },
            );
            format_whitespace(element, depth + usize::from(expand), standard);
            format_extra(
                &mut element.after,
                depth + 2,
                FormatOptions::TRIM_EMPTY_LINES,
            );
        }
    }

    let is_empty = comp.values.is_empty();
    format_extra(
        &mut comp.after,
        depth + 1,
        FormatOptions {
            ensure_trailing_newline: expand,
            remove_leading_empty_lines: is_empty,
            remove_trailing_empty_lines: true,
            unindent_last_line: true,
            ..FormatOptions::default()
        },
    );

    set_trailing_comma_for_layout(comp, expand, standard);
}

fn set_trailing_comma_for_layout(comp: &mut Composite, expand: bool, standard: bool) {
    let surrounded_comma = comp.trailing_comma
        && comp
            .values
            .last()
            .is_some_and(|last| !last.after.is_empty())
        && !comp.after.is_empty();
    if !expand && !surrounded_comma {
        comp.set_trailing_comma(false);
    } else if expand && !standard {
        comp.set_trailing_comma(true);
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct FormatOptions {
    ensure_leading_newline: bool,
    ensure_trailing_newline: bool,
    remove_leading_empty_lines: bool,
    remove_trailing_empty_lines: bool,
    unindent_last_line: bool,
    append_space_if_empty: bool,
}

impl FormatOptions {
    const TRIM_EMPTY_LINES: FormatOptions = FormatOptions {
        ensure_leading_newline: false,
        ensure_trailing_newline: false,
        remove_leading_empty_lines: true,
        remove_trailing_empty_lines: true,
        unindent_last_line: false,
        append_space_if_empty: false,
    };
}

fn push_indent(out: &mut Vec<u8>, depth: usize) {
    out.resize(out.len() + depth, b'\t');
}

/// Go's `bytes.ReplaceAll` for a two-byte pattern and a one-byte replacement.
fn replace_pair(bytes: &[u8], pair: [u8; 2], with: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == pair[0] && bytes.get(i + 1) == Some(&pair[1]) {
            out.push(with);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Go's `Extra.format`: lays out one run of whitespace and comments.
fn format_extra(extra: &mut Extra, depth: usize, opts: FormatOptions) {
    if extra.contains(&b'\r') {
        // Normalize line endings the way Go does: CRLF, then LFCR, then lone CR.
        let crlf = replace_pair(extra, [b'\r', b'\n'], b'\n');
        let mut lfcr = replace_pair(&crlf, [b'\n', b'\r'], b'\n');
        for byte in &mut lfcr {
            if *byte == b'\r' {
                *byte = b' ';
            }
        }
        *extra = lfcr;
    }

    let input = std::mem::take(extra);
    let mut out: Vec<u8> = Vec::new(); // most extras format to nothing: no allocation
    if opts.ensure_leading_newline && !has_newline(&input) {
        out.push(b'\n');
    }

    let mut rest = &input[..];
    while !rest.is_empty() {
        let n = consume_whitespace(rest);
        if n > 0 {
            let newlines = rest[..n].iter().filter(|&&b| b == b'\n').count().min(2);
            out.resize(out.len() + newlines, b'\n');
            rest = &rest[n..];
            continue;
        }

        let Comment::Complete(mut n) = consume_comment(rest) else {
            // Not reachable for parsed input; Go leaves the extra as it was.
            *extra = input;
            return;
        };

        if out.last() == Some(&b'\n') {
            push_indent(&mut out, depth);
        } else {
            out.push(b' ');
        }

        let comment = &rest[..n];
        let is_line_comment = comment.starts_with(b"//");
        if is_line_comment || !has_newline(comment) {
            out.extend_from_slice(trim_end_space(comment));
            if is_line_comment {
                n -= 1; // leave the newline for the whitespace step
            }
            rest = &rest[n..];
            continue;
        }

        append_block_comment(&mut out, comment, depth);
        rest = &rest[n..];
    }

    if opts.ensure_trailing_newline && out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    if opts.remove_leading_empty_lines {
        let extra_newlines = out.iter().take_while(|&&b| b == b'\n').count();
        if extra_newlines > 1 {
            out.drain(..extra_newlines - 1);
        }
    }
    if opts.remove_trailing_empty_lines {
        while out.ends_with(b"\n\n") {
            out.pop();
        }
    }
    if out.last() == Some(&b'\n') {
        let indent = if opts.unindent_last_line {
            depth.saturating_sub(1)
        } else {
            depth
        };
        push_indent(&mut out, indent);
    } else if !out.is_empty() {
        out.push(b' ');
    }
    if opts.append_space_if_empty && out.is_empty() {
        out.push(b' ');
    }
    *extra = out;
}

/// Re-indents a multi-line block comment (Go's common-prefix logic, quirks included).
fn append_block_comment(out: &mut Vec<u8>, comment: &[u8], depth: usize) {
    let lines: Vec<&[u8]> = comment.split(|&b| b == b'\n').map(trim_end_space).collect();
    let first_line: &[u8] = lines
        .iter()
        .skip(1)
        .find(|line| !line.is_empty())
        .copied()
        .unwrap_or_default();
    let has_empty_line = lines.iter().any(|line| line.is_empty());

    // The longest common prefix of the non-empty lines after the first. A last line of
    // just whitespace and "*/" takes the prefix's whitespace instead of voting.
    let mut common_prefix: &[u8] = first_line;
    let mut replaced_line: Option<(usize, Vec<u8>)> = None;
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        if line.ends_with(b"*/") && consume_whitespace(line) + 2 == line.len() {
            let prefix_len = consume_whitespace(common_prefix);
            let mut last = common_prefix[..prefix_len].to_vec();
            last.extend_from_slice(b"*/");
            replaced_line = Some((i, last));
            break;
        }
        // Go only shortens the prefix at the first mismatch, never to a shorter line.
        if let Some(j) = line.iter().zip(common_prefix).position(|(a, b)| a != b) {
            common_prefix = &common_prefix[..j];
        }
    }

    let prefix_len = consume_whitespace(common_prefix);
    let star_aligned =
        !has_empty_line && common_prefix.len() > prefix_len && common_prefix[prefix_len] == b'*';
    out.extend_from_slice(lines[0]);
    out.push(b'\n');
    for (i, &line) in lines.iter().enumerate().skip(1) {
        let line = match &replaced_line {
            Some((replaced, text)) if *replaced == i => &text[..],
            _ => line,
        };
        if !line.is_empty() {
            push_indent(out, depth);
            if star_aligned {
                out.push(b' ');
            }
            out.extend_from_slice(line.get(prefix_len..).unwrap_or_default());
        }
        out.push(b'\n');
    }
    while out.last() == Some(&b'\n') {
        out.pop();
    }
}

/// Go's `bytes.TrimRightFunc(b, unicode.IsSpace)` (extras are valid UTF-8).
fn trim_end_space(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.trim_end().as_bytes(),
        Err(_) => {
            let kept = bytes
                .iter()
                .rposition(|b| !b.is_ascii_whitespace() && *b != 0x0b)
                .map_or(0, |i| i + 1);
            &bytes[..kept]
        }
    }
}

/// Pads the extra after each `:` so that consecutive single-line members of an
/// expanded object start their values in the same column.
fn align_object_values(value: &mut Value) {
    let Trimmed::Composite(comp) = &mut value.value else {
        return;
    };
    if comp.is_object {
        // (index of the member value, bytes from the name to the value)
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let values = &mut comp.values;
        for i in (0..values.len()).step_by(2) {
            let (name, member_value) = (&values[i], &values[i + 1]);
            let single_line = has_newline(&name.before)
                && !has_newline(&name.after)
                && !has_newline(&member_value.before)
                && !has_nested_newline(member_value)
                && !has_newline(&member_value.after);
            let after_blank_or_comment = name.before.iter().filter(|&&b| b == b'\n').count() > 1;
            let name_len = match &name.value {
                Trimmed::Literal(lit) => lit.len(),
                Trimmed::Composite(_) => 0,
            };
            let row_len = name_len + name.after.len() + 1 + member_value.before.len();
            if !single_line {
                align_rows(values, &mut rows);
                continue;
            }
            if after_blank_or_comment {
                align_rows(values, &mut rows);
            }
            rows.push((i + 1, row_len));
        }
        align_rows(values, &mut rows);
    }
    for child in &mut comp.values {
        align_object_values(child);
    }
}

fn align_rows(values: &mut [Value], rows: &mut Vec<(usize, usize)>) {
    let widest = rows.iter().map(|&(_, len)| len).max().unwrap_or(0);
    for &(index, len) in rows.iter() {
        let before = &mut values[index].before;
        before.resize(before.len() + (widest - len), b' ');
    }
    rows.clear();
}

/// Go's `Value.hasNewline(false)`: a newline in any extra inside the value (not the
/// extra before its own closing bracket).
fn has_nested_newline(value: &Value) -> bool {
    match &value.value {
        Trimmed::Literal(_) => false,
        Trimmed::Composite(comp) => comp.values.iter().any(|child| {
            has_newline(&child.before) || has_newline(&child.after) || has_nested_newline(child)
        }),
    }
}
