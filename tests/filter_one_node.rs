//! `Filters`, which answers one device at a time (what `tsacl filter` runs), and
//! `device_filter_and_peers` (what `tsacl filter --node` runs) give exactly what computing
//! every device's filter together gives (`all_filters`), and exactly the peers worked out
//! by brute force from all those filters: on random policies and inventories, and on every
//! accepted conformance capture.

mod common;

#[path = "support/policy_text.rs"]
mod policy_text;
use policy_text::{acl_proto, grant_ip, quoted};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tsacl::engine::IpSet;
use tsacl::engine::filter::{FilterRule, Filters, all_filters, device_filter_and_peers};
use tsacl::engine::inventory::{Device, Inventory, Role, User, with_auto_approvals};
use tsacl::engine::resolve::{Resolver, device_addresses};
use tsacl::engine::rules::compile;
use tsacl::model::{Policy, Prefix};

/// The peers of every device from every device's filter (how `tsacl filter` found them
/// before it answered one device at a time): two devices are peers when either one's
/// filter takes in an address or an approved subnet route of the other.
fn brute_force_peers(
    inventory: &Inventory,
    filters: &BTreeMap<String, Vec<FilterRule>>,
) -> BTreeMap<String, Vec<String>> {
    let n = inventory.devices.len();
    let mut reach = vec![vec![false; n]; n];
    let sources: Vec<IpSet> = inventory
        .devices
        .iter()
        .map(|d| {
            let mut s = device_addresses(d);
            for r in d.subnet_routes() {
                s.add_prefix(r);
            }
            s
        })
        .collect();
    for (j, dst) in inventory.devices.iter().enumerate() {
        let rules = &filters[&dst.hostname];
        for (i, src) in sources.iter().enumerate() {
            if i != j
                && rules
                    .iter()
                    .any(|r| r.src_everything || r.src.overlaps(src))
            {
                reach[i][j] = true;
            }
        }
    }
    inventory
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut names: Vec<String> = (0..n)
                .filter(|&j| reach[i][j] || reach[j][i])
                .map(|j| inventory.devices[j].hostname.clone())
                .collect();
            names.sort();
            (d.hostname.clone(), names)
        })
        .collect()
}

/// Every device's filter and peers, one device at a time, against all of them at once.
fn one_by_one_equals_all_at_once(policy: &Policy, inventory: &Inventory) -> Result<(), String> {
    let resolver = Resolver::new(policy, inventory);
    let rules = compile(&resolver);
    let all = all_filters(&resolver, &rules, inventory);
    let all_peers = brute_force_peers(inventory, &all);
    let filters = Filters::new(&resolver, &rules);
    for (i, device) in inventory.devices.iter().enumerate() {
        let name = &device.hostname;
        let filter = filters.filter(i);
        if filter != all[name] {
            return Err(format!(
                "{name}: one device's filter {filter:#?}\nall at once {:#?}",
                all[name]
            ));
        }
        let mut peers: Vec<String> = filters
            .peers(i, &filter)
            .into_iter()
            .map(|j| inventory.devices[j].hostname.clone())
            .collect();
        peers.sort();
        if peers != all_peers[name] {
            return Err(format!(
                "{name}: peers one at a time {peers:?}, by brute force {:?}",
                all_peers[name]
            ));
        }
        // The single-pass form `filter --node` uses.
        let (alone, mut alone_peers) = device_filter_and_peers(&resolver, i);
        let mut listed = filters.peers(i, &filter);
        listed.sort();
        alone_peers.sort();
        if alone != filter || alone_peers != listed {
            return Err(format!(
                "{name}: single pass gives {alone:#?} and peers {alone_peers:?}"
            ));
        }
    }
    Ok(())
}

fn lower(text: &str) -> Policy {
    let doc = tsacl::syntax::hujson::parse(text.as_bytes()).expect("generated policies parse");
    tsacl::model::lower(doc.root, Default::default(), &mut Vec::new())
}

