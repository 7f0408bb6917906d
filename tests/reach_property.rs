//! The symbolic reachability engine agrees with brute-force evaluation over concrete
//! devices, for random policies and inventories (1,000 cases).

#[path = "support/policy_text.rs"]
mod policy_text;
use policy_text::{acl_proto, grant_ip, quoted};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::inventory::{Device, Inventory, Role, User};
use tsacl::engine::reach::{Principal, Roles, reachable};
use tsacl::engine::resolve::Resolver;
use tsacl::engine::rules::{allowed, compile};

/// The last is the member that stands for a group the identity provider syncs
/// (`structural::idp_group_member` of [`SYNCED`]), as every analysis reads such a group.
const USERS: &[&str] = &[
    "ann@example.com",
    "bob@example.com",
    "cy@other.org",
    "di@example.com",
    "a-user-of-sync@example.com",
];
/// A group no file defines: the identity provider's.
const SYNCED: &str = "group:sync@example.com";
const TAGS: &[&str] = &["tag:web", "tag:db", "tag:ci"];

/// A rule: grant (true) or ACL, source choices, destination choices, ports, protocol.
type RuleSpec = (bool, Vec<u8>, Vec<u8>, u8, u8);

#[derive(Clone, Debug)]
struct Case {
    roles: Vec<u8>,
    groups: Vec<Vec<usize>>,
    devices: Vec<(Option<usize>, Vec<usize>)>,
    rules: Vec<RuleSpec>,
}

fn selector(choice: u8, dst: bool) -> String {
    match choice % 14 {
        0 => "*".into(),
        12 => SYNCED.into(),
        // The tailnet's IPv4 range, where every device here has its address: it takes in
        // every device, as `*` does (a part of it would depend on the addresses).
        13 => "100.64.0.0/10".into(),
        1..=3 => USERS[(choice as usize) % USERS.len()].into(),
        4 => "group:g0".into(),
        5 => "group:g1".into(),
        6..=7 => TAGS[(choice as usize) % TAGS.len()].into(),
        8 => "autogroup:member".into(),
        9 => "autogroup:tagged".into(),
        10 => "autogroup:admin".into(),
        _ if dst => "autogroup:self".into(),
        _ => "user:*@example.com".into(),
    }
}

fn ports(p: u8) -> &'static str {
    ["22", "80", "443", "*", "80-443", "22,443"][(p % 6) as usize]
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(0u8..3, USERS.len()),
        proptest::collection::vec(proptest::collection::vec(0usize..USERS.len(), 0..3), 2),
        proptest::collection::vec(
            prop_oneof![
                (0usize..USERS.len()).prop_map(|u| (Some(u), vec![])),
                proptest::collection::vec(0usize..TAGS.len(), 1..3).prop_map(|t| (None, t)),
            ],
            1..7,
        ),
        proptest::collection::vec(
            (
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 1..3),
                proptest::collection::vec(any::<u8>(), 1..3),
                any::<u8>(),
                0u8..3,
            ),
            1..5,
        ),
    )
        .prop_map(|(roles, groups, devices, rules)| Case {
            roles,
            groups,
            devices,
            rules,
        })
}

fn policy_text(c: &Case) -> String {
    policy_text_with(c, selector)
}

/// [`selector`], or an address selector naming some devices' addresses (part of the
/// tailnet's range: which devices hold them only an inventory says).
fn selector_or_address(choice: u8, dst: bool) -> String {
    match choice % 19 {
        14 => "100.64.0.1".into(),
        15 => "100.64.0.2/31".into(),
        16 => "host-a".into(),
        17 => "100.64.0.4/30".into(),
        18 => "192.0.2.0/24".into(),
        _ => selector(choice % 19, dst),
    }
}

