//! Intents (+ a hand-written base policy) → the whole tailnet policy, as HuJSON formatted
//! byte-for-byte like Tailscale's tools. Deterministic: the same inputs give the same
//! bytes. Every generated rule carries a comment naming its intent, and the result keeps a
//! map from each rule back to the intent or base-file rule it came from, and from every
//! part of the text back to where it was written ([`Compiled::written`]).

use super::{Funnel, Intents};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::Policy;
use crate::rules::Code;
use crate::syntax::{Span, Step, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Where a rule of the compiled policy comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleOrigin {
    /// The grant of the service with this index in `Intents::services`.
    Service(usize),
    /// A rule copied from the base file, at this span there.
    Base(Span),
}

/// Where a part of the compiled policy was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// In the intents file, at this span.
    Intents(Span),
    /// Copied from the base file: the part at this path of its tree.
    Base(Vec<Step>),
}

/// The base policy: its text, where it is, and its syntax tree and model.
pub struct Base<'a> {
    pub file: FileId,
    pub name: &'a str,
    pub text: &'a [u8],
    pub root: &'a Value,
    pub policy: &'a Policy,
}

#[derive(Debug)]
pub struct Compiled {
    /// The policy file's bytes.
    pub text: Vec<u8>,
    pub grant_origins: Vec<RuleOrigin>,
    pub acl_origins: Vec<RuleOrigin>,
    /// Paths of the compiled policy's tree, each with where that part was written.
    pub written: Vec<(Vec<Step>, Written)>,
}

impl Compiled {
    /// Where the part of the compiled policy at `path` was written: the entry for the
    /// longest prefix of `path`, and the rest of `path` below it.
    pub fn written<'p>(&self, path: &'p [Step]) -> Option<(&Written, &'p [Step])> {
        self.written
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(prefix, w)| (w, &path[prefix.len()..]))
    }
}

fn key(k: &str) -> Step {
    Step::Key(k.to_string())
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
}

/// A named definition of the compiled policy (a group, host or tag owner): its value as
/// text, where the intents define it, whether it comes from the base.
struct Definition {
    value: String,
    intents: Option<Span>,
    from_base: bool,
}

fn defined(value: String, intents: Option<Span>) -> Definition {
    Definition {
        value,
        intents,
        from_base: false,
    }
}

/// What a `from` entry is called in the policy: a device by its tags, owner or host alias.
pub fn selectors_for(intents: &Intents, from: &str) -> Vec<String> {
    let from = from.trim();
    if let Some(d) = intents.device(from) {
        if !d.tags.is_empty() {
            return d.tags.iter().map(|t| t.value.clone()).collect();
        }
        if let Some(u) = &d.user {
            return vec![u.value.clone()];
        }
        return vec![d.name.value.clone()]; // A host alias named after the device.
    }
    if !from.contains(':') && !from.contains('@') {
        return vec![format!("group:{from}")];
    }
    vec![from.to_string()]
}

