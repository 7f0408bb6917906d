//! Selectors → sets of IP addresses, the way the control plane resolves them against a
//! device inventory.

use super::inventory::{Inventory, Role, Standing};
use super::ipset::IpSet;
use crate::model::{Autogroup, Policy, Selector};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// The tailnet's own address space: 100.64.0.0/10 without 100.115.92.0/23 (reserved for
/// ChromeOS VMs), and fd7a:115c:a1e0::/48.
pub fn tailnet_space() -> &'static IpSet {
    // Made once: selectors are decided against it per principal.
    static SPACE: std::sync::LazyLock<IpSet> = std::sync::LazyLock::new(|| {
        let mut s = IpSet::parse("100.64.0.0/10")
            .unwrap()
            .subtract(&IpSet::parse("100.115.92.0/23").unwrap());
        s.union_with(&IpSet::parse("fd7a:115c:a1e0::/48").unwrap());
        s
    });
    &SPACE
}

/// The addresses a device may hold: [`tailnet_space`] without the ranges Tailscale keeps
/// for itself and never assigns to a device (kb/1610, Reserved IP addresses:
/// 100.100.0.0/24 and 100.100.100.0/24, which holds MagicDNS's 100.100.100.100), MagicDNS's
/// fd7a:115c:a1e0::53 (`tsaddr.TailscaleServiceIP`) and the 4via6 range
/// (fd7a:115c:a1e0:b1a::/64, `tsaddr.TailscaleViaRange`), which addresses subnets behind
/// routers. A rule naming only such addresses names no device. (The offline `tests` still
/// read [`tailnet_space`] for where a device may lie: a test fails only where that is
/// certain.)
pub fn device_address_space() -> &'static IpSet {
    static SPACE: std::sync::LazyLock<IpSet> = std::sync::LazyLock::new(|| {
        let mut reserved = IpSet::parse("100.100.0.0/24").unwrap();
        reserved.union_with(&IpSet::parse("100.100.100.0/24").unwrap());
        reserved.union_with(&IpSet::parse("fd7a:115c:a1e0::53/128").unwrap());
        reserved.union_with(&IpSet::parse("fd7a:115c:a1e0:b1a::/64").unwrap());
        tailnet_space().subtract(&reserved)
    });
    &SPACE
}

/// `autogroup:internet`: public IPv4 and global-unicast IPv6, without private, CGNAT and
/// link-local ranges.
pub fn internet() -> &'static IpSet {
    static INTERNET: std::sync::LazyLock<IpSet> = std::sync::LazyLock::new(internet_set);
    &INTERNET
}

fn internet_set() -> IpSet {
    let mut s = IpSet::parse("0.0.0.0/0").unwrap();
    s.union_with(&IpSet::parse("2000::/3").unwrap());
    let mut private = IpSet::new();
    for p in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
    ] {
        private.union_with(&IpSet::parse(p).unwrap());
    }
    s.subtract(&private)
}

/// What a destination selector stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `*`: every address (written `*` in filters).
    Everything,
    /// `autogroup:self`: the source user's own devices, decided per destination device.
    OwnDevices,
    /// The set is shared with the resolver's ([`Resolver::shared`]): a selector named by
    /// many rules is resolved and stored once.
    Addresses(Arc<IpSet>),
}

pub struct Resolver<'a> {
    pub policy: &'a Policy,
    pub inventory: &'a Inventory,
    // The sets kept are shared (`Arc`): a compiled rule's sources hold them rather than
    // copies, so a set such as `autogroup:member` is stored once however many rules
    // name it (see `rules::Sources`).
    user_devices: FxHashMap<&'a str, Arc<IpSet>>,
    tag_devices: FxHashMap<&'a str, Arc<IpSet>>,
    members: Arc<IpSet>,
    tagged: Arc<IpSet>,
    shared: Arc<IpSet>,
    /// `*` as a source: the tailnet's range and the approved subnet routes.
    wildcard_source: Arc<IpSet>,
    /// Devices of members by their owner's role.
    role_devices: FxHashMap<Role, IpSet>,
    ipsets: FxHashMap<&'a str, Arc<IpSet>>,
    /// Each group's members' devices, resolved once.
    groups: FxHashMap<&'a str, Arc<IpSet>>,
    /// The sets of the other selectors (hosts, addresses, domains, roles, services, `*`),
    /// resolved when first asked for and kept, so that every rule naming one shares it.
    /// Behind a lock because the resolver is shared by the engines' threads.
    others: std::sync::Mutex<FxHashMap<Selector, Arc<IpSet>>>,
}

