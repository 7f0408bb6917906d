//! Proof that reachability equals the intents: for every service, the principals that can
//! reach any of its devices in the final policy (base rules included), on any protocol
//! and port, are exactly those its `from` names, on exactly its ports.
//!
//! Decided symbolically, so it holds for any devices the tailnet may have:
//!
//! - **Who.** Every device the intents name, every user the policy names, every tag, and
//!   stand-ins for users nobody names (any other member, any user of a role the policy
//!   uses, any shared user, any other user of a `user:*@domain`); with an inventory, also
//!   its devices. Addresses a rule names as a source (a host alias, an IP, a CIDR, an
//!   ipset, the subnet routes `*` takes in) that are no device's are principals of their
//!   own, named as the rule writes them.
//! - **Reaching a service.** A destination reaches a service's devices through their tag,
//!   `*`, `autogroup:tagged` or `autogroup:danger-all`, or through an address: one that
//!   covers the tailnet's range (100.64.0.0/10 or fd7a:115c:a1e0::/48, where every device's
//!   address lies), or, with an inventory, the address of one of the service's devices.
//!   Without an inventory, an address inside the tailnet's range that covers only part of
//!   it may or may not be a service's: that is a warning (TSA103) saying that the
//!   inventory decides. `autogroup:self` never reaches a service: its devices are tagged.
//! - **On what.** Each rule's protocols and ports, compared as sets with the intent's:
//!   extra ports, protocols, or principals are errors (TSA113), one per rule and service,
//!   at the line the user wrote (the base file for base rules, the intent for compiled
//!   ones). An omitted protocol is the client's default: TCP, UDP, ICMP and ICMPv6.
//!   ICMP and ICMPv6 are implied for whoever may reach a service at all (the client
//!   answers pings between any two devices that have any access), so they are extra only
//!   for a principal the intent does not name.
//! - **What is not network access.** Grants with only `app` capabilities carry no ports
//!   (the control plane sends them without destinations), a `via` grant applies only to
//!   the routes of the devices with its tags (never to a device's own address), and `ssh`
//!   rules need a network rule as well; none of them lets a packet reach a service. The `tests` of the base file are run
//!   with the compiled policy's: they can only agree with a proven policy or fail.
//! - **Among themselves.** A service's own devices reaching each other (replicas) is not
//!   checked: the intent says who else may.
//! - **Assumed.** Without an inventory, a service's devices carry its tag and no other
//!   (what the operator gives a Service whose annotation `tsacl k8s --check` verified);
//!   with one, their real tags and addresses count as well.

use super::Intents;
use super::compile::{Compiled, RuleOrigin, selectors_for};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::engine::access::{AccessModel, Addressing, Dst, Id};
use crate::engine::inventory::{Inventory, Role, User, with_auto_approvals};
use crate::engine::reach::{
    Access, BOTH, EntryView, Families, Principal, Roles, Side, add, families, in_families, minus,
};
use crate::engine::resolve::{Resolver, tailnet_space};
use crate::engine::rules::Origin;
use crate::engine::{IpSet, diff::ANY_OTHER_MEMBER};
use crate::model::{Autogroup, Policy, PortRange, Protocol, Selector};
use crate::rules::Code;
use crate::syntax::Span;
use std::collections::{BTreeMap, HashMap};

/// Where the compiled policy's rules point: the intents, the base file (when there is one)
/// and the compiled output.
pub struct Files<'a> {
    pub intents: FileId,
    pub base: Option<FileId>,
    pub output: FileId,
    /// The base policy as written (its spans are in `base`), to cite a base rule's entry.
    pub base_policy: Option<&'a Policy>,
}

/// Why a destination entry reaches a service's devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A selector that takes in the service's tag (the tag, `*`, `autogroup:tagged`, ...).
    Identity,
    /// An address range that covers the tailnet's, where every device's address lies.
    CoversTailnet,
    /// The address of one of the service's devices in the inventory (its name).
    DeviceAddress(String),
}

/// A principal and what a rule lets it send to a service beyond its intent.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    pub principal: Principal,
    pub name: String,
    /// Whether `from` names it (then only ports and protocols are extra).
    pub intended: bool,
    pub access: Access,
}

/// A rule that opens a service beyond its intent.
#[derive(Clone, Debug, PartialEq)]
pub struct Extra {
    pub service: usize,
    pub rule: Origin,
    /// The first destination entry (in the compiled policy) that reaches the service.
    pub entry_span: Span,
    pub dst: String,
    pub via: Via,
    pub principals: Vec<Opened>,
}

/// A principal `from` names that cannot reach the service on all of its ports.
#[derive(Clone, Debug, PartialEq)]
pub struct Missing {
    pub service: usize,
    pub principal: Principal,
    pub name: String,
    pub access: Access,
    /// The `from` entry that names it (in the intents file).
    pub at: Span,
}

