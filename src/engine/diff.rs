//! The effective-access diff: which principals gain or lose which destinations, protocols
//! and ports between two policies. Decided symbolically (see [`super::reach`]) over every
//! principal either policy names, plus one stand-in for any other member, so it needs no
//! inventory.

pub use super::reach::Access;
use super::reach::{Principal, Roles, add, entries, entry_reaches, minus, sources_include};
use crate::model::{Policy, PortRange};
use std::collections::{BTreeMap, BTreeSet};

/// A stand-in for users neither policy names (matched by `*` and `autogroup:member`).
pub const ANY_OTHER_MEMBER: &str = "(any other member)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub src: String,
    pub dst: String,
    pub gained: Access,
    pub lost: Access,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessDiff {
    pub changes: Vec<Change>,
    /// Principals that had some access before and have none after.
    pub locked_out: Vec<String>,
}

impl AccessDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn principals(policies: &[&Policy]) -> Vec<Principal> {
    let mut users = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for p in policies {
        for g in &p.groups {
            users.extend(g.members.iter().map(|m| m.value.trim().to_string()));
        }
        tags.extend(p.tag_owners.iter().map(|t| t.tag.value.clone()));
        for h in &p.hosts {
            if let Some(prefix) = h.prefix {
                hosts.insert(prefix);
            }
        }
        let mut note = |raw: &str| {
            if let Ok(crate::model::Selector::User(u)) = crate::model::Selector::parse(raw) {
                users.insert(u);
            }
        };
        for g in p.grants.iter().flatten() {
            g.src.iter().chain(&g.dst).for_each(|s| note(&s.raw));
        }
        for a in p.acls.iter().flatten() {
            a.src.iter().for_each(|s| note(&s.raw));
            a.dst.iter().for_each(|d| note(&d.host.raw));
        }
    }
    users.insert(ANY_OTHER_MEMBER.to_string());
    let mut out: Vec<Principal> = users.into_iter().map(Principal::User).collect();
    out.extend(tags.into_iter().map(|t| Principal::Tags(vec![t])));
    out.extend(
        hosts
            .into_iter()
            .map(|p| Principal::Address(super::IpSet::from_prefix(&p))),
    );
    out
}

/// Everything `src` may send to `dst` under `policy`.
pub fn access(policy: &Policy, roles: &Roles, src: &Principal, dst: &Principal) -> Access {
    let mut out = Access::new();
    if policy.acls.is_none() && policy.grants.is_none() {
        for p in [6, 17, 1, 58] {
            add(&mut out, p, PortRange::ALL);
        }
        return out;
    }
    for e in entries(policy) {
        if !sources_include(policy, roles, &e, src) || !entry_reaches(policy, roles, &e, src, dst) {
            continue;
        }
        e.add_access(&mut out);
    }
    out
}

/// Who gains and who loses what, from `old` to `new`.
pub fn diff(old: &Policy, new: &Policy) -> AccessDiff {
    let roles = Roles(None);
    let all = principals(&[old, new]);
    let mut result = AccessDiff::default();
    let mut before: BTreeMap<String, bool> = BTreeMap::new();
    let mut after: BTreeMap<String, bool> = BTreeMap::new();
    for s in &all {
        for d in &all {
            if matches!(s, Principal::Address(_)) {
                continue; // Addresses are destinations (hosts), not sources of their own.
            }
            let a = access(old, &roles, s, d);
            let b = access(new, &roles, s, d);
            *before.entry(s.to_string()).or_default() |= !a.is_empty();
            *after.entry(s.to_string()).or_default() |= !b.is_empty();
            if a == b {
                continue;
            }
            let (gained, lost) = (minus(&b, &a), minus(&a, &b));
            if gained.is_empty() && lost.is_empty() {
                continue;
            }
            result.changes.push(Change {
                src: s.to_string(),
                dst: d.to_string(),
                gained,
                lost,
            });
        }
    }
    result.locked_out = before
        .iter()
        .filter(|(p, had)| **had && !after.get(*p).copied().unwrap_or(false))
        .map(|(p, _)| p.clone())
        .collect();
    result
}

/// `tcp 80,443; udp 53`.
pub fn access_text(a: &Access) -> String {
    // Show the client default (TCP, UDP, ICMP, ICMPv6 on the same ports) as "any".
    let mut parts = Vec::new();
    let default = [6u8, 17, 1, 58];
    let mut rest: Vec<(&u8, &Vec<(u16, u16)>)> = a.iter().collect();
    if default
        .iter()
        .all(|p| a.get(p) == a.get(&6) && a.contains_key(p))
    {
        parts.push(format!("any {}", ranges_text(&a[&6])));
        rest.retain(|(p, _)| !default.contains(p));
    }
    for (p, r) in rest {
        parts.push(format!("{} {}", crate::model::Protocol(*p), ranges_text(r)));
    }
    parts.join("; ")
}

