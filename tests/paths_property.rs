//! `paths` and `blast` (the symbolic "becomes" graph) agree with a brute-force search over
//! concrete devices, for random small policies with SSH rules, tag owners, auto-approvers
//! and Funnel: the same principals are found, each at its shortest distance.
//!
//! The brute force knows nothing of principals or links: it asks the concrete engine
//! (per-device SSH rules, `rules::allowed` for one flow, selectors resolved against the
//! inventory) about each pair of devices, then runs a breadth-first search. Grants name
//! some devices by address, which the symbolic graph follows through the inventory.

#[path = "support/policy_text.rs"]
#[allow(dead_code)]
mod policy_text;
use policy_text::quoted;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::inventory::{Device, Inventory, Role, User};
use tsacl::engine::paths::{ADMIN_PORTS, Found, Graph, PortQuery, principals};
use tsacl::engine::reach::{Held, Principal, Roles};
use tsacl::engine::resolve::Resolver;
use tsacl::engine::rules::{allowed, compile};
use tsacl::engine::ssh::SshRules;
use tsacl::engine::{IpSet, resolve};
use tsacl::model::Selector;

const USERS: &[&str] = &["ann@example.com", "bob@example.com", "cy@example.com"];
/// A member the policy never names: the "(any other member)" of the symbolic model.
const OTHER: &str = "other@example.com";
const TAGS: &[&str] = &["tag:web", "tag:db", "tag:ci"];
const ROUTE: &str = "10.0.0.0/8";
const PORTS: &[u16] = &[22, 80, 3389, 5432];
const MAX_HOPS: u32 = 3;

fn identity(choice: u8) -> String {
    match choice % 7 {
        0..=2 => USERS[(choice as usize / 7) % USERS.len()].into(),
        3 => format!("group:g{}", choice as usize / 7 % 2),
        4 | 5 => TAGS[(choice as usize / 7) % TAGS.len()].into(),
        _ => "autogroup:member".into(),
    }
}

fn destination(choice: u8) -> String {
    match choice % 11 {
        7 => ROUTE.into(),
        8 => "autogroup:tagged".into(),
        // Addresses of part of the tailnet's range: tag:web's device, bob's and cy's.
        9 => "100.64.0.5".into(),
        10 => "100.64.0.2/31".into(),
        _ => identity(choice),
    }
}

/// A grant's source: an identity, or addresses of part of the tailnet's range (ann's
/// device; ann's, bob's and cy's).
fn source(choice: u8) -> String {
    match choice % 10 {
        8 => "100.64.0.1".into(),
        9 => "100.64.0.0/30".into(),
        _ => identity(choice),
    }
}

fn ip(choice: u8) -> &'static str {
    ["tcp:22", "tcp:80", "tcp:3389", "tcp:5432", "*"][(choice % 5) as usize]
}

#[derive(Clone, Debug)]
struct Case {
    groups: Vec<Vec<usize>>,
    owners: Vec<Vec<u8>>,
    grants: Vec<(Vec<u8>, Vec<u8>, u8)>,
    /// Source choices, destination choice, users choice, check.
    ssh: Vec<(Vec<u8>, u8, u8, bool)>,
    route_approvers: Vec<u8>,
    exit_approvers: Vec<u8>,
    funnel: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    let choices = |n| proptest::collection::vec(any::<u8>(), 0..n);
    (
        proptest::collection::vec(proptest::collection::vec(0..USERS.len(), 0..3), 2),
        proptest::collection::vec(choices(3), TAGS.len()),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 1..3),
                proptest::collection::vec(any::<u8>(), 1..3),
                any::<u8>(),
            ),
            0..6,
        ),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 1..3),
                any::<u8>(),
                any::<u8>(),
                any::<bool>(),
            ),
            0..4,
        ),
        choices(2),
        choices(2),
        choices(2),
    )
        .prop_map(
            |(groups, owners, grants, ssh, route_approvers, exit_approvers, funnel)| Case {
                groups,
                owners,
                grants,
                ssh,
                route_approvers,
                exit_approvers,
                funnel,
            },
        )
}