impl<'a> Resolver<'a> {
    pub fn new(policy: &'a Policy, inventory: &'a Inventory) -> Resolver<'a> {
        // Collect addresses per identity first and build each set once: sets of many
        // devices built by repeated insertion would cost quadratic time.
        let users = inventory.users_by_login();
        let mut per_user: FxHashMap<&'a str, Vec<std::net::IpAddr>> = FxHashMap::default();
        let mut per_tag: FxHashMap<&'a str, Vec<std::net::IpAddr>> = FxHashMap::default();
        let mut per_role: FxHashMap<Role, Vec<std::net::IpAddr>> = FxHashMap::default();
        let (mut members, mut tagged, mut shared, mut routes) =
            (Vec::new(), Vec::new(), Vec::new(), IpSet::new());
        for (i, d) in inventory.devices.iter().enumerate() {
            for route in d.subnet_routes() {
                routes.add_prefix(route);
            }
            if let Some(owner) = d.owner() {
                per_user.entry(owner).or_default().extend(&d.addresses);
                match inventory.standing(i, &users) {
                    Some(Standing::Shared) => shared.extend(&d.addresses),
                    Some(Standing::Member(role)) => {
                        members.extend(&d.addresses);
                        per_role.entry(role).or_default().extend(&d.addresses);
                    }
                    None => {}
                }
            } else {
                tagged.extend(&d.addresses);
                for t in &d.tags {
                    per_tag.entry(t.as_str()).or_default().extend(&d.addresses);
                }
            }
        }
        let mut r = Resolver {
            policy,
            inventory,
            user_devices: per_user
                .into_iter()
                .map(|(k, v)| (k, Arc::new(IpSet::from_addrs(v))))
                .collect(),
            tag_devices: per_tag
                .into_iter()
                .map(|(k, v)| (k, Arc::new(IpSet::from_addrs(v))))
                .collect(),
            members: Arc::new(IpSet::from_addrs(members)),
            tagged: Arc::new(IpSet::from_addrs(tagged)),
            shared: Arc::new(IpSet::from_addrs(shared)),
            wildcard_source: Arc::new(tailnet_space().union(&routes)),
            role_devices: per_role
                .into_iter()
                .map(|(k, v)| (k, IpSet::from_addrs(v)))
                .collect(),
            ipsets: FxHashMap::default(),
            groups: FxHashMap::default(),
            others: Default::default(),
        };
        for g in &policy.groups {
            let sets: Vec<IpSet> = g.members.iter().map(|m| r.user(m.value.trim())).collect();
            r.groups
                .insert(g.name.value.as_str(), Arc::new(IpSet::union_all(&sets)));
        }
        // Groups the identity provider defines, with the members the inventory gives them.
        for (g, logins) in &inventory.idp_groups {
            if !r.groups.contains_key(g.as_str()) {
                let sets: Vec<IpSet> = logins.iter().map(|m| r.user(m)).collect();
                r.groups
                    .insert(g.as_str(), Arc::new(IpSet::union_all(&sets)));
            }
        }
        for set in &policy.ipsets {
            let value = r.ipset_value(&set.name.value, 0);
            r.ipsets.insert(set.name.value.as_str(), Arc::new(value));
        }
        r
    }

    /// Devices of one user (untagged only).
    pub fn user(&self, login: &str) -> IpSet {
        self.user_devices
            .get(login)
            .map_or_else(IpSet::new, |s| IpSet::clone(s))
    }

    /// Devices of one user (untagged only), the set the resolver keeps; `None` for a user
    /// who owns no device.
    pub fn user_shared(&self, login: &str) -> Option<&Arc<IpSet>> {
        self.user_devices.get(login)
    }

    fn users_where(&self, keep: impl Fn(&str) -> bool) -> IpSet {
        IpSet::union_all(
            self.user_devices
                .iter()
                .filter(|(login, _)| keep(login))
                .map(|(_, ips)| &**ips),
        )
    }

    /// Devices of the holders of a role; the owner is also an admin.
    fn role(&self, role: Role) -> IpSet {
        let of = |r: Role| self.role_devices.get(&r).cloned().unwrap_or_default();
        if role == Role::Admin {
            of(Role::Admin).union(&of(Role::Owner))
        } else {
            of(role)
        }
    }

    /// Members of a group as logins.
    pub fn group_members(&self, group: &str) -> Vec<&'a str> {
        self.policy
            .group(group)
            .map(|g| g.members.iter().map(|m| m.value.trim()).collect())
            .unwrap_or_default()
    }

    /// Resolve a selector used as a source.
    pub fn source(&self, selector: &Selector) -> IpSet {
        match selector {
            Selector::Wildcard => IpSet::clone(&self.wildcard_source),
            Selector::Autogroup(Autogroup::DangerAll) => IpSet::all(),
            other => self.addresses(other),
        }
    }

    /// [`Resolver::source`] as a shared set: the one the resolver keeps.
    pub fn source_shared(&self, selector: &Selector) -> Arc<IpSet> {
        match selector {
            Selector::Wildcard => self.wildcard_source.clone(),
            // `autogroup:danger-all` is every address on either side.
            other => self.shared(other),
        }
    }

    /// Resolve a selector used as a destination.
    pub fn target(&self, selector: &Selector) -> Target {
        match selector {
            Selector::Wildcard => Target::Everything,
            Selector::Autogroup(Autogroup::SelfDevices) => Target::OwnDevices,
            other => Target::Addresses(self.shared(other)),
        }
    }

    /// [`Resolver::addresses`] as a shared set: each selector is resolved once, and every
    /// caller naming it holds the same set rather than a copy.
    pub fn shared(&self, selector: &Selector) -> Arc<IpSet> {
        if let Some(set) = self.resolved(selector) {
            return set.clone();
        }
        // A poisoned lock only means another thread panicked while inserting: the map
        // still holds whole entries.
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = others.get(selector) {
            return set.clone();
        }
        let set = Arc::new(self.addresses(selector));
        others.insert(selector.clone(), set.clone());
        set
    }

    /// The addresses of the selectors resolved once and kept (users, groups, tags, the
    /// member, tagged and shared autogroups, IP sets); the same on either side.
    fn resolved(&self, selector: &Selector) -> Option<&Arc<IpSet>> {
        match selector {
            Selector::User(login) => self.user_devices.get(login.as_str()),
            Selector::Group(g) => self.groups.get(g.as_str()),
            Selector::Tag(t) => self.tag_devices.get(t.as_str()),
            Selector::IpSet(name) => self.ipsets.get(name.as_str()),
            Selector::Autogroup(Autogroup::Member | Autogroup::Members) => Some(&self.members),
            Selector::Autogroup(Autogroup::Tagged) => Some(&self.tagged),
            Selector::Autogroup(Autogroup::Shared) => Some(&self.shared),
            _ => None,
        }
    }

    /// The addresses a selector names, on either side.
    pub fn addresses(&self, selector: &Selector) -> IpSet {
        match selector {
            Selector::Wildcard => tailnet_space().clone(),
            Selector::User(login) => self.user(login),
            Selector::UserDomain(domain) => {
                let suffix = format!("@{domain}");
                self.users_where(|login| login.ends_with(&suffix))
            }
            Selector::Group(g) => self
                .groups
                .get(g.as_str())
                .map_or_else(IpSet::new, |s| IpSet::clone(s)),
            Selector::Tag(t) => self
                .tag_devices
                .get(t.as_str())
                .map_or_else(IpSet::new, |s| IpSet::clone(s)),
            Selector::Autogroup(a) => match a {
                Autogroup::Member | Autogroup::Members => IpSet::clone(&self.members),
                Autogroup::Tagged => IpSet::clone(&self.tagged),
                Autogroup::Shared => IpSet::clone(&self.shared),
                Autogroup::Internet => internet().clone(),
                Autogroup::DangerAll => IpSet::all(),
                // The roles; `autogroup:self` and `autogroup:nonroot` name no addresses.
                other => Role::of_autogroup(*other).map_or_else(IpSet::new, |r| self.role(r)),
            },
            Selector::Host(_) | Selector::Prefix(_) | Selector::Range(..) => {
                named_addresses(self.policy, selector).unwrap_or_default()
            }
            Selector::IpSet(name) => self
                .ipsets
                .get(name.as_str())
                .map_or_else(IpSet::new, |s| IpSet::clone(s)),
            // Tailscale Services have addresses of their own, which the API's device
            // answers do not carry: only stand-ins give them one.
            Selector::Service(name) => self
                .inventory
                .services
                .get(name.as_str())
                .map(|a| IpSet::from_addrs(a.clone()))
                .unwrap_or_default(),
        }
    }

    fn ipset_value(&self, name: &str, depth: usize) -> IpSet {
        ipset_value(self.policy, name, depth, &|sel| self.addresses(sel))
    }
}