#[test]
fn every_conformance_capture_gives_the_same_filters_and_peers_one_device_at_a_time() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let mut compared = 0;
    for capture in common::captures(&dir) {
        if capture["response"]["status"] != 200 {
            continue;
        }
        let policy = lower(capture["policy"].as_str().unwrap());
        let inventory = with_auto_approvals(&common::inventory(&capture["topology"]), &policy);
        if let Err(e) = one_by_one_equals_all_at_once(&policy, &inventory) {
            panic!("capture {}: {e}", capture["id"]);
        }
        compared += 1;
    }
    assert!(compared > 100, "only {compared} captures compared");
}

/// The rarest way to be a peer, which random cases seldom reach: a companion capability
/// granted to `autogroup:self` sends the reverse grant to the source device with the
/// owner's other devices as sources, and a router whose subnet route holds one of those
/// devices' addresses may then send to the source device.
#[test]
fn a_reverse_grant_to_an_owners_devices_makes_a_router_a_peer() {
    let policy = lower(
        r#"{"grants": [{"src": ["fd7a:115c:a1e0::2"], "dst": ["autogroup:self"],
                        "app": {"tailscale.com/cap/drive": [{"shares": ["*"]}]}}]}"#,
    );
    let device = |i: u8, user: Option<&str>, tags: &[&str], routes: &[&str]| Device {
        name: format!("d{i}.example.ts.net"),
        hostname: format!("d{i}"),
        addresses: vec![
            IpAddr::V4(Ipv4Addr::new(100, 64, 0, i)),
            IpAddr::V6(Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, i as u16)),
        ],
        user: user.map(str::to_string),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        advertised_routes: routes.iter().map(|r| Prefix::parse(r).unwrap()).collect(),
        enabled_routes: routes.iter().map(|r| Prefix::parse(r).unwrap()).collect(),
    };
    let inventory = Inventory {
        devices: vec![
            device(2, Some("ann@example.com"), &[], &[]),
            device(3, Some("ann@example.com"), &[], &[]),
            device(9, None, &["tag:router"], &["100.64.0.0/30"]),
        ],
        users: vec![User {
            login: "ann@example.com".into(),
            role: Role::Owner,
            shared: false,
        }],
        ..Default::default()
    };
    one_by_one_equals_all_at_once(&policy, &inventory).unwrap();
    let resolver = Resolver::new(&policy, &inventory);
    let rules = compile(&resolver);
    let filters = Filters::new(&resolver, &rules);
    let mut peers = filters.peers(2, &filters.filter(2));
    peers.sort();
    assert_eq!(peers, vec![0]);
}

/// The control plane merges network rules with the same sources and protocols into the
/// first of them, even where it lands on another device and its sources are written
/// otherwise: `autogroup:member` with a member beside it is `autogroup:member`.
/// `filter --node` must find that first rule without building every rule's sources.
#[test]
fn rules_with_the_same_sources_written_otherwise_merge_into_the_first() {
    let policy = lower(
        r#"{"acls": [
            {"action": "accept", "src": ["autogroup:member", "bob@example.com"], "dst": ["tag:web:80"]},
            {"action": "accept", "src": ["group:ops"], "dst": ["tag:db:22"]},
            {"action": "accept", "src": ["ann@example.com", "autogroup:member"], "dst": ["tag:db:443"]},
            {"action": "accept", "src": ["bob@example.com", "ann@example.com"], "dst": ["tag:db:5432"]}
        ], "groups": {"group:ops": ["ann@example.com"]}}"#,
    );
    let device = |i: u8, user: Option<&str>, tags: &[&str]| Device {
        name: format!("d{i}.example.ts.net"),
        hostname: format!("d{i}"),
        addresses: vec![IpAddr::V4(Ipv4Addr::new(100, 64, 0, i))],
        user: user.map(str::to_string),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        advertised_routes: Vec::new(),
        enabled_routes: Vec::new(),
    };
    let user = |login: &str| User {
        login: login.into(),
        role: Role::Member,
        shared: false,
    };
    let inventory = Inventory {
        devices: vec![
            device(1, Some("ann@example.com"), &[]),
            device(2, Some("bob@example.com"), &[]),
            device(3, None, &["tag:web"]),
            device(4, None, &["tag:db"]),
        ],
        users: vec![user("ann@example.com"), user("bob@example.com")],
        ..Default::default()
    };
    one_by_one_equals_all_at_once(&policy, &inventory).unwrap();
    let resolver = Resolver::new(&policy, &inventory);
    let (filter, _) = device_filter_and_peers(&resolver, 3);
    let ports = |r: &FilterRule| -> Vec<u16> { r.dst_ports.iter().map(|(_, p)| p.first).collect() };
    // acls[2] (every member: ann's and bob's devices) goes where acls[0] would be, before
    // acls[1]; acls[3] names the same two users, so it joins it there too.
    assert_eq!(
        filter.iter().map(ports).collect::<Vec<_>>(),
        vec![vec![443, 5432], vec![22]]
    );
}