fn policy_text(c: &Case) -> String {
    let groups: Vec<String> = c
        .groups
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let members: Vec<String> = m.iter().map(|u| USERS[*u].to_string()).collect();
            format!("\"group:g{i}\": [{}]", quoted(&members))
        })
        .collect();
    let owners: Vec<String> = TAGS
        .iter()
        .zip(&c.owners)
        .map(|(t, o)| {
            let mut o: Vec<String> = o.iter().map(|&x| identity(x)).collect();
            o.sort();
            o.dedup();
            format!("{t:?}: [{}]", quoted(&o))
        })
        .collect();
    let grants: Vec<String> = c
        .grants
        .iter()
        .map(|(s, d, p)| {
            let s: Vec<String> = s.iter().map(|&x| source(x)).collect();
            let d: Vec<String> = d.iter().map(|&x| destination(x)).collect();
            format!(
                "{{\"src\": [{}], \"dst\": [{}], \"ip\": [{:?}]}}",
                quoted(&s),
                quoted(&d),
                ip(*p)
            )
        })
        .collect();
    let ssh: Vec<String> = c
        .ssh
        .iter()
        .map(|(s, d, u, check)| {
            let mut s: Vec<String> = s.iter().map(|&x| identity(x)).collect();
            let d = match d % 5 {
                0..=2 => TAGS[*d as usize % TAGS.len()].to_string(),
                3 => "autogroup:tagged".into(),
                _ => {
                    // `autogroup:self` takes only users' devices as sources.
                    s.retain(|x| !x.starts_with("tag:"));
                    if s.is_empty() {
                        s.push("autogroup:member".into());
                    }
                    "autogroup:self".into()
                }
            };
            let users = ["\"root\"", "\"autogroup:nonroot\"", "\"deploy\""][*u as usize % 3];
            // `check` does not take tags as sources.
            let action = if *check && !s.iter().any(|x| x.starts_with("tag:")) {
                "check"
            } else {
                "accept"
            };
            format!(
                "{{\"action\": {action:?}, \"src\": [{}], \"dst\": [{d:?}], \"users\": [{users}]}}",
                quoted(&s)
            )
        })
        .collect();
    let approvers = |v: &[u8]| -> String {
        let mut a: Vec<String> = v.iter().map(|&x| identity(x)).collect();
        a.sort();
        a.dedup();
        quoted(&a)
    };
    let funnel: Vec<String> = c.funnel.iter().map(|&x| identity(x)).collect();
    let node_attrs = if funnel.is_empty() {
        String::new()
    } else {
        format!(
            "\"nodeAttrs\": [{{\"target\": [{}], \"attr\": [\"funnel\"]}}],",
            quoted(&funnel)
        )
    };
    format!(
        "{{\"groups\": {{{}}}, \"tagOwners\": {{{}}}, \"grants\": [{}], \"ssh\": [{}], \
         \"autoApprovers\": {{\"routes\": {{{ROUTE:?}: [{}]}}, \"exitNode\": [{}]}}, {node_attrs} \"hosts\": {{}}}}",
        groups.join(", "),
        owners.join(", "),
        grants.join(", "),
        ssh.join(", "),
        approvers(&c.route_approvers),
        approvers(&c.exit_approvers),
    )
}

/// One device per user (the unnamed member included) and one per tag.
fn inventory() -> Inventory {
    let mut inv = Inventory::default();
    let device = |i: usize, user: Option<&str>, tag: Option<&str>| Device {
        name: format!("d{i}"),
        hostname: format!("d{i}"),
        addresses: vec![IpAddr::V4(Ipv4Addr::new(100, 64, 0, i as u8 + 1))],
        user: user.map(str::to_string),
        tags: tag.map(str::to_string).into_iter().collect(),
        advertised_routes: vec![],
        enabled_routes: vec![],
    };
    for (i, u) in USERS.iter().chain([&OTHER]).enumerate() {
        inv.users.push(User {
            login: u.to_string(),
            role: Role::Member,
            shared: false,
        });
        inv.devices.push(device(i, Some(u), None));
    }
    for (i, t) in TAGS.iter().enumerate() {
        inv.devices.push(device(USERS.len() + 1 + i, None, Some(t)));
    }
    inv
}

/// The brute-force graph: nodes are the devices, then an address in the route, then the
/// internet; `becomes[a]` and `reaches[a]` the nodes `a` becomes and reaches.
struct Brute {
    principals: Vec<Principal>,
    becomes: Vec<Vec<usize>>,
    reaches: Vec<Vec<usize>>,
}

