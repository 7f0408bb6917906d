//! Go to definition, find references and rename, over the names of [`super::symbols`].
//! Within one file, as the issue asks ("everywhere in the file"). Definition answers one
//! place: a name's definition (in the file, else in the intents); elsewhere in a compiled
//! policy, the intent or base rule that wrote the rule there.

use super::analysis::{Model, ProjectView};
use super::documents::{Encoding, range, uri_of};
use super::symbols::{Kind, Occurrence, at};
use crate::syntax::Span;
use lsp_types::{Location, TextEdit, Uri};
use std::collections::HashMap;

/// The one place the name under `offset` is defined: in this file, else (in an intents
/// project) in the intents, which write the compiled policy's definitions. Elsewhere in
/// the compiled policy (`in_output`: on a rule, a field, a port, a name defined nowhere),
/// where the rule under `offset` was written. One location, so that editors jump instead
/// of opening a picker.
pub fn definition(
    model: &Model,
    uri: &Uri,
    offset: usize,
    project: Option<&ProjectView>,
    in_output: bool,
    encoding: Encoding,
) -> Vec<Location> {
    let here = at(&model.occurrences, offset);
    if let Some(o) = here {
        if let Some(d) = model
            .occurrences
            .iter()
            .find(|d| d.definition && d.same_symbol(o))
        {
            return vec![Location::new(
                uri.clone(),
                range(&model.file, d.span, encoding),
            )];
        }
        if let Some(found) = project.and_then(|view| in_intents(view, o, encoding)) {
            return vec![found];
        }
    }
    if let Some(view) = project
        && in_output
        && view.in_sync
        && view.policy.is_some()
        && let Some(at) = view.project.written_at(Span::new(offset, offset))
    {
        let f = view.project.sources.get(at.file);
        return vec![Location::new(uri_of(&f.path), range(f, at.span, encoding))];
    }
    Vec::new()
}

/// Where the intents define a name of the compiled policy: a group, a device (a host
/// alias, or its tags), a service (its tag).
fn in_intents(view: &ProjectView, o: &Occurrence, encoding: Encoding) -> Option<Location> {
    let project = &view.project;
    let file = project.sources.get(project.intents_file);
    let names = super::symbols::intents(&project.intents, &file.text);
    let found: Vec<&Occurrence> = match o.kind {
        Kind::Group | Kind::Device | Kind::Host => names
            .iter()
            .filter(|d| {
                d.definition
                    && d.name == o.name
                    && (d.kind == o.kind || (o.kind == Kind::Host && d.kind == Kind::Device))
            })
            .collect(),
        Kind::Tag => {
            let service = project
                .intents
                .services
                .iter()
                .find(|s| s.tag == o.name)
                .map(|s| s.name.value.clone());
            names
                .iter()
                .filter(|d| match &service {
                    Some(name) => d.kind == Kind::Service && d.name == *name,
                    None => d.kind == Kind::Tag && d.name == o.name,
                })
                .take(1)
                .collect()
        }
        _ => Vec::new(),
    };
    found
        .into_iter()
        .next()
        .map(|d| Location::new(uri_of(&file.path), range(file, d.span, encoding)))
}

/// Every place the name under `offset` is written (its definitions only when asked).
pub fn references(
    model: &Model,
    uri: &Uri,
    offset: usize,
    include_declaration: bool,
    encoding: Encoding,
) -> Vec<Location> {
    let Some(o) = at(&model.occurrences, offset) else {
        return Vec::new();
    };
    model
        .occurrences
        .iter()
        .filter(|r| r.same_symbol(o) && (include_declaration || !r.definition))
        .map(|r| Location::new(uri.clone(), range(&model.file, r.span, encoding)))
        .collect()
}

/// The name under `offset`, if it can be renamed: its span and its full name.
pub fn prepare_rename(model: &Model, offset: usize) -> Option<(Span, String)> {
    let o = at(&model.occurrences, offset)?;
    o.kind.renamable().then(|| (o.span, written(model, o)))
}

fn written(model: &Model, o: &Occurrence) -> String {
    String::from_utf8_lossy(&model.file.text[o.span.range()]).into_owned()
}

/// Rename the name under `offset` to `new_name` everywhere in the file. `Err` is a sentence
/// for the user (an invalid or taken name).
pub fn rename(
    model: &Model,
    uri: &Uri,
    offset: usize,
    new_name: &str,
    encoding: Encoding,
) -> Result<Option<HashMap<Uri, Vec<TextEdit>>>, String> {
    let Some(o) = at(&model.occurrences, offset).filter(|o| o.kind.renamable()) else {
        return Ok(None);
    };
    let new_full = full_name(o.kind, new_name.trim())?;
    if new_full == o.name {
        return Ok(Some(HashMap::new()));
    }
    if model
        .occurrences
        .iter()
        .any(|d| d.definition && d.kind == o.kind && d.name == new_full)
    {
        return Err(format!("{} {new_full:?} already exists", o.kind.describe()));
    }
    let prefix_len = o.kind.prefix().map_or(0, str::len);
    let mut edits = Vec::new();
    for r in model.occurrences.iter().filter(|r| r.same_symbol(o)) {
        let (span, text) = if r.exact {
            let text = if r.bare {
                new_full[prefix_len..].to_string()
            } else {
                new_full.clone()
            };
            (r.span, escape(&text))
        } else {
            // Escapes hide the name: rewrite the whole string, decoded and requoted.
            let Some(decoded) = decode_literal(&model.file.text[r.literal.range()]) else {
                continue;
            };
            let replaced = decoded.replacen(&r.name, &new_full, 1);
            (
                r.literal,
                serde_json::to_string(&replaced).unwrap_or_default(),
            )
        };
        edits.push(TextEdit::new(range(&model.file, span, encoding), text));
    }
    Ok(Some(HashMap::from([(uri.clone(), edits)])))
}

/// The full new name, checked: the kind's prefix is added when left out.
fn full_name(kind: Kind, new_name: &str) -> Result<String, String> {
    let full = match kind.prefix() {
        Some(p) if !new_name.starts_with(p) => format!("{p}{new_name}"),
        _ => new_name.to_string(),
    };
    let problem = match kind {
        Kind::Tag => crate::validate::check_tag_name(&full)
            .err()
            .map(str::to_string),
        Kind::Host | Kind::Device if full.is_empty() || full.contains([':', '@', ' ', '"']) => {
            Some("a name without ':', '@', spaces or quotes".to_string())
        }
        _ if full.len() == kind.prefix().map_or(0, str::len) || full.contains('"') => {
            Some("a name after the prefix, without quotes".to_string())
        }
        _ => None,
    };
    match problem {
        Some(why) => Err(format!("cannot rename to {new_name:?}: {why}")),
        None => Ok(full),
    }
}

/// Text to put inside a JSON string.
fn escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

fn decode_literal(literal: &[u8]) -> Option<String> {
    crate::syntax::hujson::parse(literal)
        .ok()
        .and_then(|d| d.root.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_are_checked_and_completed() {
        assert_eq!(full_name(Kind::Tag, "api"), Ok("tag:api".into()));
        assert_eq!(full_name(Kind::Tag, "tag:api"), Ok("tag:api".into()));
        assert!(full_name(Kind::Tag, "tag:9x").is_err());
        assert!(full_name(Kind::Host, "a:b").is_err());
        assert_eq!(full_name(Kind::Group, "ops"), Ok("group:ops".into()));
        assert!(full_name(Kind::Group, "group:").is_err());
    }
}
