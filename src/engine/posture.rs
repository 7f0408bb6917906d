//! Device posture conditions read against the attributes a test gives its source
//! (`srcPostureAttrs`), as the tailnet policy file documentation and the device posture
//! documentation describe them (reference §2.9): every condition of a posture must hold;
//! a rule's postures (its `srcPosture`, else `defaultSrcPosture`) are alternatives; an
//! attribute the test does not give makes a condition fail, even `!=` and `NOT IN`.
//!
//! The answer has three values: what is not plainly decided by that description (a value
//! of another type than the condition's, strings that differ only in case, versions that
//! are not dotted numbers or differ only in trailing zeros, a condition tsacl cannot read)
//! is [`Meets::Unknown`], and callers leave it undecided rather than guess.

use crate::model::{Policy, PostureDef};
use crate::syntax::{Kind, Value};
use rustc_hash::FxHashMap;
use std::cmp::Ordering;

/// Whether a source with the given attributes meets a posture (or one of several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meets {
    Yes,
    /// Why not, for a reader: `node:os is 'ios', not 'linux'`.
    No(String),
    /// What tsacl cannot decide.
    Unknown(String),
}

/// An attribute's value as a test gives it.
#[derive(Clone, Debug, PartialEq)]
enum Attr {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl std::fmt::Display for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attr::Text(s) => write!(f, "'{s}'"),
            Attr::Number(n) => write!(f, "{n}"),
            Attr::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A test's `srcPostureAttrs`: attribute key → value. Keys are matched exactly (a JSON
/// object decoded into a Go map keeps its keys as written; the later of a repeated key
/// wins).
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    values: Vec<(String, Option<Attr>)>,
}

impl Attrs {
    /// `None` when the value is not an object (validation reports that).
    pub fn from_value(value: &Value) -> Option<Attrs> {
        let Kind::Object(members) = &value.kind else {
            return None;
        };
        let mut values: Vec<(String, Option<Attr>)> = Vec::new();
        for m in members {
            let attr = match &m.value.kind {
                Kind::String(s) => Some(Attr::Text(s.clone())),
                Kind::Bool(b) => Some(Attr::Bool(*b)),
                Kind::Number(n) => n.parse().ok().map(Attr::Number),
                // `null` is absent; a list or object is no attribute value.
                Kind::Null => continue,
                Kind::Array(_) | Kind::Object(_) => None,
            };
            values.retain(|(k, _)| *k != m.key);
            values.push((m.key.clone(), attr));
        }
        Some(Attrs { values })
    }

    /// `Some(None)`: given, but not a value a condition can read.
    fn get(&self, key: &str) -> Option<Option<&Attr>> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// A key given that differs from `key` only in case: whether the control plane
    /// matches attribute names regardless of case, no document says.
    fn near(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(k, _)| k.as_str())
    }
}

/// A policy's postures by name (the first definition of a name, as validation reads it).
pub struct Postures<'p> {
    by_name: FxHashMap<&'p str, &'p PostureDef>,
}

impl<'p> Postures<'p> {
    pub fn new(policy: &'p Policy) -> Postures<'p> {
        let mut by_name = FxHashMap::default();
        for def in &policy.postures {
            by_name.entry(def.name.value.trim()).or_insert(def);
        }
        Postures { by_name }
    }

    /// Whether `attrs` meet at least one of `postures`.
    pub fn meets_any<'a>(
        &self,
        postures: impl IntoIterator<Item = &'a str>,
        attrs: &Attrs,
    ) -> Meets {
        let mut no = Vec::new();
        let mut unknown = None;
        for name in postures {
            match self.meets(name, attrs) {
                Meets::Yes => return Meets::Yes,
                Meets::No(why) => no.push(format!("{}: {why}", name.trim())),
                Meets::Unknown(why) => {
                    unknown.get_or_insert(format!("{}: {why}", name.trim()));
                }
            }
        }
        match unknown {
            Some(why) => Meets::Unknown(why),
            None => Meets::No(no.join("; ")),
        }
    }