/// A rule whose destination address may be a service's, which only an inventory can tell,
/// and which would then open the service beyond its intent.
#[derive(Clone, Debug, PartialEq)]
pub struct Undecided {
    pub rule: Origin,
    pub entry_span: Span,
    pub dst: String,
    pub services: Vec<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Proof {
    pub extra: Vec<Extra>,
    pub missing: Vec<Missing>,
    pub undecided: Vec<Undecided>,
}

/// A `from` entry: where it is written, the intents device it names (if it does), and
/// the selectors it compiles to.
struct FromEntry {
    span: Span,
    device: Option<Principal>,
    selectors: Vec<Selector>,
}

/// What an entry opens, as the proof compares it: ports are 1-65535 for TCP, UDP and SCTP
/// (port 0 is no port); a protocol without ports is open when the entry says `*`, and is
/// then written as port 0 (how `tests` and the packet filter ask for it).
fn opened(e: &EntryView) -> Access {
    let mut raw = Access::new();
    e.add_access(&mut raw);
    let mut out = Access::new();
    for (proto, ranges) in raw {
        if has_ports(proto) {
            for (a, b) in ranges {
                if b >= 1 {
                    add(
                        &mut out,
                        proto,
                        PortRange {
                            first: a.max(1),
                            last: b,
                        },
                    );
                }
            }
        } else if ranges.iter().any(|&(a, _)| a == 0) {
            add(&mut out, proto, PortRange::single(0));
        }
    }
    out
}

fn has_ports(proto: u8) -> bool {
    [Protocol::TCP.0, Protocol::UDP.0, Protocol::SCTP.0].contains(&proto)
}

/// What intent ports (a service's, or a source's own) let a principal of `from` send
/// (ICMP, implied by any access, is added where it is compared: [`with_icmp`]).
fn ports_access(ports: &[super::ServicePort]) -> Access {
    let mut out = Access::new();
    for p in ports {
        let range = if has_ports(p.protocol.0) {
            p.range
        } else {
            PortRange::single(0)
        };
        add(&mut out, p.protocol.0, range);
    }
    out
}

fn with_icmp(mut access: Access) -> Access {
    for p in [Protocol::ICMP.0, Protocol::ICMPV6.0] {
        add(&mut access, p, PortRange::single(0));
    }
    access
}

/// Stand-ins for users nobody names, and the inventory they are written into (so that
/// roles and sharing answer for them).
fn stand_ins(policy: &Policy, inventory: &mut Inventory) -> Vec<(String, String)> {
    let mut out = vec![(ANY_OTHER_MEMBER.to_string(), ANY_OTHER_MEMBER.to_string())];
    let mut roles: Vec<Role> = Vec::new();
    let mut shared = false;
    let mut domains: Vec<String> = Vec::new();
    for s in policy.rule_selectors().filter_map(|s| s.selector.as_ref()) {
        match s {
            Selector::Autogroup(Autogroup::Shared) => shared = true,
            Selector::Autogroup(a) => {
                if let Some(r) = Role::of_autogroup(*a)
                    && !roles.contains(&r)
                {
                    roles.push(r);
                }
            }
            Selector::UserDomain(d) if !domains.contains(d) => domains.push(d.clone()),
            _ => {}
        }
    }
    let mut user = |login: String, name: String, role: Role, shared: bool| {
        inventory.users.push(User {
            login: login.clone(),
            role,
            shared,
        });
        out.push((login, name));
    };
    for r in roles {
        let name = format!("(any {})", r.name());
        user(name.clone(), name, r, false);
    }
    if shared {
        let name = "(any shared user)".to_string();
        user(name.clone(), name, Role::Member, true);
    }
    for d in domains {
        user(
            format!("(any other user)@{d}"),
            format!("(any other user @{d})"),
            Role::Member,
            false,
        );
    }
    // A group the identity provider syncs has members nobody here can list: one of them
    // stands for all, so that a rule from such a group reaches someone.
    let synced = crate::engine::structural::idp_groups(policy);
    for (g, login) in crate::engine::structural::join_idp_groups(inventory, synced) {
        if inventory.user(&login).is_none() {
            inventory.users.push(User {
                login: login.clone(),
                role: Role::Member,
                shared: false,
            });
        }
        out.push((login, format!("(any user of {g})")));
    }
    out
}

/// Decide, for every service, who can reach it beyond (or short of) its intent.
///
/// Answered from the engine's access model ([`AccessModel::with_addresses`]) over the
/// principals worth asking about: which entries reach a service's devices is its
/// `reaching` index (and, for address destinations, the addresses the model resolved);
/// who an entry's sources take in, and on which address families, its `takers`.
pub fn analyse(intents: &Intents, policy: &Policy, inventory: Option<&Inventory>) -> Proof {
    let mut inv = inventory
        .map(|i| with_auto_approvals(i, policy))
        .unwrap_or_default();
    let stand_in_users = stand_ins(policy, &mut inv);
    let inv = inv;
    let tailnet = tailnet_space();
    let routes = crate::engine::inventory::subnet_route_space(&inv, policy, inventory.is_some());
    let mut named_addresses = IpSet::new();
    for d in &intents.devices {
        if let Principal::Address(a) = d.principal() {
            named_addresses.union_with(&a);
        }
    }
    let mut inventory_addresses: HashMap<Principal, Vec<std::net::IpAddr>> = HashMap::new();
    for d in &inv.devices {
        inventory_addresses
            .entry(Principal::of_device(d))
            .or_default()
            .extend(&d.addresses);
    }
    let mut device_names: HashMap<Principal, Vec<&str>> = HashMap::new();
    for d in &intents.devices {
        device_names
            .entry(d.principal())
            .or_default()
            .push(d.name.value.as_str());
    }

    // Everyone worth asking about, numbered as the model numbers them.
    let mut universe: Vec<Principal> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<Principal> = std::collections::HashSet::new();
    let mut note = |p: Principal, name: String| {
        if seen.insert(p.clone()) {
            names.push(describe(&device_names, &p, &name));
            universe.push(p);
        }
    };
    for d in &intents.devices {
        note(d.principal(), d.name.value.clone());
    }
    for g in &policy.groups {
        for m in &g.members {
            let login = m.value.trim().to_string();
            note(Principal::User(login.clone()), login);
        }
    }
    for s in policy.rule_selectors().filter_map(|s| s.selector.as_ref()) {
        if let Selector::User(u) = s {
            note(Principal::User(u.clone()), u.clone());
        }
    }
    for (login, name) in stand_in_users {
        note(Principal::User(login), name);
    }
    for t in &policy.tag_owners {
        note(
            Principal::Tags(vec![t.tag.value.clone()]),
            t.tag.value.clone(),
        );
    }
    for d in &inv.devices {
        let p = Principal::of_device(d);
        let name = p.to_string();
        note(p, name);
    }

    let from_selectors: Vec<Vec<FromEntry>> = intents
        .services
        .iter()
        .map(|svc| {
            svc.from
                .iter()
                .map(|f| FromEntry {
                    span: f.span,
                    device: intents
                        .device(f.value.trim())
                        .map(super::DeviceIntent::principal),
                    selectors: selectors_for(intents, &f.value)
                        .iter()
                        .filter_map(|s| Selector::parse(s).ok())
                        .collect(),
                })
                .collect()
        })
        .collect();
    // The service's devices: any device with its tag; with an inventory, those it has.
    let mut tagged: HashMap<&str, Vec<&crate::engine::Device>> = HashMap::new();
    for d in &inv.devices {
        let mut tags: Vec<&str> = d.tags.iter().map(String::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        for t in tags {
            tagged.entry(t).or_default().push(d);
        }
    }
    let devices_of = |svc: &super::ServiceIntent| -> &[&crate::engine::Device] {
        tagged.get(svc.tag.as_str()).map_or(&[], Vec::as_slice)
    };
    let own_of: Vec<Vec<Principal>> = intents
        .services
        .iter()
        .map(|svc| {
            let mut own = vec![Principal::Tags(vec![svc.tag.clone()])];
            for d in devices_of(svc) {
                let p = Principal::of_device(d);
                if !own.contains(&p) {
                    own.push(p);
                }
            }
            own
        })
        .collect();

    debug_assert!(
        policy.acls.is_some() || policy.grants.is_some(),
        "a compiled policy always has grants, so it is never the default allow-all"
    );
    let resolver = Resolver::new(policy, &inv);
    let addressing = Addressing {
        resolver: &resolver,
        routes,
        held: inventory_addresses
            .into_iter()
            .map(|(p, a)| (p, IpSet::from_addrs(a)))
            .collect(),
    };
    // A service's own devices are in the model too (to find the entries that reach them)
    // but, when no one else is them, not asked about as sources.
    let asked = universe.len();
    let in_universe = |i: &Id| (*i as usize) < asked;
    let model = AccessModel::with_addresses(
        policy,
        &Roles::of(Some(&inv)),
        universe.into_iter().chain(own_of.iter().flatten().cloned()),
        from_selectors.iter().flatten().flat_map(|f| &f.selectors),
        &addressing,
    );
    let entries = model.entries();
    // Destinations written as addresses may reach any service (by its devices' addresses
    // or by covering the tailnet's range); the others reach those the model indexes.
    let address_destinations: Vec<usize> = (0..entries.len())
        .filter(
            |&e| matches!(model.destination(e), Dst::Set(s) if model.named_addresses(s).is_some()),
        )
        .collect();
    let mut opened_by: Vec<Option<Access>> = vec![None; entries.len()];

    let mut proof = Proof::default();
    for (k, svc) in intents.services.iter().enumerate() {
        let own: Vec<Id> = own_of[k].iter().filter_map(|p| model.id(p)).collect();
        let own_addresses: Vec<(String, IpSet)> = devices_of(svc)
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    IpSet::from_addrs(d.addresses.iter().copied()),
                )
            })
            .collect();
        // Whether entry `e`'s destination reaches the service (`Err` when only an
        // inventory could tell), and over which families. `autogroup:self` never does:
        // the service's devices are tagged.
        let reaches = |e: usize| -> Option<(Result<Via, ()>, Families)> {
            let Dst::Set(dst) = model.destination(e) else {
                return None;
            };
            let Some(set) = model.named_addresses(dst) else {
                return own
                    .iter()
                    .any(|&d| model.leads(e, d, d))
                    .then_some((Ok(Via::Identity), BOTH));
            };
            let mut f = model.covers(dst);
            let mut via = (f != 0).then_some(Via::CoversTailnet);
            for (name, a) in &own_addresses {
                let here = families(&a.intersect(set));
                if here != 0 {
                    f |= here;
                    via.get_or_insert_with(|| Via::DeviceAddress(name.clone()));
                }
            }
            if let Some(via) = via {
                return Some((Ok(via), f));
            }
            let unknown = set.intersect(tailnet).subtract(&named_addresses);
            (inventory.is_none() && !unknown.is_empty()).then(|| (Err(()), families(&unknown)))
        };
        // Who the intent names (at the first `from` entry that does), and the addresses
        // it names.
        let from_views = &from_selectors[k];
        let mut intended: BTreeMap<Id, Span> = BTreeMap::new();
        // What each named principal may send: the ports of every entry naming it (an
        // entry's own ports replace the service's for it).
        let mut intended_access: BTreeMap<Id, Access> = BTreeMap::new();
        for (
            j,
            FromEntry {
                span,
                device,
                selectors,
            },
        ) in from_views.iter().enumerate()
        {
            let by_device = device.as_ref().and_then(|p| model.id(p));
            let by_selector = selectors
                .iter()
                .filter_map(|s| model.set_of(s, Side::Src))
                .flat_map(|set| model.takers(set).map(|(i, _)| i));
            let access = ports_access(svc.ports_for(j));
            for i in by_device.into_iter().chain(by_selector).filter(in_universe) {
                intended.entry(i).or_insert(*span);
                merge(intended_access.entry(i).or_default(), &access);
            }
        }
        // The addresses `from` names, each with the ports the entries naming it give:
        // disjoint pieces, so that every address has exactly one allowance.
        let mut address_allowances: Vec<(IpSet, Access)> = Vec::new();
        for (j, entry) in from_views.iter().enumerate() {
            let named = entry_addresses(&model, entry);
            if named.is_empty() {
                continue;
            }
            let access = ports_access(svc.ports_for(j));
            let mut next: Vec<(IpSet, Access)> = Vec::new();
            let mut rest = named;
            for (set, allowed) in address_allowances {
                let both = set.intersect(&rest);
                let only = set.subtract(&rest);
                rest = rest.subtract(&set);
                if !both.is_empty() {
                    let mut a = allowed.clone();
                    merge(&mut a, &access);
                    next.push((both, a));
                }
                if !only.is_empty() {
                    next.push((only, allowed));
                }
            }
            if !rest.is_empty() {
                next.push((rest, access));
            }
            address_allowances = next;
        }
        let intended_addresses = from_views
            .iter()
            .fold(IpSet::new(), |s, e| s.union(&entry_addresses(&model, e)));
        let nothing = Access::new();