/// The addresses an address selector (host alias, IP or CIDR, range, ipset) names, from
/// the policy alone; `None` for a selector of any other kind.
pub fn named_addresses(policy: &Policy, selector: &Selector) -> Option<IpSet> {
    Some(match selector {
        Selector::Host(h) => policy
            .host(h)
            .and_then(|h| h.prefix)
            .map(|p| IpSet::from_prefix(&p))
            .unwrap_or_default(),
        Selector::Prefix(p) => IpSet::from_prefix(p),
        Selector::Range(x, y) => {
            let mut s = IpSet::new();
            s.add_range(*x, *y);
            s
        }
        Selector::IpSet(name) => ipset_addresses(policy, name),
        _ => return None,
    })
}

/// The addresses the ipset `name` holds, from the policy alone: its operations name
/// addresses, ranges, host aliases, other ipsets and `autogroup:internet` (TSA023 refuses
/// anything else), so the principal layer reads an ipset as the resolver does.
pub fn ipset_addresses(policy: &Policy, name: &str) -> IpSet {
    ipset_value(policy, name, 0, &|sel| match sel {
        Selector::Autogroup(Autogroup::Internet) => internet().clone(),
        sel => named_addresses(policy, sel).unwrap_or_default(),
    })
}

/// An ipset's operations applied in order; `other` gives the addresses of a target that
/// is no host alias or ipset.
fn ipset_value(
    policy: &Policy,
    name: &str,
    depth: usize,
    other: &dyn Fn(&Selector) -> IpSet,
) -> IpSet {
    let mut s = IpSet::new();
    let Some(def) = policy.ipset(name) else {
        return s;
    };
    if depth > 16 {
        return s; // A cycle; reported by validation.
    }
    for op in &def.ops {
        let text = op.value.trim();
        let (remove, target) = match text.split_once(' ') {
            Some(("add", t)) => (false, t.trim()),
            Some(("remove", t)) => (true, t.trim()),
            _ => (false, text),
        };
        let value = if let Some(host) = target.strip_prefix("host:") {
            policy
                .host(host)
                .and_then(|h| h.prefix)
                .map(|p| IpSet::from_prefix(&p))
                .unwrap_or_default()
        } else if target.starts_with("ipset:") {
            ipset_value(policy, target, depth + 1, other)
        } else {
            match Selector::parse(target) {
                Ok(sel) => other(&sel),
                Err(_) => IpSet::new(),
            }
        };
        s = if remove {
            s.subtract(&value)
        } else {
            s.union(&value)
        };
    }
    s
}

/// A device's own addresses as a set.
pub fn device_addresses(d: &super::inventory::Device) -> IpSet {
    let mut s = IpSet::new();
    for a in &d.addresses {
        s.union_with(&IpSet::from_addr(*a));
    }
    s
}

/// What a device accepts traffic for: its addresses and its approved routes (including
/// the default routes of an exit node).
pub fn device_space(d: &super::inventory::Device) -> IpSet {
    let mut s = device_addresses(d);
    for r in &d.enabled_routes {
        s.add_prefix(r);
    }
    s
}