    /// Whether `attrs` meet every condition of the posture `name`.
    pub fn meets(&self, name: &str, attrs: &Attrs) -> Meets {
        let name = name.trim();
        let Some(def) = self.by_name.get(name) else {
            return Meets::Unknown(format!("{name} is not defined"));
        };
        let mut unknown = None;
        for condition in &def.conditions {
            match condition_meets(&condition.value, attrs) {
                Meets::Yes => {}
                no @ Meets::No(_) => return no,
                Meets::Unknown(why) => {
                    unknown.get_or_insert(why);
                }
            }
        }
        match unknown {
            Some(why) => Meets::Unknown(why),
            None => Meets::Yes,
        }
    }
}

/// Whether `attrs` meet at least one of `postures` (names defined in `policy.postures`).
#[cfg(test)]
fn meets_any<'a>(
    policy: &Policy,
    postures: impl IntoIterator<Item = &'a str>,
    attrs: &Attrs,
) -> Meets {
    Postures::new(policy).meets_any(postures, attrs)
}

/// Whether `attrs` meet every condition of the posture `name`.
#[cfg(test)]
fn meets(policy: &Policy, name: &str, attrs: &Attrs) -> Meets {
    Postures::new(policy).meets(name, attrs)
}

/// The operators of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Lt,
    Le,
    Gt,
    Ge,
    IsSet,
    NotSet,
    /// A bare attribute: a boolean that must be true.
    Bare,
}

impl Op {
    /// As written in a condition.
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::IsSet => "IS SET",
            Op::NotSet => "NOT SET",
            Op::Bare => "",
        }
    }
}

/// A condition's value as written: `'text'`, a number, `true`/`false`, or a list.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    One(Attr),
    List(Vec<String>),
}

/// A condition cut into its attribute, its operator (`None`: none tsacl knows, with the
/// text after the attribute as the value) and the value's text: the one reading of a
/// condition's shape, for validation (`check_posture_condition`) and for evaluation.
pub fn split(condition: &str) -> (&str, Option<Op>, &str) {
    let text = condition.trim();
    let attr_len = text
        .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
        .unwrap_or(text.len());
    let (attr, rest) = text.split_at(attr_len);
    let rest = rest.trim();
    if rest.is_empty() {
        return (attr, Some(Op::Bare), "");
    }
    // ASCII upper-casing keeps byte offsets.
    let upper = rest.to_ascii_uppercase();
    match upper.as_str() {
        "IS SET" => return (attr, Some(Op::IsSet), ""),
        "NOT SET" => return (attr, Some(Op::NotSet), ""),
        _ => {}
    }
    // Longest first where one begins another.
    let ops = [
        Op::NotIn,
        Op::In,
        Op::Eq,
        Op::Ne,
        Op::Le,
        Op::Ge,
        Op::Lt,
        Op::Gt,
    ];
    match ops.into_iter().find(|op| upper.starts_with(op.text())) {
        Some(op) => (attr, Some(op), rest[op.text().len()..].trim()),
        None => (attr, None, rest),
    }
}

fn parse(condition: &str) -> Option<(&str, Op, Option<Literal>)> {
    let (attr, op, value) = split(condition);
    let op = op?;
    if matches!(op, Op::Bare | Op::IsSet | Op::NotSet) {
        return Some((attr, op, None));
    }
    if matches!(op, Op::In | Op::NotIn) {
        let inner = value.strip_prefix('[')?.strip_suffix(']')?;
        let items: Option<Vec<String>> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .map(str::to_string)
            })
            .collect();
        return Some((attr, op, Some(Literal::List(items?))));
    }
    let one = if let Some(s) = value.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Attr::Text(s.to_string())
    } else if value == "true" || value == "false" {
        Attr::Bool(value == "true")
    } else {
        Attr::Number(value.parse().ok()?)
    };
    Some((attr, op, Some(Literal::One(one))))
}

