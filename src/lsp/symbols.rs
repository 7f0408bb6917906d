//! Every name a document defines or uses, with where it is written: the index behind
//! hover, go to definition, find references, rename and completion.
//!
//! Built from the model (`model::Policy`, `intents::Intents`) rather than by searching the
//! text, so what counts as a selector, a definition or a posture is what the checker
//! itself reads. A name's span is the name alone inside its string (`tag:db` in
//! `"tag:db:5432"`); when escapes hide it, the whole literal stands in (`exact: false`).

use crate::engine::value_to_json;
use crate::intents::Intents;
use crate::model::{Policy, Sel, Selector, Spanned};
use crate::syntax::{Span, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Tag,
    Group,
    Host,
    IpSet,
    Posture,
    Autogroup,
    User,
    /// A machine of the intents file.
    Device,
    /// A service of the intents file.
    Service,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Group => "group",
            Kind::Host => "host alias",
            Kind::IpSet => "ipset",
            Kind::Posture => "posture",
            Kind::Autogroup => "autogroup",
            Kind::User => "user",
            Kind::Device => "device",
            Kind::Service => "service",
        }
    }

    /// The prefix names of this kind carry (`tag:`), if any.
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            Kind::Tag => Some("tag:"),
            Kind::Group => Some("group:"),
            Kind::IpSet => Some("ipset:"),
            Kind::Posture => Some("posture:"),
            Kind::Autogroup => Some("autogroup:"),
            _ => None,
        }
    }

    /// Names of these kinds can be renamed everywhere they are written.
    pub fn renamable(self) -> bool {
        matches!(
            self,
            Kind::Tag | Kind::Group | Kind::Host | Kind::IpSet | Kind::Posture | Kind::Device
        )
    }
}

/// One place a name is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub kind: Kind,
    /// The full name (`tag:db`, `group:eng`, a host alias, a device name).
    pub name: String,
    /// The name as written; without its prefix when `bare` (an intents group key `admins`).
    pub span: Span,
    /// The string (or key) it is written in.
    pub literal: Span,
    pub definition: bool,
    /// Written without its kind's prefix.
    pub bare: bool,
    /// `span` holds exactly the name (no escapes in the way).
    pub exact: bool,
}

impl Occurrence {
    pub fn same_symbol(&self, other: &Occurrence) -> bool {
        self.kind == other.kind && self.name == other.name
    }
}

/// The occurrence under `offset` (a cursor just after a name still touches it).
pub fn at(occurrences: &[Occurrence], offset: usize) -> Option<&Occurrence> {
    let offset = offset as u32;
    occurrences
        .iter()
        .find(|o| o.span.start <= offset && offset < o.span.end)
        .or_else(|| occurrences.iter().find(|o| o.span.end == offset))
}

struct Collector<'t> {
    text: &'t [u8],
    out: Vec<Occurrence>,
}

impl Collector<'_> {
    fn push(&mut self, kind: Kind, name: &str, literal: Span, definition: bool) {
        let name = name.trim();
        if name.is_empty() || literal.end as usize > self.text.len() {
            return;
        }
        let (span, bare, exact) = self.locate(kind, name, literal);
        self.out.push(Occurrence {
            kind,
            name: name.to_string(),
            span,
            literal,
            definition,
            bare,
            exact,
        });
    }

    /// Where `name` is written inside `literal`: the full name, else (for a prefixed kind)
    /// the bare name, else the literal's content.
    fn locate(&self, kind: Kind, name: &str, literal: Span) -> (Span, bool, bool) {
        let within = &self.text[literal.range()];
        let find = |needle: &str| {
            within
                .windows(needle.len().max(1))
                .position(|w| w == needle.as_bytes())
                .map(|i| {
                    Span::new(
                        literal.start as usize + i,
                        literal.start as usize + i + needle.len(),
                    )
                })
        };
        if let Some(span) = find(name) {
            return (span, false, true);
        }
        if let Some(bare) = kind.prefix().and_then(|p| name.strip_prefix(p))
            && let Some(span) = find(bare)
        {
            return (span, true, true);
        }
        let quoted = within.first().is_some_and(|b| *b == b'"' || *b == b'\'');
        let inner = if quoted && literal.len() >= 2 {
            Span::new(literal.start as usize + 1, literal.end as usize - 1)
        } else {
            literal
        };
        (inner, false, false)
    }

    fn selector(&mut self, selector: &Selector, literal: Span) {
        let (kind, name) = match selector {
            Selector::Tag(t) => (Kind::Tag, t.as_str()),
            Selector::Group(g) => (Kind::Group, g.as_str()),
            Selector::Host(h) => (Kind::Host, h.as_str()),
            Selector::IpSet(s) => (Kind::IpSet, s.as_str()),
            Selector::User(u) => (Kind::User, u.as_str()),
            Selector::Autogroup(a) => (Kind::Autogroup, a.name()),
            _ => return,
        };
        self.push(kind, name, literal, false);
    }

    fn sel(&mut self, sel: &Sel) {
        if let Some(s) = &sel.selector {
            self.selector(s, sel.span);
        }
    }

    /// A selector written as a plain string (tests' `src`, SSH tests' `dst`).
    fn text_selector(&mut self, s: &Spanned<String>) {
        if let Ok(sel) = Selector::parse(&s.value) {
            self.selector(&sel, s.span);
        }
    }

    /// `host:port` as tests write destinations.
    fn host_port(&mut self, s: &Spanned<String>) {
        if let Ok((host, _)) = crate::model::lower::split_host_port(s.value.trim())
            && let Ok(sel) = Selector::parse(&host)
        {
            self.selector(&sel, s.span);
        }
    }

    fn posture(&mut self, s: &Spanned<String>) {
        if s.value.trim().starts_with("posture:") {
            self.push(Kind::Posture, &s.value, s.span, false);
        }
    }

    /// Tags named in capability values (an app connector's `connectors`): uses of the tag.
    fn capability_values(&mut self, value: &Value) {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match &v.kind {
                crate::syntax::Kind::String(s) if s.trim().starts_with("tag:") => {
                    self.push(Kind::Tag, s, v.span, false);
                }
                crate::syntax::Kind::Array(items) => stack.extend(items),
                crate::syntax::Kind::Object(members) => {
                    stack.extend(members.iter().map(|m| &m.value))
                }
                _ => {}
            }
        }
    }
}

