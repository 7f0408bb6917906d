//! Representative devices for policy-only (structural) analysis: a small inventory such
//! that a property that holds for it holds for every inventory the policy could meet.
//!
//! Why this is enough (see `analysis-design.md` §6.2): every selector is monotone in a
//! tagged device's tags (more tags, more selectors match), so one device per tag stands for
//! every tag combination; a user the policy names is matched by the same selectors on every
//! device they own, given their standing (role, or shared in from another tailnet), which
//! a policy file does not say: so each named user gets one device per standing the
//! policy's rules tell apart ([`Standings`]). Users the policy does not name are matched
//! only by broad selectors (`*`, `autogroup:member`, a role, a `user:*@domain`), so two per
//! domain and standing stand for all of them (two, so that flows between two different
//! unnamed users exist and are not mistaken for `autogroup:self` flows). Devices get
//! addresses outside every range the policy writes, the fewest selectors can match. One
//! router approves a subnet route outside all of them, which `*` sources include.
//!
//! A named user's devices in two standings make flows no real tailnet has (one user has
//! one standing); they only add flows to check, so what holds here still holds for every
//! tailnet, whoever holds which role.
//!
//! Named users whom no ACL or grant tells apart (in the same groups, of one domain, never
//! named directly, and no `autogroup:self`) are matched by the same flow selectors:
//! [`representative_atoms`] gives each such atom one stand-in, holding the addresses its
//! users' devices would, which keeps every set's relations to the others and its size.

use super::inventory::{Device, Inventory, Role, Standing, User};
use super::ipset::IpSet;
use super::resolve::tailnet_space;
use super::standings::Standings;
use crate::model::{Policy, Prefix, Sel, Selector};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

/// The domain of the stand-ins for users the policy does not name.
pub const OTHER_DOMAIN: &str = "unnamed.tsacl.invalid";

/// The selectors that decide flows: sources and destinations of ACLs and grants.
pub fn flow_selectors(policy: &Policy) -> impl Iterator<Item = &Sel> {
    super::rules::Written::all(policy)
        .flat_map(|w| w.src().iter().chain(w.destinations().map(|d| d.sel)))
}

/// A stand-in address for the Tailscale Service `name` (`svc:web`): Services have
/// addresses of their own, which neither the policy nor the API's device answers give.
/// It lies in the tailnet's IPv6 range, where no device address is handed out, and
/// depends on the name alone, so every analysis gives a service the same one.
pub fn service_stand_in(name: &str) -> IpAddr {
    use std::hash::BuildHasher;
    let base: u128 = 0xfd7a_115c_a1e0_5e71_0000_0000_0000_0000;
    let hash = rustc_hash::FxBuildHasher.hash_one(name);
    IpAddr::V6(Ipv6Addr::from(base | u128::from(hash)))
}

/// Where [`service_stand_in`] puts every service: only rules that name a service reach
/// its stand-in. Nothing recorded shows that `*` or an address range reaches a Tailscale
/// Service's address, so no analysis may claim they do.
pub fn service_block() -> IpSet {
    let mut set = IpSet::new();
    let first = Ipv6Addr::from(0xfd7a_115c_a1e0_5e71_0000_0000_0000_0000u128);
    let last = Ipv6Addr::from(0xfd7a_115c_a1e0_5e71_ffff_ffff_ffff_ffffu128);
    set.add_range(IpAddr::V6(first), IpAddr::V6(last));
    set
}