/// One condition against the attributes.
fn condition_meets(condition: &str, attrs: &Attrs) -> Meets {
    let Some((attr, op, literal)) = parse(condition) else {
        return Meets::Unknown(format!("tsacl cannot read the condition {condition:?}"));
    };
    let given = attrs.get(attr);
    if let (None, Some(near)) = (given, attrs.near(attr)) {
        return Meets::Unknown(format!("the test gives {near}, not {attr}"));
    }
    match (op, given) {
        (Op::IsSet, g) => return yes_if(g.is_some(), || format!("{attr} is not given")),
        (Op::NotSet, g) => return yes_if(g.is_none(), || format!("{attr} is given")),
        (_, None) => return Meets::No(format!("{attr} is not given")),
        (_, Some(None)) => {
            return Meets::Unknown(format!("{attr} is given as a list or object"));
        }
        _ => {}
    }
    let value = given.flatten().expect("given, handled above");
    match (op, literal) {
        (Op::Bare, _) => match value {
            Attr::Bool(b) => yes_if(*b, || format!("{attr} is false")),
            other => Meets::Unknown(format!("{attr} is {other}, not a boolean")),
        },
        (Op::In | Op::NotIn, Some(Literal::List(items))) => {
            let Attr::Text(text) = value else {
                return Meets::Unknown(format!("{attr} is {value}, not text"));
            };
            if items.iter().any(|i| i == text) {
                return yes_if(op == Op::In, || format!("{attr} is {value}"));
            }
            if items.iter().any(|i| i.eq_ignore_ascii_case(text)) {
                return Meets::Unknown(format!("{attr} is {value}, which differs in case"));
            }
            let list = items
                .iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(", ");
            yes_if(op == Op::NotIn, || {
                format!("{attr} is {value}, not one of {list}")
            })
        }
        (Op::Eq | Op::Ne, Some(Literal::One(want))) => match equal(value, &want) {
            Some(same) => yes_if(same == (op == Op::Eq), || {
                if op == Op::Eq {
                    format!("{attr} is {value}, not {want}")
                } else {
                    format!("{attr} is {value}")
                }
            }),
            None => Meets::Unknown(format!("{attr} is {value}, compared with {want}")),
        },
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Some(Literal::One(want))) => {
            let Some(order) = compare(attr, value, &want) else {
                return Meets::Unknown(format!("{attr} is {value}, ordered against {want}"));
            };
            let holds = match op {
                Op::Lt => order == Ordering::Less,
                Op::Le => order != Ordering::Greater,
                Op::Gt => order == Ordering::Greater,
                _ => order != Ordering::Less,
            };
            yes_if(holds, || {
                format!("{attr} is {value}, not {} {want}", op.text())
            })
        }
        _ => Meets::Unknown(format!("tsacl cannot read the condition {condition:?}")),
    }
}

fn yes_if(holds: bool, why_not: impl FnOnce() -> String) -> Meets {
    if holds {
        Meets::Yes
    } else {
        Meets::No(why_not())
    }
}

/// `Some(equal)` when the two are of one type and plainly equal or not.
fn equal(given: &Attr, want: &Attr) -> Option<bool> {
    match (given, want) {
        (Attr::Text(a), Attr::Text(b)) if a == b => Some(true),
        (Attr::Text(a), Attr::Text(b)) if a.eq_ignore_ascii_case(b) => None,
        (Attr::Text(_), Attr::Text(_)) => Some(false),
        (Attr::Bool(a), Attr::Bool(b)) => Some(a == b),
        (Attr::Number(a), Attr::Number(b)) => Some(a == b),
        _ => None,
    }
}

/// The order of a given value against a condition's: numbers as numbers; the version
/// attributes as dotted numbers (`1.98.0` after `1.40`).
fn compare(attr: &str, given: &Attr, want: &Attr) -> Option<Ordering> {
    match (given, want) {
        (Attr::Number(a), Attr::Number(b)) => a.partial_cmp(b),
        (Attr::Text(a), Attr::Text(b)) if attr.ends_with("Version") => version_order(a, b),
        _ => None,
    }
}