/// Compile; problems (conflicts with the base) go to `diags` as findings at their spans.
pub fn compile(
    intents: &Intents,
    intents_file: FileId,
    intents_name: &str,
    base: Option<&Base>,
    diags: &mut Vec<Diagnostic>,
) -> Compiled {
    let op = intents.operator.clone().unwrap_or_default();
    // Without an `operator` section the services are ordinary tagged machines (a homelab):
    // their tags are owned by the admins, and no operator tags are written.
    let uses_operator = intents.operator.is_some();
    let service_owner = if uses_operator {
        q(&op.tag)
    } else {
        q("autogroup:admin")
    };
    let raw = |span: Span| -> String {
        let b = base.expect("raw text only from the base");
        String::from_utf8_lossy(&b.text[span.range()]).into_owned()
    };
    let base_section = |key: &str| -> Option<&Value> { base.and_then(|b| b.root.get(key)) };
    let mut written: Vec<(Vec<Step>, Written)> = Vec::new();

    // Named definitions, intents first, then the base's; the same name must agree.
    let mut groups: BTreeMap<String, Definition> = BTreeMap::new();
    for (name, members) in &intents.groups {
        let value = format!(
            "[{}]",
            list(&members.iter().map(|m| m.value.clone()).collect::<Vec<_>>())
        );
        groups.insert(name.value.clone(), defined(value, Some(name.span)));
        for (j, m) in members.iter().enumerate() {
            written.push((
                vec![key("groups"), key(&name.value), Step::Index(j)],
                Written::Intents(m.span),
            ));
        }
    }
    let mut hosts: BTreeMap<String, Definition> = BTreeMap::new();
    for d in &intents.devices {
        if d.tags.is_empty()
            && d.user.is_none()
            && let Some(ip) = &d.ip
        {
            hosts.insert(
                d.name.value.clone(),
                defined(q(&ip.value), Some(d.name.span)),
            );
            written.push((
                vec![key("hosts"), key(&d.name.value)],
                Written::Intents(ip.span),
            ));
        }
    }
    let mut owners: BTreeMap<String, Definition> = BTreeMap::new();
    if uses_operator {
        owners.insert(
            op.tag.clone(),
            defined(
                format!("[{}]", list(&op.owners)),
                op.owners_span.or(op.span),
            ),
        );
        owners.insert(
            op.proxy_tag.clone(),
            defined(format!("[{}]", q(&op.tag)), op.proxy_tag_span.or(op.span)),
        );
    }
    for s in &intents.services {
        owners.insert(
            s.tag.clone(),
            defined(
                format!("[{service_owner}]"),
                Some(s.tag_span.unwrap_or(s.name.span)),
            ),
        );
    }
    for d in &intents.devices {
        for t in &d.tags {
            owners
                .entry(t.value.clone())
                .or_insert_with(|| defined("[\"autogroup:admin\"]".to_string(), Some(t.span)));
        }
    }
    let mut merge = |section: &str, map: &mut BTreeMap<String, Definition>| {
        let Some(Value {
            kind: crate::syntax::Kind::Object(members),
            ..
        }) = base_section(section)
        else {
            return;
        };
        for m in members {
            let text = raw(m.value.span);
            match map.get(&m.key) {
                Some(mine) if normalize(&mine.value) != normalize(&text) => {
                    let b = base.expect("base");
                    let mut d = Diagnostic::new(
                        Code::IntentConflict,
                        Location {
                            file: b.file,
                            span: m.key_span,
                        },
                        format!(
                            "{section}: {:?} is defined differently in {} and in the intents",
                            m.key, b.name
                        ),
                    );
                    if let Some(at) = mine.intents {
                        d.labels.push(Label {
                            location: Location {
                                file: intents_file,
                                span: at,
                            },
                            message: format!("the intents define {} here", m.key),
                        });
                    }
                    d.help = Some(format!(
                        "intents: {}; base: {}",
                        mine.value,
                        normalize(&text)
                    ));
                    diags.push(d);
                }
                Some(_) => {}
                None => {
                    map.insert(
                        m.key.clone(),
                        Definition {
                            value: text,
                            intents: None,
                            from_base: true,
                        },
                    );
                }
            }
        }
    };
    merge("groups", &mut groups);
    merge("hosts", &mut hosts);
    merge("tagOwners", &mut owners);

    let mut out = String::new();
    let from_base = intents
        .base
        .as_ref()
        .map(|b| format!(" and {}", b.value))
        .unwrap_or_default();
    let _ = writeln!(out, "// Generated by tsacl from {intents_name}{from_base}.");
    out.push_str("// Do not edit by hand: change the intents and run `tsacl compile`.\n{\n");
    let mut object = |out: &mut String, section: &str, map: &BTreeMap<String, Definition>| {
        if map.is_empty() {
            return;
        }
        let _ = writeln!(out, "{}: {{", q(section));
        for (k, def) in map {
            let _ = writeln!(out, "{}: {},", q(k), def.value);
            let path = vec![key(section), key(k)];
            if def.from_base {
                written.push((path.clone(), Written::Base(path)));
            } else if let Some(at) = def.intents {
                written.push((path, Written::Intents(at)));
            }
        }
        out.push_str("},\n");
    };
    object(&mut out, "groups", &groups);
    object(&mut out, "hosts", &hosts);
    object(&mut out, "tagOwners", &owners);

    // One grant per service.
    let mut grant_origins = Vec::new();
    out.push_str("\"grants\": [\n");
    for (i, s) in intents.services.iter().enumerate() {
        if s.from.is_empty() || s.ports.is_empty() {
            continue;
        }
        let at = vec![key("grants"), Step::Index(grant_origins.len())];
        let mut src: Vec<String> = Vec::new();
        for f in &s.from {
            for sel in selectors_for(intents, &f.value) {
                if !src.contains(&sel) {
                    let mut path = at.clone();
                    path.extend([key("src"), Step::Index(src.len())]);
                    written.push((path, Written::Intents(f.span)));
                    src.push(sel);
                }
            }
        }
        let ip: Vec<String> = s.ports.iter().map(|p| p.grant_text()).collect();
        for (j, p) in s.ports.iter().enumerate() {
            let mut path = at.clone();
            path.extend([key("ip"), Step::Index(j)]);
            written.push((path, Written::Intents(p.span)));
        }
        let mut dst = at.clone();
        dst.push(key("dst"));
        written.push((dst, Written::Intents(s.tag_span.unwrap_or(s.name.span))));
        written.push((at, Written::Intents(s.name.span)));
        let from: Vec<&str> = s.from.iter().map(|f| f.value.trim()).collect();
        let _ = writeln!(
            out,
            "// {}: {} from {}",
            s.name.value,
            ip.join(", "),
            from.join(", ")
        );
        let _ = writeln!(
            out,
            "{{\"src\": [{}], \"dst\": [{}], \"ip\": [{}]}},",
            list(&src),
            q(&s.tag),
            list(&ip)
        );
        grant_origins.push(RuleOrigin::Service(i));
    }
    // The base's elements of an array section, after `before` generated ones.
    let array_from_base = |out: &mut String,
                           written: &mut Vec<(Vec<Step>, Written)>,
                           section: &str,
                           before: usize,
                           origins: Option<&mut Vec<RuleOrigin>>| {
        let mut origins = origins;
        if let Some(items) = base_section(section).and_then(Value::as_array) {
            if !items.is_empty() {
                let _ = writeln!(
                    out,
                    "// from {}",
                    intents
                        .base
                        .as_ref()
                        .map_or("the base policy", |b| b.value.as_str())
                );
            }
            for (i, item) in items.iter().enumerate() {
                let _ = writeln!(out, "{},", raw(item.span));
                written.push((
                    vec![key(section), Step::Index(before + i)],
                    Written::Base(vec![key(section), Step::Index(i)]),
                ));
                if let Some(o) = origins.as_deref_mut() {
                    o.push(RuleOrigin::Base(item.span));
                }
            }
        }
    };
    let generated_grants = grant_origins.len();
    array_from_base(
        &mut out,
        &mut written,
        "grants",
        generated_grants,
        Some(&mut grant_origins),
    );
    out.push_str("],\n");
    let mut acl_origins = Vec::new();
    if base_section("acls").is_some() {
        out.push_str("\"acls\": [\n");
        array_from_base(&mut out, &mut written, "acls", 0, Some(&mut acl_origins));
        out.push_str("],\n");
    }

    // Funnel needs the attribute on the node that terminates it, one entry per node.
    let mut funnels: Vec<(Vec<String>, Vec<&super::ServiceIntent>)> = Vec::new();
    for s in intents.services.iter().filter(|s| s.funnel.is_some()) {
        let targets = intents.funnel_targets(s);
        match funnels.iter_mut().find(|(t, _)| *t == targets) {
            Some((_, services)) => services.push(s),
            None => funnels.push((targets, vec![s])),
        }
    }
    if !funnels.is_empty() || base_section("nodeAttrs").is_some() {
        out.push_str("\"nodeAttrs\": [\n");
        for (k, (targets, services)) in funnels.iter().enumerate() {
            let paths: Vec<String> = services.iter().map(|s| funnel_path(s)).collect();
            let _ = writeln!(
                out,
                "// Funnel: the public internet reaches {}.",
                paths.join("; ")
            );
            let _ = writeln!(
                out,
                "{{\"target\": [{}], \"attr\": [\"funnel\"]}},",
                list(targets)
            );
            let at = services[0].funnel_span.unwrap_or(services[0].name.span);
            written.push((vec![key("nodeAttrs"), Step::Index(k)], Written::Intents(at)));
        }
        array_from_base(&mut out, &mut written, "nodeAttrs", funnels.len(), None);
        out.push_str("],\n");
    }

    // Every other base section, verbatim.
    if let Some(b) = base
        && let Some(members) = b.root.as_object()
    {
        for m in members {
            if [
                "groups",
                "hosts",
                "tagOwners",
                "grants",
                "acls",
                "nodeAttrs",
                "tests",
            ]
            .contains(&m.key.as_str())
            {
                continue;
            }
            let _ = writeln!(out, "{}: {},", q(&m.key), raw(m.value.span));
            written.push((vec![key(&m.key)], Written::Base(vec![key(&m.key)])));
        }
    }

    // Tests, so the control plane itself enforces the intents on every push.
    out.push_str("\"tests\": [\n");
    let mut tests = 0;
    for s in &intents.services {
        if s.ports.is_empty() {
            continue;
        }
        let mut done: Vec<String> = Vec::new();
        for f in &s.from {
            if f.value.trim().starts_with("autogroup:") {
                continue; // Not a valid test source.
            }
            for src in selectors_for(intents, &f.value) {
                let mut by_proto: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for p in &s.ports {
                    by_proto
                        .entry(p.protocol.to_string())
                        .or_default()
                        .push(format!("{}:{}", s.tag, p.range.first));
                }
                if done.contains(&src) {
                    continue;
                }
                for (proto, accept) in by_proto {
                    // And no other port: the first one past the service's ports.
                    let deny = port_outside(s, &proto)
                        .map(|p| format!(", \"deny\": [{}]", q(&format!("{}:{p}", s.tag))))
                        .unwrap_or_default();
                    let proto = if proto == "tcp" {
                        String::new()
                    } else {
                        format!(", \"proto\": {}", q(&proto))
                    };
                    let _ = writeln!(
                        out,
                        "{{\"src\": {}{proto}, \"accept\": [{}]{deny}}},",
                        q(&src),
                        list(&accept)
                    );
                    written.push((
                        vec![key("tests"), Step::Index(tests)],
                        Written::Intents(f.span),
                    ));
                    tests += 1;
                }
                done.push(src);
            }
        }
    }
    array_from_base(&mut out, &mut written, "tests", tests, None);
    out.push_str("],\n}\n");
    let text = crate::syntax::hujson::format(out.as_bytes()).unwrap_or_else(|_| out.into_bytes());
    Compiled {
        text,
        grant_origins,
        acl_origins,
        written,
    }
}

