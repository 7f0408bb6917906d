//! TSA230-232: the exact redundancy audit ([`crate::engine::redundancy`]) as diagnostics.
//!
//! Without an inventory the audit runs on representative devices (one per atom of users,
//! [`crate::engine::structural::representative_atoms`]) and its findings hold
//! for any devices and any roles and membership of users (structural). With one, it runs
//! on those devices and users; findings that the structural audit does not share say that
//! they hold only for today's devices and users.

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::engine::inventory::with_auto_approvals;
use crate::engine::redundancy::{Audit, Finding, Kind};
use crate::engine::rules::Origin;
use crate::engine::structural::representative_atoms;
use crate::model::Policy;
use crate::rules::Code;
use crate::syntax::Span;

/// Audit `policy`; users of `tailnet_domains` are members (`--tailnet-domain`).
pub fn audit(
    policy: &Policy,
    inventory: Option<&Inventory>,
    tailnet_domains: Option<&[String]>,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    if policy.acls.is_none() && policy.grants.is_none() {
        return;
    }
    let structural = || {
        crate::timings::stage("  audit: structural", || {
            Audit::new(policy, &representative_atoms(policy, tailnet_domains)).findings()
        })
    };
    let (findings, only_today): (Vec<Finding>, Vec<bool>) = match inventory {
        None => {
            let structural = structural();
            let n = structural.len();
            (structural, vec![false; n])
        }
        Some(inv) => {
            // The structural audit only tells which of today's findings hold for every
            // inventory; it runs beside the audit of today's devices.
            let (findings, structural) = std::thread::scope(|scope| {
                let structural = scope.spawn(structural);
                let findings = crate::timings::stage("  audit: the inventory", || {
                    let inv = crate::engine::structural::with_idp_group_members(inv, policy);
                    Audit::new(policy, &with_auto_approvals(&inv, policy)).findings()
                });
                (findings, structural.join().expect("the structural audit"))
            });
            let structural: std::collections::HashSet<Key> = structural.iter().map(key).collect();
            let only_today = findings
                .iter()
                .map(|f| !structural.contains(&key(f)))
                .collect();
            (findings, only_today)
        }
    };
    let at = |span| Location { file, span };
    // Only the selectors findings name are looked up (a large policy has tens of thousands).
    let named: rustc_hash::FxHashSet<Span> = findings
        .iter()
        .flat_map(|f| match &f.kind {
            Kind::RedundantSource { span, by } | Kind::RedundantDestination { span, by } => {
                std::iter::once(span).chain(by).copied().collect()
            }
            Kind::EmptySource { span } | Kind::EmptyDestination { span } => vec![*span],
            Kind::Redundant { .. } | Kind::NoSources | Kind::NoDestinations => Vec::new(),
        })
        .collect();
    let written = selector_texts(policy, &named);
    let text = |span: Span| written.get(&span).copied().unwrap_or_default().to_string();
    // Rules an allow-all rule covers are one finding, on that rule: TSA210 already says
    // the allow-all rule is broad, and a finding per covered rule would repeat it.
    let allow_all = crate::lint::allow_all_rules(policy);
    let mut under_allow_all: Vec<AllowAllCover> = allow_all
        .iter()
        .map(|(o, s)| (*o, *s, Vec::new(), false))
        .collect();
    for (f, today) in findings.iter().zip(only_today) {
        let scope = if today {
            " (for the inventory's devices and users)"
        } else {
            ""
        };
        let d = match &f.kind {
            Kind::Redundant { covering } => {
                if let Some(entry) = under_allow_all
                    .iter_mut()
                    .find(|(o, ..)| covering.iter().any(|(c, _)| c == o))
                {
                    entry.2.push((f.origin, f.span));
                    entry.3 |= today;
                    continue;
                }
                let names: Vec<String> = covering.iter().map(|(o, _)| o.to_string()).collect();
                // With an inventory-only finding, the scope already says it may change.
                let groups = if today {
                    Vec::new()
                } else {
                    rests_on_groups(policy, f.origin, covering)
                };
                let because = if groups.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; that rests on who is in {} today",
                        join(&groups.iter().map(|g| g.to_string()).collect::<Vec<_>>())
                    )
                };
                let message = if names.len() == 1 {
                    format!(
                        "{} allows nothing that {} does not already allow{scope}{because}",
                        f.origin, names[0]
                    )
                } else {
                    format!(
                        "{} allows nothing that {} together do not already allow{scope}{because}",
                        f.origin,
                        join(&names)
                    )
                };
                let mut d = Diagnostic::new(Code::RedundantRule, at(f.span), message)
                    .with_primary_label("redundant");
                for (o, span) in covering {
                    let label = if covering.len() == 1 {
                        format!("{o} covers every flow of {}", f.origin)
                    } else {
                        format!("{o} covers part of it")
                    };
                    d = d.with_label(at(*span), label);
                }
                d.with_help(if !groups.is_empty() {
                    format!(
                        "removing it changes no access while {} {} the members written today; a user added there and not to the covering rules would lose access",
                        join(&groups.iter().map(|g| g.to_string()).collect::<Vec<_>>()),
                        if groups.len() == 1 { "has" } else { "have" }
                    )
                } else if today {
                    "removing it changes no access with today's devices and users; it may matter once they change".into()
                } else {
                    "removing it changes no access, whatever the devices and whoever holds which role or is a member".into()
                })
            }
            Kind::NoSources => {
                let texts: Vec<&str> = rule_sources(policy, f.origin)
                    .iter()
                    .map(|s| s.raw.trim())
                    .collect();
                Diagnostic::new(
                    Code::IneffectiveRule,
                    at(f.span),
                    format!(
                        "{} allows nothing: its sources match nobody{scope}",
                        f.origin
                    ),
                )
                .with_help(match memberless_groups(policy, texts).as_slice() {
                    [] => "check the selectors for typos, or remove the rule".to_string(),
                    [one] => format!("{one} has no members: add them, or remove the rule"),
                    several => format!(
                        "{} have no members: add them, or remove the rule",
                        join(several)
                    ),
                })
            }
            Kind::NoDestinations => Diagnostic::new(
                Code::IneffectiveRule,
                at(f.span),
                format!(
                    "{} allows nothing: its destinations match nothing{scope}",
                    f.origin
                ),
            )
            .with_help("check the selectors for typos, or remove the rule"),
            Kind::RedundantSource { span, by } => {
                let by_text: Vec<String> = by.iter().map(|s| format!("`{}`", text(*s))).collect();
                let mut d = Diagnostic::new(
                    Code::RedundantSelector,
                    at(*span),
                    format!(
                        "source `{}` adds nothing to {}: {} already {} it{scope}",
                        text(*span),
                        f.origin,
                        join(&by_text),
                        if by.len() == 1 { "includes" } else { "include" }
                    ),
                )
                .with_primary_label("redundant");
                for s in by {
                    d = d.with_label(at(*s), "includes it");
                }
                d.with_help("remove it from the rule")
            }
            Kind::RedundantDestination { span, by } => {
                let by_text: Vec<String> = by.iter().map(|s| format!("`{}`", text(*s))).collect();
                let mut d = Diagnostic::new(
                    Code::RedundantSelector,
                    at(*span),
                    format!(
                        "destination `{}` adds nothing to {}: {} already {} every port it does{scope}",
                        text(*span),
                        f.origin,
                        join(&by_text),
                        if by.len() == 1 { "allows" } else { "allow" }
                    ),
                )
                .with_primary_label("redundant");
                for s in by {
                    d = d.with_label(at(*s), "already allows it");
                }
                d.with_help("remove it from the rule")
            }
            Kind::EmptySource { span } => {
                let written = text(*span);
                Diagnostic::new(
                    Code::RedundantSelector,
                    at(*span),
                    format!("source `{written}` matches nobody{scope}"),
                )
                .with_primary_label("matches nobody")
                .with_help(
                    match memberless_groups(policy, [written.as_str()]).as_slice() {
                        [group] => format!("{group} has no members: add them, or remove it"),
                        _ => "check it for a typo, or remove it".to_string(),
                    },
                )
            }
            Kind::EmptyDestination { span } => Diagnostic::new(
                Code::RedundantSelector,
                at(*span),
                format!("destination `{}` matches nothing{scope}", text(*span)),
            )
            .with_primary_label("matches nothing")
            .with_help("check it for a typo, or remove it"),
        };
        diags.push(d);
    }
    for (origin, span, covered, today) in under_allow_all {
        if covered.is_empty() {
            continue;
        }
        let names: Vec<String> = covered.iter().map(|(o, _)| o.to_string()).collect();
        let shown: Vec<String> = names.iter().take(8).cloned().collect();
        let list = if names.len() > shown.len() {
            format!(
                "{} and {} more",
                shown.join(", "),
                names.len() - shown.len()
            )
        } else {
            join(&shown)
        };
        let scope = if today {
            " (for the inventory's devices and users)"
        } else {
            ""
        };
        let mut d = Diagnostic::new(
            Code::RedundantRule,
            at(span),
            format!(
                "{origin} allows every flow, so {} {} nothing more{scope}: {list}",
                if covered.len() == 1 {
                    "one other rule".to_string()
                } else {
                    format!("{} other rules", covered.len())
                },
                if covered.len() == 1 {
                    "allows"
                } else {
                    "allow"
                },
            ),
        )
        .with_primary_label("allows every flow");
        for (o, s) in &covered {
            d = d.with_label(at(*s), format!("{o} adds nothing beyond {origin}"));
        }
        diags.push(d.with_help(format!(
            "while {origin} stays, the rules it covers change no access; narrow or remove {origin} (TSA210) so that they say who may reach what, or remove them"
        )));
    }
}

