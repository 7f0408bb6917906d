//! Symbolic reachability: who may reach whom, decided on principals (a user's devices, a
//! device with a given set of tags, an address) instead of concrete devices, so that it
//! holds for every inventory consistent with the policy. Each answer keeps the rules that
//! give it, with where they are written.
//!
//! Invariant (checked by a property test against the concrete engine): for policies whose
//! selectors are identities (users, groups, tags, autogroups, `*`), a device may send to
//! another on a port exactly when its principal reaches the other's principal.

use super::inventory::{Inventory, Role};
use super::ipset::IpSet;
use super::resolve::{internet, tailnet_space};
use crate::model::{Autogroup, Policy, PortRange, Protocol, Sel, Selector};
use crate::syntax::Span;
use std::collections::BTreeMap;
use std::fmt;

/// What can be the source or the destination of a flow, symbolically.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// The devices of one user.
    User(String),
    /// A device carrying exactly these tags (sorted).
    Tags(Vec<String>),
    /// Some address (a host alias, an IP, a CIDR, a subnet behind a router).
    Address(IpSet),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => f.write_str(u),
            Principal::Tags(t) => f.write_str(&t.join("+")),
            Principal::Address(a) => write!(f, "{a}"),
        }
    }
}

impl Principal {
    /// The principal a device is, for policy purposes: its owner's devices when untagged,
    /// else the devices with its tags.
    pub fn of_device(d: &super::inventory::Device) -> Principal {
        match d.owner() {
            Some(o) => Principal::User(o.to_string()),
            None => {
                let mut t = d.tags.clone();
                t.sort();
                t.dedup();
                Principal::Tags(t)
            }
        }
    }
}

/// The addresses users' and tags' devices hold, when an inventory says them. A policy
/// file does not: a device gets an address in the tailnet's range when it joins (or an
/// admin sets one), so a rule written with addresses in part of that range takes in a
/// principal's devices only if they hold one of them. (Beside [`Roles`]: what an
/// inventory adds to the principals.)
///
/// Built on first use: most policies name no such address, and reading 100,000 devices
/// into principals costs about a tenth of an `explain --inventory`.
#[derive(Default)]
pub struct Held<'i> {
    inventory: Option<&'i Inventory>,
    by_principal: std::sync::OnceLock<rustc_hash::FxHashMap<Principal, IpSet>>,
    by_address: std::sync::OnceLock<super::inventory::AddressIndex>,
}

impl<'i> Held<'i> {
    /// What `inventory` says; nothing without one.
    pub fn of(inventory: Option<&'i Inventory>) -> Held<'i> {
        Held {
            inventory,
            by_principal: std::sync::OnceLock::new(),
            by_address: std::sync::OnceLock::new(),
        }
    }

    /// Whether the addresses are known (an inventory was given).
    pub fn known(&self) -> bool {
        self.inventory.is_some()
    }

    fn map(&self) -> Option<&rustc_hash::FxHashMap<Principal, IpSet>> {
        let inv = self.inventory?;
        Some(self.by_principal.get_or_init(|| {
            let mut map: rustc_hash::FxHashMap<Principal, Vec<std::net::IpAddr>> =
                Default::default();
            for d in &inv.devices {
                map.entry(Principal::of_device(d))
                    .or_default()
                    .extend(&d.addresses);
            }
            map.into_iter()
                .map(|(p, addrs)| (p, IpSet::from_addrs(addrs)))
                .collect()
        }))
    }

    /// The addresses `p`'s devices hold, when known (`None` too for a principal with no
    /// device in the inventory).
    pub fn get(&self, p: &Principal) -> Option<&IpSet> {
        self.map()?.get(p)
    }

    /// The devices holding an address of `set`, each once, in inventory order (none
    /// without an inventory). Found by binary search: a policy may name a thousand host
    /// aliases and an inventory hold a hundred thousand devices.
    pub fn devices_in(&self, set: &IpSet) -> Vec<&'i super::inventory::Device> {
        let Some(inv) = self.inventory else {
            return Vec::new();
        };
        let index = self
            .by_address
            .get_or_init(|| super::inventory::AddressIndex::new(inv));
        index
            .devices_holding(set)
            .into_iter()
            .map(|i| &inv.devices[i])
            .collect()
    }
}