/// Dotted numbers compared part by part. `None` for anything else (`1.98.0-t1234`), and
/// where the two differ only by trailing zero parts (`1.40` against `1.40.0`): whether
/// those are equal, no document says.
fn version_order(a: &str, b: &str) -> Option<Ordering> {
    let parts = |s: &str| -> Option<Vec<u64>> {
        s.split('.')
            .map(|p| {
                (!p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect()
    };
    let (a, b) = (parts(a)?, parts(b)?);
    for (x, y) in a.iter().zip(&b) {
        if x != y {
            return Some(x.cmp(y));
        }
    }
    let n = a.len().min(b.len());
    let (longer, order) = match a.len().cmp(&b.len()) {
        Ordering::Equal => return Some(Ordering::Equal),
        Ordering::Greater => (&a[n..], Ordering::Greater),
        Ordering::Less => (&b[n..], Ordering::Less),
    };
    // Padded with zeros or not, a nonzero extra part orders the longer one after.
    longer.iter().any(|&p| p != 0).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(postures: &str) -> Policy {
        crate::model::from_text(&format!(r#"{{"postures": {postures}}}"#))
    }

    fn attrs(json: &str) -> Attrs {
        let doc = crate::syntax::hujson::parse(json.as_bytes()).unwrap();
        Attrs::from_value(&doc.root).unwrap()
    }

    fn is_yes(m: &Meets) -> bool {
        *m == Meets::Yes
    }

    #[test]
    fn every_condition_must_hold_and_a_missing_attribute_fails_any_operator() {
        let p = policy(
            r#"{"posture:mac": ["node:os IN ['macos']", "node:tsReleaseTrack == 'stable'", "node:tsVersion >= '1.40'"],
                "posture:not-ios": ["node:os != 'ios'"],
                "posture:not-in": ["node:os NOT IN ['ios', 'android']"]}"#,
        );
        let mac = attrs(
            r#"{"node:os": "macos", "node:tsReleaseTrack": "stable", "node:tsVersion": "1.98.0"}"#,
        );
        assert!(is_yes(&meets(&p, "posture:mac", &mac)));
        let old = attrs(
            r#"{"node:os": "macos", "node:tsReleaseTrack": "stable", "node:tsVersion": "1.38.2"}"#,
        );
        assert_eq!(
            meets(&p, "posture:mac", &old),
            Meets::No("node:tsVersion is '1.38.2', not >= '1.40'".into())
        );
        let windows = attrs(r#"{"node:os": "windows"}"#);
        assert_eq!(
            meets(&p, "posture:mac", &windows),
            Meets::No("node:os is 'windows', not one of 'macos'".into())
        );
        for name in ["posture:not-ios", "posture:not-in"] {
            assert!(is_yes(&meets(&p, name, &windows)), "{name}");
            assert_eq!(
                meets(&p, name, &attrs("{}")),
                Meets::No("node:os is not given".into()),
                "{name}"
            );
        }
        assert!(matches!(
            meets(&p, "posture:not-ios", &attrs(r#"{"node:os": "ios"}"#)),
            Meets::No(_)
        ));
    }

    #[test]
    fn any_posture_of_a_rule_will_do() {
        let p = policy(
            r#"{"posture:linux": ["node:os == 'linux'"], "posture:mac": ["node:os == 'macos'"]}"#,
        );
        let linux = attrs(r#"{"node:os": "linux"}"#);
        assert!(is_yes(&meets_any(
            &p,
            ["posture:mac", "posture:linux"],
            &linux
        )));
        assert_eq!(
            meets_any(&p, ["posture:mac"], &linux),
            Meets::No("posture:mac: node:os is 'linux', not 'macos'".into())
        );
    }

    #[test]
    fn booleans_numbers_and_set_tests() {
        let p = policy(
            r#"{"posture:enc": ["node:tsStateEncrypted == true"], "posture:auto": ["node:tsAutoUpdate"],
                "posture:score": ["custom:score >= 70"], "posture:set": ["custom:mdm IS SET"],
                "posture:unset": ["custom:mdm NOT SET"]}"#,
        );
        let a = attrs(
            r#"{"node:tsStateEncrypted": true, "node:tsAutoUpdate": false, "custom:score": 80}"#,
        );
        assert!(is_yes(&meets(&p, "posture:enc", &a)));
        assert_eq!(
            meets(&p, "posture:auto", &a),
            Meets::No("node:tsAutoUpdate is false".into())
        );
        assert!(is_yes(&meets(&p, "posture:score", &a)));
        assert!(matches!(meets(&p, "posture:set", &a), Meets::No(_)));
        assert!(is_yes(&meets(&p, "posture:unset", &a)));
        // A later repeated key wins; `null` is absent.
        let later = attrs(r#"{"custom:score": 10, "custom:score": 90, "custom:mdm": null}"#);
        assert!(is_yes(&meets(&p, "posture:score", &later)));
        assert!(is_yes(&meets(&p, "posture:unset", &later)));
    }

    /// What the description does not plainly decide stays unknown: never a guess.
    #[test]
    fn what_no_document_decides_is_unknown() {
        let p = policy(
            r#"{"posture:mac": ["node:os == 'macos'"], "posture:v": ["node:tsVersion >= '1.40'"],
                "posture:enc": ["node:tsStateEncrypted == true"], "posture:odd": ["node:os ~ 'mac'"]}"#,
        );
        for (name, given) in [
            ("posture:mac", r#"{"node:os": "macOS"}"#),
            ("posture:mac", r#"{"node:OS": "macos"}"#),
            ("posture:mac", r#"{"node:os": ["macos"]}"#),
            ("posture:v", r#"{"node:tsVersion": "1.40.0"}"#),
            ("posture:v", r#"{"node:tsVersion": "1.98.0-t1234"}"#),
            ("posture:enc", r#"{"node:tsStateEncrypted": "true"}"#),
            ("posture:odd", r#"{"node:os": "macos"}"#),
            ("posture:undefined", r#"{"node:os": "macos"}"#),
        ] {
            assert!(
                matches!(meets(&p, name, &attrs(given)), Meets::Unknown(_)),
                "{name} {given}"
            );
        }
        // An unknown posture among the alternatives leaves the answer open only when no
        // other one is met.
        let mac = attrs(r#"{"node:os": "macos"}"#);
        assert!(is_yes(&meets_any(&p, ["posture:odd", "posture:mac"], &mac)));
        assert!(matches!(
            meets_any(&p, ["posture:odd", "posture:enc"], &mac),
            Meets::Unknown(_)
        ));
    }

    use proptest::prelude::*;

    proptest! {
        /// A condition and its negation (`==`/`!=`, `IN`/`NOT IN`, `<`/`>=`) never both
        /// hold, and when the attribute is given and both are decided, exactly one does.
        /// No condition text or attribute value makes the reading panic.
        #[test]
        fn a_condition_and_its_negation_never_agree(
            given in proptest::option::of(proptest::prop_oneof![
                "[a-zA-Z0-9.]{0,6}".prop_map(|s| format!("{s:?}")),
                proptest::bool::ANY.prop_map(|b| b.to_string()),
                (0u32..200).prop_map(|n| n.to_string()),
            ]),
            value in proptest::prop_oneof![
                "[a-zA-Z0-9.]{0,6}".prop_map(|s| format!("'{s}'")),
                proptest::bool::ANY.prop_map(|b| b.to_string()),
                (0u32..200).prop_map(|n| n.to_string()),
            ],
            list in proptest::collection::vec("[a-zA-Z0-9.]{0,6}", 0..4),
            noise in "\\PC{0,30}",
        ) {
            let attrs = attrs(&match &given {
                Some(v) => format!(r#"{{"node:osVersion": {v}}}"#),
                None => "{}".to_string(),
            });
            let list = format!("[{}]", list.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(", "));
            for (yes, no) in [
                (format!("node:osVersion == {value}"), format!("node:osVersion != {value}")),
                (format!("node:osVersion IN {list}"), format!("node:osVersion NOT IN {list}")),
                (format!("node:osVersion < {value}"), format!("node:osVersion >= {value}")),
            ] {
                let (a, b) = (condition_meets(&yes, &attrs), condition_meets(&no, &attrs));
                prop_assert!(!(a == Meets::Yes && b == Meets::Yes), "{yes} / {no}");
                let decided = |m: &Meets| !matches!(m, Meets::Unknown(_));
                if given.is_some() && decided(&a) && decided(&b) {
                    prop_assert!((a == Meets::Yes) != (b == Meets::Yes), "{yes}: {a:?} / {no}: {b:?}");
                }
            }
            let _ = condition_meets(&noise, &attrs);
        }
    }

    #[test]
    fn versions_compare_as_dotted_numbers() {
        use Ordering::*;
        assert_eq!(version_order("1.98.0", "1.40.2"), Some(Greater));
        assert_eq!(version_order("1.9", "1.40"), Some(Less));
        assert_eq!(version_order("13.4.0", "13.4.0"), Some(Equal));
        assert_eq!(version_order("1.40", "1.40.0"), None);
        assert_eq!(version_order("1.40.1", "1.40"), Some(Greater));
        assert_eq!(version_order("1.40", "1.40.0.1"), Some(Less));
        assert_eq!(version_order("1.41", "1.40.9"), Some(Greater));
        assert_eq!(version_order("v1.2", "1.2"), None);
    }
}
