//! Syntax tree → policy model.
//!
//! The control plane decodes the policy with Go's `encoding/json`, and this module reads
//! the tree the way that decoder would, because a file can only mean one thing:
//! - Field names match exactly, else case-insensitively with Go's folding (ASCII case, plus
//!   `ſ`/`K` (Kelvin) for `s`/`k`), reported as non-canonical; plus the documented legacy
//!   names (`users`/`ports` in ACLs, `user`/`allow` in tests).
//! - `null` for a field is the field's zero value: absent. `null` as an array element or a
//!   map value is the element's zero value (`""` for a string, `{}` for a rule, `[]` for a
//!   list), which is then validated like any other value.
//! - A key given twice decodes into the same place: the later value wins; objects merge
//!   (later fields win); a later array is decoded element by element into the earlier one;
//!   `null` resets a list or map and leaves anything else alone. In a map (`groups`,
//!   `hosts`, ...) keys match exactly and the later entry replaces the earlier.
//!
//! Unknown keys are warnings, not errors: Tailscale adds sections over time (`attrConfig`,
//! `nodeVisibility`) and the server accepts them, so rejecting them would make `check`
//! stricter than the server; the warning still catches a misspelt key.

use super::*;
use crate::diagnostics::{Diagnostic, FileId, Label, Location, SourceMap};
use crate::rules::Code;
use crate::suggest::did_you_mean;
use crate::syntax::{Kind, Member, Value};
use selector::SelectorError;
use std::borrow::Cow;

/// Lower a parsed policy document into the model, appending problems to `diags`.
/// The tree is consumed: its strings move into the model instead of being copied, which
/// halves the allocations of lowering a large policy.
pub fn lower(mut root: Value, file: FileId, diags: &mut Vec<Diagnostic>) -> Policy {
    let mut lowerer = Lowerer {
        file,
        diags,
        repeated_keys: false,
    };
    lowerer.duplicate_keys(&root);
    lowerer.policy(&mut root)
}

/// The policy's top-level keys, as the control plane spells them.
pub const TOP_LEVEL: &[&str] = &[
    "acls",
    "grants",
    "ssh",
    "groups",
    "hosts",
    "tagOwners",
    "autoApprovers",
    "nodeAttrs",
    "postures",
    "defaultSrcPosture",
    "ipsets",
    "tests",
    "sshTests",
    "derpMap",
    "disableIPv4",
    "OneCGNATRoute",
    "randomizeClientPort",
    "attrConfig",
    "nodeVisibility",
    // DNS records the control plane adds to MagicDNS: a list (Tailscale's own
    // tailscale-acl-combiner merges it as one of the policy's array sections).
    "extraDNSRecords",
];

/// The fields of each kind of element, as the control plane spells them.
pub const ACL_FIELDS: &[&str] = &["action", "src", "dst", "proto", "srcPosture"];
pub const GRANT_FIELDS: &[&str] = &["src", "dst", "ip", "app", "via", "srcPosture"];
pub const AUTO_APPROVER_FIELDS: &[&str] = &["routes", "exitNode", "services"];
pub const NODE_ATTR_FIELDS: &[&str] = &["target", "attr", "app", "ipPool"];
pub const TEST_FIELDS: &[&str] = &["src", "proto", "accept", "deny", "srcPostureAttrs"];
pub const SSH_TEST_FIELDS: &[&str] = &["src", "dst", "accept", "check", "deny", "srcPostureAttrs"];
pub const SSH_FIELDS: &[&str] = &[
    "action",
    "src",
    "dst",
    "users",
    "checkPeriod",
    "acceptEnv",
    "srcPosture",
    "recorder",
    "enforceRecorder",
];

struct Lowerer<'d> {
    file: FileId,
    diags: &'d mut Vec<Diagnostic>,
    /// Whether any object repeats a key exactly (so maps need de-duplicating).
    repeated_keys: bool,
}

/// The members of a struct-like object, keyed by canonical field name.
struct Fields<'a> {
    members: Vec<(&'static str, &'a mut Member)>,
}

impl<'a> Fields<'a> {
    /// Take the field out (each field is read once). `null` is absent, as in Go.
    fn get(&mut self, name: &str) -> Option<&'a mut Value> {
        let i = self.members.iter().position(|(n, _)| *n == name)?;
        let value = &mut self.members.swap_remove(i).1.value;
        (!value.is_null()).then_some(value)
    }
}