fn brute(policy: &tsacl::model::Policy, inv: &Inventory) -> Brute {
    let resolver = Resolver::new(policy, inv);
    let rules = compile(&resolver);
    let owner_of = |ip: IpAddr| {
        inv.devices
            .iter()
            .find(|d| d.addresses.contains(&ip))
            .and_then(|d| d.owner())
    };
    let n_dev = inv.devices.len();
    let (route, internet) = (n_dev, n_dev + 1);
    let route_ip = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let mut principals: Vec<Principal> = inv
        .devices
        .iter()
        .map(|d| match d.owner() {
            Some(o) => Principal::User(o.into()),
            None => Principal::Tags(d.tags.clone()),
        })
        .collect();
    principals.push(Principal::Address(IpSet::parse(ROUTE).unwrap()));
    principals.push(Principal::Address(resolve::internet().clone()));
    let n = principals.len();
    let ip_of = |i: usize| {
        if i == route {
            route_ip
        } else {
            inv.devices[i].addresses[0]
        }
    };
    let mut becomes = vec![Vec::new(); n];
    let mut reaches = vec![Vec::new(); n];
    let ssh = SshRules::new(&resolver);
    let admin = |a: usize, b: usize| {
        ADMIN_PORTS
            .iter()
            .any(|&(lo, hi)| (lo..=hi).any(|p| allowed(&rules, owner_of, ip_of(a), ip_of(b), 6, p)))
    };
    let holds = |sel: &tsacl::model::Sel, a: usize| {
        sel.selector
            .as_ref()
            .is_some_and(|s| resolver.source(s).contains(ip_of(a)))
    };
    for a in 0..n_dev {
        for b in 0..=route {
            if a == b {
                continue;
            }
            if PORTS
                .iter()
                .any(|&p| allowed(&rules, owner_of, ip_of(a), ip_of(b), 6, p))
            {
                reaches[a].push(b);
            }
            let logs_in = b < n_dev
                && ssh.device_rules(&inv.devices[b]).iter().any(|r| {
                    r.principals.contains(&ip_of(a)) && r.users.values().any(|u| !u.is_empty())
                });
            let port_22 = allowed(&rules, owner_of, ip_of(a), ip_of(b), 6, 22);
            if (logs_in && port_22) || admin(a, b) {
                becomes[a].push(b);
            }
        }
        // Tag ownership: a device tagged with exactly the owned tag.
        for t in &policy.tag_owners {
            let Some(b) = inv
                .devices
                .iter()
                .position(|d| d.tags == [t.tag.value.clone()])
            else {
                continue;
            };
            if a != b && t.owners.iter().any(|o| holds(o, a)) {
                becomes[a].push(b);
            }
        }
        let approvers = &policy.auto_approvers;
        if approvers
            .routes
            .iter()
            .any(|r| r.approvers.iter().any(|o| holds(o, a)))
        {
            becomes[a].push(route);
        }
        if approvers.exit_node.iter().any(|o| holds(o, a)) {
            becomes[a].push(internet);
        }
    }
    for attr in &policy.node_attrs {
        for b in 0..n_dev {
            if attr.target.iter().any(|s| {
                s.selector.as_ref().is_some_and(|s| match s {
                    Selector::Wildcard => true,
                    s => resolver.addresses(s).contains(ip_of(b)),
                })
            }) {
                becomes[internet].push(b);
            }
        }
    }
    Brute {
        principals,
        becomes,
        reaches,
    }
}

/// Shortest distances from `start` over "becomes", then one last "reaches" hop.
fn forward(b: &Brute, start: usize) -> Vec<Option<u32>> {
    let n = b.principals.len();
    let mut became: Vec<Option<u32>> = vec![None; n];
    became[start] = Some(0);
    let mut queue = VecDeque::from([start]);
    while let Some(x) = queue.pop_front() {
        let d = became[x].unwrap();
        for &y in &b.becomes[x] {
            if became[y].is_none() {
                became[y] = Some(d + 1);
                queue.push_back(y);
            }
        }
    }
    // Blast lists what is become within the hops (at that distance), else what is
    // reached from something become in fewer.
    (0..n)
        .map(|y| match became[y] {
            Some(d) if d <= MAX_HOPS => Some(d),
            _ => (0..n)
                .filter_map(|x| became[x].filter(|&d| d < MAX_HOPS && b.reaches[x].contains(&y)))
                .min()
                .map(|d| d + 1),
        })
        .collect()
}