/// Which side of a rule a selector sits on (`*` differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
}

/// Roles of users, when an inventory says them (looked up by login: a query asks for
/// every principal's role, and an inventory has tens of thousands of users).
#[derive(Default)]
pub struct Roles<'a> {
    users: Option<rustc_hash::FxHashMap<&'a str, &'a super::inventory::User>>,
    /// A user the inventory does not list holds every role and standing at once (is a
    /// member and shared in too): what such a user reaches is then the union of what each
    /// reading reaches, since rules only allow.
    unlisted_hold_all: bool,
}

impl<'a> Roles<'a> {
    /// The roles `inventory` gives; none without one.
    pub fn of(inventory: Option<&'a Inventory>) -> Roles<'a> {
        Roles {
            users: inventory.map(Inventory::users_by_login),
            unlisted_hold_all: false,
        }
    }
    /// The roles `inventory` gives, and every role for a user it does not list: for
    /// answers that must hold whatever those users' roles are ("surely cannot reach").
    pub fn of_or_every(inventory: &'a Inventory) -> Roles<'a> {
        Roles {
            users: Some(inventory.users_by_login()),
            unlisted_hold_all: true,
        }
    }
    /// No inventory: no user has a role or is shared in.
    pub fn none() -> Roles<'static> {
        Roles {
            users: None,
            unlisted_hold_all: false,
        }
    }
    fn user(&self, login: &str) -> Option<&super::inventory::User> {
        self.users.as_ref()?.get(login).copied()
    }
    fn has(&self, login: &str, role: Role) -> bool {
        match self.user(login) {
            Some(u) => u.role == role || (role == Role::Admin && u.role == Role::Owner),
            None => self.unlisted_hold_all,
        }
    }
    fn member(&self, login: &str) -> bool {
        self.user(login).is_none_or(|u| !u.shared)
    }
    fn shared(&self, login: &str) -> bool {
        match self.user(login) {
            Some(u) => u.shared,
            None => self.unlisted_hold_all,
        }
    }
}

/// Does `selector` (on `side`) take in `principal`?
pub fn contains(
    policy: &Policy,
    roles: &Roles,
    selector: &Selector,
    side: Side,
    principal: &Principal,
) -> bool {
    use Principal as P;
    use Selector as S;
    match (selector, principal) {
        (S::Wildcard, P::Address(a)) => side == Side::Dst || tailnet_space().contains_set(a),
        (S::Wildcard, _) => true,
        (S::Autogroup(Autogroup::DangerAll), _) => true,
        (S::User(u), P::User(p)) => u == p,
        (S::UserDomain(d), P::User(p)) => p.rsplit_once('@').is_some_and(|(_, pd)| pd == d),
        (S::Group(g), P::User(p)) => {
            super::structural::group_logins(policy, g).any(|m| m == p.as_str())
        }
        (S::Tag(t), P::Tags(ts)) => ts.contains(t),
        (S::Autogroup(a), P::User(p)) => match a {
            Autogroup::Member | Autogroup::Members => roles.member(p),
            Autogroup::Shared => roles.shared(p),
            Autogroup::Owner => roles.has(p, Role::Owner),
            Autogroup::Admin => roles.has(p, Role::Admin),
            Autogroup::NetworkAdmin => roles.has(p, Role::NetworkAdmin),
            Autogroup::ItAdmin => roles.has(p, Role::ItAdmin),
            Autogroup::BillingAdmin => roles.has(p, Role::BillingAdmin),
            Autogroup::Auditor => roles.has(p, Role::Auditor),
            _ => false,
        },
        (S::Autogroup(Autogroup::Tagged), P::Tags(_)) => true,
        (S::Autogroup(Autogroup::Internet), P::Address(a)) => internet().contains_set(a),
        (S::Host(_) | S::Prefix(_) | S::Range(..) | S::IpSet(_), p) => {
            let set = super::resolve::named_addresses(policy, selector).unwrap_or_default();
            match p {
                P::Address(a) => set.contains_set(a),
                // Every device has an address in each family of the tailnet's range, so a
                // selector spanning a family's whole range takes in every device.
                P::User(_) | P::Tags(_) => covers_tailnet(&set) != 0,
            }
        }
        _ => false,
    }
}

fn any_contains(policy: &Policy, roles: &Roles, sels: &[Sel], side: Side, p: &Principal) -> bool {
    sels.iter().any(|s| {
        s.selector
            .as_ref()
            .is_some_and(|sel| contains(policy, roles, sel, side, p))
    })
}

/// One way a flow is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `acls[3]`, `grants[0]`.
    pub rule: String,
    /// The same, as a value (`None` for the default allow-all).
    pub origin: Option<super::rules::Origin>,
    /// The rule's span, and the span of the destination entry that matched.
    pub rule_span: Span,
    pub entry_span: Span,
    /// The matching destination as written.
    pub dst: String,
    /// The sources of the rule that take in the flow's source, as written.
    pub via_sources: Vec<String>,
    pub protocol: Option<Protocol>,
    pub ports: Vec<PortRange>,
}