fn policy_text_with(c: &Case, selector: fn(u8, bool) -> String) -> String {
    let groups: Vec<String> = c
        .groups
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let members: Vec<String> = m.iter().map(|u| format!("{:?}", USERS[*u])).collect();
            format!("\"group:g{i}\": [{}]", members.join(", "))
        })
        .collect();
    let tag_owners: Vec<String> = TAGS.iter().map(|t| format!("{t:?}: []")).collect();
    let mut grants = Vec::new();
    let mut acls = Vec::new();
    for (is_grant, src, dst, p, proto) in &c.rules {
        let mut src: Vec<String> = src.iter().map(|s| selector(*s, false)).collect();
        let dst: Vec<String> = dst.iter().map(|d| selector(*d, true)).collect();
        if dst.iter().any(|d| d == "autogroup:self") {
            // autogroup:self only takes user sources.
            src.retain(|s| {
                s.contains('@') && !s.starts_with("tag:")
                    || s.starts_with("group:")
                    || s == "autogroup:member"
            });
            if src.is_empty() {
                src.push("autogroup:member".into());
            }
        }
        let proto_name = ["", "tcp", "udp"][*proto as usize];
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
    format!(
        "{{\"hosts\": {{\"host-a\": \"100.64.0.3\"}}, \"groups\": {{{}}}, \"tagOwners\": {{{}}}, \"grants\": [{}], \"acls\": [{}]}}",
        groups.join(", "),
        tag_owners.join(", "),
        grants.join(", "),
        acls.join(", ")
    )
}

fn inventory(c: &Case) -> Inventory {
    let mut inv = Inventory::default();
    inv.idp_groups.insert(
        SYNCED.to_string(),
        vec![tsacl::engine::structural::idp_group_member(SYNCED)],
    );
    for (i, u) in USERS.iter().enumerate() {
        inv.users.push(User {
            login: u.to_string(),
            role: [Role::Owner, Role::Admin, Role::Member][c.roles[i] as usize],
            shared: false,
        });
    }
    for (i, (owner, tags)) in c.devices.iter().enumerate() {
        let mut tags: Vec<String> = tags.iter().map(|t| TAGS[*t].to_string()).collect();
        tags.sort();
        tags.dedup();
        inv.devices.push(Device {
            name: format!("d{i}"),
            hostname: format!("d{i}"),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(100, 64, 0, i as u8 + 1))],
            user: owner.map(|u| USERS[u].to_string()),
            tags,
            advertised_routes: vec![],
            enabled_routes: vec![],
        });
    }
    inv
}

/// `text` read and checked; a generated policy the control plane would reject fails the
/// case.
fn valid_policy(text: &str) -> Result<tsacl::model::Policy, TestCaseError> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("p", "p", text.as_bytes().to_vec()));
    let checked = tsacl::check::check_policy(&sources, id, &Default::default());
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    prop_assert!(
        errors.is_empty(),
        "generated an invalid policy {text}: {errors:?}"
    );
    Ok(checked.policy.unwrap())
}

