//! The document store: the editor's open buffers, their versions, what kind of file each
//! is, and the conversions between tsacl's byte offsets and LSP positions.
//!
//! tsacl's spans are byte offsets; LSP positions are (line, character) where a character
//! is a UTF-16 code unit unless the client agreed to UTF-8 (`positionEncoding`). Every
//! conversion goes through [`position`] and [`offset`], which clamp out-of-range input and
//! never split a character, so a stale or hostile position cannot panic a handler.

use crate::diagnostics::SourceFile;
use crate::syntax::Span;
use lsp_types::{Position, Range, TextDocumentContentChangeEvent, Uri};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How LSP counts characters within a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// The LSP position of a byte offset in `file`.
pub fn position(file: &SourceFile, offset: usize, encoding: Encoding) -> Position {
    let text = &file.text;
    let mut offset = offset.min(text.len());
    while offset > 0 && offset < text.len() && is_continuation(text[offset]) {
        offset -= 1;
    }
    let (line, column) = file.line_col(offset);
    let start = offset + 1 - column;
    let character = match encoding {
        Encoding::Utf8 => offset - start,
        Encoding::Utf16 => utf16_len(&text[start..offset]),
    };
    Position::new(saturate(line - 1), saturate(character))
}

/// The byte offset of an LSP position in `file`: past the end of a line is its end,
/// past the last line is the end of the file, inside a character is its start.
pub fn offset(file: &SourceFile, position: Position, encoding: Encoding) -> usize {
    let text = &file.text;
    let Some(start) = file.line_start(position.line as usize) else {
        return text.len();
    };
    let mut end = file
        .line_start(position.line as usize + 1)
        .map_or(text.len(), |next| next - 1);
    if end > start && text[end - 1] == b'\r' {
        end -= 1;
    }
    let line = &text[start..end];
    let wanted = position.character as usize;
    match encoding {
        Encoding::Utf8 => {
            let mut at = wanted.min(line.len());
            while at > 0 && at < line.len() && is_continuation(line[at]) {
                at -= 1;
            }
            start + at
        }
        Encoding::Utf16 => {
            let mut units = 0;
            let mut at = 0;
            for chunk in line.utf8_chunks() {
                for ch in chunk.valid().chars() {
                    if units >= wanted {
                        return start + at;
                    }
                    units += ch.len_utf16();
                    at += ch.len_utf8();
                }
                for _ in chunk.invalid() {
                    if units >= wanted {
                        return start + at;
                    }
                    units += 1;
                    at += 1;
                }
            }
            start + at
        }
    }
}

/// The LSP range of a span.
pub fn range(file: &SourceFile, span: Span, encoding: Encoding) -> Range {
    Range::new(
        position(file, span.start as usize, encoding),
        position(file, span.end as usize, encoding),
    )
}

/// The span of an LSP range (start and end ordered).
pub fn span(file: &SourceFile, range: Range, encoding: Encoding) -> Span {
    let a = offset(file, range.start, encoding);
    let b = offset(file, range.end, encoding);
    Span::new(a.min(b), a.max(b))
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// UTF-16 code units of `bytes`, an invalid byte counting as one U+FFFD.
fn utf16_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| c.valid().encode_utf16().count() + c.invalid().len())
        .sum()
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a document is to tsacl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A tailnet policy file (HuJSON).
    Policy,
    /// An intents file (JSON5).
    Intents,
    /// Something else (a `.json` file that is not a policy): no diagnostics, no answers.
    Other,
}

/// The kind of a document, from its name and, for plain `.json`, its text: a JSON file is
/// a policy when it names a policy section, so `package.json` is left alone.
pub fn kind_of(path: &Path, text: &[u8]) -> Kind {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json5") if crate::intents::is_intents_file(path, text) => Kind::Intents,
        Some("json5") => Kind::Policy,
        Some("hujson") => Kind::Policy,
        _ if looks_like_policy(text) => Kind::Policy,
        _ => Kind::Other,
    }
}