const USERS: &[&str] = &[
    "ann@example.com",
    "bob@example.com",
    "cy@other.org",
    "di@example.com",
];
const TAGS: &[&str] = &["tag:web", "tag:db", "tag:router"];

/// A device: owner (or tags), whether it has an IPv6 address, and its routes (0 none,
/// 1 a subnet, 2 an exit node, 3 both, 4 a subnet only advertised, 5 a subnet of tailnet
/// addresses).
type DeviceSpec = (Option<usize>, Vec<usize>, bool, u8);

/// A rule: grant (true) or ACL, sources, destinations, ports, protocol, capability
/// (0 none, 1 a companion capability, 2 another one), `via` a tag.
type RuleSpec = (bool, Vec<u8>, Vec<u8>, u8, u8, u8, bool);

#[derive(Clone, Debug)]
struct Case {
    groups: Vec<Vec<usize>>,
    devices: Vec<DeviceSpec>,
    rules: Vec<RuleSpec>,
}

fn selector(choice: u8, dst: bool) -> String {
    match choice % 16 {
        0 => "*".into(),
        1..=3 => USERS[(choice as usize) % USERS.len()].into(),
        4 => "group:g0".into(),
        5 => "group:g1".into(),
        6..=7 => TAGS[(choice as usize) % TAGS.len()].into(),
        8 => "autogroup:member".into(),
        9 => "autogroup:tagged".into(),
        10 => "10.0.1.0/24".into(),
        11 => "100.64.0.3".into(),
        12 => "fd7a:115c:a1e0::2".into(),
        13 if dst => "autogroup:internet".into(),
        13 => "autogroup:danger-all".into(),
        _ if dst => "autogroup:self".into(),
        _ => "user:*@example.com".into(),
    }
}

fn ports(p: u8) -> &'static str {
    ["22", "80", "443", "*", "80-443", "22,443"][(p % 6) as usize]
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(proptest::collection::vec(0usize..USERS.len(), 0..3), 2),
        proptest::collection::vec(
            (
                prop_oneof![(0usize..USERS.len()).prop_map(Some), Just(None),],
                proptest::collection::vec(0usize..TAGS.len(), 1..3),
                any::<bool>(),
                0u8..6,
            ),
            1..9,
        ),
        proptest::collection::vec(
            (
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 1..3),
                proptest::collection::vec(any::<u8>(), 1..3),
                any::<u8>(),
                0u8..3,
                0u8..3,
                any::<bool>(),
            ),
            1..6,
        ),
    )
        .prop_map(|(groups, devices, rules)| Case {
            groups,
            devices,
            rules,
        })
}