/// How the public internet reaches a service, for the comment above its `funnel` entry.
fn funnel_path(s: &super::ServiceIntent) -> String {
    match &s.funnel {
        Some(Funnel::Via(device)) => format!("{} through {}", s.name.value, device.value),
        Some(Funnel::Ingress) => format!("{} through its operator Ingress", s.name.value),
        Some(Funnel::Itself) | None => s.name.value.clone(),
    }
}

/// A port of this protocol that the service does not open, to test that it stays closed.
fn port_outside(s: &super::ServiceIntent, proto: &str) -> Option<u16> {
    let ranges: Vec<_> = s
        .ports
        .iter()
        .filter(|p| p.protocol.to_string() == proto)
        .map(|p| p.range)
        .collect();
    let start = ranges.iter().map(|r| r.last as u32 + 1).min().unwrap_or(1);
    (start..=65535)
        .chain(1..start)
        .find(|p| !ranges.iter().any(|r| r.contains(*p as u16)))
        .map(|p| p as u16)
}

/// Compare JSON values regardless of spacing and comments.
fn normalize(text: &str) -> String {
    match crate::syntax::hujson::standardize(text.as_bytes())
        .ok()
        .and_then(|s| serde_json::from_slice::<serde_json::Value>(&s).ok())
    {
        Some(v) => v.to_string(),
        None => text.trim().to_string(),
    }
}