/// The groups a redundant rule's sources name that its covering rules do not, when
/// none of those has a source every member falls into (`*`, `autogroup:member`, a
/// domain): the finding then holds only for the members the groups have today.
fn rests_on_groups(policy: &Policy, origin: Origin, covering: &[(Origin, Span)]) -> Vec<String> {
    use crate::model::{Autogroup, Sel, Selector};
    let sources = |o: Origin| -> Vec<&Sel> {
        match o {
            Origin::Grant(i) => policy
                .grants
                .iter()
                .flatten()
                .nth(i)
                .map(|g| g.src.iter().collect())
                .unwrap_or_default(),
            Origin::Acl(i) => policy
                .acls
                .iter()
                .flatten()
                .nth(i)
                .map(|a| a.src.iter().collect())
                .unwrap_or_default(),
            Origin::Default => Vec::new(),
        }
    };
    let covering_sources: Vec<&Selector> = covering
        .iter()
        .flat_map(|(o, _)| sources(*o))
        .filter_map(|s| s.selector.as_ref())
        .collect();
    let broad = covering_sources.iter().any(|s| {
        matches!(
            s,
            Selector::Wildcard
                | Selector::UserDomain(_)
                | Selector::Autogroup(
                    Autogroup::Member | Autogroup::Members | Autogroup::DangerAll
                )
        )
    });
    if broad {
        return Vec::new();
    }
    let mut groups: Vec<String> = sources(origin)
        .into_iter()
        .filter_map(|s| match &s.selector {
            Some(g @ Selector::Group(_)) if !covering_sources.contains(&g) => Some(g.to_string()),
            _ => None,
        })
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// An allow-all rule, where it is, the rules it covers, and whether any of that holds only
/// for the inventory's devices and users.
type AllowAllCover = (Origin, Span, Vec<(Origin, Span)>, bool);

/// A finding, whatever the covering rules: the rule, the kind, and the selector if any.
type Key = (
    crate::engine::rules::Origin,
    std::mem::Discriminant<Kind>,
    Option<Span>,
);

fn key(f: &Finding) -> Key {
    let span = match &f.kind {
        Kind::RedundantSource { span, .. }
        | Kind::RedundantDestination { span, .. }
        | Kind::EmptySource { span }
        | Kind::EmptyDestination { span } => Some(*span),
        _ => None,
    };
    (f.origin, std::mem::discriminant(&f.kind), span)
}

/// The rules' selectors written at `spans` (with their ports, for an ACL destination), by
/// where they are written.
fn selector_texts<'p>(
    policy: &'p Policy,
    spans: &rustc_hash::FxHashSet<Span>,
) -> rustc_hash::FxHashMap<Span, &'p str> {
    let mut out = rustc_hash::FxHashMap::default();
    if spans.is_empty() {
        return out;
    }
    let mut keep = |span: Span, raw: &'p str| {
        if spans.contains(&span) {
            out.insert(span, raw.trim());
        }
    };
    for w in crate::engine::rules::Written::all(policy) {
        for s in w.src() {
            keep(s.span, &s.raw);
        }
        for d in w.destinations() {
            keep(d.span, d.raw);
        }
    }
    out
}

