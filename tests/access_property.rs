//! The access model (`engine::access`) answers exactly as the rule-by-rule engine it
//! replaced (`engine::reach`, one selector and one principal at a time, itself checked
//! against concrete devices by `tests/reach_property.rs`): `explain`'s rules, who cannot
//! reach, why or why not, every cell of the access diff and its lockouts, on random
//! policies and random edits of them. The reference implementations below are the
//! functions the model replaced, kept here as the oracle.

#[path = "support/policy_text.rs"]
mod policy_text;
use policy_text::{acl_proto, grant_ip, quoted};
use proptest::prelude::*;
use std::collections::BTreeMap;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::access::AccessModel;
use tsacl::engine::diff::{Access, access, diff, named_principals};
use tsacl::engine::explain::{self, Named, Row};
use tsacl::engine::inventory::{Inventory, Role, User};
use tsacl::engine::reach::{
    Principal, Roles, Side, entries, entry_reaches, minus, reachable, sources_include,
};
use tsacl::model::{Policy, PortRange, Protocol, Selector};

const USERS: &[&str] = &[
    "ann@example.com",
    "bob@example.com",
    "cy@other.org",
    "di@example.com",
];
const TAGS: &[&str] = &["tag:web", "tag:db", "tag:ci"];

fn selector(choice: u8, dst: bool) -> String {
    match choice % 18 {
        17 => "ipset:lab".into(), // holds the host `server`
        0 => "*".into(),
        16 => "group:sync@example.com".into(), // the identity provider's: no file defines it
        1..=3 => USERS[(choice as usize) % USERS.len()].into(),
        4 => "group:g0".into(),
        5 => "group:g1".into(),
        6..=7 => TAGS[(choice as usize) % TAGS.len()].into(),
        8 => "autogroup:member".into(),
        9 => "autogroup:tagged".into(),
        10 => "autogroup:admin".into(),
        11 => "server".into(),
        12 => "10.1.0.0/16".into(),
        13 => "100.64.0.0/10".into(),
        14 if !dst => "autogroup:shared".into(),
        _ if dst => "autogroup:self".into(),
        _ => "user:*@example.com".into(),
    }
}

fn ports(p: u8) -> &'static str {
    ["22", "80", "443", "*", "80-443", "22,443"][(p % 6) as usize]
}

/// A rule: grant (true) or ACL, source choices, destination choices, ports, protocol.
type RuleSpec = (bool, Vec<u8>, Vec<u8>, u8, u8);

fn rule_text(
    (is_grant, src, dst, p, proto): &RuleSpec,
    grants: &mut Vec<String>,
    acls: &mut Vec<String>,
) {
    let mut src: Vec<String> = src.iter().map(|s| selector(*s, false)).collect();
    let dst: Vec<String> = dst.iter().map(|d| selector(*d, true)).collect();
    if dst.iter().any(|d| d == "autogroup:self") {
        // autogroup:self only takes user sources.
        src.retain(|s| {
            (s.contains('@') && !s.starts_with("tag:") && !s.contains('*'))
                || s.starts_with("group:")
                || s == "autogroup:member"
        });
        if src.is_empty() {
            src.push("autogroup:member".into());
        }
    }
    let proto_name = ["", "tcp", "udp"][*proto as usize % 3];
    if *is_grant {
        let ip = grant_ip(proto_name, ports(*p));
        grants.push(format!(
            "{{\"src\": [{}], \"dst\": [{}], \"ip\": [{}]}}",
            quoted(&src),
            quoted(&dst),
            quoted(&ip)
        ));
    } else {
        let dst: Vec<String> = dst.iter().map(|d| format!("{d}:{}", ports(*p))).collect();
        let proto = acl_proto(proto_name);
        acls.push(format!(
            "{{\"action\": \"accept\", \"src\": [{}], \"dst\": [{}]{proto}}}",
            quoted(&src),
            quoted(&dst)
        ));
    }
}