/// The domains that `user:*@domain` selectors of the policy name, and the domain of
/// users it does not name at all.
pub fn unnamed_domains<'a>(selectors: impl IntoIterator<Item = &'a Selector>) -> Vec<String> {
    let mut domains: BTreeSet<String> = selectors
        .into_iter()
        .filter_map(|s| match s {
            Selector::UserDomain(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    domains.insert(OTHER_DOMAIN.to_string());
    domains.into_iter().collect()
}

/// A short name for a standing, for stand-in logins: `admin`, `shared`.
pub fn standing_label(s: Standing) -> &'static str {
    match s {
        Standing::Member(r) => r.name(),
        Standing::Shared => "shared",
    }
}

/// The groups an identity provider defines (`group:name@domain`, synced by SCIM) that the
/// policy names and does not define itself: their members are in no policy file.
pub fn idp_groups(policy: &Policy) -> BTreeSet<String> {
    let synced = |s: &Selector| match s {
        Selector::Group(g) if g.contains('@') && policy.group(g).is_none() => Some(g.clone()),
        _ => None,
    };
    let in_tests = policy
        .tests
        .iter()
        .filter_map(|t| t.src.as_ref())
        .chain(policy.ssh_tests.iter().filter_map(|t| t.src.as_ref()))
        .filter(|s| s.value.contains('@'))
        .filter_map(|s| Selector::parse(s.value.trim()).ok())
        .filter_map(|s| synced(&s));
    policy
        .rule_selectors()
        .chain(policy.tag_owners.iter().flat_map(|t| &t.owners))
        .filter_map(|s| s.selector.as_ref().and_then(synced))
        .chain(in_tests)
        .collect()
}

/// The stand-in member of a group the identity provider defines: a user of the group's
/// domain, which analysis treats as any user the policy names (its role and membership
/// unknown offline).
pub fn idp_group_member(group: &str) -> String {
    let name = group.trim_start_matches("group:");
    match name.rsplit_once('@') {
        Some((local, domain)) => format!("a-user-of-{local}@{domain}"),
        None => format!("a-user-of-{name}@{OTHER_DOMAIN}"),
    }
}

/// The synced group whose stand-in member `login` is ([`idp_group_member`]), if it is one.
pub fn idp_group_of(login: &str) -> Option<String> {
    let (local, domain) = login.strip_prefix("a-user-of-")?.rsplit_once('@')?;
    (domain != OTHER_DOMAIN).then(|| format!("group:{local}@{domain}"))
}

/// The logins `group` takes in: the members the policy lists, or, for a group the identity
/// provider syncs (which no policy file defines), its stand-in member
/// ([`idp_group_member`]). Every analysis over principals reads a group through this, so
/// that a rule from a synced group reaches someone in each of them alike.
pub fn group_logins<'p>(
    policy: &'p Policy,
    group: &str,
) -> impl Iterator<Item = std::borrow::Cow<'p, str>> {
    use std::borrow::Cow;
    let defined = policy.group(group);
    let synced = (defined.is_none() && group.contains('@')).then(|| idp_group_member(group));
    defined
        .into_iter()
        .flat_map(|g| g.members.iter().map(|m| Cow::Borrowed(m.value.trim())))
        .chain(synced.map(Cow::Owned))
}

/// `inventory` with a device of a stand-in member ([`idp_group_member`]) for each group
/// the identity provider defines that the policy names, at an address the policy names
/// nowhere; borrowed when the policy names none. The API's answers list no group members,
/// so with them as without, such a group is someone: not nobody.
pub fn with_idp_group_members<'i>(
    inventory: &'i Inventory,
    policy: &Policy,
) -> std::borrow::Cow<'i, Inventory> {
    let groups = idp_groups(policy);
    if groups.is_empty() {
        return std::borrow::Cow::Borrowed(inventory);
    }
    let mut inv = inventory.clone();
    let logins: Vec<String> = join_idp_groups(&mut inv, groups)
        .into_iter()
        .map(|(_, login)| login)
        .collect();
    add_member_stand_ins(&mut inv, policy, &logins);
    std::borrow::Cow::Owned(inv)
}

/// Writes each group's stand-in member ([`idp_group_member`]) into `inventory` as that
/// group's member (users and devices are the caller's), and returns (group, login) pairs.
pub fn join_idp_groups(
    inventory: &mut Inventory,
    groups: BTreeSet<String>,
) -> Vec<(String, String)> {
    groups
        .into_iter()
        .map(|g| {
            let login = idp_group_member(&g);
            inventory
                .idp_groups
                .entry(g.clone())
                .or_default()
                .push(login.clone());
            (g, login)
        })
        .collect()
}