/// A policy section written as a quoted key (`"grants"`), in any case: tolerant of text
/// that does not parse, since an editor shows files mid-edit.
fn looks_like_policy(text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    crate::model::lower::TOP_LEVEL.iter().any(|key| {
        let quoted = format!("\"{}\"", key.to_ascii_lowercase());
        lower.windows(quoted.len()).any(|w| w == quoted.as_bytes())
    })
}

/// One open buffer.
pub struct Document {
    pub uri: Uri,
    pub path: PathBuf,
    pub version: i32,
    /// The text, with a line index; shared with check runs and cached models.
    pub file: Arc<SourceFile>,
    pub kind: Kind,
}

/// The open buffers, by URI.
#[derive(Default)]
pub struct Documents {
    docs: HashMap<Uri, Document>,
}

impl Documents {
    pub fn open(&mut self, uri: Uri, version: i32, text: String) -> &Document {
        let path = path_of(&uri);
        let kind = kind_of(&path, text.as_bytes());
        let file = Arc::new(SourceFile::new(
            path.clone(),
            shown_name(&path),
            text.into_bytes(),
        ));
        self.docs.insert(
            uri.clone(),
            Document {
                uri: uri.clone(),
                path,
                version,
                file,
                kind,
            },
        );
        &self.docs[&uri]
    }

    /// Apply edits in order (a change without a range replaces the whole text).
    pub fn change(
        &mut self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
        encoding: Encoding,
    ) -> Option<&Document> {
        let doc = self.docs.get_mut(uri)?;
        let new_file =
            |text: Vec<u8>| SourceFile::new(doc.path.clone(), doc.file.name.clone(), text);
        // Each edit's positions refer to the text after the edits before it.
        let mut current: Option<SourceFile> = None;
        for change in changes {
            let text = match change.range {
                None => change.text.into_bytes(),
                Some(range) => {
                    let index = current.as_ref().unwrap_or(&doc.file);
                    let at = span(index, range, encoding);
                    let mut text = index.text.clone();
                    text.splice(at.range(), change.text.into_bytes());
                    text
                }
            };
            current = Some(new_file(text));
        }
        if let Some(file) = current {
            doc.file = Arc::new(file);
        }
        doc.version = version;
        if doc.kind != Kind::Intents {
            doc.kind = kind_of(&doc.path, &doc.file.text);
        }
        Some(doc)
    }

