//! Completion: section keys and field names, and in values the names the policy (or the
//! intents) defines, autogroups, protocols and SSH users.
//!
//! Where the cursor is comes from a tolerant scan of the text before it (strings, comments,
//! brackets, keys), not from the parser: completion is asked for mid-edit, when the
//! document rarely parses. The names offered come from the last model that did parse.

use super::analysis::Model;
use super::symbols::Kind;
use crate::model::Autogroup;
use crate::model::lower::{
    ACL_FIELDS, AUTO_APPROVER_FIELDS, GRANT_FIELDS, NODE_ATTR_FIELDS, SSH_FIELDS, SSH_TEST_FIELDS,
    TEST_FIELDS, TOP_LEVEL,
};
use crate::model::ports::PROTOCOL_NAMES;
use crate::syntax::Span;

/// One open object or array around the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Frame {
    /// An object, with the key being written or last written, and whether a value (after
    /// `:`) is expected.
    Object {
        key: Option<String>,
        value: bool,
    },
    Array,
}

/// Where the cursor is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    frames: Vec<Frame>,
    /// The string (or JSON5 identifier) being typed: its content's start and the text so
    /// far. `None` between tokens.
    typing: Option<(usize, String)>,
    quoted: bool,
}

impl Place {
    /// The keys of the objects around the cursor, outermost first (`["grants", "src"]`).
    fn keys(&self) -> Vec<&str> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                Frame::Object { key, value: true } => key.as_deref(),
                _ => None,
            })
            .collect()
    }
    /// Writing a key (rather than a value) of the innermost object.
    fn at_key(&self) -> bool {
        matches!(self.frames.last(), Some(Frame::Object { value: false, .. }))
    }
}

