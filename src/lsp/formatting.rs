//! Formatting: the whole document as `tsacl fmt` writes it (Go's `hujson.Format`, byte for
//! byte), sent as one edit over the part that changes so the editor keeps its place.

use super::documents::{Encoding, range};
use crate::diagnostics::SourceFile;
use crate::syntax::Span;
use lsp_types::TextEdit;

/// The edits that format `file`: empty when it is formatted, `None` when it does not
/// parse (nothing to do, as `tsacl fmt` leaves such a file alone).
pub fn format(file: &SourceFile, encoding: Encoding) -> Option<Vec<TextEdit>> {
    let old = &file.text;
    let new = crate::syntax::hujson::format(old).ok()?;
    if new == *old {
        return Some(Vec::new());
    }
    let mut prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    // Never cut a character in two (both texts share the prefix's bytes).
    while prefix > 0 && std::str::from_utf8(&old[..prefix]).is_err() {
        prefix -= 1;
    }
    let max_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    while suffix > 0 && std::str::from_utf8(&old[old.len() - suffix..]).is_err() {
        suffix -= 1;
    }
    let replaced = Span::new(prefix, old.len() - suffix);
    let inserted = String::from_utf8_lossy(&new[prefix..new.len() - suffix]).into_owned();
    Some(vec![TextEdit::new(
        range(file, replaced, encoding),
        inserted,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_that_makes_the_formatted_text() {
        let text =
            "{\n  \"groups\": {\"group:é\": [\"a@b.c\"]},\n\"hosts\":{\"h\":\"10.0.0.1\"}}\n";
        let file = SourceFile::new("p", "p", text.as_bytes().to_vec());
        let edits = format(&file, Encoding::Utf8).unwrap();
        assert_eq!(edits.len(), 1);
        let e = &edits[0];
        let span = super::super::documents::span(&file, e.range, Encoding::Utf8);
        let mut out = text.as_bytes().to_vec();
        out.splice(span.range(), e.new_text.bytes());
        assert_eq!(out, crate::syntax::hujson::format(text.as_bytes()).unwrap());
        let formatted = SourceFile::new("p", "p", out);
        assert_eq!(format(&formatted, Encoding::Utf8), Some(Vec::new()));
        let broken = SourceFile::new("p", "p", b"{\"a\": [}".to_vec());
        assert_eq!(format(&broken, Encoding::Utf8), None);
    }
}