/// A destination entry of a rule in one normal form: ACL `host:ports` and grant `dst × ip`.
/// Borrowed from the policy: listing entries allocates nothing per entry, which keeps an
/// `explain` query over ten thousand rules well under a millisecond.
pub struct EntryView<'a> {
    pub rule: super::rules::Origin,
    pub rule_span: Span,
    pub src: &'a [Sel],
    pub dst: &'a Sel,
    pub protocol: Option<Protocol>,
    pub ports: &'a [PortRange],
}

impl EntryView<'_> {
    /// Add what this entry opens to `access`: its protocol (or the client default, TCP,
    /// UDP, ICMP and ICMPv6) on its ports.
    pub fn add_access(&self, access: &mut Access) {
        let protocols: &[u8] = match &self.protocol {
            None => &super::rules::Protocols::DEFAULT_NUMBERS,
            Some(p) => std::slice::from_ref(&p.0),
        };
        for p in protocols {
            for r in self.ports {
                add(access, *p, *r);
            }
        }
    }
}

/// Ports per protocol number, as sorted disjoint ranges.
pub type Access = BTreeMap<u8, Vec<(u16, u16)>>;

/// Add `proto` on `r` to `access`, keeping its ranges sorted, disjoint and merged. In
/// place: the diff adds an entry's ports per source and destination, billions of times
/// for two large policies, mostly ports already there.
pub fn add(access: &mut Access, proto: u8, r: PortRange) {
    let list = access.entry(proto).or_default();
    let (first, last) = (r.first as u32, r.last as u32);
    // The ranges that touch or overlap `r`: from the first ending at or after
    // `first - 1` to the last starting at or before `last + 1`.
    let from = list.partition_point(|&(_, hi)| (hi as u32) + 1 < first);
    let mut to = from;
    let (mut lo, mut hi) = (r.first, r.last);
    while to < list.len() && list[to].0 as u32 <= last + 1 {
        lo = lo.min(list[to].0);
        hi = hi.max(list[to].1);
        to += 1;
    }
    match to - from {
        0 => list.insert(from, (lo, hi)),
        1 => list[from] = (lo, hi),
        _ => {
            list[from] = (lo, hi);
            list.drain(from + 1..to);
        }
    }
}

/// What `a` allows and `b` does not.
pub fn minus(a: &Access, b: &Access) -> Access {
    let mut out = Access::new();
    for (proto, ranges) in a {
        let other = b.get(proto).map(Vec::as_slice).unwrap_or(&[]);
        for &(lo, hi) in ranges {
            let mut cur = lo as u32;
            for &(olo, ohi) in other {
                if (ohi as u32) < cur || olo as u32 > hi as u32 {
                    continue;
                }
                if (olo as u32) > cur {
                    add(
                        &mut out,
                        *proto,
                        PortRange {
                            first: cur as u16,
                            last: olo - 1,
                        },
                    );
                }
                cur = ohi as u32 + 1;
            }
            if cur <= hi as u32 {
                add(
                    &mut out,
                    *proto,
                    PortRange {
                        first: cur as u16,
                        last: hi,
                    },
                );
            }
        }
    }
    out
}