/// Scan `text[..cursor]`.
pub fn place(text: &[u8], cursor: usize) -> Place {
    let cursor = cursor.min(text.len());
    let mut frames: Vec<Frame> = Vec::new();
    let mut i = 0;
    let mut typing = None;
    let mut quoted = false;
    let set_key = |frames: &mut Vec<Frame>, word: String| {
        if let Some(Frame::Object { key, value: false }) = frames.last_mut() {
            *key = Some(word);
        }
    };
    while i < cursor {
        let b = text[i];
        match b {
            b'{' => frames.push(Frame::Object {
                key: None,
                value: false,
            }),
            b'[' => frames.push(Frame::Array),
            b'}' | b']' => {
                frames.pop();
            }
            b':' => {
                if let Some(Frame::Object { value, .. }) = frames.last_mut() {
                    *value = true;
                }
            }
            b',' => {
                if let Some(Frame::Object { key, value }) = frames.last_mut() {
                    *key = None;
                    *value = false;
                }
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                while i < cursor && text[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < cursor && !(text[i] == b'*' && text.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' | b'\'' => {
                let start = i + 1;
                let mut j = start;
                while j < cursor && text[j] != b && text[j] != b'\n' {
                    j += if text[j] == b'\\' { 2 } else { 1 };
                }
                let content = String::from_utf8_lossy(&text[start..j.min(cursor)]).into_owned();
                if j >= cursor {
                    typing = Some((start, content));
                    quoted = true;
                    break;
                }
                set_key(&mut frames, content);
                i = j + 1;
                continue;
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                let start = i;
                while i < cursor && (text[i].is_ascii_alphanumeric() || b"_$-".contains(&text[i])) {
                    i += 1;
                }
                let word = String::from_utf8_lossy(&text[start..i]).into_owned();
                if i >= cursor {
                    typing = Some((start, word));
                    break;
                }
                set_key(&mut frames, word);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Place {
        frames,
        typing,
        quoted,
    }
}

/// One completion: the text to insert and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    pub detail: String,
    pub kind: ItemKind,
    /// What it replaces, and the text (quoted when the cursor is not in a string).
    pub replace: Span,
    pub insert: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Field,
    Name,
    Value,
}

/// The completions at `cursor`. `names` is the last model that parsed (the current one
/// when it does).
pub fn complete(text: &[u8], cursor: usize, names: Option<&Model>, intents: bool) -> Vec<Item> {
    let place = place(text, cursor);
    let keys = place.keys();
    let cursor = cursor.min(text.len());
    let (replace, quoted) = match &place.typing {
        // Inside a closed string, the rest of it is replaced too.
        Some((start, _)) if place.quoted => {
            let rest = &text[cursor..];
            let end = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'\'' | b'\n'))
                .filter(|&i| matches!(rest[i], b'"' | b'\''))
                .map_or(cursor, |i| cursor + i);
            (Span::new(*start, end), true)
        }
        Some((start, _)) => (Span::new(*start, cursor), false),
        None => (Span::new(cursor, cursor), false),
    };
    // The text being typed is in the model too (as a name used there) once the document
    // parses with it: it is not a name to offer.
    let names = Names {
        model: names,
        typing: place.typing.as_ref().map(|_| replace),
    };
    let candidates: Vec<(String, String, ItemKind)> = if intents {
        intents_candidates(&place, &keys, names)
    } else {
        policy_candidates(&place, &keys, names)
    };
    let mut seen = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|(label, _, _)| seen.insert(label.clone()))
        .map(|(label, detail, kind)| Item {
            insert: if quoted || (intents && kind == ItemKind::Field) {
                label.clone()
            } else {
                serde_json::to_string(&label).unwrap_or_default()
            },
            label,
            detail,
            kind,
            replace,
        })
        .collect()
}

fn fields(list: &[&str], what: &str) -> Vec<(String, String, ItemKind)> {
    list.iter()
        .map(|f| (f.to_string(), what.to_string(), ItemKind::Field))
        .collect()
}

fn values(list: &[&str], what: &str) -> Vec<(String, String, ItemKind)> {
    list.iter()
        .map(|f| (f.to_string(), what.to_string(), ItemKind::Value))
        .collect()
}

/// The names completion offers: the last model that parsed, less what is being typed.
#[derive(Clone, Copy)]
struct Names<'a> {
    model: Option<&'a Model>,
    /// The string or identifier at the cursor: an occurrence written there (or, in an
    /// older model, starting where it starts) is the half-typed text itself.
    typing: Option<Span>,
}

impl Names<'_> {
    fn is_typing(&self, o: &super::symbols::Occurrence) -> bool {
        self.typing.is_some_and(|t| {
            o.literal.start == t.start
                || o.span.start == t.start
                || (o.span.start < t.end.max(t.start + 1) && o.span.end > t.start)
        })
    }
}

/// Names of these kinds the model defines or uses, with what each is.
fn names(model: Names, kinds: &[Kind]) -> Vec<(String, String, ItemKind)> {
    let Some(m) = model.model else {
        return Vec::new();
    };
    let mut out: Vec<(String, String, ItemKind)> = m
        .occurrences
        .iter()
        .filter(|o| kinds.contains(&o.kind) && !model.is_typing(o))
        .map(|o| {
            let detail = if o.definition {
                format!("{} (defined)", o.kind.describe())
            } else {
                o.kind.describe().to_string()
            };
            (o.name.clone(), detail, ItemKind::Name)
        })
        .collect();
    // Definitions first, so the deduplication keeps "(defined)".
    out.sort_by_key(|(_, d, _)| !d.ends_with("(defined)"));
    out
}

fn autogroups() -> Vec<(String, String, ItemKind)> {
    Autogroup::ALL
        .iter()
        .filter(|a| !matches!(a, Autogroup::Members | Autogroup::Nonroot))
        .map(|a| (a.name().to_string(), "autogroup".into(), ItemKind::Value))
        .collect()
}

fn selectors(model: Names) -> Vec<(String, String, ItemKind)> {
    let mut out = names(
        model,
        &[Kind::Tag, Kind::Group, Kind::Host, Kind::IpSet, Kind::User],
    );
    out.extend(autogroups());
    out.push(("*".into(), "everyone / everything".into(), ItemKind::Value));
    out
}