fn principal(d: &Device) -> Principal {
    match d.owner() {
        Some(o) => Principal::User(o.to_string()),
        None => Principal::Tags(d.tags.clone()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn symbolic_reachability_equals_brute_force(c in case()) {
        let text = policy_text(&c);
        let policy = valid_policy(&text)?;
        let inv = inventory(&c);
        let resolver = Resolver::new(&policy, &inv);
        let rules = compile(&resolver);
        let owner_of = |ip: IpAddr| inv.devices.iter().find(|d| d.addresses.contains(&ip)).and_then(|d| d.owner());
        let roles = Roles::of(Some(&inv));
        for a in &inv.devices {
            for b in &inv.devices {
                if a.hostname == b.hostname {
                    continue;
                }
                for (proto, port) in [(6u8, 22u16), (6, 80), (17, 443), (6, 8080), (1, 0)] {
                    let concrete = allowed(&rules, owner_of, a.addresses[0], b.addresses[0], proto, port);
                    let symbolic = !reachable(&policy, &roles, &principal(a), &principal(b), proto, port).is_empty();
                    prop_assert_eq!(concrete, symbolic, "{} -> {} proto {} port {} in {}", a.hostname, b.hostname, proto, port, text);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// `explain --from A B` answers as the concrete engine does when an inventory says
    /// which device holds which address, and without one never says DENIED where a rule
    /// written with addresses could allow the flow (it says UNDECIDED), nor ALLOWED where
    /// some inventory denies it.
    #[test]
    fn explain_by_address_agrees_with_the_concrete_engine(c in case()) {
        use tsacl::engine::explain::{Held, Named, resolve_name, why};
        let text = policy_text_with(&c, selector_or_address);
        let policy = valid_policy(&text)?;
        let inv = inventory(&c);
        let resolver = Resolver::new(&policy, &inv);
        let rules = compile(&resolver);
        let owner_of = |ip: IpAddr| inv.devices.iter().find(|d| d.addresses.contains(&ip)).and_then(|d| d.owner());
        let roles = Roles::of(Some(&inv));
        let (known, unknown) = (Held::of(Some(&inv)), Held::of(None));
        let by_principal = |d: &Device| Named {
            name: principal(d).to_string(),
            kind: "device",
            principals: vec![principal(d)],
            device_addresses: None,
        };
        for a in &inv.devices {
            for b in &inv.devices {
                if a.hostname == b.hostname {
                    continue;
                }
                let from = resolve_name(&policy, Some(&inv), &a.hostname).unwrap();
                let to = resolve_name(&policy, Some(&inv), &b.hostname).unwrap();
                let model = tsacl::engine::explain::model(&policy, &roles, &[&from, &to]);
                let (from0, to0) = (by_principal(a), by_principal(b));
                let model0 = tsacl::engine::explain::model(&policy, &roles, &[&from0, &to0]);
                for (proto, port) in [(6u8, 22u16), (6, 80), (17, 443), (6, 8080), (1, 0)] {
                    let concrete = allowed(&rules, owner_of, a.addresses[0], b.addresses[0], proto, port);
                    let w = why(&model, &roles, &from, &to, &known, proto, port);
                    prop_assert_eq!(concrete, w.allowed, "with the inventory: {} -> {} proto {} port {} in {}", a.hostname, b.hostname, proto, port, text);
                    prop_assert!(w.undecided.is_empty(), "an inventory decides: {:?}", w.undecided);
                    let w0 = why(&model0, &roles, &from0, &to0, &unknown, proto, port);
                    if concrete {
                        prop_assert!(w0.allowed || !w0.undecided.is_empty(), "without the inventory, DENIED: {} -> {} proto {} port {} in {}", a.hostname, b.hostname, proto, port, text);
                    }
                    if w0.allowed {
                        prop_assert!(concrete, "without the inventory, ALLOWED: {} -> {} proto {} port {} in {}", a.hostname, b.hostname, proto, port, text);
                    }
                }
            }
        }
        // "cannot reach it" never names a principal one of whose devices reaches the
        // target, with an inventory or without.
        use tsacl::engine::explain::{cannot_reach, inbound_by_address};
        for b in &inv.devices {
            let to = resolve_name(&policy, Some(&inv), &b.hostname).unwrap();
            let model = tsacl::engine::explain::model(&policy, &roles, &[&to]);
            let cannot = cannot_reach(&model, &to, &known, &inbound_by_address(&model, &to, &known));
            let to0 = by_principal(b);
            let model0 = tsacl::engine::explain::model(&policy, &roles, &[&to0]);
            let cannot0 = cannot_reach(&model0, &to0, &unknown, &inbound_by_address(&model0, &to0, &unknown));
            for a in &inv.devices {
                let reaches = a.hostname != b.hostname
                    && [(6u8, 22u16), (6, 80), (17, 443), (6, 8080), (1, 0)].iter().any(|&(proto, port)| {
                        allowed(&rules, owner_of, a.addresses[0], b.addresses[0], proto, port)
                    });
                let name = principal(a).to_string();
                if reaches {
                    prop_assert!(!cannot.cannot.contains(&name), "with the inventory, {} (of {}) cannot reach {}: {}", name, a.hostname, b.hostname, text);
                    prop_assert!(!cannot0.cannot.contains(&name), "without the inventory, {} (of {}) cannot reach {}: {}", name, a.hostname, b.hostname, text);
                }
            }
        }
    }
}

/// An `ssh` rule's source and destination choices.
fn ssh_rule(src: &[u8], dst: &[u8]) -> String {
    let src: Vec<String> = src
        .iter()
        .map(|s| match s % 5 {
            0 => USERS[(*s as usize / 5) % USERS.len()].to_string(),
            1 => "group:g0".into(),
            2 => "autogroup:member".into(),
            3 => TAGS[(*s as usize / 5) % TAGS.len()].to_string(),
            _ => "group:g1".into(),
        })
        .collect();
    let tagged = src.iter().any(|s| s.starts_with("tag:"));
    let mut dst: Vec<String> = dst
        .iter()
        .map(|d| match d % 3 {
            0 if !tagged => "autogroup:self".to_string(),
            1 => "autogroup:tagged".to_string(),
            _ => TAGS[(*d as usize / 3) % TAGS.len()].to_string(),
        })
        .collect();
    dst.dedup();
    format!(
        "{{\"action\": \"accept\", \"src\": [{}], \"dst\": [{}], \"users\": [\"root\"]}}",
        quoted(&src),
        quoted(&dst)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// TSA219's pairs (`ssh_access::gaps`) are sound: for each reported pair, no device
    /// of the source reaches any device of the destination on tcp:22 in the concrete
    /// engine (devices carrying the pair's tag alone; another tag of a device may open
    /// port 22 through its own rules).
    #[test]
    fn ssh_gaps_are_closed_for_every_device(c in case(), ssh in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 1..3), proptest::collection::vec(any::<u8>(), 1..3)), 1..3)) {
        let base = policy_text(&c);
        let rules: Vec<String> = ssh.iter().map(|(s, d)| ssh_rule(s, d)).collect();
        let text = format!("{}, \"ssh\": [{}]}}", &base[..base.len() - 1], rules.join(", "));
        let policy = valid_policy(&text)?;
        let inv = inventory(&c);
        let resolver = Resolver::new(&policy, &inv);
        let compiled = compile(&resolver);
        let owner_of = |ip: IpAddr| inv.devices.iter().find(|d| d.addresses.contains(&ip)).and_then(|d| d.owner());
        let alone = |d: &Device, tag: &str| d.tags.len() == 1 && d.tags[0] == tag;
        for gap in tsacl::engine::ssh_access::gaps(&policy, Some(&inv)) {
            for pair in &gap.pairs {
                let from: Vec<&Device> = inv.devices.iter().filter(|d| {
                    if pair.from.starts_with("tag:") { alone(d, &pair.from) } else { d.owner() == Some(pair.from.as_str()) }
                }).collect();
                for a in from {
                    let to: Vec<&Device> = inv.devices.iter().filter(|b| {
                        if pair.to.starts_with("tag:") { alone(b, &pair.to) }
                        else if pair.to.contains("autogroup:self") { b.owner().is_some() && b.owner() == a.owner() }
                        else { false }
                    }).collect();
                    for b in to {
                        if a.hostname == b.hostname { continue; }
                        prop_assert!(
                            !allowed(&compiled, owner_of, a.addresses[0], b.addresses[0], 6, 22),
                            "ssh[{}] {} -> {} reported, but {} reaches {} on tcp:22 in {}", gap.rule, pair.from, pair.to, a.hostname, b.hostname, text
                        );
                    }
                }
            }
        }
    }
}