/// Every name a policy defines or uses.
pub fn policy(policy: &Policy, text: &[u8]) -> Vec<Occurrence> {
    let mut c = Collector {
        text,
        out: Vec::new(),
    };
    for t in &policy.tag_owners {
        c.push(Kind::Tag, &t.tag.value, t.tag.span, true);
        for o in &t.owners {
            c.sel(o);
        }
    }
    for g in &policy.groups {
        c.push(Kind::Group, &g.name.value, g.name.span, true);
        for m in &g.members {
            c.push(Kind::User, &m.value, m.span, false);
        }
    }
    for h in &policy.hosts {
        c.push(Kind::Host, &h.name.value, h.name.span, true);
    }
    for s in &policy.ipsets {
        c.push(Kind::IpSet, &s.name.value, s.name.span, true);
        for op in &s.ops {
            let target = op.value.split_whitespace().last().unwrap_or_default();
            if let Some(host) = target.strip_prefix("host:") {
                c.push(Kind::Host, host, op.span, false);
            } else if target.starts_with("ipset:") {
                c.push(Kind::IpSet, target, op.span, false);
            }
        }
    }
    for p in &policy.postures {
        c.push(Kind::Posture, &p.name.value, p.name.span, true);
    }
    for sel in policy.rule_selectors() {
        c.sel(sel);
    }
    let postures = policy
        .acls
        .iter()
        .flatten()
        .flat_map(|a| &a.src_posture)
        .chain(policy.grants.iter().flatten().flat_map(|g| &g.src_posture))
        .chain(policy.ssh.iter().flat_map(|r| &r.src_posture))
        .chain(&policy.default_src_posture);
    for p in postures {
        c.posture(p);
    }
    for g in policy.grants.iter().flatten() {
        for cap in &g.app {
            c.capability_values(&cap.values);
        }
    }
    for a in &policy.node_attrs {
        for cap in &a.app {
            c.capability_values(&cap.values);
        }
    }
    for t in &policy.tests {
        if let Some(src) = &t.src {
            c.text_selector(src);
        }
        for d in t.accept.iter().chain(&t.deny) {
            c.host_port(d);
        }
    }
    for t in &policy.ssh_tests {
        if let Some(src) = &t.src {
            c.text_selector(src);
        }
        for d in &t.dst {
            c.text_selector(d);
        }
    }
    let _ = value_to_json; // capability values are walked as trees, not converted
    c.out
}