/// Shortest chain length from each node to `target` (becoming it, or reaching it last).
fn backward(b: &Brute, target: usize) -> Vec<Option<u32>> {
    let n = b.principals.len();
    (0..n)
        .map(|s| {
            let from = {
                let mut became: Vec<Option<u32>> = vec![None; n];
                became[s] = Some(0);
                let mut queue = VecDeque::from([s]);
                while let Some(x) = queue.pop_front() {
                    let d = became[x].unwrap();
                    for &y in &b.becomes[x] {
                        if became[y].is_none() {
                            became[y] = Some(d + 1);
                            queue.push_back(y);
                        }
                    }
                }
                became
            };
            let mut best = from[target];
            for (x, d) in from.iter().enumerate() {
                if let Some(d) = *d
                    && b.reaches[x].contains(&target)
                {
                    best = Some(best.map_or(d + 1, |o: u32| o.min(d + 1)));
                }
            }
            best
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn paths_and_blast_equal_brute_force(c in case()) {
        let text = policy_text(&c);
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("p", "p", text.clone().into_bytes()));
        let checked = tsacl::check::check_policy(&sources, id, &Default::default());
        let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        prop_assert!(errors.is_empty(), "generated an invalid policy {text}: {errors:?}");
        let policy = checked.policy.unwrap();
        let inv = inventory();
        let b = brute(&policy, &inv);
        let roles = Roles::of(Some(&inv));
        let held = Held::of(Some(&inv));
        let graph = Graph::new(&policy, &roles, principals(&policy, Some(&inv), &[]), ADMIN_PORTS, &held);
        let ids: Vec<u32> = b.principals.iter().map(|p| graph.model.id(p).expect("in the model")).collect();
        let node_of = |id: u32| ids.iter().position(|&i| i == id);
        for (t, &target) in ids.iter().enumerate() {
            // paths
            let expected = backward(&b, t);
            let mut got: Vec<Option<u32>> = vec![None; b.principals.len()];
            for f in graph.paths(&[target], MAX_HOPS, PortQuery::default()) {
                if let Some(x) = node_of(f.principal) {
                    got[x] = Some(f.hops.len() as u32);
                }
            }
            for x in 0..b.principals.len() {
                let want = expected[x].filter(|&d| d <= MAX_HOPS && x != t);
                prop_assert_eq!(got[x], want, "paths to {} from {} in {}", b.principals[t], b.principals[x], text);
            }
            // blast
            let expected = forward(&b, t);
            let mut got: Vec<Option<u32>> = vec![None; b.principals.len()];
            for f in graph.blast(&graph.with_held_addresses(&[target]), MAX_HOPS, PortQuery::default()) {
                if let Some(x) = node_of(f.principal) {
                    got[x] = Some(f.hops.len() as u32);
                }
            }
            for x in 0..b.principals.len() {
                let want = expected[x].filter(|&d| d <= MAX_HOPS && x != t);
                prop_assert_eq!(got[x], want, "blast from {} to {} in {}", b.principals[t], b.principals[x], text);
            }
        }
    }
}

/// Per principal, its chain in `found` as the searches rank them: the shortest, but for
/// `blast` a principal become before one only reached. (become?, length)
fn ranks(
    graph: &Graph,
    found: Vec<Found>,
    blast: bool,
) -> std::collections::BTreeMap<u32, (bool, usize)> {
    let mut out = std::collections::BTreeMap::new();
    for f in found {
        let reached_only = blast
            && f.hops
                .last()
                .is_some_and(|h| graph.link(h.link).kind == tsacl::engine::paths::Kind::Network);
        let rank = (reached_only, f.hops.len());
        out.entry(f.principal)
            .and_modify(|r: &mut (bool, usize)| *r = (*r).min(rank))
            .or_insert(rank);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `Graph::search_among` (the undecided chains of `paths` and `blast` offline, through
    /// every address a policy names) finds what one search from every other address
    /// finds: each principal, addresses included, ranked as the searches rank chains.
    #[test]
    fn a_search_among_addresses_equals_a_search_from_every_other(c in case()) {
        let text = policy_text(&c);
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("p", "p", text.clone().into_bytes()));
        let checked = tsacl::check::check_policy(&sources, id, &Default::default());
        prop_assume!(checked.diagnostics.iter().all(|d| !d.is_error()));
        let policy = checked.policy.unwrap();
        let roles = Roles::of(None);
        let held = Held::of(None);
        let graph = Graph::new(&policy, &roles, principals(&policy, None, &[]), ADMIN_PORTS, &held);
        let ends: Vec<u32> = (0..graph.model.principals().len() as u32)
            .filter(|&i| matches!(graph.model.principal(i), Principal::Address(_)))
            .collect();
        let any = PortQuery::default();
        for blast in [false, true] {
            let search = |from: &[u32]| if blast {
                graph.blast(from, MAX_HOPS, any)
            } else {
                graph.paths(from, MAX_HOPS, any)
            };
            let got = ranks(&graph, graph.search_among(&ends, blast, MAX_HOPS, any), blast);
            // Principals other than the ends: one search from all; each end: one search
            // from all the others.
            let mut want = ranks(&graph, search(&ends), blast);
            for &e in &ends {
                let others: Vec<u32> = ends.iter().copied().filter(|&o| o != e).collect();
                if let Some(&r) = ranks(&graph, search(&others), blast).get(&e) {
                    want.insert(e, r);
                }
            }
            prop_assert_eq!(&got, &want, "blast: {} in {}", blast, text);
        }
    }
}