/// A rule's sources as written.
fn rule_sources(policy: &Policy, origin: Origin) -> &[crate::model::Sel] {
    match origin {
        Origin::Acl(i) => policy
            .acls
            .as_deref()
            .and_then(|a| a.get(i))
            .map_or(&[], |a| &a.src),
        Origin::Grant(i) => policy
            .grants
            .as_deref()
            .and_then(|g| g.get(i))
            .map_or(&[], |g| &g.src),
        Origin::Default => &[],
    }
}

/// The groups among `selectors` whose definition lists no member: why a source matches
/// nobody, when a group is kept empty on purpose (filled in as people join).
fn memberless_groups<'a>(
    policy: &Policy,
    selectors: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    selectors
        .into_iter()
        .filter(|s| {
            s.starts_with("group:") && policy.group(s).is_some_and(|g| g.members.is_empty())
        })
        .map(str::to_string)
        .collect()
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::check::check_policy;
    use crate::diagnostics::{SourceFile, SourceMap};
    use crate::rules::Code;
    use crate::validate::Options;

    fn run(text: &str, inventory: Option<&str>) -> Vec<(Code, String, Vec<String>)> {
        run_in(text, inventory, None)
    }

    fn run_in(
        text: &str,
        inventory: Option<&str>,
        tailnet_domains: Option<Vec<String>>,
    ) -> Vec<(Code, String, Vec<String>)> {
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("p", "p", text.as_bytes().to_vec()));
        let options = Options {
            inventory: inventory
                .map(|i| crate::engine::Inventory::from_json(i.as_bytes()).unwrap()),
            tailnet_domains,
        };
        check_policy(&sources, id, &options)
            .diagnostics
            .into_iter()
            .filter(|d| {
                matches!(
                    d.code,
                    Code::RedundantRule | Code::RedundantSelector | Code::IneffectiveRule
                )
            })
            .map(|d| {
                (
                    d.code,
                    d.message,
                    d.labels.into_iter().map(|l| l.message).collect(),
                )
            })
            .collect()
    }

    const POLICY: &str = r#"{
        "groups": {"group:eng": ["alice@example.com", "bob@example.com"], "group:oncall": []},
        "tagOwners": {"tag:db": ["group:eng"], "tag:web": ["group:eng"]},
        "grants": [
            {"src": ["*"], "dst": ["tag:db"], "ip": ["tcp:5432", "tcp:6379"]},
            {"src": ["group:eng", "alice@example.com"], "dst": ["tag:web"], "ip": ["tcp:443"]},
            {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
            {"src": ["group:oncall"], "dst": ["tag:db"], "ip": ["tcp:22"]},
        ],
    }"#;

    #[test]
    fn reports_redundant_rules_selectors_and_rules_that_allow_nothing() {
        let found = run(POLICY, None);
        let codes: Vec<Code> = found.iter().map(|f| f.0).collect();
        assert_eq!(
            codes,
            [
                Code::RedundantSelector,
                Code::RedundantRule,
                Code::IneffectiveRule
            ],
            "{found:?}"
        );
        assert_eq!(
            found[0].1,
            "source `alice@example.com` adds nothing to grants[1]: `group:eng` already includes it"
        );
        assert_eq!(
            found[1].1,
            "grants[2] allows nothing that grants[0] does not already allow"
        );
        assert_eq!(found[1].2, ["grants[0] covers every flow of grants[2]"]);
        assert_eq!(
            found[2].1,
            "grants[3] allows nothing: its sources match nobody"
        );
    }

    #[test]
    fn a_group_kept_empty_is_named_as_why_nothing_matches() {
        // Policies keep a group empty until people join it (tailscale-dev/pam-recipes):
        // the help says so, not "check for typos".
        let text = r#"{
            "groups": {"group:oncall": [], "group:eng": ["alice@example.com"]},
            "tagOwners": {"tag:db": []},
            "grants": [
                {"src": ["group:oncall"], "dst": ["tag:db"], "ip": ["tcp:22"]},
                {"src": ["group:oncall", "group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
            ],
        }"#;
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("p", "p", text.as_bytes().to_vec()));
        let helps: Vec<(Code, Option<String>)> = check_policy(&sources, id, &Options::default())
            .diagnostics
            .into_iter()
            .filter(|d| matches!(d.code, Code::RedundantSelector | Code::IneffectiveRule))
            .map(|d| (d.code, d.help))
            .collect();
        assert_eq!(
            helps,
            [
                (
                    Code::IneffectiveRule,
                    Some("group:oncall has no members: add them, or remove the rule".into())
                ),
                (
                    Code::RedundantSelector,
                    Some("group:oncall has no members: add them, or remove it".into())
                ),
            ]
        );
    }

    #[test]
    fn rules_an_allow_all_rule_covers_are_one_finding_on_it() {
        let text = r#"{
            "tagOwners": {"tag:db": [], "tag:web": []},
            "acls": [
                {"action": "accept", "src": ["*"], "dst": ["*:*"]},
                {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]},
                {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:web:443"]},
            ],
        }"#;
        let found = run(text, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "acls[0] allows every flow, so 2 other rules allow nothing more: acls[1] and acls[2]"
        );
        assert_eq!(
            found[0].2,
            [
                "acls[1] adds nothing beyond acls[0]",
                "acls[2] adds nothing beyond acls[0]"
            ]
        );
        // Covered by a narrower rule, a rule is its own finding as before.
        let narrower = text.replace(r#""dst": ["*:*"]"#, r#""dst": ["tag:db:*"]"#);
        let found = run(&narrower, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "acls[1] allows nothing that acls[0] does not already allow"
        );
    }

    #[test]
    fn redundancy_that_rests_on_group_members_says_so() {
        let text = r#"{
            "groups": {"group:dba": ["alice@example.com"], "group:eng": ["alice@example.com", "bob@example.com"]},
            "tagOwners": {"tag:db": []},
            "grants": [
                {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
                {"src": ["group:dba"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
            ],
        }"#;
        let found = run(text, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .ends_with("; that rests on who is in group:dba today"),
            "{found:?}"
        );
        // Covered by `*`, whoever is in the group: nothing rests on it.
        let broad = text.replace(r#""src": ["group:eng"]"#, r#""src": ["*"]"#);
        let found = run(&broad, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].1.contains("rests on"), "{found:?}");
    }

    #[test]
    fn every_destination_is_not_claimed_to_reach_a_service() {
        // No capture shows `*` reaching a Tailscale Service's address.
        let text = r#"{
            "grants": [
                {"src": ["autogroup:member"], "dst": ["*"], "ip": ["tcp:443"]},
                {"src": ["autogroup:member"], "dst": ["svc:wiki"], "ip": ["tcp:443"]},
            ],
        }"#;
        assert!(run(text, None).is_empty(), "{:?}", run(text, None));
        // A rule naming the service covers one that names it too.
        let named = text.replace(r#""dst": ["*"]"#, r#""dst": ["svc:wiki"]"#);
        assert_eq!(run(&named, None).len(), 1);
    }

    #[test]
    fn a_needed_rule_is_not_reported() {
        let text = POLICY
            .replace(
                "\"tcp:5432\"]},\n            {\"src\": [\"group:oncall\"]",
                "\"tcp:5433\"]},\n            {\"src\": [\"group:oncall\"]",
            )
            .replace(", \"alice@example.com\"", "")
            .replace(
                "\"group:oncall\": []",
                "\"group:oncall\": [\"carol@example.com\"]",
            );
        assert!(run(&text, None).is_empty(), "{text}");
    }

    #[test]
    fn inventory_only_findings_say_so() {
        // Only alice has a device: group:eng's grant adds nothing to alice's, today.
        let text = r#"{
            "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
            "tagOwners": {"tag:db": ["group:eng"]},
            "grants": [
                {"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
                {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
            ],
        }"#;
        let inv = r#"{"devices": [
            {"hostname": "a", "addresses": ["100.64.0.1"], "user": "alice@example.com", "tags": []},
            {"hostname": "db", "addresses": ["100.64.0.2"], "tags": ["tag:db"]}]}"#;
        let found = run(text, Some(inv));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "grants[1] allows nothing that grants[0] does not already allow (for the inventory's devices and users)"
        );
        // Without an inventory it is alice's own grant that adds nothing, for any devices.
        let found = run(text, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "grants[0] allows nothing that grants[1] does not already allow"
        );
    }

    #[test]
    fn a_grant_to_a_user_who_may_be_shared_in_is_not_redundant_structurally() {
        // An exit node for a friend from another tailnet, beside one for every member.
        let text = r#"{
            "grants": [
                {"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]},
                {"src": ["friend@gmail.com"], "dst": ["autogroup:internet"], "ip": ["*"]},
            ],
        }"#;
        assert!(run(text, None).is_empty());
        let inventory = |kind: &str| {
            format!(
                r#"{{"devices": [
                    {{"hostname": "f", "addresses": ["100.64.0.1"], "user": "friend@gmail.com", "tags": []}},
                    {{"hostname": "m", "addresses": ["100.64.0.2"], "user": "me@example.com", "tags": []}}],
                  "users": [{{"loginName": "friend@gmail.com", "type": "{kind}"}},
                            {{"loginName": "me@example.com", "type": "member"}}]}}"#
            )
        };
        assert!(run(text, Some(&inventory("shared"))).is_empty());
        // A user of the tailnet's own domain is a member: there it is redundant.
        let domains = Some(vec!["gmail.com".to_string()]);
        let found = run_in(text, None, domains);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "grants[1] allows nothing that grants[0] does not already allow"
        );
        let found = run(text, Some(&inventory("member")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].1,
            "grants[1] allows nothing that grants[0] does not already allow (for the inventory's devices and users)"
        );
    }
}