fn policy_candidates(
    place: &Place,
    keys: &[&str],
    model: Names,
) -> Vec<(String, String, ItemKind)> {
    let depth = place.frames.len();
    let section = keys.first().copied().unwrap_or_default();
    let in_rule_list = |name: &str| section.eq_ignore_ascii_case(name) && depth == 3;
    if place.at_key() {
        return match depth {
            1 => fields(TOP_LEVEL, "policy section"),
            2 if section.eq_ignore_ascii_case("autoApprovers") => {
                fields(AUTO_APPROVER_FIELDS, "autoApprovers field")
            }
            2 => {
                let kind = match section {
                    "tagOwners" => Kind::Tag,
                    "groups" => Kind::Group,
                    "hosts" => Kind::Host,
                    "ipsets" => Kind::IpSet,
                    "postures" => Kind::Posture,
                    _ => return Vec::new(),
                };
                // Names used but not yet defined are the ones worth defining.
                names(model, &[kind])
                    .into_iter()
                    .filter(|(_, d, _)| !d.ends_with("(defined)"))
                    .collect()
            }
            3 if in_rule_list("acls") => fields(ACL_FIELDS, "ACL field"),
            3 if in_rule_list("grants") => fields(GRANT_FIELDS, "grant field"),
            3 if in_rule_list("ssh") => fields(SSH_FIELDS, "SSH rule field"),
            3 if in_rule_list("nodeAttrs") => fields(NODE_ATTR_FIELDS, "nodeAttrs field"),
            3 if in_rule_list("tests") => fields(TEST_FIELDS, "test field"),
            3 if in_rule_list("sshTests") => fields(SSH_TEST_FIELDS, "SSH test field"),
            _ => Vec::new(),
        };
    }
    let field = keys.last().copied().unwrap_or_default();
    match (section, field) {
        ("groups", _) if keys.len() == 2 => names(model, &[Kind::User]),
        ("tagOwners", _) if keys.len() == 2 => {
            let mut out = names(model, &[Kind::Tag, Kind::Group, Kind::User]);
            out.extend(
                autogroups()
                    .into_iter()
                    .filter(|(n, _, _)| Autogroup::from_name(n).is_some_and(|a| a.is_user_set())),
            );
            out
        }
        ("ipsets", _) => {
            let mut out: Vec<_> = names(model, &[Kind::Host])
                .into_iter()
                .map(|(n, d, k)| (format!("add host:{n}"), d, k))
                .collect();
            out.extend(
                names(model, &[Kind::IpSet])
                    .into_iter()
                    .map(|(n, d, k)| (format!("add {n}"), d, k)),
            );
            out
        }
        (_, "action") if section == "ssh" => values(&["accept", "check"], "SSH action"),
        (_, "action") => values(&["accept"], "ACL action"),
        (_, "proto") => PROTOCOL_NAMES
            .iter()
            .map(|(n, num)| (n.to_string(), format!("IP protocol {num}"), ItemKind::Value))
            .collect(),
        (_, "ip") => {
            let mut out = values(&["*", "icmp:*"], "grant ip");
            out.extend(["tcp:", "udp:", "sctp:"].iter().map(|p| {
                (
                    p.to_string(),
                    "protocol: then ports".to_string(),
                    ItemKind::Value,
                )
            }));
            out
        }
        (_, "srcPosture") | ("defaultSrcPosture", _) => names(model, &[Kind::Posture]),
        ("ssh" | "sshTests", "users" | "accept" | "check" | "deny") => {
            values(&["autogroup:nonroot", "root"], "SSH user")
        }
        (_, "src" | "dst" | "via" | "target" | "exitNode" | "recorder" | "accept" | "deny") => {
            selectors(model)
        }
        ("autoApprovers", _) => selectors(model),
        _ => Vec::new(),
    }
}