impl Lowerer<'_> {
    fn at(&self, span: Span) -> Location {
        Location {
            file: self.file,
            span,
        }
    }

    fn report(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::new(code, self.at(span), message);
        self.diags.push(d);
        self.diags.last_mut().unwrap()
    }

    /// Exact duplicate keys in any object of the document, including opaque sections.
    fn duplicate_keys(&mut self, value: &Value) {
        match &value.kind {
            Kind::Array(items) => {
                for item in items {
                    self.duplicate_keys(item);
                }
            }
            Kind::Object(members) => {
                if members.len() > 1 {
                    // Small objects (almost all of them) are compared pairwise: cheaper
                    // than hashing.
                    let mut seen: rustc_hash::FxHashMap<&str, Span> = Default::default();
                    for (i, m) in members.iter().enumerate() {
                        let earlier = if members.len() <= 16 {
                            members[..i]
                                .iter()
                                .find(|e| e.key == m.key)
                                .map(|e| e.key_span)
                        } else {
                            seen.insert(&m.key, m.key_span)
                        };
                        if let Some(first) = earlier {
                            self.repeated_keys = true;
                            let file = self.file;
                            self.report(
                                Code::DuplicateKey,
                                m.key_span,
                                format!("duplicate key {:?}", m.key),
                            )
                            .labels
                            .push(crate::diagnostics::Label {
                                location: Location { file, span: first },
                                message: "first defined here".into(),
                            });
                            let last = self.diags.last_mut().unwrap();
                            last.primary_label = Some("defined again here".into());
                            last.help = Some(
                                "one of the two is lost (Go's encoding/json keeps the later value, merging objects; headscale rejects the file): merge them into one key"
                                    .into(),
                            );
                        }
                    }
                }
                for m in members {
                    self.duplicate_keys(&m.value);
                }
            }
            _ => {}
        }
    }

    /// Match an object's keys against `known` (canonical spellings) and `legacy`
    /// (`(old, canonical)` pairs). `what` names the object in messages.
    fn fields<'a>(
        &mut self,
        value: &'a mut Value,
        what: &str,
        known: &[&'static str],
        legacy: &[(&str, &'static str)],
    ) -> Option<Fields<'a>> {
        if value.is_null() {
            // A `null` rule or document is the zero struct, as Go decodes it: `{}`.
            value.kind = Kind::Object(Vec::new());
        }
        if !matches!(value.kind, Kind::Object(_)) {
            self.wrong_type(value, what, "an object");
            return None;
        }
        let Kind::Object(members) = &mut value.kind else {
            unreachable!("checked above");
        };
        let mut fields = Fields {
            members: Vec::with_capacity(members.len()),
        };
        for m in members.iter_mut() {
            let canonical = if let Some(k) = known.iter().find(|k| **k == m.key) {
                Some(*k)
            } else if let Some(k) = known.iter().find(|k| go_fold_eq(&m.key, k)) {
                // The Go client spells this one `oneCGNATRoute`; both are fine. A `null`
                // field is absent, whatever its spelling.
                if *k != "OneCGNATRoute" && !m.value.is_null() {
                    self.report(
                        Code::NonCanonicalKey,
                        m.key_span,
                        format!("{:?} is spelt {:?} in the policy language", m.key, k),
                    )
                    .help = Some(format!("rename it to {k:?}"));
                }
                Some(*k)
            } else if let Some((old, k)) = legacy.iter().find(|(old, _)| go_fold_eq(&m.key, old)) {
                if !m.value.is_null() {
                    self.report(
                        Code::NonCanonicalKey,
                        m.key_span,
                        format!("{old:?} is the legacy name of {k:?}"),
                    )
                    .help = Some(format!("rename it to {k:?}"));
                }
                Some(*k)
            } else {
                None
            };
            match canonical {
                Some(name) => {
                    if let Some((_, first)) = fields.members.iter_mut().find(|(n, _)| *n == name) {
                        // Exact duplicates are reported by `duplicate_keys`.
                        if first.key != m.key {
                            let first_span = first.key_span;
                            let at = self.at(first_span);
                            self.report(
                                Code::DuplicateKey,
                                m.key_span,
                                format!(
                                    "{:?} and {:?} both set {name:?} in {what}; the control plane keeps the later",
                                    first.key, m.key
                                ),
                            )
                            .labels
                            .push(crate::diagnostics::Label {
                                location: at,
                                message: "first set here".into(),
                            });
                        }
                        let later = std::mem::replace(&mut m.value, Value::null());
                        decode_into(&mut first.value, later, STRUCT_FIELDS.contains(&name));
                        continue;
                    }
                    fields.members.push((name, m));
                }
                None if is_comment_key(&m.key) => {
                    let d = self.report(
                        Code::UnknownField,
                        m.key_span,
                        format!("{:?} in {what} is a comment written as a key", m.key),
                    );
                    d.help = Some(COMMENT_KEY_HELP.into());
                }
                None => {
                    let suggestion = did_you_mean(&m.key, known.iter().copied());
                    let d = self.report(
                        Code::UnknownField,
                        m.key_span,
                        format!("unknown field {:?} in {what}", m.key),
                    );
                    d.help = Some(match suggestion {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!("known fields: {}", known.join(", ")),
                    });
                }
            }
        }
        Some(fields)
    }

    fn wrong_type(&mut self, value: &Value, what: &str, expected: &str) {
        self.report(
            Code::WrongType,
            value.span,
            format!(
                "{what} must be {expected}, not {}",
                article(value.type_name())
            ),
        );
    }

    fn string(&mut self, value: Option<&mut Value>, what: &str) -> Option<Spanned<String>> {
        let value = value?;
        let span = value.span;
        match &mut value.kind {
            Kind::String(s) => Some(Spanned {
                value: std::mem::take(s),
                span,
            }),
            Kind::Null => None,
            _ => {
                self.wrong_type(value, what, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, value: Option<&mut Value>, what: &str) -> Option<Spanned<bool>> {
        let value = value?;
        match value.kind {
            Kind::Bool(b) => Some(Spanned {
                value: b,
                span: value.span,
            }),
            Kind::Null => None,
            _ => {
                self.wrong_type(value, what, "true or false");
                None
            }
        }
    }

    /// An array of strings; `null` or absent is empty.
    fn strings(&mut self, value: Option<&mut Value>, what: &str) -> Vec<Spanned<String>> {
        let Some(value) = value else {
            return Vec::new();
        };
        match &mut value.kind {
            Kind::Null => Vec::new(),
            Kind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let span = item.span;
                    match &mut item.kind {
                        Kind::String(s) => out.push(Spanned {
                            value: std::mem::take(s),
                            span,
                        }),
                        // Go leaves a `null` element at its zero value.
                        Kind::Null => out.push(Spanned {
                            value: String::new(),
                            span,
                        }),
                        _ => self.wrong_type(item, &format!("each entry of {what}"), "a string"),
                    }
                }
                out
            }
            _ => {
                self.wrong_type(value, what, "an array of strings");
                Vec::new()
            }
        }
    }

    fn selector(&mut self, raw: Spanned<String>) -> Sel {
        let selector = match Selector::parse(&raw.value) {
            Ok(s) => Some(s),
            Err(SelectorError::UnknownAutogroup(name)) => {
                let suggestion = did_you_mean(
                    &name,
                    Autogroup::ALL
                        .iter()
                        .filter(|a| **a != Autogroup::Members)
                        .map(|a| a.name()),
                );
                let d = self.report(
                    Code::UnknownAutogroup,
                    raw.span,
                    format!("unknown autogroup {name:?}"),
                );
                d.help = Some(match suggestion {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => "see `tsacl rule TSA017` for the list of autogroups".into(),
                });
                None
            }
            Err(SelectorError::Invalid(text)) => {
                let hint = ["tag:", "group:", "autogroup:", "ipset:", "svc:", "user:*@"]
                    .iter()
                    .find_map(|p| {
                        {
                            let (head, _) = text.split_once(':')?;
                            strsim::levenshtein(head, p.trim_end_matches(':')) <= 2
                                && !p.starts_with(head)
                                || head.len() > 1 && p.starts_with(head) && head.len() < p.len() - 1
                        }
                        .then_some(*p)
                    });
                let d = self.report(
                    Code::InvalidSelector,
                    raw.span,
                    format!("{text:?}: invalid address"),
                );
                d.help = Some(match hint {
                    Some(p) => format!("selectors with a prefix are written {p}<name>"),
                    None => {
                        "expected a user, group:, tag:, autogroup:, ipset:, host alias, IP or CIDR"
                            .into()
                    }
                });
                None
            }
        };
        Sel {
            raw: raw.value,
            span: raw.span,
            selector,
        }
    }

    fn selectors(&mut self, value: Option<&mut Value>, what: &str) -> Vec<Sel> {
        self.strings(value, what)
            .into_iter()
            .map(|s| self.selector(s))
            .collect()
    }

    /// `{key: value}` sections as (key, value) pairs.
    fn entries<'a>(&mut self, value: Option<&'a mut Value>, what: &str) -> Vec<&'a mut Member> {
        let Some(value) = value else {
            return Vec::new();
        };
        if !matches!(value.kind, Kind::Null | Kind::Object(_)) {
            self.wrong_type(value, what, "an object");
            return Vec::new();
        }
        match &mut value.kind {
            Kind::Object(members) => {
                if !self.repeated_keys {
                    return members.iter_mut().collect();
                }
                // A map keeps one entry per exact key: the later (reported by
                // `duplicate_keys`). Found by hashing: sections hold thousands of keys.
                let mut last: rustc_hash::FxHashMap<&str, usize> = Default::default();
                for (i, m) in members.iter().enumerate() {
                    last.insert(m.key.as_str(), i);
                }
                let keep: Vec<bool> = members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| last.get(m.key.as_str()) == Some(&i))
                    .collect();
                members
                    .iter_mut()
                    .zip(keep)
                    .filter_map(|(m, keep)| keep.then_some(m))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// `[...]` sections; `null` or absent is empty.
    fn items<'a>(&mut self, value: Option<&'a mut Value>, what: &str) -> Option<&'a mut [Value]> {
        let value = value?;
        if !matches!(value.kind, Kind::Null | Kind::Array(_)) {
            self.wrong_type(value, what, "an array");
            return None;
        }
        match &mut value.kind {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    fn policy(&mut self, root: &mut Value) -> Policy {
        let mut policy = Policy::default();
        let Some(top) = self.fields(root, "the policy", TOP_LEVEL, &[]) else {
            return policy;
        };
        for (name, member) in top.members {
            if member.value.is_null() {
                continue; // absent, as in Go
            }
            let key = Spanned {
                value: name.to_string(),
                span: member.key_span,
            };
            let value = Some(&mut member.value);
            match name {
                "acls" => {
                    policy.acls = Some(match self.items(value, "acls") {
                        Some(items) => lower_all(items, |v| self.acl(v)),
                        None => Vec::new(),
                    });
                }
                "grants" => {
                    policy.grants = Some(match self.items(value, "grants") {
                        Some(items) => lower_all(items, |v| self.grant(v)),
                        None => Vec::new(),
                    });
                }
                "ssh" => {
                    if let Some(items) = self.items(value, "ssh") {
                        policy.ssh = lower_all(items, |v| self.ssh_rule(v));
                    }
                }
                "groups" => {
                    for m in self.entries(value, "groups") {
                        let members =
                            self.strings(Some(&mut m.value), &format!("groups[{:?}]", m.key));
                        policy.groups.push(GroupDef {
                            name: key_of(m),
                            members,
                        });
                    }
                }
                "hosts" => {
                    for m in self.entries(value, "hosts") {
                        let value = if m.value.is_null() {
                            // Go decodes a `null` map value as the zero value: "".
                            Some(Spanned {
                                value: String::new(),
                                span: m.value.span,
                            })
                        } else {
                            self.string(Some(&mut m.value), &format!("hosts[{:?}]", m.key))
                        };
                        if let Some(v) = value {
                            let prefix = Prefix::parse(v.value.trim());
                            policy.hosts.push(HostDef {
                                name: key_of(m),
                                value: v,
                                prefix,
                            });
                        }
                    }
                }
                "tagOwners" => {
                    for m in self.entries(value, "tagOwners") {
                        let owners =
                            self.selectors(Some(&mut m.value), &format!("tagOwners[{:?}]", m.key));
                        policy.tag_owners.push(TagOwnerDef {
                            tag: key_of(m),
                            owners,
                        });
                    }
                }
                "autoApprovers" => policy.auto_approvers = self.auto_approvers(&mut member.value),
                "nodeAttrs" => {
                    if let Some(items) = self.items(value, "nodeAttrs") {
                        policy.node_attrs = lower_all(items, |v| self.node_attr(v));
                    }
                }
                "postures" => {
                    for m in self.entries(value, "postures") {
                        let conditions =
                            self.strings(Some(&mut m.value), &format!("postures[{:?}]", m.key));
                        policy.postures.push(PostureDef {
                            name: key_of(m),
                            conditions,
                        });
                    }
                }
                "defaultSrcPosture" => {
                    policy.default_src_posture = self.strings(value, "defaultSrcPosture")
                }
                "ipsets" => {
                    for m in self.entries(value, "ipsets") {
                        let ops = self.strings(Some(&mut m.value), &format!("ipsets[{:?}]", m.key));
                        policy.ipsets.push(IpSetDef {
                            name: key_of(m),
                            ops,
                        });
                    }
                }
                "tests" => {
                    if let Some(items) = self.items(value, "tests") {
                        policy.tests = lower_all(items, |v| self.test(v));
                    }
                }
                "sshTests" => {
                    if let Some(items) = self.items(value, "sshTests") {
                        policy.ssh_tests = lower_all(items, |v| self.ssh_test(v));
                    }
                }
                "disableIPv4" => policy.settings.disable_ipv4 = self.boolean(value, "disableIPv4"),
                "randomizeClientPort" => {
                    policy.settings.randomize_client_port =
                        self.boolean(value, "randomizeClientPort")
                }
                "OneCGNATRoute" => {
                    policy.settings.one_cgnat_route = self.string(value, "OneCGNATRoute");
                    if let Some(v) = &policy.settings.one_cgnat_route
                        && !["", "mac-always", "mac-never"].contains(&v.value.as_str())
                    {
                        let span = v.span;
                        let text = v.value.clone();
                        self.report(
                                Code::InvalidValue,
                                span,
                                format!("OneCGNATRoute {text:?} is not one of \"\", \"mac-always\", \"mac-never\""),
                            );
                    }
                }
                "derpMap" | "attrConfig" | "nodeVisibility" | "extraDNSRecords" => {
                    if name == "extraDNSRecords" {
                        if !matches!(member.value.kind, Kind::Array(_) | Kind::Null) {
                            self.wrong_type(&member.value, name, "an array");
                        }
                    } else if name != "nodeVisibility"
                        && !matches!(member.value.kind, Kind::Object(_) | Kind::Null)
                    {
                        self.wrong_type(&member.value, name, "an object");
                    }
                    let taken = std::mem::replace(
                        &mut member.value,
                        Value {
                            span: Span::default(),
                            kind: Kind::Null,
                        },
                    );
                    policy.opaque.push((key, taken));
                }
                _ => unreachable!("every TOP_LEVEL key is handled"),
            }
        }
        policy
    }

    fn acl(&mut self, value: &mut Value) -> Option<Acl> {
        let rule_span = value.span;
        let mut f = self.fields(
            value,
            "an ACL rule",
            ACL_FIELDS,
            &[("users", "src"), ("ports", "dst")],
        )?;
        let action = self.string(f.get("action"), "action");
        if action.is_none() {
            self.report(
                Code::MissingField,
                rule_span,
                "action=\"\" is not supported",
            )
            .help = Some("add \"action\": \"accept\"".into());
        }
        let proto = self.string(f.get("proto"), "proto").and_then(|p| {
            if p.value.is_empty() {
                return None;
            }
            match Protocol::parse(&p.value) {
                Ok(proto) => Some(Spanned {
                    value: proto,
                    span: p.span,
                }),
                Err(e) => {
                    self.report(Code::InvalidProtocol, p.span, e);
                    None
                }
            }
        });
        let src = self.selectors(f.get("src"), "src");
        let mut dst = Vec::new();
        for raw in self.strings(f.get("dst"), "dst") {
            if let Some(d) = self.acl_dst(raw) {
                if let Some(p) = &proto
                    && !p.value.has_ports()
                    && !d.ports.iter().all(|r| r.is_all())
                {
                    self.report(
                        Code::InvalidProtocol,
                        d.span,
                        format!(
                            "protocol does not support specific ports: {:?}, only \"*\" is allowed",
                            p.value.to_string()
                        ),
                    )
                    .help = Some(format!("write {}:*", d.host.raw));
                }
                dst.push(d);
            }
        }
        let src_posture = self.strings(f.get("srcPosture"), "srcPosture");
        Some(Acl {
            span: rule_span,
            action,
            proto,
            src,
            dst,
            src_posture,
        })
    }

    fn acl_dst(&mut self, raw: Spanned<String>) -> Option<AclDst> {
        match split_host_port(raw.value.trim()) {
            Ok((host_raw, port_spec)) => {
                let ports = match ports::parse_port_list(port_spec.trim()) {
                    Ok(p) => p,
                    Err(e) => {
                        let code = if port_spec.bytes().any(|b| b.is_ascii_digit() || b == b'*') {
                            Code::InvalidPort
                        } else {
                            Code::MissingPort
                        };
                        let d = self.report(code, raw.span, format!("dst={:?}: {e}", raw.value));
                        let word = port_spec.trim().to_ascii_lowercase();
                        // `group:users:icmp`: a whole selector, then a protocol where the
                        // ports go (a real policy); `tag:web` alone splits into `tag` and `web`.
                        let whole_host = host_raw.contains(':')
                            || !matches!(
                                &*host_raw,
                                "tag" | "group" | "autogroup" | "user" | "ipset" | "svc"
                            );
                        let protocol = ports::PROTOCOL_NAMES.iter().any(|(n, _)| *n == word);
                        d.help = Some(if code == Code::MissingPort && whole_host && protocol {
                            format!(
                                "\"{word}\" is a protocol, not a port: write \"{host_raw}:*\" and give the rule \"proto\": \"{word}\""
                            )
                        } else if code == Code::MissingPort && whole_host && host_raw.contains(':')
                        {
                            format!(
                                "\"{word}\" is not a port: ACL destinations are host:ports, split at the last colon; write \"{host_raw}:PORT\" (ports are *, N, N-M or a comma list)"
                            )
                        } else if code == Code::MissingPort {
                            format!(
                                "ACL destinations are host:ports, split at the last colon; did you mean \"{}:*\"?",
                                raw.value.trim()
                            )
                        } else {
                            "ports are *, N, N-M or a comma list of those, between 1 and 65535"
                                .into()
                        });
                        return None;
                    }
                };
                let host = self.selector(Spanned {
                    value: host_raw.into_owned(),
                    span: raw.span,
                });
                Some(AclDst {
                    raw: raw.value,
                    span: raw.span,
                    host,
                    ports,
                })
            }
            Err(e) => {
                let code = if e.contains("colon") {
                    Code::MissingPort
                } else {
                    Code::InvalidSelector
                };
                self.report(code, raw.span, format!("dst={:?}: {e}", raw.value))
                    .help = Some(format!("did you mean \"{}:*\"?", raw.value.trim()));
                None
            }
        }
    }

    fn app(&mut self, value: Option<&mut Value>, what: &str) -> Vec<AppCap> {
        let mut out = Vec::new();
        for m in self.entries(value, what) {
            match &m.value.kind {
                Kind::Array(items) => {
                    // The control plane keeps each value as raw JSON (tailcfg.RawMessage) and
                    // only checks that it is JSON, so another type is accepted: a warning for
                    // the application that reads the values as objects.
                    for item in items {
                        if !matches!(item.kind, Kind::Object(_) | Kind::Null) {
                            self.report(
                                Code::InvalidValue,
                                item.span,
                                format!(
                                    "each value of {:?} should be an object, not {}",
                                    m.key,
                                    article(item.type_name())
                                ),
                            )
                            .help = Some(
                                "the control plane passes the value on as it is, but applications read each value as a JSON object: write {} for a capability without arguments".into(),
                            );
                        }
                    }
                }
                Kind::Null => {}
                _ => self.wrong_type(
                    &m.value,
                    &format!("{what}[{:?}]", m.key),
                    "an array of objects",
                ),
            }
            out.push(AppCap {
                name: key_of(m),
                values: m.value.clone(),
            });
        }
        out
    }

    fn grant(&mut self, value: &mut Value) -> Option<Grant> {
        let rule_span = value.span;
        let mut f = self.fields(value, "a grant", GRANT_FIELDS, &[])?;
        let src = self.selectors(f.get("src"), "src");
        let dst = self.selectors(f.get("dst"), "dst");
        let ip_raw = self.strings(f.get("ip"), "ip");
        let ip_written = ip_raw.len();
        let mut ip = Vec::with_capacity(ip_raw.len());
        for raw in ip_raw {
            // Not trimmed: the control plane's parser does not trim either.
            match IpSpec::parse(&raw.value) {
                Ok(spec) => ip.push(Spanned {
                    value: spec,
                    span: raw.span,
                }),
                Err(e) => {
                    let code = if e.starts_with("proto") || e == "empty protocol" {
                        Code::InvalidProtocol
                    } else {
                        Code::InvalidPort
                    };
                    self.report(code, raw.span, e).help = Some(
                        "grant ip entries are *, N, N-M, proto:*, proto:N or proto:N-M, one range each (proto is a name such as tcp, a number 0-255, or *)".into(),
                    );
                }
            }
        }
        let app = self.app(f.get("app"), "app");
        let via = self.selectors(f.get("via"), "via");
        let src_posture = self.strings(f.get("srcPosture"), "srcPosture");
        Some(Grant {
            span: rule_span,
            src,
            dst,
            ip,
            ip_written,
            app,
            via,
            src_posture,
        })
    }

    fn ssh_rule(&mut self, value: &mut Value) -> Option<SshRule> {
        let rule_span = value.span;
        let mut f = self.fields(value, "an SSH rule", SSH_FIELDS, &[])?;
        let action = self.string(f.get("action"), "action");
        let src = self.selectors(f.get("src"), "src");
        let dst = self.selectors(f.get("dst"), "dst");
        let users = match f.get("users") {
            None => None,
            Some(v) if v.is_null() => None,
            Some(v) => Some(Spanned {
                value: self.strings(Some(v), "users"),
                span: v.span,
            }),
        };
        let check_period = self.string(f.get("checkPeriod"), "checkPeriod");
        let accept_env = self.strings(f.get("acceptEnv"), "acceptEnv");
        let src_posture = self.strings(f.get("srcPosture"), "srcPosture");
        let recorder = self.selectors(f.get("recorder"), "recorder");
        let enforce_recorder = self
            .boolean(f.get("enforceRecorder"), "enforceRecorder")
            .map(|b| b.value);
        Some(SshRule {
            span: rule_span,
            action,
            src,
            dst,
            users,
            check_period,
            accept_env,
            src_posture,
            recorder,
            enforce_recorder,
        })
    }

    fn auto_approvers(&mut self, value: &mut Value) -> AutoApprovers {
        let mut out = AutoApprovers::default();
        if value.is_null() {
            return out;
        }
        let Some(mut f) = self.fields(value, "autoApprovers", AUTO_APPROVER_FIELDS, &[]) else {
            return out;
        };
        for m in self.entries(f.get("routes"), "autoApprovers.routes") {
            let route = key_of(m);
            let prefix = Prefix::parse(route.value.trim());
            if prefix.is_none() {
                self.report(
                    Code::InvalidValue,
                    route.span,
                    format!("autoApprovers.routes: {:?} is not a CIDR", route.value),
                );
            }
            let approvers = self.selectors(
                Some(&mut m.value),
                &format!("autoApprovers.routes[{:?}]", m.key),
            );
            out.routes.push(RouteApprover {
                route,
                prefix,
                approvers,
            });
        }
        out.exit_node = self.selectors(f.get("exitNode"), "autoApprovers.exitNode");
        for m in self.entries(f.get("services"), "autoApprovers.services") {
            let service = self.selector(key_of(m));
            let approvers = self.selectors(
                Some(&mut m.value),
                &format!("autoApprovers.services[{:?}]", m.key),
            );
            out.services.push(ServiceApprover { service, approvers });
        }
        out
    }

    fn node_attr(&mut self, value: &mut Value) -> Option<NodeAttr> {
        let rule_span = value.span;
        let mut f = self.fields(value, "a nodeAttrs entry", NODE_ATTR_FIELDS, &[])?;
        let target = self.selectors(f.get("target"), "target");
        let attr = self.strings(f.get("attr"), "attr");
        let app = self.app(f.get("app"), "app");
        let ip_pool = self.strings(f.get("ipPool"), "ipPool");
        Some(NodeAttr {
            span: rule_span,
            target,
            attr,
            app,
            ip_pool,
        })
    }

    fn test(&mut self, value: &mut Value) -> Option<Test> {
        let rule_span = value.span;
        let mut f = self.fields(
            value,
            "a test",
            TEST_FIELDS,
            &[("user", "src"), ("allow", "accept")],
        )?;
        Some(Test {
            span: rule_span,
            src: self.string(f.get("src"), "src"),
            proto: self.string(f.get("proto"), "proto"),
            accept: self.strings(f.get("accept"), "accept"),
            deny: self.strings(f.get("deny"), "deny"),
            src_posture_attrs: f.get("srcPostureAttrs").map(|v| v.clone()),
        })
    }

    fn ssh_test(&mut self, value: &mut Value) -> Option<SshTest> {
        let rule_span = value.span;
        let mut f = self.fields(value, "an SSH test", SSH_TEST_FIELDS, &[])?;
        Some(SshTest {
            span: rule_span,
            src: self.string(f.get("src"), "src"),
            dst: self.strings(f.get("dst"), "dst"),
            accept: self.strings(f.get("accept"), "accept"),
            check: self.strings(f.get("check"), "check"),
            deny: self.strings(f.get("deny"), "deny"),
            src_posture_attrs: f.get("srcPostureAttrs").map(|v| v.clone()),
        })
    }
}

/// Lower every element, reserving space first: collecting a `filter_map` would grow the
/// vector by doubling, copying large rule structs each time.
fn lower_all<T>(items: &mut [Value], mut lower_one: impl FnMut(&mut Value) -> Option<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(x) = lower_one(item) {
            out.push(x);
        }
    }
    out
}