        // Per rule: what each principal gets (and, for undecided addresses, would get).
        struct PerRule<'x> {
            rule: Origin,
            entry_span: Span,
            dst: String,
            via: Result<Via, ()>,
            /// What each principal (by its number in the model) gets.
            access: BTreeMap<Id, Access>,
            /// Source addresses as written, what `from` lets them send if it names them,
            /// and what they get.
            unnamed: Vec<(String, IpSet, Option<&'x Access>, Access)>,
        }
        let mut per_rule: Vec<PerRule> = Vec::new();
        let mut total: BTreeMap<Id, Access> = BTreeMap::new();
        let mut relevant: Vec<usize> = address_destinations.clone();
        for &d in &own {
            relevant.extend(model.reaching(d).iter().map(|&e| e as usize));
        }
        relevant.sort_unstable();
        relevant.dedup();
        for e in relevant {
            let Some((via, reached)) = reaches(e) else {
                continue;
            };
            let entry = &entries[e];
            let opened = opened_by[e].get_or_insert_with(|| opened(entry));
            let at = match per_rule
                .iter()
                .position(|p| p.rule == entry.rule && p.via.is_ok() == via.is_ok())
            {
                Some(i) => i,
                None => {
                    per_rule.push(PerRule {
                        rule: entry.rule,
                        entry_span: entry.dst.span,
                        dst: entry.dst.raw.trim().to_string(),
                        via: via.clone(),
                        access: BTreeMap::new(),
                        unnamed: Vec::new(),
                    });
                    per_rule.len() - 1
                }
            };
            let sources = model.written_sources(e);
            for &(_, set) in sources {
                for (i, taken) in model.takers(set) {
                    if taken & reached == 0 || !in_universe(&i) || own.contains(&i) {
                        continue;
                    }
                    merge(per_rule[at].access.entry(i).or_default(), opened);
                    if via.is_ok() {
                        merge(total.entry(i).or_default(), opened);
                    }
                }
            }
            for &(at_src, set) in sources {
                let unheld = model.unheld(set);
                if unheld.is_empty() {
                    continue;
                }
                let raw = entry.src[at_src as usize].raw.trim();
                let reached_set = in_families(unheld, reached);
                let unnamed = reached_set.subtract(&intended_addresses);
                let mut parts: Vec<(IpSet, Option<&Access>)> = address_allowances
                    .iter()
                    .map(|(named, allowed)| (reached_set.intersect(named), Some(allowed)))
                    .collect();
                parts.push((unnamed, None));
                for (part, allowed) in parts {
                    if part.is_empty() {
                        continue;
                    }
                    let list = &mut per_rule[at].unnamed;
                    match list.iter_mut().find(|u| u.0 == raw && u.1 == part) {
                        Some(u) => merge(&mut u.3, opened),
                        None => list.push((raw.to_string(), part, allowed, opened.clone())),
                    }
                }
            }
        }
        let decided: Vec<Origin> = per_rule
            .iter()
            .filter(|p| p.via.is_ok())
            .map(|p| p.rule)
            .collect();
        for p in per_rule {
            let mut principals: Vec<Opened> = Vec::new();
            for (&i, access) in &p.access {
                let named = intended.contains_key(&i);
                let extra = match intended_access.get(&i) {
                    Some(allowed) => minus(access, &with_icmp(allowed.clone())),
                    None => access.clone(),
                };
                if !extra.is_empty() {
                    principals.push(Opened {
                        principal: model.principal(i).clone(),
                        name: names[i as usize].clone(),
                        intended: named,
                        access: extra,
                    });
                }
            }
            for (raw, set, allowed, access) in p.unnamed {
                let named = allowed.is_some();
                let extra = match allowed {
                    Some(allowed) => minus(&access, &with_icmp(allowed.clone())),
                    None => access,
                };
                if !extra.is_empty() {
                    principals.push(Opened {
                        principal: Principal::Address(set),
                        name: raw,
                        intended: named,
                        access: extra,
                    });
                }
            }
            if principals.is_empty() {
                continue;
            }
            // Who should not reach the service at all comes first.
            principals.sort_by_key(|o| o.intended);
            match p.via {
                Ok(via) => proof.extra.push(Extra {
                    service: k,
                    rule: p.rule,
                    entry_span: p.entry_span,
                    dst: p.dst,
                    via,
                    principals,
                }),
                // A rule that surely opens the service already has its error.
                Err(()) if decided.contains(&p.rule) => {}
                Err(()) => match proof
                    .undecided
                    .iter_mut()
                    .find(|u| u.rule == p.rule && u.entry_span == p.entry_span)
                {
                    Some(u) => u.services.push(k),
                    None => proof.undecided.push(Undecided {
                        rule: p.rule,
                        entry_span: p.entry_span,
                        dst: p.dst,
                        services: vec![k],
                    }),
                },
            }
        }
        for (&i, &at) in &intended {
            if own.contains(&i) {
                continue;
            }
            let allowed = intended_access.get(&i).unwrap_or(&nothing);
            let short = minus(allowed, total.get(&i).unwrap_or(&Access::new()));
            if !short.is_empty() {
                proof.missing.push(Missing {
                    service: k,
                    principal: model.principal(i).clone(),
                    name: names[i as usize].clone(),
                    access: short,
                    at,
                });
            }
        }
    }
    proof
}

