//! Representative devices for policy-only (structural) analysis: a small inventory such
//! that a property that holds for it holds for every inventory the policy could meet.
//!
//! Why this is enough (see `analysis-design.md` §6.2): every selector is monotone in a
//! tagged device's tags (more tags, more selectors match), so one device per tag stands for
//! every tag combination; a user the policy names is matched by the same selectors on every
//! device they own, so one device each suffices; users the policy does not name are
//! matched only by broad selectors (`*`, `autogroup:member`, a role, a `user:*@domain`), so
//! two per domain and role stand for all of them (two, so that flows between two different
//! unnamed users exist and are not mistaken for `autogroup:self` flows). Devices get
//! addresses outside every range the policy writes, the fewest selectors can match. One
//! router approves a subnet route outside all of them, which `*` sources include.
//!
//! Assumptions, stated in findings' help: users the policy names are members of the
//! tailnet, with the plain member role (their role is unknown to a policy file).

use super::inventory::{Device, Inventory, Role, User};
use super::ipset::IpSet;
use super::resolve::tailnet_space;
use crate::model::{Policy, Prefix, Selector};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The domain of the stand-ins for users the policy does not name.
const OTHER_DOMAIN: &str = "unnamed.tsacl.invalid";

/// The representative inventory of a policy.
pub fn representative(policy: &Policy) -> Inventory {
    let selectors: Vec<&Selector> = policy
        .rule_selectors()
        .chain(policy.tag_owners.iter().flat_map(|t| &t.owners))
        .filter_map(|s| s.selector.as_ref())
        .collect();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut domains: BTreeSet<String> = BTreeSet::new();
    let mut roles: BTreeSet<u8> = BTreeSet::new();
    let mut tags: BTreeSet<String> = policy
        .tag_owners
        .iter()
        .map(|t| t.tag.value.clone())
        .collect();
    // Address ranges the policy writes: stand-ins avoid them.
    let mut written = IpSet::new();
    for g in &policy.groups {
        named.extend(g.members.iter().map(|m| m.value.trim().to_string()));
    }
    for h in &policy.hosts {
        if let Some(p) = h.prefix {
            written.add_prefix(&p);
        }
    }
    for s in &selectors {
        match s {
            Selector::User(u) => {
                named.insert(u.clone());
            }
            Selector::UserDomain(d) => {
                domains.insert(d.clone());
            }
            Selector::Tag(t) => {
                tags.insert(t.clone());
            }
            Selector::Autogroup(a) => {
                if let Some(r) = Role::of_autogroup(*a) {
                    roles.insert(r as u8);
                }
            }
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
    for n in &named {
        if let Some((_, d)) = n.rsplit_once('@') {
            domains.insert(d.to_string());
        }
    }
    domains.insert(OTHER_DOMAIN.to_string());

    let mut addresses = Addresses::new(&written);
    let mut inv = Inventory::default();
    let mut add_user = |inv: &mut Inventory, login: String, role: Role, shared: bool| {
        inv.devices.push(Device {
            name: format!("{login} (stand-in)"),
            hostname: login.clone(),
            addresses: addresses.next_pair(),
            user: Some(login.clone()),
            tags: Vec::new(),
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        });
        inv.users.push(User {
            login,
            role,
            shared,
        });
    };
    for n in &named {
        add_user(&mut inv, n.clone(), Role::Member, false);
    }
    let role_variants: Vec<Role> = std::iter::once(Role::Member)
        .chain(
            ROLES
                .iter()
                .copied()
                .filter(|r| roles.contains(&(*r as u8))),
        )
        .collect();
    for d in &domains {
        for role in &role_variants {
            for i in 1..=2 {
                add_user(
                    &mut inv,
                    format!("unnamed-{}-{i}@{d}", role.name()),
                    *role,
                    false,
                );
            }
        }
    }
    for i in 1..=2 {
        add_user(
            &mut inv,
            format!("shared-{i}@shared.tsacl.invalid"),
            Role::Member,
            true,
        );
    }
    for t in &tags {
        inv.devices.push(Device {
            name: format!("{t} (stand-in)"),
            hostname: t.trim_start_matches("tag:").to_string(),
            addresses: addresses.next_pair(),
            user: None,
            tags: vec![t.clone()],
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

const ROLES: [Role; 6] = [
    Role::Owner,
    Role::Admin,
    Role::NetworkAdmin,
    Role::ItAdmin,
    Role::BillingAdmin,
    Role::Auditor,
];

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
            fallback: lists(&space),
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
        let taken = self.written.union(&tailnet_space());
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
}