fn policy_text(c: &Case) -> String {
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
    for (is_grant, src, dst, p, proto, cap, via) in &c.rules {
        let src: Vec<String> = src.iter().map(|s| selector(*s, false)).collect();
        let dst: Vec<String> = dst.iter().map(|d| selector(*d, true)).collect();
        let proto_name = ["", "tcp", "udp"][*proto as usize];
        if *is_grant {
            let ip = grant_ip(proto_name, ports(*p));
            let app = match cap {
                1 => r#", "app": {"tailscale.com/cap/drive": [{"shares": ["*"]}]}"#,
                2 => r#", "app": {"example.com/cap/x": [{"n": 1}]}"#,
                _ => "",
            };
            let ip = if *cap != 0 && *p % 2 == 0 {
                String::new()
            } else {
                format!(", \"ip\": [{}]", quoted(&ip))
            };
            let via = if *via {
                r#", "via": ["tag:router"]"#
            } else {
                ""
            };
            grants.push(format!(
                "{{\"src\": [{}], \"dst\": [{}]{ip}{app}{via}}}",
                quoted(&src),
                quoted(&dst)
            ));
        } else {
            let dst: Vec<String> = dst
                .iter()
                .map(|d| {
                    if d.contains(':')
                        && !d.contains('.')
                        && !d.starts_with("tag:")
                        && !d.starts_with("autogroup:")
                    {
                        format!("[{d}]:{}", ports(*p))
                    } else {
                        format!("{d}:{}", ports(*p))
                    }
                })
                .collect();
            let proto = acl_proto(proto_name);
            acls.push(format!(
                "{{\"action\": \"accept\", \"src\": [{}], \"dst\": [{}]{proto}}}",
                quoted(&src),
                quoted(&dst)
            ));
        }
    }
    format!(
        "{{\"groups\": {{{}}}, \"tagOwners\": {{{}}}, \"grants\": [{}], \"acls\": [{}]}}",
        groups.join(", "),
        tag_owners.join(", "),
        grants.join(", "),
        acls.join(", ")
    )
}

fn inventory(c: &Case) -> Inventory {
    let mut inv = Inventory::default();
    for (i, u) in USERS.iter().enumerate() {
        inv.users.push(User {
            login: u.to_string(),
            role: if i == 0 { Role::Owner } else { Role::Member },
            shared: false,
        });
    }
    for (i, (owner, tags, v6, routes)) in c.devices.iter().enumerate() {
        let mut tags: Vec<String> = match owner {
            Some(_) => Vec::new(),
            None => tags.iter().map(|t| TAGS[*t].to_string()).collect(),
        };
        tags.sort();
        tags.dedup();
        let n = i as u8 + 1;
        let mut addresses = vec![IpAddr::V4(Ipv4Addr::new(100, 64, 0, n))];
        if *v6 {
            addresses.push(IpAddr::V6(Ipv6Addr::new(
                0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, n as u16,
            )));
        }
        let prefix = |p: &str| Prefix::parse(p).unwrap();
        let subnet = prefix(&format!("10.0.{}.0/24", i % 3));
        let exit = vec![prefix("0.0.0.0/0"), prefix("::/0")];
        let (advertised, enabled) = match routes {
            1 => (vec![subnet], vec![subnet]),
            2 => (exit.clone(), exit),
            3 => {
                let mut all = exit;
                all.push(subnet);
                (all.clone(), all)
            }
            4 => (vec![subnet], vec![]),
            5 => (vec![prefix("100.64.0.0/29")], vec![prefix("100.64.0.0/29")]),
            _ => (vec![], vec![]),
        };
        inv.devices.push(Device {
            name: format!("d{i}.example.ts.net"),
            hostname: format!("d{i}"),
            addresses,
            user: owner.map(|u| USERS[u].to_string()),
            tags,
            advertised_routes: advertised,
            enabled_routes: enabled,
        });
    }
    inv
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn one_device_at_a_time_equals_all_devices_at_once(c in case()) {
        let text = policy_text(&c);
        let policy = lower(&text);
        let inventory = with_auto_approvals(&inventory(&c), &policy);
        if let Err(e) = one_by_one_equals_all_at_once(&policy, &inventory) {
            prop_assert!(false, "{e}\npolicy: {text}");
        }
    }
}