/// Every name the intents file defines or uses.
pub fn intents(intents: &Intents, text: &[u8]) -> Vec<Occurrence> {
    let mut c = Collector {
        text,
        out: Vec::new(),
    };
    for (name, members) in &intents.groups {
        c.push(Kind::Group, &name.value, name.span, true);
        for m in members {
            c.push(Kind::User, &m.value, m.span, false);
        }
    }
    for d in &intents.devices {
        c.push(Kind::Device, &d.name.value, d.name.span, true);
        for t in &d.tags {
            c.push(Kind::Tag, &t.value, t.span, false);
        }
        if let Some(u) = &d.user {
            c.push(Kind::User, &u.value, u.span, false);
        }
    }
    for s in &intents.services {
        c.push(Kind::Service, &s.name.value, s.name.span, true);
        if let Some(span) = s.tag_span {
            c.push(Kind::Tag, &s.tag, span, false);
        }
        for f in &s.from {
            let name = f.value.trim();
            let kind = if name.starts_with("tag:") {
                Kind::Tag
            } else if name.starts_with("group:") {
                Kind::Group
            } else if name.starts_with("autogroup:") {
                Kind::Autogroup
            } else if name.contains('@') {
                Kind::User
            } else {
                Kind::Device
            };
            c.push(kind, name, f.span, false);
        }
        // `funnel: { via: "panda" }` names a device too.
        if let Some(crate::intents::Funnel::Via(device)) = &s.funnel {
            c.push(Kind::Device, device.value.trim(), device.span, false);
        }
    }
    if let Some(op) = &intents.operator
        && let Some(span) = op.proxy_tag_span
    {
        c.push(Kind::Tag, &op.proxy_tag, span, false);
    }
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_of(text: &str) -> Vec<Occurrence> {
        let doc = crate::syntax::hujson::parse(text.as_bytes()).unwrap();
        let p = crate::model::lower(doc.root, Default::default(), &mut Vec::new());
        policy(&p, text.as_bytes())
    }

    fn written<'a>(text: &'a str, o: &Occurrence) -> &'a str {
        &text[o.span.range()]
    }

    #[test]
    fn names_in_every_position() {
        let text = r#"{
  "tagOwners": {"tag:web": ["group:eng"], "tag:db": ["tag:web"]},
  "groups": {"group:eng": ["alice@example.com"]},
  "hosts": {"db": "10.0.0.1"},
  "ipsets": {"ipset:s": ["add host:db"]},
  "postures": {"posture:mac": ["node:os == 'macos'"]},
  "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432", "db:22"], "srcPosture": ["posture:mac"]}],
  "grants": [{"src": ["tag:web"], "dst": ["ipset:s"], "ip": ["*"],
              "app": {"tailscale.com/cap/x": [{"connectors": ["tag:web"]}]}}],
  "tests": [{"src": "tag:web", "accept": ["tag:db:5432"]}],
}"#;
        let occ = policy_of(text);
        let of = |kind, name: &str| -> Vec<(&str, bool)> {
            occ.iter()
                .filter(|o| o.kind == kind && o.name == name)
                .map(|o| (written(text, o), o.definition))
                .collect()
        };
        assert_eq!(
            of(Kind::Tag, "tag:db"),
            vec![("tag:db", true), ("tag:db", false), ("tag:db", false)]
        );
        assert_eq!(of(Kind::Tag, "tag:web").len(), 5, "{occ:#?}");
        assert_eq!(of(Kind::Group, "group:eng").len(), 3);
        assert_eq!(
            of(Kind::Host, "db"),
            vec![("db", true), ("db", false), ("db", false)]
        );
        assert_eq!(of(Kind::IpSet, "ipset:s").len(), 2);
        assert_eq!(of(Kind::Posture, "posture:mac").len(), 2);
        assert!(occ.iter().all(|o| o.exact));
        // The cursor on `db` in "tag:db:5432" finds the tag; just after it too.
        let at_db = text.find("tag:db:5432").unwrap() + 5;
        assert_eq!(at(&occ, at_db).unwrap().name, "tag:db");
        assert_eq!(at(&occ, at_db + 1).unwrap().name, "tag:db");
    }

    #[test]
    fn escaped_names_fall_back_to_the_literal() {
        let text = r#"{"tagOwners": {"tag:w\u0065b": []}}"#;
        let occ = policy_of(text);
        assert_eq!(occ[0].name, "tag:web");
        assert!(!occ[0].exact);
        assert_eq!(written(text, &occ[0]), r"tag:w\u0065b");
    }

    #[test]
    fn intents_names() {
        let text = r#"{
  groups: { admins: ["joel@example.com"] },
  devices: { panda: { tags: ["tag:panda"] } },
  services: { redis: { ports: [6379], from: ["panda", "group:admins"] } },
}"#;
        let doc = crate::syntax::json5::parse(text.as_bytes()).unwrap();
        let i = crate::intents::lower::lower(&doc.root, Default::default(), &mut Vec::new());
        let occ = intents(&i, text.as_bytes());
        let group: Vec<_> = occ
            .iter()
            .filter(|o| o.kind == Kind::Group)
            .map(|o| (written(text, o), o.bare, o.definition))
            .collect();
        assert_eq!(
            group,
            vec![("admins", true, true), ("group:admins", false, false)]
        );
        let device: Vec<_> = occ
            .iter()
            .filter(|o| o.kind == Kind::Device)
            .map(|o| written(text, o))
            .collect();
        assert_eq!(device, vec!["panda", "panda"]);
    }
}