fn policy_text(groups: &[Vec<usize>], rules: &[RuleSpec]) -> String {
    let groups: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let members: Vec<String> = m.iter().map(|u| format!("{:?}", USERS[*u])).collect();
            format!("\"group:g{i}\": [{}]", members.join(", "))
        })
        .collect();
    let tag_owners: Vec<String> = TAGS.iter().map(|t| format!("{t:?}: []")).collect();
    let (mut grants, mut acls) = (Vec::new(), Vec::new());
    for r in rules {
        rule_text(r, &mut grants, &mut acls);
    }
    format!(
        "{{\"groups\": {{{}}}, \"tagOwners\": {{{}}}, \"hosts\": {{\"server\": \"10.1.2.3\"}}, \"ipsets\": {{\"ipset:lab\": [\"add 10.1.0.0/16\", \"remove 10.1.9.0/24\"]}}, \"grants\": [{}], \"acls\": [{}]}}",
        groups.join(", "),
        tag_owners.join(", "),
        grants.join(", "),
        acls.join(", ")
    )
}

fn policy(text: &str) -> Result<Policy, String> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("p", "p", text.as_bytes().to_vec()));
    let checked = tsacl::check::check_policy_to(
        &sources,
        id,
        &Default::default(),
        tsacl::check::Depth::Quick,
    );
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    if errors.is_empty() {
        Ok(checked.policy.expect("a policy"))
    } else {
        Err(format!("generated an invalid policy {text}: {errors:?}"))
    }
}

fn rules() -> impl Strategy<Value = Vec<RuleSpec>> {
    proptest::collection::vec(
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 1..3),
            proptest::collection::vec(any::<u8>(), 1..3),
            any::<u8>(),
            0u8..3,
        ),
        0..6,
    )
}

fn groups() -> impl Strategy<Value = Vec<Vec<usize>>> {
    proptest::collection::vec(proptest::collection::vec(0usize..USERS.len(), 0..3), 2)
}

/// Roles and sharing for the users, or none (no inventory).
fn inventory() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(0u8..4, USERS.len()))
}

fn users(roles: &[u8]) -> Inventory {
    let mut inv = Inventory::default();
    for (i, u) in USERS.iter().enumerate() {
        inv.users.push(User {
            login: u.to_string(),
            role: [Role::Owner, Role::Admin, Role::Member, Role::Member][roles[i] as usize],
            shared: roles[i] == 3,
        });
    }
    inv
}

/// What a command line may name: a principal, or a group's members.
fn named(choice: u8) -> Named {
    let p = |p: Principal| vec![p];
    let (name, kind, principals) = match choice % 10 {
        0..=3 => (
            USERS[choice as usize % 4],
            "user",
            p(Principal::User(USERS[choice as usize % 4].into())),
        ),
        4..=6 => (
            TAGS[choice as usize % 3],
            "tag",
            p(Principal::Tags(vec![TAGS[choice as usize % 3].into()])),
        ),
        7 => (
            "group:team",
            "group",
            vec![
                Principal::User(USERS[0].into()),
                Principal::User(USERS[2].into()),
            ],
        ),
        8 => (
            "db-and-web",
            "device",
            p(Principal::Tags(vec!["tag:db".into(), "tag:web".into()])),
        ),
        _ => (
            "server",
            "host",
            p(Principal::Address(
                tsacl::engine::IpSet::parse("10.1.2.3/32").unwrap(),
            )),
        ),
    };
    Named {
        name: name.into(),
        kind,
        principals,
        device_addresses: None,
    }
}

fn row_key(r: &Row) -> (String, String, String, Vec<String>, String) {
    (
        r.rule.clone(),
        r.protocol.clone(),
        r.ports.clone(),
        r.sources.clone(),
        r.destination.clone(),
    )
}

/// The implementations the access model replaced, rule by rule and principal by
/// principal.
mod reference {
    use super::*;

    fn protocol_text(p: Option<Protocol>) -> String {
        p.map_or_else(|| "any".to_string(), |p| p.to_string())
    }