    pub fn close(&mut self, uri: &Uri) -> Option<Document> {
        self.docs.remove(uri)
    }

    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri)
    }

    pub fn by_path(&self, path: &Path) -> Option<&Document> {
        self.docs.values().find(|d| d.path == path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Document> {
        self.docs.values()
    }
}

/// The file a URI names (`file:` URIs; anything else keeps its text as a relative path,
/// which no file on disk will match).
pub fn path_of(uri: &Uri) -> PathBuf {
    let text = uri.as_str();
    match text.strip_prefix("file://") {
        Some(rest) => {
            // Skip an authority (`file://host/path`); local files have none.
            let path = match rest.find('/') {
                Some(i) => &rest[i..],
                None => rest,
            };
            PathBuf::from(percent_decode(path))
        }
        None => PathBuf::from(text),
    }
}

/// The `file:` URI of a path.
pub fn uri_of(path: &Path) -> Uri {
    let mut out = String::from("file://");
    let text = path.to_string_lossy();
    if !text.starts_with('/') {
        out.push('/');
    }
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out.parse()
        .unwrap_or_else(|_| "file:///".parse().expect("a constant URI parses"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The same file, by path or once symbolic links and `..` are resolved.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The name findings show for a file: relative to the working directory when inside it.
pub fn shown_name(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile::new("t", "t", text.as_bytes().to_vec())
    }

    #[test]
    fn positions_round_trip_in_both_encodings() {
        // "é" is 2 bytes, 1 UTF-16 unit; "😀" is 4 bytes, 2 units.
        let f = file("{\"é😀\": 1,\r\n \"x\": 2}\n");
        let after_emoji = "{\"é😀".len();
        assert_eq!(
            position(&f, after_emoji, Encoding::Utf16),
            Position::new(0, 5)
        );
        assert_eq!(
            position(&f, after_emoji, Encoding::Utf8),
            Position::new(0, 8)
        );
        assert_eq!(
            offset(&f, Position::new(0, 5), Encoding::Utf16),
            after_emoji
        );
        assert_eq!(offset(&f, Position::new(0, 8), Encoding::Utf8), after_emoji);
        // Inside the emoji (between its surrogates, or its bytes): its start or end, never
        // inside it.
        let inside = offset(&f, Position::new(0, 4), Encoding::Utf16);
        assert!(f.text_lossy().is_char_boundary(inside));
        let inside = offset(&f, Position::new(0, 6), Encoding::Utf8);
        assert_eq!(inside, "{\"é".len());
        assert_eq!(position(&f, "{\"é".len() + 2, Encoding::Utf8).character, 4);
        // Past the end of a line (before \r\n), past the last line.
        let line0_end = "{\"é😀\": 1,".len();
        assert_eq!(offset(&f, Position::new(0, 99), Encoding::Utf16), line0_end);
        assert_eq!(
            offset(&f, Position::new(9, 0), Encoding::Utf16),
            f.text.len()
        );
        assert_eq!(position(&f, 10_000, Encoding::Utf16), Position::new(2, 0));
        assert_eq!(
            position(&f, f.text.len() - 1, Encoding::Utf16),
            Position::new(1, 8)
        );
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut docs = Documents::default();
        let uri: Uri = "file:///tmp/p%20q/policy.hujson".parse().unwrap();
        docs.open(uri.clone(), 1, "{\n\t\"grants\": [],\n}\n".into());
        assert_eq!(
            docs.get(&uri).unwrap().path,
            PathBuf::from("/tmp/p q/policy.hujson")
        );
        let change = |range: Option<Range>, text: &str| TextDocumentContentChangeEvent {
            range,
            range_length: None,
            text: text.into(),
        };
        let doc = docs
            .change(
                &uri,
                2,
                vec![
                    change(
                        Some(Range::new(Position::new(1, 12), Position::new(1, 12))),
                        "ü",
                    ),
                    change(
                        Some(Range::new(Position::new(1, 13), Position::new(1, 13))),
                        "x",
                    ),
                ],
                Encoding::Utf16,
            )
            .unwrap();
        assert_eq!(doc.file.text_lossy(), "{\n\t\"grants\": [üx],\n}\n");
        assert_eq!(doc.version, 2);
        let doc = docs
            .change(&uri, 3, vec![change(None, "{}")], Encoding::Utf16)
            .unwrap();
        assert_eq!(doc.file.text_lossy(), "{}");
        assert_eq!(uri_of(Path::new("/tmp/p q/policy.hujson")), uri);
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(Path::new("a/tailnet.json5"), b""), Kind::Intents);
        // A policy named `.json5` (for highlighting) is a policy; an intents file with
        // groups only is still intents.
        let policy = b"// HuJSON\n{\"tagOwners\": {\"tag:a\": []}, \"acls\": [],}";
        assert_eq!(kind_of(Path::new("a/acl.json5"), policy), Kind::Policy);
        let intents = b"{output: \"policy.hujson\", services: {}, groups: {}}";
        assert_eq!(
            kind_of(Path::new("a/tailnet.json5"), intents),
            Kind::Intents
        );
        let groups_only = b"{\"groups\": {\"group:a\": []}}";
        assert_eq!(kind_of(Path::new("a/t.json5"), groups_only), Kind::Intents);
        assert_eq!(kind_of(Path::new("a/p.hujson"), b"{"), Kind::Policy);
        assert_eq!(
            kind_of(Path::new("a/p.json"), b"{\"Grants\": ["),
            Kind::Policy
        );
        assert_eq!(
            kind_of(Path::new("package.json"), b"{\"name\": 1}"),
            Kind::Other
        );
    }
}