fn ranges_text(r: &[(u16, u16)]) -> String {
    r.iter()
        .map(|&(a, b)| PortRange { first: a, last: b }.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The diff for people: one line per source → destination.
pub fn render(d: &AccessDiff) -> String {
    if d.is_empty() {
        return "effective access: unchanged\n".into();
    }
    let mut out = String::from("effective access changes:\n");
    for c in &d.changes {
        if !c.gained.is_empty() {
            out.push_str(&format!(
                "  + {} -> {}: {}\n",
                c.src,
                c.dst,
                access_text(&c.gained)
            ));
        }
        if !c.lost.is_empty() {
            out.push_str(&format!(
                "  - {} -> {}: {}\n",
                c.src,
                c.dst,
                access_text(&c.lost)
            ));
        }
    }
    for p in &d.locked_out {
        out.push_str(&format!(
            "  warning: {p} loses all the access it had (lockout?)\n"
        ));
    }
    out
}

/// The diff as JSON: `{"changes": [{"src", "dst", "gained", "lost"}], "locked_out": [...]}`,
/// access written `{"tcp": ["80", "443"], ...}`.
pub fn to_json(d: &AccessDiff) -> serde_json::Value {
    let access = |a: &Access| -> serde_json::Value {
        a.iter()
            .map(|(p, r)| {
                let ranges: Vec<String> = r
                    .iter()
                    .map(|&(x, y)| PortRange { first: x, last: y }.to_string())
                    .collect();
                (
                    crate::model::Protocol(*p).to_string(),
                    serde_json::json!(ranges),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    serde_json::json!({
        "changes": d.changes.iter().map(|c| serde_json::json!({
            "src": c.src, "dst": c.dst, "gained": access(&c.gained), "lost": access(&c.lost),
        })).collect::<Vec<_>>(),
        "locked_out": d.locked_out,
    })
}

/// The diff as findings about `file` (the new side), for SARIF and GitHub annotations:
/// one `access-gained` or `access-lost` note per source, destination and direction, and
/// an `access-lockout` warning per principal left with nothing. They are file-level
/// (an empty span at the start): an access change belongs to no single line.
pub fn to_diagnostics(
    d: &AccessDiff,
    file: crate::diagnostics::FileId,
) -> Vec<crate::diagnostics::Diagnostic> {
    use crate::diagnostics::{Diagnostic, Location};
    use crate::rules::Code;
    let at = Location {
        file,
        span: crate::syntax::Span::new(0, 0),
    };
    let mut out = Vec::new();
    for c in &d.changes {
        if !c.gained.is_empty() {
            out.push(Diagnostic::new(
                Code::AccessGained,
                at,
                format!(
                    "{} gains access to {}: {}",
                    c.src,
                    c.dst,
                    access_text(&c.gained)
                ),
            ));
        }
        if !c.lost.is_empty() {
            out.push(Diagnostic::new(
                Code::AccessLost,
                at,
                format!(
                    "{} loses access to {}: {}",
                    c.src,
                    c.dst,
                    access_text(&c.lost)
                ),
            ));
        }
    }
    for p in &d.locked_out {
        out.push(
            Diagnostic::new(
                Code::AccessLockout,
                at,
                format!("{p} loses all the access it had"),
            )
            .with_help("a lockout? make sure the change means to leave it with no access"),
        );
    }
    out
}

/// The diff as a Markdown table, for pull-request comments and job summaries.
pub fn render_markdown(d: &AccessDiff, old: &str, new: &str) -> String {
    let mut out = format!("### Effective access: `{old}` → `{new}`\n\n");
    if d.is_empty() {
        out.push_str("No change in who can reach what.\n");
        return out;
    }
    out.push_str("| | source | destination | access |\n|---|---|---|---|\n");
    for c in &d.changes {
        if !c.gained.is_empty() {
            out.push_str(&format!(
                "| ➕ gains | `{}` | `{}` | {} |\n",
                c.src,
                c.dst,
                access_text(&c.gained)
            ));
        }
        if !c.lost.is_empty() {
            out.push_str(&format!(
                "| ➖ loses | `{}` | `{}` | {} |\n",
                c.src,
                c.dst,
                access_text(&c.lost)
            ));
        }
    }
    for p in &d.locked_out {
        out.push_str(&format!(
            "\n> **Warning**: `{p}` loses all the access it had.\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    #[test]
    fn reports_exactly_the_flows_that_changed() {
        let tags = r#""tagOwners": {"tag:web": [], "tag:db": []}"#;
        let old = policy(&format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}]}}"#
        ));
        let new = policy(&format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432", "tcp:6432"]}}, {{"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["443"]}}]}}"#
        ));
        let d = diff(&old, &new);
        let text = render(&d);
        assert!(text.contains("+ tag:web -> tag:db: tcp 6432"), "{text}");
        assert!(
            text.contains("+ alice@example.com -> tag:web: any 443"),
            "{text}"
        );
        assert_eq!(d.changes.len(), 2, "{text}");
        let back = render(&diff(&new, &old));
        assert!(back.contains("- tag:web -> tag:db: tcp 6432"), "{back}");
        assert!(
            back.contains("warning: alice@example.com loses all the access"),
            "{back}"
        );
        assert_eq!(render(&diff(&old, &old)), "effective access: unchanged\n");
    }
}