/// Adds each of `logins` the inventory does not list as a user (a member of the tailnet
/// without a role) with one device at an address `policy` names nowhere, so that only an
/// address rule spanning the tailnet takes it in. The device is listed, not a placeholder.
pub fn add_member_stand_ins(inventory: &mut Inventory, policy: &Policy, logins: &[String]) {
    let new: Vec<&String> = logins
        .iter()
        .filter(|l| inventory.user(l).is_none())
        .collect();
    let taken = IpSet::from_addrs(
        inventory
            .devices
            .iter()
            .flat_map(|d| d.addresses.iter().copied()),
    );
    let addresses = addresses_outside(policy, &taken, new.len());
    for (login, addresses) in new.into_iter().zip(addresses) {
        inventory.devices.push(Device {
            name: format!("<{login}'s device>"),
            hostname: format!("<{login}'s device>"),
            addresses,
            user: Some(login.clone()),
            tags: Vec::new(),
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        });
        inventory.users.push(User {
            login: login.clone(),
            role: Role::Member,
            shared: false,
        });
    }
}

/// The representative inventory of a policy.
pub fn representative(policy: &Policy) -> Inventory {
    representative_in(policy, None)
}

/// Whether a login (or `@domain`) is in one of the tailnet's domains, whose users are
/// members (`--tailnet-domain`).
pub fn in_tailnet_domains(login: &str, tailnet_domains: Option<&[String]>) -> bool {
    tailnet_domains.is_some_and(|ds| {
        login
            .rsplit_once('@')
            .is_some_and(|(_, d)| ds.iter().any(|x| x.eq_ignore_ascii_case(d)))
    })
}

/// The representative inventory of a policy for a tailnet whose users of
/// `tailnet_domains` are members (not shared in).
pub fn representative_in(policy: &Policy, tailnet_domains: Option<&[String]>) -> Inventory {
    representative_inventory(policy, tailnet_domains, false)
}

/// [`representative_in`] for what the policy's flows tell apart (the redundancy audit):
/// named users whom no flow selector tells apart are one atom, and one stand-in stands
/// for all of them. Such users are those no ACL or grant names directly, in the same
/// groups, with the same text after the `@` (which every `user:*@domain` and
/// `--tailnet-domain` reads); the stand-in's device in each standing holds as many
/// addresses as theirs would, so that every set keeps its size (the audit ranks covers by
/// size). Under `autogroup:self` every user is apart (a flow then depends on whose
/// device it is), and so is each identity-provider group's own member.
pub fn representative_atoms(policy: &Policy, tailnet_domains: Option<&[String]>) -> Inventory {
    representative_inventory(policy, tailnet_domains, true)
}