fn key_of(m: &Member) -> Spanned<String> {
    Spanned {
        value: m.key.clone(),
        span: m.key_span,
    }
}

fn article(type_name: &str) -> String {
    match type_name {
        "null" => "null".into(),
        "array" | "object" => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// Fields whose Go type is a struct: `null` leaves them as they were (a map or a list
/// becomes nil instead).
const STRUCT_FIELDS: &[&str] = &["autoApprovers"];

/// Decode `later` into `earlier` as Go's `encoding/json` decodes a repeated key into the
/// value the first occurrence produced. `is_struct`: `earlier` holds a struct (an object
/// that `null` leaves alone), not a map.
fn decode_into(earlier: &mut Value, later: Value, is_struct: bool) {
    match (&mut earlier.kind, later.kind) {
        (Kind::Object(_), Kind::Null) if is_struct => {}
        (Kind::Array(_) | Kind::Object(_), Kind::Null) => *earlier = Value::null(),
        (Kind::String(_) | Kind::Bool(_) | Kind::Number(_), Kind::Null) => {}
        // Both a struct and a map take the later members into the same value; lowering
        // then merges or replaces repeated members the same way.
        (Kind::Object(first), Kind::Object(second)) => first.extend(second),
        (Kind::Array(first), Kind::Array(second)) => {
            let len = second.len();
            for (i, item) in second.into_iter().enumerate() {
                match first.get_mut(i) {
                    // Elements of policy arrays are strings or rules (structs).
                    Some(slot) => decode_into(slot, item, true),
                    None => first.push(item),
                }
            }
            first.truncate(len);
        }
        (_, kind) => {
            *earlier = Value {
                span: later.span,
                kind,
            }
        }
    }
}

/// Go's `encoding/json` field-name match after the exact one: `bytes.EqualFold`-style
/// simple case folding. `canonical` is ASCII; besides ASCII case, only U+017F (ſ) folds
/// to `s` and U+212A (Kelvin sign) to `k`.
fn go_fold_eq(key: &str, canonical: &str) -> bool {
    let mut key = key.chars();
    for want in canonical.chars() {
        let Some(c) = key.next() else {
            return false;
        };
        let folds = c.eq_ignore_ascii_case(&want)
            || (c == '\u{17f}' && want.eq_ignore_ascii_case(&'s'))
            || (c == '\u{212a}' && want.eq_ignore_ascii_case(&'k'));
        if !folds {
            return false;
        }
    }
    key.next().is_none()
}

/// Split an ACL destination into host and port spec at the last colon, with bracketed
/// IPv6 (`[fd7a::1]:22`, `[fd7a::]/48:22`) accepted as the control plane does.
pub fn split_host_port(text: &str) -> Result<(Cow<'_, str>, &str), String> {
    const BRACKETS: &str = "square brackets are only valid around IPv6 addresses";
    const NO_COLON: &str = "hostport must contain a colon (\":\")";
    if let Some(rest) = text.strip_prefix('[') {
        let close = rest.find(']').ok_or(BRACKETS)?;
        let inside = &rest[..close];
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(BRACKETS.into());
        }
        let (len, ports) = rest[close + 1..].rsplit_once(':').ok_or(NO_COLON)?;
        return match len {
            "" => Ok((Cow::Borrowed(inside), ports)),
            len if len.starts_with('/') => Ok((Cow::Owned(format!("{inside}{len}")), ports)),
            _ => Err(BRACKETS.into()),
        };
    }
    match text.rsplit_once(':') {
        Some((host, ports)) => Ok((Cow::Borrowed(host), ports)),
        None => Err(NO_COLON.into()),
    }
}

const COMMENT_KEY_HELP: &str = "the policy language has no comment field: to the control plane a key \
is data; a policy file is HuJSON, which has comments: write it as `// …` on the line above";

/// From this many comments written as keys in one file, they are one finding.
pub const COMMENT_KEYS_FOLD_AT: usize = 3;

/// Whether an unknown key is a comment written as data (`"//": …`, `"# note": …`,
/// `"comment": …`), as policies kept as plain JSON do for want of comments. Real files
/// write one per rule (jasondashaer/kube-world 21, aahmed954/AgenticDosNode 14), so such
/// keys are worded as what they are and folded ([`fold_comment_keys`]).
pub fn is_comment_key(key: &str) -> bool {
    let key = key.trim();
    if key.starts_with("//") || key.starts_with('#') || key.starts_with("/*") {
        return true;
    }
    let word = key.trim_start_matches('_').to_ascii_lowercase();
    matches!(
        word.as_str(),
        "comment" | "comments" | "note" | "notes" | "description" | "desc" | "remark" | "remarks"
    )
}

/// Folds a file's comments written as keys (TSA003), when there are
/// [`COMMENT_KEYS_FOLD_AT`] or more, into one finding with a label at each: one style
/// choice, said once. Run after suppression comments, so that a silenced key is not counted.
pub fn fold_comment_keys(sources: &SourceMap, file: FileId, diags: &mut Vec<Diagnostic>) {
    let text = &sources.get(file).text;
    let key_of = |d: &Diagnostic| -> Option<String> {
        if d.code != Code::UnknownField || d.primary.file != file {
            return None;
        }
        let raw = text.get(d.primary.span.range())?;
        let key: String = serde_json::from_slice(raw).ok()?;
        is_comment_key(&key).then_some(key)
    };
    let mut found: Vec<(usize, String)> = diags
        .iter()
        .enumerate()
        .filter_map(|(i, d)| key_of(d).map(|k| (i, k)))
        .collect();
    if found.len() < COMMENT_KEYS_FOLD_AT {
        return;
    }
    found.sort_by_key(|(i, _)| diags[*i].primary.span.start);
    let mut keys: Vec<&str> = Vec::new();
    for (_, k) in &found {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let shown: Vec<String> = keys.iter().take(3).map(|k| format!("{k:?}")).collect();
    let more = if keys.len() > 3 {
        format!(" and {} more", keys.len() - 3)
    } else {
        String::new()
    };
    let first = &diags[found[0].0];
    let mut diag = Diagnostic::new(
        Code::UnknownField,
        first.primary,
        format!(
            "{} comments are written as keys ({}{more})",
            found.len(),
            shown.join(", ")
        ),
    )
    .with_help(COMMENT_KEY_HELP);
    diag.severity = first.severity;
    diag.primary_label = Some("a comment as a key".into());
    for (i, _) in &found[1..] {
        diag.labels.push(Label {
            location: diags[*i].primary,
            message: "a comment as a key".into(),
        });
    }
    let folded: rustc_hash::FxHashSet<usize> = found.iter().map(|(i, _)| *i).collect();
    let mut i = 0;
    diags.retain(|_| {
        i += 1;
        !folded.contains(&(i - 1))
    });
    diags.push(diag);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_at_last_colon() {
        let split = |s| {
            let (h, p) = split_host_port(s).unwrap();
            (h.into_owned(), p)
        };
        assert_eq!(split("tag:db:5432"), ("tag:db".into(), "5432"));
        assert_eq!(split("fd00:1::/64:443"), ("fd00:1::/64".into(), "443"));
        assert_eq!(split("autogroup:self"), ("autogroup".into(), "self"));
        assert_eq!(split("[fd7a::1]:22"), ("fd7a::1".into(), "22"));
        assert_eq!(split("[fd7a::]/48:*"), ("fd7a::/48".into(), "*"));
        assert!(split_host_port("100.64.0.1").unwrap_err().contains("colon"));
        assert!(split_host_port("[10.0.0.1]:22").is_err());
    }
}

#[cfg(test)]
mod comment_key_tests {
    use super::is_comment_key;

    #[test]
    fn comments_written_as_keys() {
        for key in [
            "//",
            "// Rule 1",
            "//-rule",
            "# note",
            "/* x */",
            "comment",
            "_comment",
            "Notes",
            "description",
        ] {
            assert!(is_comment_key(key), "{key}");
        }
        for key in [
            "dts",
            "srcPosture",
            "commentary",
            "nodeVisibility",
            "dns",
            "version",
        ] {
            assert!(!is_comment_key(key), "{key}");
        }
    }
}