fn intents_candidates(
    place: &Place,
    keys: &[&str],
    model: Names,
) -> Vec<(String, String, ItemKind)> {
    use crate::intents::lower::{
        DEVICE_FIELDS, LINT_FIELDS, OPERATOR_FIELDS, SERVICE_FIELDS, TOP_FIELDS,
    };
    let depth = place.frames.len();
    let section = keys.first().copied().unwrap_or_default();
    if place.at_key() {
        return match (depth, section) {
            (1, _) => fields(TOP_FIELDS, "intents section"),
            (2, "operator") => fields(OPERATOR_FIELDS, "operator field"),
            (2, "lint") => fields(LINT_FIELDS, "lint field"),
            (3, "services") => fields(SERVICE_FIELDS, "service field"),
            (3, "devices") => fields(DEVICE_FIELDS, "device field"),
            (3, "lint") => rule_codes(),
            _ => Vec::new(),
        };
    }
    let field = keys.last().copied().unwrap_or_default();
    match (section, field) {
        ("services", "from") => {
            let mut out = names(model, &[Kind::Device, Kind::Group, Kind::Tag, Kind::User]);
            // A service's tag reaches that service: offer it under the service's name.
            if let Some(i) = model.model.and_then(|m| m.intents.as_ref()) {
                out.extend(i.services.iter().map(|s| {
                    (
                        s.tag.clone(),
                        format!("tag of service {}", s.name.value),
                        ItemKind::Name,
                    )
                }));
            }
            out.extend(autogroups());
            out
        }
        ("devices", "tags") | ("services", "tag") | ("operator", "tag" | "proxyTag") => {
            names(model, &[Kind::Tag])
        }
        ("devices", "user") | ("groups", _) => names(model, &[Kind::User]),
        ("operator", "owners") => {
            let mut out = names(model, &[Kind::Tag, Kind::User]);
            out.extend(autogroups());
            out
        }
        ("lint", "select" | "ignore") => rule_codes(),
        ("lint", _) if keys.len() == 2 => values(&["error", "warning", "info", "off"], "severity"),
        _ => Vec::new(),
    }
}

fn rule_codes() -> Vec<(String, String, ItemKind)> {
    crate::rules::RULES
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                format!("{}: {}", r.name, r.summary),
                ItemKind::Value,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str, intents: bool) -> Vec<String> {
        let cursor = text.find('|').unwrap();
        let text = text.replace('|', "");
        complete(text.as_bytes(), cursor, None, intents)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn places() {
        let p = place(br#"{"grants": [{"src": ["tag:w"#, 27);
        assert_eq!(p.keys(), vec!["grants", "src"]);
        assert_eq!(p.typing, Some((22, "tag:w".into())));
        let p = place(b"{\n  // a \"comment\n  \"acls\": [{\"", 31);
        assert_eq!(p.keys(), vec!["acls"]);
        assert!(p.at_key());
        // JSON5 identifiers as keys.
        let p = place(b"{ services: { redis: { fr", 25);
        assert_eq!(p.keys(), vec!["services", "redis"]);
        assert_eq!(p.typing, Some((23, "fr".into())));
        assert!(p.at_key());
    }

    #[test]
    fn fields_and_values_by_position() {
        assert!(labels(r#"{"|"#, false).contains(&"tagOwners".to_string()));
        assert!(labels(r#"{"grants": [{"|"#, false).contains(&"via".to_string()));
        assert!(labels(r#"{"ssh": [{"action": "|"#, false).contains(&"check".to_string()));
        assert!(labels(r#"{"acls": [{"proto": "|"#, false).contains(&"tcp".to_string()));
        assert!(
            labels(r#"{"grants": [{"dst": ["|"#, false).contains(&"autogroup:member".to_string())
        );
        assert!(labels("{ services: { redis: { |", true).contains(&"from".to_string()));
        assert!(labels("{ lint: { select: [\"|", true).contains(&"TSA210".to_string()));
        assert!(labels(r#"{"grants": [{"ip": [22, "|"#, false).contains(&"tcp:".to_string()));
    }

    #[test]
    fn inserts_quotes_outside_strings() {
        let items = complete(br#"{"grants": [{"dst": ["#, 21, None, false);
        let star = items.iter().find(|i| i.label == "*").unwrap();
        assert_eq!(star.insert, "\"*\"");
        let items = complete(br#"{"grants": [{"dst": ["aut"#, 25, None, false);
        let member = items
            .iter()
            .find(|i| i.label == "autogroup:member")
            .unwrap();
        assert_eq!(member.insert, "autogroup:member");
        assert_eq!(member.replace, Span::new(22, 25));
    }
}