/// For each of `named` (sorted logins), how many users its stand-in stands for: 1, or
/// more for the first of an atom of users, and 0 for the others of that atom. Logins in
/// `apart` stay apart.
fn user_atoms(policy: &Policy, named: &[&str], apart: &[&str]) -> Vec<u32> {
    let mut weight = vec![1u32; named.len()];
    let mut alone: FxHashSet<&str> = apart.iter().copied().collect();
    for s in flow_selectors(policy).filter_map(|s| s.selector.as_ref()) {
        match s {
            Selector::Autogroup(crate::model::Autogroup::SelfDevices) => return weight,
            Selector::User(u) => {
                alone.insert(u);
            }
            _ => {}
        }
    }
    let mut groups_of: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
    for (g, group) in policy.groups.iter().enumerate() {
        for m in &group.members {
            let login = m.value.trim();
            if !alone.contains(login) {
                groups_of.entry(login).or_default().push(g as u32);
            }
        }
    }
    let mut first_of: FxHashMap<(Vec<u32>, &str), usize> = FxHashMap::default();
    for (i, login) in named.iter().enumerate() {
        if alone.contains(login) {
            continue;
        }
        let mut groups = groups_of.remove(login).unwrap_or_default();
        groups.sort_unstable();
        groups.dedup();
        let after_at = login.split_once('@').map_or("", |(_, rest)| rest);
        match first_of.entry((groups, after_at)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                weight[*first.get()] += 1;
                weight[i] = 0;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    weight
}

fn representative_inventory(
    policy: &Policy,
    tailnet_domains: Option<&[String]>,
    by_atoms: bool,
) -> Inventory {
    let selectors: Vec<&Selector> = policy
        .rule_selectors()
        .chain(policy.tag_owners.iter().flat_map(|t| &t.owners))
        .filter_map(|s| s.selector.as_ref())
        .collect();
    // Gathered by hash and sorted once (a large policy names each user many times).
    let mut named: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    let mut domains: BTreeSet<String> = unnamed_domains(selectors.iter().copied())
        .into_iter()
        .collect();
    let standings = Standings::of(flow_selectors(policy).filter_map(|s| s.selector.as_ref()));
    let mut tags: rustc_hash::FxHashSet<&str> = policy
        .tag_owners
        .iter()
        .map(|t| t.tag.value.as_str())
        .collect();
    for g in &policy.groups {
        named.extend(g.members.iter().map(|m| m.value.trim()));
    }
    // A group the identity provider defines has a member of its own (see
    // [`idp_group_member`]).
    let idp: Vec<(String, String)> = idp_groups(policy)
        .into_iter()
        .map(|g| {
            let login = idp_group_member(&g);
            (g, login)
        })
        .collect();
    named.extend(idp.iter().map(|(_, login)| login.as_str()));
    for s in &selectors {
        match s {
            Selector::User(u) => {
                named.insert(u);
            }
            Selector::Tag(t) => {
                tags.insert(t);
            }
            _ => {}
        }
    }
    // Address ranges the policy writes: stand-ins avoid them.
    let written = written_ranges(policy, &selectors);
    let mut named: Vec<&str> = named.into_iter().collect();
    named.sort_unstable();
    let weight: Vec<u32> = if by_atoms {
        let apart: Vec<&str> = idp.iter().map(|(_, login)| login.as_str()).collect();
        user_atoms(policy, &named, &apart)
    } else {
        vec![1; named.len()]
    };
    let mut tags: Vec<&str> = tags.into_iter().collect();
    tags.sort_unstable();
    for n in &named {
        if let Some((_, d)) = n.rsplit_once('@') {
            domains.insert(d.to_string());
        }
    }

    let mut addresses = Addresses::new(&written);
    let mut inv = Inventory::default();
    let mut add_device = |inv: &mut Inventory, login: &str, name: String, weight: u32| {
        let mut held = addresses.next_pair();
        for _ in 1..weight {
            held.extend(addresses.next_pair());
        }
        inv.devices.push(Device {
            name,
            hostname: login.to_string(),
            addresses: held,
            user: Some(login.to_string()),
            tags: Vec::new(),
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        });
        inv.devices.len() - 1
    };
    let user = |login: &str, standing: Standing| User {
        login: login.to_string(),
        role: match standing {
            Standing::Member(r) => r,
            Standing::Shared => Role::Member,
        },
        shared: standing == Standing::Shared,
    };
    let variants = standings.variants();
    let members_only = standings.members_only();
    let standings_of = |login: &str| {
        if in_tailnet_domains(login, tailnet_domains) {
            members_only.as_slice()
        } else {
            variants
        }
    };
    // By standing, then user: devices of one standing get consecutive addresses, so the
    // sets of a standing (`autogroup:member`, a role) stay a few intervals.
    for v in variants {
        // Joined by hand, the standing's words once: `format!` was a third of building a
        // representative inventory of 100,000 named users.
        let noun = standings.noun(*v);
        let standing = named.iter().zip(&weight);
        for (n, &w) in standing.filter(|(n, w)| **w > 0 && standings_of(n).contains(v)) {
            let mut name = String::with_capacity(n.len() + noun.len() + 15);
            for part in [n, " as ", noun.as_str(), " (stand-in)"] {
                name.push_str(part);
            }
            let device = add_device(&mut inv, n, name, w);
            if variants.len() > 1 {
                inv.standings.insert(device, *v);
            }
        }
    }
    inv.users.extend(
        named
            .iter()
            .zip(&weight)
            .filter(|(_, w)| **w > 0)
            .map(|(n, _)| user(n, variants[0])),
    );
    for (g, login) in &idp {
        inv.idp_groups.insert(g.clone(), vec![login.clone()]);
    }
    for d in &domains {
        for v in standings_of(&format!("@{d}")) {
            for i in 1..=2 {
                let login = format!("unnamed-{}-{i}@{d}", standing_label(*v));
                add_device(&mut inv, &login, format!("{login} (stand-in)"), 1);
                inv.users.push(user(&login, *v));
            }
        }
    }
    for t in &tags {
        inv.devices.push(Device {
            name: format!("{t} (stand-in)"),
            hostname: t.trim_start_matches("tag:").to_string(),
            addresses: addresses.next_pair(),
            user: None,
            tags: vec![t.to_string()],
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        });
    }
    // A router for some subnet no rule names: `*` sources include approved routes.
    if let Some(route) = addresses.outside_tailnet() {
        let login = format!("router@{OTHER_DOMAIN}");
        inv.devices.push(Device {
            name: "subnet router (stand-in)".into(),
            hostname: "subnet-router".into(),
            addresses: addresses.next_pair(),
            user: Some(login.clone()),
            tags: Vec::new(),
            advertised_routes: vec![route],
            enabled_routes: vec![route],
        });
        inv.users.push(User {
            login,
            role: Role::Member,
            shared: false,
        });
    }
    inv
}

/// The address ranges a policy writes (host aliases, addresses and ranges in its
/// selectors, IP sets).
fn written_ranges(policy: &Policy, selectors: &[&Selector]) -> IpSet {
    let mut written = IpSet::new();
    for h in &policy.hosts {
        if let Some(p) = h.prefix {
            written.add_prefix(&p);
        }
    }
    for s in selectors {
        match s {
            Selector::Prefix(p) => written.add_prefix(p),
            Selector::Range(a, b) => written.add_range(*a, *b),
            _ => {}
        }
    }
    for set in &policy.ipsets {
        for op in &set.ops {
            for word in op.value.split_whitespace() {
                if let Some(s) = IpSet::parse(word) {
                    written.union_with(&s);
                }
            }
        }
    }
    written
}

/// `count` pairs of tailnet addresses (IPv4, IPv6) outside every range the policy writes
/// (its rules, tag owners and tests) and outside `taken`: for a device that no address
/// selector of the policy may take in unless it spans the tailnet.
pub fn addresses_outside(policy: &Policy, taken: &IpSet, count: usize) -> Vec<Vec<IpAddr>> {
    let mut selectors: Vec<Selector> = policy
        .rule_selectors()
        .chain(policy.tag_owners.iter().flat_map(|t| &t.owners))
        .filter_map(|s| s.selector.clone())
        .collect();
    for t in &policy.tests {
        for entry in t.accept.iter().chain(&t.deny) {
            if let Ok(dst) = crate::validate::parse_test_destination(&entry.value) {
                selectors.push(dst.host);
            }
        }
        if let Some(Ok(src)) = t.src.as_ref().map(|s| Selector::parse(s.value.trim())) {
            selectors.push(src);
        }
    }
    let refs: Vec<&Selector> = selectors.iter().collect();
    let mut avoided = written_ranges(policy, &refs);
    avoided.union_with(taken);
    let mut addresses = Addresses::new(&avoided);
    (0..count).map(|_| addresses.next_pair()).collect()
}

/// Hands out tailnet addresses outside every written range (falling back to any tailnet
/// address if the policy writes them all).
struct Addresses {
    free: [Vec<(u128, u128)>; 2],
    fallback: [Vec<(u128, u128)>; 2],
    written: IpSet,
}

impl Addresses {
    fn new(written: &IpSet) -> Addresses {
        let space = tailnet_space();
        let free = space.subtract(written);
        let lists = |s: &IpSet| {
            let [a, b] = s.families();
            [a.to_vec(), b.to_vec()]
        };
        Addresses {
            free: lists(&free),
            fallback: lists(space),
            written: written.clone(),
        }
    }

    fn take(&mut self, family: usize) -> IpAddr {
        let list = if self.free[family].is_empty() {
            &mut self.fallback[family]
        } else {
            &mut self.free[family]
        };
        let (lo, hi) = list[0];
        if lo == hi {
            list.remove(0);
        } else {
            list[0].0 = lo + 1;
        }
        super::ipset::address(family, lo)
    }

    fn next_pair(&mut self) -> Vec<IpAddr> {
        vec![self.take(0), self.take(1)]
    }

    /// A /32 route outside the tailnet and every written range.
    fn outside_tailnet(&self) -> Option<Prefix> {
        let candidates = [
            "198.18.0.0/15",
            "192.0.2.0/24",
            "203.0.113.0/24",
            "10.0.0.0/8",
        ];
        let taken = self.written.union(tailnet_space());
        for c in candidates {
            let free = IpSet::parse(c)?.subtract(&taken);
            if let Some((lo, _)) = free.families()[0].first() {
                let addr = std::net::Ipv4Addr::from(*lo as u32);
                return Prefix::parse(&format!("{addr}/32"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    #[test]
    fn stands_in_for_named_users_tags_roles_and_unnamed_users() {
        let p = policy(
            r#"{"groups": {"group:eng": ["alice@example.com"]},
                "tagOwners": {"tag:db": ["group:eng"]},
                "hosts": {"db1": "100.64.0.1"},
                "grants": [{"src": ["autogroup:admin"], "dst": ["100.64.0.2/31"], "ip": ["*"]}]}"#,
        );
        let inv = representative(&p);
        let logins: Vec<&str> = inv.users.iter().map(|u| u.login.as_str()).collect();
        assert!(logins.contains(&"alice@example.com"));
        assert!(logins.contains(&"unnamed-admin-2@example.com"));
        assert!(logins.contains(&"unnamed-member-1@unnamed.tsacl.invalid"));
        assert!(inv.devices.iter().any(|d| d.tags == ["tag:db"]));
        // No stand-in takes an address the policy writes.
        for d in &inv.devices {
            for a in &d.addresses {
                assert!(
                    !["100.64.0.1", "100.64.0.2", "100.64.0.3"].contains(&a.to_string().as_str())
                );
            }
        }
        assert!(inv.devices.iter().any(|d| !d.enabled_routes.is_empty()));
    }

    #[test]
    fn named_users_stand_in_every_standing_the_rules_tell_apart() {
        let p = policy(
            r#"{"grants": [{"src": ["autogroup:member"], "dst": ["autogroup:admin"], "ip": ["*"]},
                           {"src": ["alice@example.com", "bob@gmail.com"], "dst": ["*"], "ip": ["*"]}]}"#,
        );
        let standings_of = |inv: &Inventory, login: &str| -> Vec<Standing> {
            (0..inv.devices.len())
                .filter(|i| inv.devices[*i].user.as_deref() == Some(login))
                .filter_map(|i| inv.standing(i, &inv.users_by_login()))
                .collect()
        };
        let all = [
            Standing::Member(Role::Member),
            Standing::Member(Role::Admin),
            Standing::Shared,
        ];
        let inv = representative(&p);
        assert_eq!(standings_of(&inv, "alice@example.com"), all);
        // Users of the tailnet's domain are members.
        let domains = ["example.com".to_string()];
        let inv = representative_in(&p, Some(&domains));
        assert_eq!(standings_of(&inv, "alice@example.com"), all[..2]);
        assert_eq!(standings_of(&inv, "bob@gmail.com"), all);
        // Without role or membership autogroups, one device each.
        let plain =
            policy(r#"{"grants": [{"src": ["alice@example.com"], "dst": ["*"], "ip": ["*"]}]}"#);
        let inv = representative(&plain);
        assert_eq!(
            standings_of(&inv, "alice@example.com"),
            [Standing::Member(Role::Member)]
        );
        assert!(inv.standings.is_empty());
    }
}