/// Whether `access` lets `proto`/`port` through.
pub fn admits(access: &Access, proto: u8, port: u16) -> bool {
    access
        .get(&proto)
        .is_some_and(|r| r.iter().any(|&(a, b)| a <= port && port <= b))
}

/// Address families as a bit set: IPv4, IPv6.
pub type Families = u8;
pub const IPV4: Families = 1;
pub const IPV6: Families = 2;
pub const BOTH: Families = IPV4 | IPV6;

/// The families an address set has addresses in.
pub fn families(set: &IpSet) -> Families {
    let [v4, v6] = set.families();
    (if v4.is_empty() { 0 } else { IPV4 }) | (if v6.is_empty() { 0 } else { IPV6 })
}

/// The families in which an address set takes in every device of the tailnet. Devices
/// hold addresses in 100.64.0.0/10 and fd7a:115c:a1e0::/48, unknown until they join, so
/// only a set that covers such a range whole surely holds a given device's address.
pub fn covers_tailnet(set: &IpSet) -> Families {
    let space = tailnet_space();
    let v4 = space.intersect(&IpSet::parse("0.0.0.0/0").expect("a CIDR"));
    let v6 = space.subtract(&v4);
    (if set.contains_set(&v4) { IPV4 } else { 0 }) | (if set.contains_set(&v6) { IPV6 } else { 0 })
}

/// Whether `set` holds some of the tailnet's device addresses without spanning a family
/// of its range: some devices' addresses, and which devices' only an inventory says.
pub fn in_part_of_tailnet(set: &IpSet) -> bool {
    set.overlaps(super::resolve::device_address_space()) && covers_tailnet(set) == 0
}

/// The addresses of `set` in these families.
pub fn in_families(set: &IpSet, f: Families) -> IpSet {
    match f {
        BOTH => set.clone(),
        IPV4 => set.intersect(&IpSet::parse("0.0.0.0/0").expect("a CIDR")),
        IPV6 => set.intersect(&IpSet::parse("::/0").expect("a CIDR")),
        _ => IpSet::new(),
    }
}

/// Every (rule, destination, protocol, ports) of the policy, grants then ACLs. A policy
/// with neither section allows everything (see `rules::compile`); that case is left to
/// callers, which say so explicitly.
pub fn entries(policy: &Policy) -> Vec<EntryView<'_>> {
    let mut out = Vec::new();
    for w in super::rules::Written::all(policy) {
        if !w.via().is_empty() {
            continue; // Only routers carry via rules; not device-to-device access.
        }
        // Destination by destination: a flattened iterator costs several times more.
        for k in 0..w.destinations().len() {
            out.extend(w.entries_at(k).map(|e| EntryView {
                rule: w.origin,
                rule_span: w.span(),
                src: w.src(),
                dst: e.destination.sel,
                protocol: e.protocol,
                ports: e.ports,
            }));
        }
    }
    out
}

/// Does an entry's destination take in `dst`, given the flow's source `src`?
pub fn entry_reaches(
    policy: &Policy,
    roles: &Roles,
    e: &EntryView,
    src: &Principal,
    dst: &Principal,
) -> bool {
    match &e.dst.selector {
        Some(Selector::Autogroup(Autogroup::SelfDevices)) => {
            matches!((src, dst), (Principal::User(a), Principal::User(b)) if a == b)
        }
        Some(sel) => contains(policy, roles, sel, Side::Dst, dst),
        None => false,
    }
}

/// Whether an entry's protocol (`None`: the client default) lets `proto` through.
pub fn protocol_matches(entry: Option<Protocol>, proto: u8) -> bool {
    match entry {
        None => [6, 17, 1, 58].contains(&proto),
        Some(p) => p.0 == proto,
    }
}