    fn ports_text(ports: &[PortRange]) -> String {
        ports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub type RowKey = (String, String, String, Vec<String>, String);

    pub fn inbound(policy: &Policy, roles: &Roles, target: &Named) -> Vec<RowKey> {
        if policy.acls.is_none() && policy.grants.is_none() {
            return vec![(
                "the default allow-all (no acls or grants)".into(),
                "any".into(),
                "*".into(),
                vec!["*".into()],
                "*".into(),
            )];
        }
        let mut rows = Vec::new();
        for e in entries(policy) {
            let Some(sel) = &e.dst.selector else { continue };
            let is_self = matches!(
                sel,
                tsacl::model::Selector::Autogroup(tsacl::model::Autogroup::SelfDevices)
            );
            let hits = target.principals.iter().any(|p| {
                if is_self {
                    matches!(p, Principal::User(_)) && sources_include(policy, roles, &e, p)
                } else {
                    tsacl::engine::reach::contains(
                        policy,
                        roles,
                        sel,
                        tsacl::engine::reach::Side::Dst,
                        p,
                    )
                }
            });
            if !hits {
                continue;
            }
            let sources = if is_self {
                target
                    .principals
                    .iter()
                    .filter(|p| sources_include(policy, roles, &e, p))
                    .map(|p| format!("{p} (own devices)"))
                    .collect()
            } else {
                e.src.iter().map(|s| s.raw.trim().to_string()).collect()
            };
            rows.push((
                e.rule.to_string(),
                protocol_text(e.protocol),
                ports_text(e.ports),
                sources,
                e.dst.raw.trim().to_string(),
            ));
        }
        rows
    }

    pub fn outbound(policy: &Policy, roles: &Roles, source: &Named) -> Vec<RowKey> {
        entries(policy)
            .iter()
            .filter(|e| {
                source
                    .principals
                    .iter()
                    .any(|p| sources_include(policy, roles, e, p))
            })
            .map(|e| {
                (
                    e.rule.to_string(),
                    protocol_text(e.protocol),
                    ports_text(e.ports),
                    vec![source.name.clone()],
                    e.dst.raw.trim().to_string(),
                )
            })
            .collect()
    }

    pub fn cannot_reach(policy: &Policy, roles: &Roles, target: &Named) -> Vec<String> {
        let mut candidates: Vec<Principal> = policy
            .tag_owners
            .iter()
            .map(|t| Principal::Tags(vec![t.tag.value.clone()]))
            .collect();
        let mut users: Vec<String> = policy
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.value.trim().to_string()))
            .collect();
        users.sort();
        users.dedup();
        candidates.extend(users.into_iter().map(Principal::User));
        if policy.acls.is_none() && policy.grants.is_none() {
            return Vec::new();
        }
        let all = entries(policy);
        candidates
            .into_iter()
            .filter(|c| !target.principals.contains(c))
            .filter(|c| {
                !all.iter().any(|e| {
                    sources_include(policy, roles, e, c)
                        && target
                            .principals
                            .iter()
                            .any(|t| entry_reaches(policy, roles, e, c, t))
                })
            })
            .map(|c| c.to_string())
            .collect()
    }

    /// Whether allowed, the rules through which (each once), and the nearest rules'
    /// names with their rank when denied.
    pub fn why(
        policy: &Policy,
        roles: &Roles,
        from: &Named,
        to: &Named,
        proto: u8,
        port: u16,
    ) -> (Vec<String>, Vec<(String, u8)>) {
        let mut through: Vec<String> = Vec::new();
        for f in &from.principals {
            for t in &to.principals {
                for g in reachable(policy, roles, f, t, proto, port) {
                    if !through.contains(&g.rule) {
                        through.push(g.rule);
                    }
                }
            }
        }
        let mut nearest: Vec<(String, u8)> = Vec::new();
        if through.is_empty() {
            for e in entries(policy) {
                let src_ok = from
                    .principals
                    .iter()
                    .any(|f| sources_include(policy, roles, &e, f));
                let dst_ok = from.principals.iter().any(|f| {
                    to.principals
                        .iter()
                        .any(|t| entry_reaches(policy, roles, &e, f, t))
                });
                let rank = match (src_ok, dst_ok) {
                    (false, false) => continue,
                    (false, true) => 2,
                    (true, false) => 3,
                    (true, true) if !e.ports.iter().any(|p| p.contains(port)) => 1,
                    (true, true) => 0,
                };
                match nearest.iter_mut().find(|(r, _)| *r == e.rule.to_string()) {
                    None => nearest.push((e.rule.to_string(), rank)),
                    Some((_, found)) if rank < *found => *found = rank,
                    Some(_) => {}
                }
            }
            nearest.sort_by_key(|(_, rank)| *rank);
            if nearest.first().is_some_and(|(_, rank)| *rank < 3) {
                nearest.retain(|(_, rank)| *rank < 3);
            }
            nearest.truncate(5);
        }
        (through, nearest)
    }

    /// Every changed (source, destination) cell with what is gained and lost, and the
    /// principals locked out.
    pub type Cells = BTreeMap<(String, String), (Access, Access)>;

    pub fn diff(old: &Policy, new: &Policy) -> (Cells, Vec<String>) {
        let roles = Roles::none();
        let all = named_principals(&[old, new]);
        let mut cells = Cells::new();
        let mut before: BTreeMap<String, bool> = BTreeMap::new();
        let mut after: BTreeMap<String, bool> = BTreeMap::new();
        // An address is a source when a rule names addresses holding it as sources.
        let named_as_source = |s: &Principal| {
            [old, new].iter().any(|p| {
                tsacl::engine::reach::entries(p).iter().any(|e| {
                    e.src.iter().any(|sel| {
                        matches!(
                            sel.selector,
                            Some(
                                Selector::Host(_)
                                    | Selector::Prefix(_)
                                    | Selector::Range(..)
                                    | Selector::IpSet(_)
                            )
                        ) && tsacl::engine::reach::contains(
                            p,
                            &roles,
                            sel.selector.as_ref().unwrap(),
                            Side::Src,
                            s,
                        )
                    })
                })
            })
        };
        // Addresses a host alias or ipset names are shown by that name.
        let aliases = tsacl::engine::explain::address_names(&[new, old]);
        let name = |p: &Principal| aliases.get(p).cloned().unwrap_or_else(|| p.to_string());
        for s in &all {
            let address = matches!(s, Principal::Address(_));
            if address && !named_as_source(s) {
                continue;
            }
            for d in &all {
                let a = access(old, &roles, s, d);
                let b = access(new, &roles, s, d);
                if !address {
                    *before.entry(s.to_string()).or_default() |= !a.is_empty();
                    *after.entry(s.to_string()).or_default() |= !b.is_empty();
                }
                let (gained, lost) = (minus(&b, &a), minus(&a, &b));
                if !gained.is_empty() || !lost.is_empty() {
                    cells.insert((name(s), name(d)), (gained, lost));
                }
            }
        }
        let locked = before
            .iter()
            .filter(|(p, had)| **had && !after.get(*p).copied().unwrap_or(false))
            .map(|(p, _)| p.clone())
            .collect();
        (cells, locked)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn explain_answers_as_rule_by_rule_evaluation(
        groups in groups(),
        rules in rules(),
        roles in inventory(),
        target in any::<u8>(),
        from in any::<u8>(),
        port in prop::sample::select(vec![22u16, 80, 443, 8080]),
        proto in prop::sample::select(vec![6u8, 17, 1]),
    ) {
        let text = policy_text(&groups, &rules);
        let policy = policy(&text).map_err(TestCaseError::fail)?;
        let inv = roles.as_ref().map(|r| users(r));
        let roles = Roles::of(inv.as_ref());
        let (target, from) = (named(target), named(from));
        let model = explain::model(&policy, &roles, &[&target, &from]);
        let inbound: Vec<_> = explain::inbound(&model, &target).iter().map(row_key).collect();
        prop_assert_eq!(inbound, reference::inbound(&policy, &roles, &target), "inbound in {}", text);
        let outbound: Vec<_> = explain::outbound(&model, &from).iter().map(row_key).collect();
        prop_assert_eq!(outbound, reference::outbound(&policy, &roles, &from), "outbound in {}", text);
        // No address here is in part of the tailnet's range: nothing is left to addresses.
        let held = explain::Held::of(None);
        let by_address = explain::inbound_by_address(&model, &target, &held);
        prop_assert!(by_address.reach.is_empty() && by_address.undecided.is_empty());
        let cannot = explain::cannot_reach(&model, &target, &held, &by_address);
        prop_assert_eq!(
            cannot.cannot,
            reference::cannot_reach(&policy, &roles, &target),
            "cannot reach in {}", text
        );
        prop_assert!(cannot.undecided.is_empty());
        let why = explain::why(&model, &roles, &from, &target, &held, proto, port);
        prop_assert!(why.undecided.is_empty());
        let (through, nearest) = reference::why(&policy, &roles, &from, &target, proto, port);
        prop_assert_eq!(why.allowed, !through.is_empty());
        prop_assert_eq!(why.through.iter().map(|r| r.rule.clone()).collect::<Vec<_>>(), through, "through in {}", text);
        prop_assert_eq!(why.nearest.iter().map(|n| n.rule.clone()).collect::<Vec<_>>(),
            nearest.into_iter().map(|(r, _)| r).collect::<Vec<_>>(), "nearest in {}", text);
    }

    #[test]
    fn the_model_decides_each_pair_as_rule_by_rule_evaluation(
        groups in groups(),
        rules in rules(),
        roles in inventory(),
    ) {
        let text = policy_text(&groups, &rules);
        let policy = policy(&text).map_err(TestCaseError::fail)?;
        let inv = roles.as_ref().map(|r| users(r));
        let roles = Roles::of(inv.as_ref());
        let all = named_principals(&[&policy]);
        let model = AccessModel::new(&policy, &roles, all.iter().cloned());
        for s in &all {
            for d in &all {
                let (si, di) = (model.id(s).unwrap(), model.id(d).unwrap());
                prop_assert_eq!(model.access(si, di), access(&policy, &roles, s, d), "{} -> {} in {}", s, d, text);
            }
        }
    }

    #[test]
    fn the_access_diff_has_exactly_the_cells_that_change(
        groups in groups(),
        rules in rules(),
        new_groups in groups(),
        kept in proptest::collection::vec(any::<bool>(), 6),
        added in rules(),
        edit_groups in any::<bool>(),
        empty_side in 0u8..8,
    ) {
        let old_text = policy_text(&groups, &rules);
        // The new side: some rules kept, some added, perhaps other group members.
        let mut new_rules: Vec<RuleSpec> = rules.iter().zip(&kept).filter(|(_, k)| **k).map(|(r, _)| r.clone()).collect();
        new_rules.extend(added.into_iter().take(2));
        let mut new_text = policy_text(if edit_groups { &new_groups } else { &groups }, &new_rules);
        // Now and then a side with neither acls nor grants: the default allow-all.
        let mut old_text = old_text;
        match empty_side {
            0 => old_text = "{\"tagOwners\": {\"tag:web\": []}}".into(),
            1 => new_text = "{\"tagOwners\": {\"tag:db\": []}}".into(),
            _ => {}
        }
        let (old, new) = (
            policy(&old_text).map_err(TestCaseError::fail)?,
            policy(&new_text).map_err(TestCaseError::fail)?,
        );
        let d = diff(&old, &new);
        let mut cells = reference::Cells::new();
        for (s, t, gained, lost) in d.cells() {
            let fresh = cells.insert((s.to_string(), t.to_string()), (gained.clone(), lost.clone()));
            prop_assert!(fresh.is_none(), "a cell twice: {} -> {}", s, t);
        }
        let (expected, locked) = reference::diff(&old, &new);
        prop_assert_eq!(cells, expected, "{} -> {}", old_text, new_text);
        prop_assert_eq!(d.locked_out, locked, "{} -> {}", old_text, new_text);
        // Changes come in the principals' order, and a change's sources share it.
        for c in &d.changes {
            prop_assert!(!c.sources.is_empty());
            prop_assert!(c.sources.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