/// The addresses a `from` entry names: a device known by its address, host aliases, IPs,
/// CIDRs and ipsets, and what `*` and `autogroup:danger-all` take in.
fn entry_addresses(model: &AccessModel, entry: &FromEntry) -> IpSet {
    let mut s = IpSet::new();
    if let Some(Principal::Address(a)) = &entry.device {
        s.union_with(a);
    }
    for sel in &entry.selectors {
        if let Some(set) = model.set_of(sel, Side::Src) {
            s.union_with(&model.source_addresses(set));
        }
    }
    s
}

fn merge(into: &mut Access, from: &Access) {
    for (proto, ranges) in from {
        for &(a, b) in ranges {
            add(into, *proto, PortRange { first: a, last: b });
        }
    }
}

/// Report every extra or missing principal, per service.
pub fn prove(
    intents: &Intents,
    policy: &Policy,
    compiled: &Compiled,
    files: &Files,
    inventory: Option<&Inventory>,
    diags: &mut Vec<Diagnostic>,
) {
    let proof = analyse(intents, policy, inventory);
    for x in &proof.extra {
        diags.push(extra_diagnostic(intents, policy, compiled, files, x));
    }
    funnel_beyond_intents(intents, policy, None, files, diags);
    for m in &proof.missing {
        let svc = &intents.services[m.service];
        diags.push(
            Diagnostic::new(
                Code::MissingAccess,
                Location {
                    file: files.intents,
                    span: m.at,
                },
                format!(
                    "{} may reach {} on {} by the intents, but the policy does not allow it",
                    m.name,
                    svc.name.value,
                    access_text(&m.access)
                ),
            )
            .with_help("a base rule or definition narrows what the intent compiles to; check the names it uses"),
        );
    }
    for u in &proof.undecided {
        let (location, rule) =
            rule_location(intents, policy, compiled, files, u.rule, u.entry_span);
        let names: Vec<&str> = u
            .services
            .iter()
            .map(|k| intents.services[*k].name.value.as_str())
            .collect();
        let mut d = Diagnostic::new(
            Code::ProofUndecided,
            location,
            format!(
                "`{}` may be the address of a device of {}, which {rule} would then open beyond the intents",
                u.dst,
                list_and(&names)
            ),
        );
        d.primary_label = Some("part of the tailnet's address range".into());
        d.help = Some(
            "pass --inventory (saved with `tsacl pull --inventory FILE`) so the proof knows the services' addresses, \
             or name the destination by its tag"
                .into(),
        );
        diags.push(d);
    }
}

