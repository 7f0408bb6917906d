//! Intents (+ a hand-written base policy) → the whole tailnet policy, as HuJSON formatted
//! byte-for-byte like Tailscale's tools. Deterministic: the same inputs give the same
//! bytes. Every generated rule carries a comment naming its intent, and the result keeps a
//! map from each rule back to the intent or base-file rule it came from.

use super::Intents;
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::Policy;
use crate::rules::Code;
use crate::syntax::{Span, Value};
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
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
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

    // Named definitions, intents first, then the base's; the same name must agree.
    let mut groups: BTreeMap<String, (String, Option<Span>, Option<Span>)> = BTreeMap::new();
    for (name, members) in &intents.groups {
        let value = format!(
            "[{}]",
            list(&members.iter().map(|m| m.value.clone()).collect::<Vec<_>>())
        );
        groups.insert(name.value.clone(), (value, Some(name.span), None));
    }
    let mut hosts: BTreeMap<String, (String, Option<Span>, Option<Span>)> = BTreeMap::new();
    for d in &intents.devices {
        if d.tags.is_empty()
            && d.user.is_none()
            && let Some(ip) = &d.ip
        {
            hosts.insert(
                d.name.value.clone(),
                (q(&ip.value), Some(d.name.span), None),
            );
        }
    }
    let mut owners: BTreeMap<String, (String, Option<Span>, Option<Span>)> = BTreeMap::new();
    if uses_operator {
        owners.insert(
            op.tag.clone(),
            (format!("[{}]", list(&op.owners)), None, None),
        );
        owners.insert(
            op.proxy_tag.clone(),
            (format!("[{}]", q(&op.tag)), None, None),
        );
    }
    for s in &intents.services {
        owners.insert(
            s.tag.clone(),
            (
                format!("[{service_owner}]"),
                Some(s.tag_span.unwrap_or(s.name.span)),
                None,
            ),
        );
    }
    for d in &intents.devices {
        for t in &d.tags {
            owners
                .entry(t.value.clone())
                .or_insert_with(|| ("[\"autogroup:admin\"]".to_string(), Some(t.span), None));
        }
    }
    let mut merge =
        |section: &str, map: &mut BTreeMap<String, (String, Option<Span>, Option<Span>)>| {
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
                    Some((mine, at, _)) if normalize(mine) != normalize(&text) => {
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
                        if let Some(at) = at {
                            d.labels.push(Label {
                                location: Location {
                                    file: intents_file,
                                    span: *at,
                                },
                                message: format!("the intents define {} here", m.key),
                            });
                        }
                        d.help = Some(format!("intents: {mine}; base: {}", normalize(&text)));
                        diags.push(d);
                    }
                    Some(_) => {}
                    None => {
                        map.insert(m.key.clone(), (text, None, Some(m.key_span)));
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
    let object = |out: &mut String,
                  key: &str,
                  map: &BTreeMap<String, (String, Option<Span>, Option<Span>)>| {
        if map.is_empty() {
            return;
        }
        let _ = writeln!(out, "{}: {{", q(key));
        for (k, (v, _, _)) in map {
            let _ = writeln!(out, "{}: {v},", q(k));
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
        let mut src: Vec<String> = Vec::new();
        for f in &s.from {
            for sel in selectors_for(intents, &f.value) {
                if !src.contains(&sel) {
                    src.push(sel);
                }
            }
        }
        let ip: Vec<String> = s.ports.iter().map(|p| p.grant_text()).collect();
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
    let array_from_base = |out: &mut String, key: &str, origins: Option<&mut Vec<RuleOrigin>>| {
        let mut origins = origins;
        if let Some(items) = base_section(key).and_then(Value::as_array) {
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
            for item in items {
                let _ = writeln!(out, "{},", raw(item.span));
                if let Some(o) = origins.as_deref_mut() {
                    o.push(RuleOrigin::Base(item.span));
                }
            }
        }
    };
    array_from_base(&mut out, "grants", Some(&mut grant_origins));
    out.push_str("],\n");
    let mut acl_origins = Vec::new();
    if base_section("acls").is_some() {
        out.push_str("\"acls\": [\n");
        array_from_base(&mut out, "acls", Some(&mut acl_origins));
        out.push_str("],\n");
    }

    // Funnel needs the attribute on the service's proxy.
    let funnel: Vec<String> = intents
        .services
        .iter()
        .filter(|s| s.funnel)
        .map(|s| s.tag.clone())
        .collect();
    if !funnel.is_empty() || base_section("nodeAttrs").is_some() {
        out.push_str("\"nodeAttrs\": [\n");
        if !funnel.is_empty() {
            out.push_str("// Funnel: the public internet reaches these services.\n");
            let _ = writeln!(
                out,
                "{{\"target\": [{}], \"attr\": [\"funnel\"]}},",
                list(&funnel)
            );
        }
        array_from_base(&mut out, "nodeAttrs", None);
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
        }
    }

    // Tests, so the control plane itself enforces the intents on every push.
    out.push_str("\"tests\": [\n");
    for s in &intents.services {
        if s.ports.is_empty() {
            continue;
        }
        let mut written: Vec<String> = Vec::new();
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
                if written.contains(&src) {
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
                }
                written.push(src);
            }
        }
    }
    array_from_base(&mut out, "tests", None);
    out.push_str("],\n}\n");
    let text = crate::syntax::hujson::format(out.as_bytes()).unwrap_or_else(|_| out.into_bytes());
    Compiled {
        text,
        grant_origins,
        acl_origins,
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