/// The ways `src` may reach `dst` on `proto`/`port`.
pub fn reachable(
    policy: &Policy,
    roles: &Roles,
    src: &Principal,
    dst: &Principal,
    proto: u8,
    port: u16,
) -> Vec<Grant> {
    if policy.acls.is_none() && policy.grants.is_none() {
        return vec![Grant {
            rule: "the default allow-all (no acls or grants)".into(),
            origin: None,
            rule_span: Span::default(),
            entry_span: Span::default(),
            dst: "*".into(),
            via_sources: vec!["*".into()],
            protocol: None,
            ports: vec![PortRange::ALL],
        }];
    }
    let all = entries(policy);
    let reaching: Vec<&EntryView> = all
        .iter()
        .filter(|e| entry_reaches(policy, roles, e, src, dst))
        .collect();
    grants_through(policy, roles, &reaching, src, proto, port)
}

/// The grants among `reaching` (entries already known to reach the destination) that
/// take in `src` on `proto`/`port`.
pub fn grants_through(
    policy: &Policy,
    roles: &Roles,
    reaching: &[&EntryView],
    src: &Principal,
    proto: u8,
    port: u16,
) -> Vec<Grant> {
    reaching
        .iter()
        .filter(|e| protocol_matches(e.protocol, proto) && e.ports.iter().any(|p| p.contains(port)))
        .filter_map(|e| {
            let via_sources: Vec<String> = e
                .src
                .iter()
                .filter(|s| {
                    s.selector
                        .as_ref()
                        .is_some_and(|sel| contains(policy, roles, sel, Side::Src, src))
                })
                .map(|s| s.raw.trim().to_string())
                .collect();
            (!via_sources.is_empty()).then(|| Grant {
                rule: e.rule.to_string(),
                origin: Some(e.rule),
                rule_span: e.rule_span,
                entry_span: e.dst.span,
                dst: e.dst.raw.trim().to_string(),
                via_sources,
                protocol: e.protocol,
                ports: e.ports.to_vec(),
            })
        })
        .collect()
}

/// Whether some source selector of an entry takes in `src`.
pub fn sources_include(policy: &Policy, roles: &Roles, e: &EntryView, src: &Principal) -> bool {
    any_contains(policy, roles, e.src, Side::Src, src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reserved_ranges_hold_no_device() {
        let part = |s: &str| in_part_of_tailnet(&IpSet::parse(s).unwrap());
        assert!(part("100.64.1.9"));
        assert!(part("fd7a:115c:a1e0::5"));
        // kb/1610: never assigned to a device (Quad100 and the rest of its /24, the
        // 100.100.0.0/24 range, the ChromeOS range), nor MagicDNS's IPv6 address.
        for reserved in [
            "100.100.100.100",
            "100.100.100.7",
            "100.100.0.5",
            "100.100.0.0/24",
            "100.115.92.1",
            "fd7a:115c:a1e0::53",
        ] {
            assert!(!part(reserved), "{reserved}");
        }
        assert!(part("100.100.0.0/23"), "100.100.1.0/24 may hold devices");
    }

    proptest! {
        /// `add` keeps exactly the ports added, as sorted, disjoint, merged ranges.
        #[test]
        fn add_keeps_sorted_merged_ranges(ranges in proptest::collection::vec((0u16..200, 0u16..20), 0..30)) {
            let mut access = Access::new();
            let mut ports = std::collections::BTreeSet::new();
            for &(first, len) in &ranges {
                let last = first.saturating_add(len);
                add(&mut access, 6, PortRange { first, last });
                ports.extend(first..=last);
            }
            let list = access.get(&6).cloned().unwrap_or_default();
            for w in list.windows(2) {
                // Sorted, and a gap between neighbours (else they would be one range).
                prop_assert!((w[0].1 as u32) + 1 < w[1].0 as u32, "{:?}", list);
            }
            let held: std::collections::BTreeSet<u16> =
                list.iter().flat_map(|&(a, b)| a..=b).collect();
            prop_assert_eq!(held, ports);
        }
    }
}