/// TSA133: Funnel on the devices of a service whose intent does not ask for it opens the
/// service to the internet, whatever its `from` says. One finding per `nodeAttrs` entry,
/// naming every such service; cited in the base where the entry was written there, else
/// in the output.
///
/// With `compiled_now` (a committed file proven as it is), entries the compiled policy
/// has too are left out: reported there.
fn funnel_beyond_intents(
    intents: &Intents,
    policy: &Policy,
    compiled_now: Option<&Policy>,
    files: &Files,
    diags: &mut Vec<Diagnostic>,
) {
    // Entry index → its target that takes them in, and the services.
    let mut by_entry: BTreeMap<usize, (&crate::model::Sel, Vec<&super::ServiceIntent>)> =
        BTreeMap::new();
    for svc in intents.services.iter().filter(|s| s.funnel.is_none()) {
        let node = Principal::Tags(vec![svc.tag.clone()]);
        for (i, target) in crate::lint::operator::funnel_entries(policy, &node) {
            by_entry
                .entry(i)
                .or_insert((target, Vec::new()))
                .1
                .push(svc);
        }
    }
    let texts = |e: &crate::model::NodeAttr| -> (Vec<String>, Vec<String>) {
        (
            e.attr.iter().map(|a| a.value.trim().to_string()).collect(),
            e.target.iter().map(|t| t.raw.trim().to_string()).collect(),
        )
    };
    for (i, (target, services)) in by_entry {
        let entry = &policy.node_attrs[i];
        if compiled_now.is_some_and(|now| now.node_attrs.iter().any(|n| texts(n) == texts(entry))) {
            continue;
        }
        let in_base = files.base.zip(files.base_policy).and_then(|(file, base)| {
            let same = base.node_attrs.iter().find(|b| texts(b) == texts(entry))?;
            let t = same
                .target
                .iter()
                .find(|t| t.raw.trim() == target.raw.trim())?;
            Some(Location { file, span: t.span })
        });
        let location = in_base.unwrap_or(Location {
            file: files.output,
            span: target.span,
        });
        let names: Vec<&str> = services.iter().map(|s| s.name.value.as_str()).collect();
        let tags: Vec<&str> = services.iter().map(|s| s.tag.as_str()).collect();
        let (their, intent_does) = if services.len() == 1 {
            ("its", "its intent does")
        } else {
            ("their", "their intents do")
        };
        let mut d = Diagnostic::new(
            Code::FunnelBeyondIntent,
            location,
            format!(
                "the internet may reach {} through Funnel: nodeAttrs[{i}] gives {their} devices the funnel attribute, which {intent_does} not ask for",
                list_and_capped(&names)
            ),
        );
        d.primary_label = Some(format!(
            "`{}` takes in the devices of {} ({})",
            target.raw.trim(),
            list_and_capped(&names),
            list_and_capped(&tags)
        ));
        for svc in &services {
            d.labels.push(Label {
                location: Location {
                    file: files.intents,
                    span: svc.name.span,
                },
                message: format!("{} has no `funnel`", svc.name.value),
            });
        }
        d.help = Some(format!(
            "target only the nodes meant to terminate Funnel, or give {} `funnel: true` if the internet is meant to reach {}",
            if services.len() == 1 {
                "the service"
            } else {
                "each service"
            },
            if services.len() == 1 { "it" } else { "them" },
        ));
        diags.push(d);
    }
}

/// The proof on a stale output (`disk`, the file as committed, in `files.output`): what it
/// opens that the policy the intents compile to (`now`) does not, each TSA113 at the line
/// of `disk` that was edited (the first of `edited`, offsets of lines
/// `tsacl compile` would discard, inside the rule; else the rule's destination entry).
pub fn prove_hand_edits(
    intents: &Intents,
    disk: &Policy,
    now: &Policy,
    files: &Files,
    inventory: Option<&Inventory>,
    edited: &[usize],
    diags: &mut Vec<Diagnostic>,
) {
    let on_disk = analyse(intents, disk, inventory);
    let compiled_now = analyse(intents, now, inventory);
    // The rules of the file on disk come from no intent: cite them where they are.
    let unmapped = Compiled {
        text: Vec::new(),
        grant_origins: Vec::new(),
        acl_origins: Vec::new(),
        written: Vec::new(),
    };
    for x in &on_disk.extra {
        if compiled_now
            .extra
            .iter()
            .any(|y| y.service == x.service && y.principals == x.principals)
        {
            continue; // The intents' own policy has it too: reported there.
        }
        let mut d = extra_diagnostic(intents, disk, &unmapped, files, x);
        let rule_span = match x.rule {
            Origin::Grant(i) => disk.grants.iter().flatten().nth(i).map(|g| g.span),
            Origin::Acl(i) => disk.acls.iter().flatten().nth(i).map(|a| a.span),
            Origin::Default => None,
        };
        if let Some(rule) = rule_span
            && let Some(&at) = edited
                .iter()
                .find(|&&o| rule.start as usize <= o && o < rule.end as usize)
        {
            d.primary.span = Span::new(at, at);
        }
        d.message = format!(
            "{}, in the committed file (not what the intents compile to: edited by hand, or behind them)",
            d.message
        );
        d.help = Some(format!(
            "`tsacl compile` undoes the edit; if {} is meant for them, say so in its intent (`from`, `ports`) and compile",
            intents.services[x.service].name.value
        ));
        diags.push(d);
    }
    // Funnel the committed file gives beyond what the compiled policy does.
    let mut disk_funnel = Vec::new();
    funnel_beyond_intents(intents, disk, Some(now), files, &mut disk_funnel);
    for mut d in disk_funnel {
        d.message = format!(
            "{}, in the committed file (not what the intents compile to: edited by hand, or behind them)",
            d.message
        );
        diags.push(d);
    }
}

pub(super) fn extra_diagnostic(
    intents: &Intents,
    policy: &Policy,
    compiled: &Compiled,
    files: &Files,
    x: &Extra,
) -> Diagnostic {
    let svc = &intents.services[x.service];
    let (location, rule) = rule_location(intents, policy, compiled, files, x.rule, x.entry_span);
    // Principals with the same extra access read as one clause.
    let mut groups: Vec<(&Access, Vec<&str>)> = Vec::new();
    for p in &x.principals {
        match groups.iter_mut().find(|(a, _)| **a == p.access) {
            Some((_, names)) => names.push(&p.name),
            None => groups.push((&p.access, vec![&p.name])),
        }
    }
    let clauses: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, (access, names))| {
            let who = list_and_capped(names);
            if i == 0 {
                format!(
                    "{who} can reach {} on {}",
                    svc.name.value,
                    access_text(access)
                )
            } else {
                format!("{who} on {}", access_text(access))
            }
        })
        .collect();
    let mut d = Diagnostic::new(
        Code::ExtraAccess,
        location,
        format!("{}, which the intents do not allow", clauses.join("; ")),
    );
    d.primary_label = Some(match &x.via {
        Via::Identity => format!(
            "{rule} opens the way: `{}` takes in {}'s devices ({})",
            x.dst, svc.name.value, svc.tag
        ),
        Via::CoversTailnet => format!(
            "{rule} opens the way: `{}` covers the tailnet's addresses, {}'s among them",
            x.dst, svc.name.value
        ),
        Via::DeviceAddress(device) => format!(
            "{rule} opens the way: `{}` is the address of {device}, a device of {}",
            x.dst, svc.name.value
        ),
    });
    let from: Vec<&str> = svc.from.iter().map(|f| f.value.trim()).collect();
    let ports: Vec<String> = svc.ports.iter().map(|p| p.grant_text()).collect();
    d.labels.push(Label {
        location: Location {
            file: files.intents,
            span: svc.name.span,
        },
        message: if from.is_empty() {
            format!("{} is for nobody", svc.name.value)
        } else if svc.has_source_ports() {
            format!("{} is only for {}", svc.name.value, svc.intended_text())
        } else {
            format!(
                "{} is only for {}, on {}",
                svc.name.value,
                list_and(&from),
                ports.join(", ")
            )
        },
    });
    let mut help = if x.principals.iter().all(|p| p.intended) {
        format!(
            "narrow {rule} to {}'s ports, or add the ports to its `ports`",
            svc.name.value
        )
    } else {
        format!(
            "narrow {rule} so it does not take them in or does not reach {}, or add them to its `from`",
            svc.name.value
        )
    };
    if let [one] = &x.principals[..]
        && let Some(entry) = source_ports_entry(intents, svc, one)
    {
        help.push_str(&format!(
            "; to give only {} these ports, write it in `from` as {entry}",
            one.name
        ));
    }
    d.help = Some(help);
    d
}

/// A `from` entry giving one principal the ports a rule opens to it (beside those the
/// intent gives it): `{ source: "clanker-001", ports: [6379, 6380] }`. `None` for a
/// principal the intents cannot name, or access that is not a few ports.
fn source_ports_entry(
    intents: &Intents,
    svc: &super::ServiceIntent,
    opened: &Opened,
) -> Option<String> {
    let source = match intents
        .devices
        .iter()
        .find(|d| d.principal() == opened.principal)
    {
        Some(d) => d.name.value.clone(),
        None => match &opened.principal {
            Principal::Tags(tags) if tags.len() == 1 => tags[0].clone(),
            Principal::User(u) if let Some(g) = crate::engine::structural::idp_group_of(u) => g,
            Principal::User(u) if u.contains('@') && !u.contains(['(', ' ']) => u.clone(),
            _ => return None,
        },
    };
    let mut ports: Vec<String> = Vec::new();
    let push = |ports: &mut Vec<String>, proto: Protocol, first: u16, last: u16| {
        let range = PortRange { first, last };
        let text = if proto == Protocol::TCP && first == last {
            first.to_string()
        } else {
            format!("\"{proto}:{range}\"")
        };
        if !ports.contains(&text) {
            ports.push(text);
        }
    };
    if opened.intended {
        // What the entries naming it give it now (the service's ports, or its own).
        for (j, f) in svc.from.iter().enumerate() {
            if selectors_for(intents, &f.value).len() == 1 && f.value.trim() == source {
                for p in svc.ports_for(j) {
                    push(&mut ports, p.protocol, p.range.first, p.range.last);
                }
            }
        }
        if ports.is_empty() {
            return None; // Named through a group or a broader entry: no single entry to edit.
        }
    }
    for (proto, ranges) in &opened.access {
        if !has_ports(*proto) {
            continue; // ICMP comes with any access.
        }
        for &(a, b) in ranges {
            if u32::from(b) - u32::from(a) >= 1024 {
                return None;
            }
            push(&mut ports, Protocol(*proto), a, b);
        }
    }
    Some(format!(
        "{{ source: {}, ports: [{}] }}",
        serde_json::to_string(&source).ok()?,
        ports.join(", ")
    ))
}

/// `tcp:22, tcp:6000-6378, udp:*, icmp`: protocols with ports first.
pub fn access_text(a: &Access) -> String {
    let mut parts = Vec::new();
    let mut protocols: Vec<(&u8, &Vec<(u16, u16)>)> = a.iter().collect();
    protocols.sort_by_key(|(p, _)| (!has_ports(**p), **p));
    for (proto, ranges) in protocols {
        let name = Protocol(*proto).to_string();
        if !has_ports(*proto) {
            parts.push(name);
            continue;
        }
        for &(lo, hi) in ranges {
            let r = if lo <= 1 && hi == 65535 {
                "*".to_string()
            } else {
                PortRange {
                    first: lo,
                    last: hi,
                }
                .to_string()
            };
            parts.push(format!("{name}:{r}"));
        }
    }
    parts.join(", ")
}

fn list_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// At most eight names, then how many more.
fn list_and_capped(items: &[&str]) -> String {
    const SHOWN: usize = 8;
    if items.len() <= SHOWN {
        return list_and(items);
    }
    format!(
        "{} and {} more",
        items[..SHOWN].join(", "),
        items.len() - SHOWN
    )
}

/// How a principal reads: an intents device by its name, a stand-in by what it stands for.
fn describe(device_names: &HashMap<Principal, Vec<&str>>, p: &Principal, name: &str) -> String {
    match (p, device_names.get(p)) {
        (Principal::User(u), Some(names)) => format!("{} ({u})", names.join(", ")),
        (Principal::Tags(tags), Some(names)) => {
            format!("{} ({})", names.join(", "), tags.join("+"))
        }
        (Principal::Address(a), Some(names)) => format!("{} ({a})", names.join(", ")),
        (Principal::Tags(tags), None) => tags.join("+"),
        (_, None) => name.to_string(),
    }
}

/// Where a rule of the compiled policy was written, and what to call it: a base rule at
/// its destination entry in the base file, a generated rule at its intent, else the
/// compiled policy.
fn rule_location(
    intents: &Intents,
    policy: &Policy,
    compiled: &Compiled,
    files: &Files,
    rule: Origin,
    entry: Span,
) -> (Location, String) {
    let (mapped, position) = match rule {
        Origin::Grant(i) => (
            compiled.grant_origins.get(i),
            policy
                .grants
                .iter()
                .flatten()
                .nth(i)
                .and_then(|g| g.dst.iter().position(|d| d.span == entry)),
        ),
        Origin::Acl(i) => (
            compiled.acl_origins.get(i),
            policy
                .acls
                .iter()
                .flatten()
                .nth(i)
                .and_then(|a| a.dst.iter().position(|d| d.host.span == entry)),
        ),
        Origin::Default => (None, None),
    };
    match (mapped, files.base) {
        (Some(RuleOrigin::Base(span)), Some(base)) => {
            let written = files.base_policy.and_then(|b| match rule {
                Origin::Grant(_) => b
                    .grants
                    .iter()
                    .flatten()
                    .find(|g| g.span == *span)
                    .and_then(|g| g.dst.get(position?))
                    .map(|d| d.span),
                Origin::Acl(_) => b
                    .acls
                    .iter()
                    .flatten()
                    .find(|a| a.span == *span)
                    .and_then(|a| a.dst.get(position?))
                    .map(|d| d.span),
                Origin::Default => None,
            });
            (
                Location {
                    file: base,
                    span: written.unwrap_or(*span),
                },
                "this base rule".into(),
            )
        }
        (Some(RuleOrigin::Service(k)), _) => match intents.services.get(*k) {
            Some(s) => (
                Location {
                    file: files.intents,
                    span: s.name.span,
                },
                format!("the `{}` intent", s.name.value),
            ),
            None => (
                Location {
                    file: files.output,
                    span: entry,
                },
                rule.to_string(),
            ),
        },
        _ => (
            Location {
                file: files.output,
                span: entry,
            },
            rule.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::reach::admits;

    #[test]
    fn access_reads_like_grant_ip_entries() {
        let mut a = Access::new();
        add(&mut a, 6, PortRange { first: 1, last: 21 });
        add(&mut a, 6, PortRange::single(6380));
        add(
            &mut a,
            17,
            PortRange {
                first: 1,
                last: 65535,
            },
        );
        add(&mut a, 1, PortRange::single(0));
        assert_eq!(access_text(&a), "tcp:1-21, tcp:6380, udp:*, icmp");
        assert!(admits(&a, 6, 21) && !admits(&a, 6, 22) && admits(&a, 1, 0));
    }

    #[test]
    fn names_are_listed_and_capped() {
        assert_eq!(list_and(&["a"]), "a");
        assert_eq!(list_and(&["a", "b", "c"]), "a, b and c");
        let many: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            list_and_capped(&refs),
            "t0, t1, t2, t3, t4, t5, t6, t7 and 2 more"
        );
    }
}
