//! Tailscale SSH needs network access: an `ssh` rule lets its sources log in on its
//! destinations only when some ACL or grant also lets them reach those devices on TCP port
//! 22 (Tailscale's policy reference: "a connection also needs network access to port 22";
//! `sshTests` evaluate only the `ssh` rules, so they pass without it).
//!
//! Decided symbolically, on principals (see [`super::reach`]): each source selector of a
//! rule stands for the users or tags it names, and a broad selector (`autogroup:member`,
//! `autogroup:tagged`, `user:*@domain`, a role) for the principals the policy names in it
//! plus a stand-in for the ones it does not. A pair lacks access only when *none* of the
//! principals it stands for can reach port 22; an address rule that may or may not hold
//! the devices (a host alias, an IP, a CIDR, an ipset) leaves the pair undecided, never
//! lacking. So a reported pair surely cannot connect, whatever the devices, for devices
//! that carry the pair's tag alone (a tag is read as a device carrying only it, as the
//! intents proof reads a service's tag: another tag of the same device may open port 22
//! through rules of its own). `tests/reach_property.rs` checks this against the concrete
//! engine on random policies, `tests/conformance_ssh_access.rs` on the captures.

use super::access::{AccessModel, Dst, Id};
use super::diff::ANY_OTHER_MEMBER;
use super::inventory::{Inventory, Role, User};
use super::reach::{EntryView, Principal, Roles, Side, contains};
use crate::model::{Autogroup, Policy, Selector, SshRule};
use crate::syntax::Span;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// Whether the network lets a source reach a destination on TCP port 22.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some rule opens it for every device of the source and the destination.
    Open,
    /// No rule does.
    Closed,
    /// Only a rule naming addresses might: which devices they are is not known here.
    Undecided,
}

/// A source and a destination of an `ssh` rule that cannot reach each other on port 22.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// Who cannot connect: a user, a tag, or a stand-in ("(any other member)").
    pub from: String,
    /// Where: a tag, a user's devices, or "their own devices" for `autogroup:self`.
    pub to: String,
}

/// An `ssh` rule some of whose source/destination pairs have no network access to port 22.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Its index in the policy's `ssh` section.
    pub rule: usize,
    pub span: Span,
    /// The pairs that lack it, in the order the rule writes its selectors.
    pub pairs: Vec<Pair>,
    /// Whether every pair of the rule lacks it (then the rule does nothing at all).
    pub all: bool,
}

/// The tailnet's owner, whoever it is: there is always one, and it is a member.
const OWNER_STAND_IN: &str = "(the owner)";

/// What one selector of an `ssh` rule stands for: a name, and the principals of which at
/// least one must get through. A broad selector's list is shared by every rule naming it
/// ([`Lists`]): with thousands of named users, one copy per rule was quadratic.
struct Unit {
    name: String,
    candidates: Arc<[Principal]>,
}

/// The candidate lists of broad selectors, each built once per policy.
struct Lists<'p> {
    policy: &'p Policy,
    inventory: Option<&'p Inventory>,
    named: Option<Vec<String>>,
    built: FxHashMap<String, Arc<[Principal]>>,
}

impl<'p> Lists<'p> {
    fn new(policy: &'p Policy, inventory: Option<&'p Inventory>) -> Self {
        Lists {
            policy,
            inventory,
            named: None,
            built: FxHashMap::default(),
        }
    }

    fn named(&mut self) -> &[String] {
        self.named.get_or_insert_with(|| named_users(self.policy))
    }

    /// The list `key` names, built by `build` from the named users on first use.
    fn get(
        &mut self,
        key: &str,
        build: impl FnOnce(&[String], &'p Policy, Option<&'p Inventory>) -> Vec<Principal>,
    ) -> Arc<[Principal]> {
        if let Some(list) = self.built.get(key) {
            return list.clone();
        }
        let (policy, inventory) = (self.policy, self.inventory);
        let list: Arc<[Principal]> = build(self.named(), policy, inventory).into();
        self.built.insert(key.to_string(), list.clone());
        list
    }
}

/// Stand-in users for the roles and standings `ssh` sources name, added to a copy of the
/// inventory's users so that [`Roles`] answers for them.
fn stand_in_users(policy: &Policy, inventory: Option<&Inventory>) -> Inventory {
    let mut inv = Inventory {
        users: inventory.map(|i| i.users.clone()).unwrap_or_default(),
        ..Default::default()
    };
    for r in &policy.ssh {
        for s in r.src.iter().filter_map(|s| s.selector.as_ref()) {
            // Every tailnet has an owner, and the owner is a member and an admin: a rule
            // that lets the owner through lets `autogroup:member` (`autogroup:admin`)
            // through for someone.
            let owner_counts = matches!(
                s,
                Selector::Autogroup(Autogroup::Member | Autogroup::Members | Autogroup::Admin)
            );
            if owner_counts && !inv.users.iter().any(|u| u.login == OWNER_STAND_IN) {
                inv.users.push(User {
                    login: OWNER_STAND_IN.into(),
                    role: Role::Owner,
                    shared: false,
                });
            }
            // The stand-ins for users the policy does not name hold no role: roles are
            // met through their own stand-ins ("(any admin)").
            let other = match s {
                Selector::Autogroup(Autogroup::Member | Autogroup::Members) => {
                    Some(ANY_OTHER_MEMBER.to_string())
                }
                Selector::UserDomain(d) => Some(format!("(any other user)@{d}")),
                _ => None,
            };
            if let Some(login) = other
                && !inv.users.iter().any(|u| u.login == login)
            {
                inv.users.push(User {
                    login,
                    role: Role::Member,
                    shared: false,
                });
            }
            match s {
                Selector::Autogroup(Autogroup::Shared) => inv.users.push(User {
                    login: "(any shared user)".into(),
                    role: Role::Member,
                    shared: true,
                }),
                Selector::Autogroup(a) => {
                    if let Some(role) = Role::of_autogroup(*a) {
                        inv.users.push(User {
                            login: format!("(any {})", role.name()),
                            role,
                            shared: false,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    inv
}

/// The users the policy names (in groups and as rule selectors).
fn named_users(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = policy
        .groups
        .iter()
        .flat_map(|g| &g.members)
        .map(|m| m.value.trim().to_string())
        .chain(policy.rule_selectors().filter_map(|s| match &s.selector {
            Some(Selector::User(u)) => Some(u.clone()),
            _ => None,
        }))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every tag the policy defines, each as a device carrying only it, and a device with a
/// tag the policy does not name.
fn any_tagged(policy: &Policy) -> Vec<Principal> {
    policy
        .tag_owners
        .iter()
        .map(|t| Principal::Tags(vec![t.tag.value.clone()]))
        .chain([Principal::Tags(vec!["(any other tag)".into()])])
        .collect()
}

/// Who a role autogroup may stand for: the users the policy names whose role the inventory
/// does not rule out (without one, any of them may hold it, as the offline tests read
/// them), the owner for `autogroup:admin` (the owner is an admin), and a stand-in for
/// the users the policy does not name.
fn role_candidates(named: &[String], inventory: Option<&Inventory>, role: Role) -> Vec<Principal> {
    let known = inventory.map(Inventory::users_by_login);
    named
        .iter()
        .filter(
            |login| match known.as_ref().and_then(|k| k.get(login.as_str())) {
                None => true,
                Some(u) => u.role == role || (role == Role::Admin && u.role == Role::Owner),
            },
        )
        .cloned()
        .chain((role == Role::Admin).then(|| OWNER_STAND_IN.to_string()))
        .chain([format!("(any {})", role.name())])
        .map(Principal::User)
        .collect()
}

fn source_units(lists: &mut Lists, sel: &Selector, raw: &str) -> Vec<Unit> {
    let one = |name: &str, p: Principal| Unit {
        name: name.to_string(),
        candidates: Arc::from([p]),
    };
    let broad = |candidates: Arc<[Principal]>| {
        vec![Unit {
            name: raw.to_string(),
            candidates,
        }]
    };
    let policy = lists.policy;
    match sel {
        Selector::User(u) => vec![one(u, Principal::User(u.clone()))],
        Selector::Group(g) => super::structural::group_logins(policy, g)
            .map(|login| one(&login, Principal::User(login.to_string())))
            .collect(),
        Selector::Tag(t) => vec![one(t, Principal::Tags(vec![t.clone()]))],
        Selector::Autogroup(Autogroup::Member | Autogroup::Members) => {
            broad(lists.get("autogroup:member", |named, _, _| {
                named
                    .iter()
                    .cloned()
                    .chain([ANY_OTHER_MEMBER.to_string(), OWNER_STAND_IN.to_string()])
                    .map(Principal::User)
                    .collect()
            }))
        }
        Selector::UserDomain(d) => broad(lists.get(raw, |named, _, _| {
            named
                .iter()
                .filter(|u| u.rsplit_once('@').is_some_and(|(_, ud)| ud == d))
                .cloned()
                .chain([format!("(any other user)@{d}")])
                .map(Principal::User)
                .collect()
        })),
        Selector::Autogroup(Autogroup::Tagged) => {
            broad(lists.get("autogroup:tagged", |_, policy, _| any_tagged(policy)))
        }
        Selector::Autogroup(Autogroup::Shared) => {
            vec![one(raw, Principal::User("(any shared user)".into()))]
        }
        Selector::Autogroup(a) => match Role::of_autogroup(*a) {
            Some(role) => broad(lists.get(raw, |named, _, inventory| {
                role_candidates(named, inventory, role)
            })),
            None => Vec::new(),
        },
        // Not an SSH source the control plane accepts: validation reports it.
        _ => Vec::new(),
    }
}

/// A destination selector's principals, or `None` for `autogroup:self` (each source's own
/// devices) and for what is no SSH destination.
enum DstUnit {
    Fixed(Unit),
    OwnDevices,
}

fn destination_unit(lists: &mut Lists, sel: &Selector, raw: &str) -> Option<DstUnit> {
    Some(match sel {
        Selector::Tag(t) => DstUnit::Fixed(Unit {
            name: t.clone(),
            candidates: Arc::from([Principal::Tags(vec![t.clone()])]),
        }),
        Selector::User(u) => DstUnit::Fixed(Unit {
            name: u.clone(),
            candidates: Arc::from([Principal::User(u.clone())]),
        }),
        Selector::Autogroup(Autogroup::Tagged) => DstUnit::Fixed(Unit {
            name: raw.to_string(),
            candidates: lists.get("autogroup:tagged", |_, policy, _| any_tagged(policy)),
        }),
        Selector::Autogroup(Autogroup::SelfDevices) => DstUnit::OwnDevices,
        _ => return None,
    })
}

/// Where a fixed destination's list lives (the memo's key).
fn key_of(d: &DstUnit) -> usize {
    match d {
        DstUnit::Fixed(u) => u.candidates.as_ptr() as usize,
        DstUnit::OwnDevices => 0,
    }
}

fn opens_tcp_22(e: &EntryView) -> bool {
    let tcp = match e.protocol {
        None => true,
        Some(p) => p.0 == 6,
    };
    tcp && e.ports.iter().any(|r| r.contains(22))
}

/// Whether a selector names addresses (which devices hold them is not known here).
fn is_address(sel: Option<&Selector>) -> bool {
    sel.is_some_and(Selector::names_addresses)
}

/// Which principals reach which on TCP port 22, answered from the access model: the
/// entries that open tcp:22, and what their address selectors leave undecided.
struct Port22<'m, 'p> {
    model: &'m AccessModel<'p>,
    /// Per entry: whether it opens tcp:22.
    opens: Vec<bool>,
    /// Per entry: whether a source selector names addresses.
    address_sources: Vec<bool>,
    /// Per principal: whether the sources of an entry opening tcp:22 to *addresses* take it
    /// in (which devices hold those addresses is not known here).
    to_addresses: Vec<bool>,
    /// Whether such an entry also names addresses as sources: anyone may be among them.
    to_addresses_from_addresses: bool,
    /// Whether an `autogroup:self` entry opening tcp:22 names addresses as sources.
    own_devices_from_addresses: bool,
}

impl<'m, 'p> Port22<'m, 'p> {
    fn new(model: &'m AccessModel<'p>) -> Self {
        let entries = model.entries();
        let opens: Vec<bool> = entries.iter().map(opens_tcp_22).collect();
        let address_sources: Vec<bool> = entries
            .iter()
            .map(|e| e.src.iter().any(|s| is_address(s.selector.as_ref())))
            .collect();
        let mut to_addresses = vec![false; model.principals().len()];
        let mut to_addresses_from_addresses = false;
        let mut own_devices_from_addresses = false;
        let mut seen_sets = rustc_hash::FxHashSet::default();
        for (e, entry) in entries.iter().enumerate() {
            if !opens[e] {
                continue;
            }
            if model.destination(e) == Dst::OwnDevices {
                own_devices_from_addresses |= address_sources[e];
                continue;
            }
            if !is_address(entry.dst.selector.as_ref()) {
                continue;
            }
            to_addresses_from_addresses |= address_sources[e];
            for &set in model.source_sets(e) {
                if seen_sets.insert(set) {
                    for &p in model.set(set) {
                        to_addresses[p as usize] = true;
                    }
                }
            }
        }
        Port22 {
            model,
            opens,
            address_sources,
            to_addresses,
            to_addresses_from_addresses,
            own_devices_from_addresses,
        }
    }

    /// Whether the network lets `src` reach `dst` on TCP port 22 (the default allow-all of
    /// a policy with neither `acls` nor `grants` included). An entry opens it when its
    /// sources take in `src` and its destination `dst`; an address selector on either side
    /// leaves it undecided.
    fn verdict(&self, src: Id, dst: Id) -> Verdict {
        let m = self.model;
        if m.allows_all() {
            return Verdict::Open;
        }
        let mut verdict = Verdict::Closed;
        for &e in m.reaching(dst) {
            let e = e as usize;
            if !self.opens[e] || !m.leads(e, src, dst) {
                continue;
            }
            if m.sources_include(e, src) {
                return Verdict::Open;
            }
            if self.address_sources[e] {
                verdict = Verdict::Undecided;
            }
        }
        let own_devices = src == dst && matches!(m.principal(dst), Principal::User(_));
        if self.to_addresses[src as usize]
            || self.to_addresses_from_addresses
            || (own_devices && self.own_devices_from_addresses)
        {
            verdict = Verdict::Undecided;
        }
        verdict
    }
}

impl Port22<'_, '_> {
    /// Whether no source in `from` (`members` holds the same ids) reaches `dst` on port 22,
    /// nor may: `from.iter().all(|&a| self.verdict(a, dst) == Verdict::Closed)`, answered
    /// from the entries reaching `dst`, each asked about the smaller of its sources and
    /// `from`, rather than source by source (`autogroup:member` stands for every named
    /// user). `any_to_addresses`: whether some source in `from` is a source of an address
    /// rule (see [`Self::verdict`]).
    fn closed_to(
        &self,
        from: &[Id],
        members: &FxHashSet<Id>,
        any_to_addresses: bool,
        dst: Id,
    ) -> bool {
        let m = self.model;
        if from.is_empty() {
            return true;
        }
        if m.allows_all() || self.to_addresses_from_addresses || any_to_addresses {
            return false;
        }
        let own = matches!(m.principal(dst), Principal::User(_)) && members.contains(&dst);
        if own && self.own_devices_from_addresses {
            return false;
        }
        for &e in m.reaching(dst) {
            let e = e as usize;
            if !self.opens[e] {
                continue;
            }
            if m.destination(e) == Dst::OwnDevices {
                // It leads only from `dst` itself.
                if own && (m.sources_include(e, dst) || self.address_sources[e]) {
                    return false;
                }
                continue;
            }
            if !m.leads(e, dst, dst) {
                continue;
            }
            if self.address_sources[e] {
                return false;
            }
            let through = if from.len() <= m.sources_size(e) {
                from.iter().any(|&a| m.sources_include(e, a))
            } else {
                m.sources(e).any(|a| members.contains(&a))
            };
            if through {
                return false;
            }
        }
        true
    }
}

/// The `ssh` rules whose sources take in `src` and whose destinations take in `dst`: the
/// rules that let `src` log in on `dst` (given network access to port 22).
pub fn rules_between(
    policy: &Policy,
    roles: &Roles,
    src: &Principal,
    dst: &Principal,
) -> Vec<usize> {
    policy
        .ssh
        .iter()
        .enumerate()
        .filter(|(_, r)| rule_takes(policy, roles, r, src, dst))
        .map(|(i, _)| i)
        .collect()
}

/// The `ssh` rules that let someone log in on `dst`: a destination takes it in (for
/// `autogroup:self`, a user's devices when the rule's sources take in that user).
pub fn rules_into(policy: &Policy, roles: &Roles, dst: &Principal) -> Vec<usize> {
    policy
        .ssh
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.dst.iter().any(|d| match &d.selector {
                Some(Selector::Autogroup(Autogroup::SelfDevices)) => {
                    matches!(dst, Principal::User(_)) && rule_takes(policy, roles, r, dst, dst)
                }
                Some(sel) => contains(policy, roles, sel, Side::Dst, dst),
                None => false,
            })
        })
        .map(|(i, _)| i)
        .collect()
}

fn rule_takes(
    policy: &Policy,
    roles: &Roles,
    r: &SshRule,
    src: &Principal,
    dst: &Principal,
) -> bool {
    let from = r.src.iter().any(|s| {
        s.selector
            .as_ref()
            .is_some_and(|sel| contains(policy, roles, sel, Side::Src, src))
    });
    from && r.dst.iter().any(|d| match &d.selector {
        Some(Selector::Autogroup(Autogroup::SelfDevices)) => {
            matches!((src, dst), (Principal::User(a), Principal::User(b)) if a == b)
        }
        Some(sel) => contains(policy, roles, sel, Side::Dst, dst),
        None => false,
    })
}

/// The `ssh` rules with source/destination pairs that surely have no network access to
/// port 22, and those pairs. `inventory` gives users' roles; without one, role autogroups
/// and `autogroup:shared` stand for users of that standing the policy does not name.
pub fn gaps(policy: &Policy, inventory: Option<&Inventory>) -> Vec<Gap> {
    if policy.ssh.is_empty() {
        return Vec::new();
    }
    let users = stand_in_users(policy, inventory);
    // A user whose role is not known may hold any: a pair is reported only if no role
    // opens it.
    let roles = Roles::of_or_every(&users);
    let mut lists = Lists::new(policy, inventory);
    let units: Vec<(Vec<Unit>, Vec<DstUnit>)> = policy
        .ssh
        .iter()
        .map(|rule| {
            let sources = rule
                .src
                .iter()
                .filter_map(|s| Some(source_units(&mut lists, s.selector.as_ref()?, s.raw.trim())))
                .flatten()
                .collect();
            let destinations = rule
                .dst
                .iter()
                .filter_map(|d| destination_unit(&mut lists, d.selector.as_ref()?, d.raw.trim()))
                .collect();
            (sources, destinations)
        })
        .collect();
    // Each distinct list once, by where it lives (shared lists are one allocation).
    let key = |u: &Unit| u.candidates.as_ptr() as usize;
    let all_units = || {
        units.iter().flat_map(|(sources, destinations)| {
            sources
                .iter()
                .chain(destinations.iter().filter_map(|d| match d {
                    DstUnit::Fixed(u) => Some(u),
                    DstUnit::OwnDevices => None,
                }))
        })
    };
    let mut distinct: FxHashMap<usize, &Unit> = FxHashMap::default();
    for u in all_units() {
        distinct.entry(key(u)).or_insert(u);
    }
    // One model over every principal the rules stand for.
    let principals: Vec<Principal> = distinct
        .values()
        .flat_map(|u| u.candidates.iter().cloned())
        .collect();
    let model = AccessModel::new(policy, &roles, principals);
    let port_22 = Port22::new(&model);
    let ids: FxHashMap<usize, Vec<Id>> = distinct
        .iter()
        .map(|(&k, u)| {
            let ids = u
                .candidates
                .iter()
                .map(|p| model.id(p).expect("every candidate is in the model"))
                .collect();
            (k, ids)
        })
        .collect();
    // Each list's ids as a set, and whether one of them is a source of an address rule.
    let sets: FxHashMap<usize, (FxHashSet<Id>, bool)> = ids
        .iter()
        .map(|(&k, list)| {
            let any = list.iter().any(|&a| port_22.to_addresses[a as usize]);
            (k, (list.iter().copied().collect(), any))
        })
        .collect();
    // Whether no candidate of one list gets through to any of another's (to their own
    // devices when `to` is `None`), once per pair of lists.
    let mut lacking_memo: FxHashMap<(usize, Option<usize>), bool> = FxHashMap::default();
    let mut out = Vec::new();
    for (i, (rule, (sources, destinations))) in policy.ssh.iter().zip(&units).enumerate() {
        let mut pairs = Vec::new();
        let mut total = 0;
        for s in sources {
            let from = &ids[&key(s)];
            for d in destinations {
                let (to, to_ids) = match d {
                    DstUnit::Fixed(u) => (u.name.clone(), Some(&ids[&key(u)])),
                    DstUnit::OwnDevices => ("their own devices (autogroup:self)".to_string(), None),
                };
                let users = || {
                    from.iter()
                        .copied()
                        .filter(|&a| matches!(model.principal(a), Principal::User(_)))
                };
                let empty = match to_ids {
                    Some(t) => from.is_empty() || t.is_empty(),
                    None => users().next().is_none(),
                };
                if empty {
                    continue;
                }
                total += 1;
                let lacking = *lacking_memo
                    .entry((key(s), to_ids.map(|_| key_of(d))))
                    .or_insert_with(|| match to_ids {
                        Some(t) => {
                            let (members, any_to_addresses) = &sets[&key(s)];
                            t.iter()
                                .all(|&b| port_22.closed_to(from, members, *any_to_addresses, b))
                        }
                        None => users().all(|a| port_22.verdict(a, a) == Verdict::Closed),
                    });
                if lacking {
                    pairs.push(Pair {
                        from: s.name.clone(),
                        to,
                    });
                }
            }
        }
        pairs.dedup();
        if !pairs.is_empty() {
            out.push(Gap {
                rule: i,
                span: rule.span,
                all: pairs.len() == total,
                pairs,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        gaps(&policy(text), None)
            .into_iter()
            .flat_map(|g| g.pairs)
            .map(|p| (p.from, p.to))
            .collect()
    }

    /// An inventory of one user, a member holding `role`.
    fn one_user(login: &str, role: Role) -> Inventory {
        Inventory {
            users: vec![User {
                login: login.into(),
                role,
                shared: false,
            }],
            ..Default::default()
        }
    }

    const SSH_ADMINS: &str = r#""ssh": [{"action": "check", "src": ["group:admins"], "dst": ["tag:panda", "tag:clanker"], "users": ["root"]}]"#;
    const DEFS: &str = r#""groups": {"group:admins": ["joel@example.com", "ann@example.com"]},
        "tagOwners": {"tag:panda": [], "tag:clanker": [], "tag:redis": []}"#;

    #[test]
    fn no_network_rule_means_every_pair_lacks_port_22() {
        let p = pairs(&format!(
            r#"{{{DEFS}, "grants": [{{"src": ["tag:panda"], "dst": ["tag:redis"], "ip": ["tcp:6379"]}}], {SSH_ADMINS}}}"#
        ));
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.contains(&("joel@example.com".into(), "tag:panda".into())));
    }

    #[test]
    fn the_default_allow_all_opens_port_22() {
        assert!(pairs(&format!("{{{DEFS}, {SSH_ADMINS}}}")).is_empty());
    }

    #[test]
    fn a_grant_to_port_22_or_every_port_opens_it_per_destination() {
        let p = pairs(&format!(
            r#"{{{DEFS}, "grants": [{{"src": ["group:admins"], "dst": ["tag:panda"], "ip": ["tcp:22"]}}], {SSH_ADMINS}}}"#
        ));
        assert_eq!(
            p,
            vec![
                ("joel@example.com".to_string(), "tag:clanker".to_string()),
                ("ann@example.com".to_string(), "tag:clanker".to_string())
            ]
        );
        let p = pairs(&format!(
            r#"{{{DEFS}, "grants": [{{"src": ["autogroup:member"], "dst": ["autogroup:tagged"], "ip": ["*"]}}], {SSH_ADMINS}}}"#
        ));
        assert!(p.is_empty(), "{p:?}");
        let p = pairs(&format!(
            r#"{{{DEFS}, "acls": [{{"action": "accept", "src": ["joel@example.com"], "dst": ["tag:panda:22", "tag:clanker:*"]}}], {SSH_ADMINS}}}"#
        ));
        assert_eq!(p.len(), 2, "ann lacks both: {p:?}");
        assert!(p.iter().all(|(who, _)| who == "ann@example.com"));
    }

    #[test]
    fn udp_or_another_port_does_not_open_ssh() {
        let p = pairs(&format!(
            r#"{{{DEFS}, "grants": [{{"src": ["group:admins"], "dst": ["tag:panda", "tag:clanker"], "ip": ["udp:22", "tcp:2222"]}}], {SSH_ADMINS}}}"#
        ));
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn tailscales_default_self_pattern_is_quiet() {
        // The default policy's SSH rule with its usual network rule.
        let text = r#"{
            "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}],
            "ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot", "root"]}]
        }"#;
        assert!(pairs(text).is_empty());
        let closed = r#"{
            "tagOwners": {"tag:web": []},
            "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:web:443"]}],
            "ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["root"]}]
        }"#;
        assert_eq!(
            pairs(closed),
            vec![(
                "autogroup:member".to_string(),
                "their own devices (autogroup:self)".to_string()
            )]
        );
    }

    #[test]
    fn an_address_rule_leaves_the_pair_undecided() {
        let p = pairs(&format!(
            r#"{{{DEFS}, "hosts": {{"panda": "100.64.0.5"}}, "acls": [{{"action": "accept", "src": ["group:admins"], "dst": ["panda:22"]}}], {SSH_ADMINS}}}"#
        ));
        assert!(
            p.iter().all(|(_, to)| to == "tag:clanker"),
            "panda is maybe 100.64.0.5: {p:?}"
        );
    }

    /// Every tailnet has an owner, who is a member: a rule letting the owner reach their
    /// own devices lets `autogroup:member → autogroup:self` through for someone
    /// (jonpulsifer/infra's policy, in tests/data/real).
    #[test]
    fn members_include_the_owner_whom_every_tailnet_has() {
        let ssh = r#""ssh": [{"action": "check", "src": ["autogroup:members"], "dst": ["autogroup:self"], "users": ["root"]}]"#;
        let owner = format!(
            r#"{{"grants": [{{"src": ["autogroup:owner"], "dst": ["autogroup:owner"], "ip": ["*"]}}], {ssh}}}"#
        );
        assert!(pairs(&owner).is_empty(), "{:?}", pairs(&owner));
        // An auditor may not exist: a rule for auditors alone leaves the pair lacking.
        let auditor = format!(
            r#"{{"grants": [{{"src": ["autogroup:auditor"], "dst": ["autogroup:auditor"], "ip": ["*"]}}], {ssh}}}"#
        );
        assert!(!pairs(&auditor).is_empty());
    }

    #[test]
    fn role_sources_use_a_stand_in_of_that_role() {
        let text = r#"{
            "tagOwners": {"tag:prod": []},
            "grants": [{"src": ["autogroup:admin"], "dst": ["tag:prod"], "ip": ["tcp:22"]}],
            "ssh": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:prod"], "users": ["ubuntu"]}]
        }"#;
        assert!(pairs(text).is_empty());
    }

    /// A user the policy names may hold a role (a real policy: an ACL from the owner's
    /// login to everything, SSH from `autogroup:admin`): the rule is usable unless an
    /// inventory says that user holds another role. The owner is an admin.
    #[test]
    fn role_sources_include_the_named_users_who_may_hold_the_role() {
        let text = r#"{
            "tagOwners": {"tag:srv": []},
            "acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["*:*"]}],
            "ssh": [{"action": "check", "src": ["autogroup:admin"], "dst": ["tag:srv"], "users": ["root"]}]
        }"#;
        let p = policy(text);
        assert!(gaps(&p, None).is_empty(), "{:?}", gaps(&p, None));
        let with_role = |role| one_user("alice@example.com", role);
        for role in [Role::Admin, Role::Owner] {
            assert!(gaps(&p, Some(&with_role(role))).is_empty(), "{role:?}");
        }
        let member = gaps(&p, Some(&with_role(Role::Member)));
        assert_eq!(member.len(), 1, "alice is no admin: {member:?}");
        assert_eq!(member[0].pairs[0].from, "autogroup:admin");
        // An auditor's rule does not let an admin through, and a user is not both.
        let auditor = text.replace("autogroup:admin", "autogroup:auditor");
        assert!(gaps(&policy(&auditor), None).is_empty());
        assert_eq!(
            gaps(&policy(&auditor), Some(&with_role(Role::Admin))).len(),
            1
        );
        // The owner, whoever it is, is an admin.
        let owner = r#"{
            "tagOwners": {"tag:srv": []},
            "grants": [{"src": ["autogroup:owner"], "dst": ["tag:srv"], "ip": ["tcp:22"]}],
            "ssh": [{"action": "check", "src": ["autogroup:admin"], "dst": ["tag:srv"], "users": ["root"]}]
        }"#;
        assert!(pairs(owner).is_empty(), "{:?}", pairs(owner));
        let nobody = owner.replace("autogroup:owner", "tag:srv");
        assert_eq!(pairs(&nobody).len(), 1);
    }

    /// A named user whose role no inventory gives may hold the role a network rule names
    /// (cryan1988/tailscale-infra: the admins reach their own devices; SSH for one user).
    #[test]
    fn a_named_source_may_hold_the_role_a_network_rule_names() {
        let text = r#"{
            "grants": [{"src": ["autogroup:admin"], "dst": ["autogroup:self"], "ip": ["*"]}],
            "ssh": [{"action": "accept", "src": ["conal@example.com"], "dst": ["autogroup:self"], "users": ["root"]}]
        }"#;
        let p = policy(text);
        assert!(gaps(&p, None).is_empty(), "{:?}", gaps(&p, None));
        let as_role = |role| one_user("conal@example.com", role);
        assert!(gaps(&p, Some(&as_role(Role::Owner))).is_empty());
        assert_eq!(gaps(&p, Some(&as_role(Role::Auditor))).len(), 1);
        // Shared in, a user is no member: a member's rule does not reach them, yet the
        // user may be a member.
        let members = text.replace("autogroup:admin", "autogroup:member");
        assert!(pairs(&members).is_empty());
    }

    /// `closed_to` answers as asking `verdict` source by source, for every destination and
    /// every run of sources, on policies with each kind of entry (sets, own devices,
    /// addresses on either side, several protocols, the default allow-all).
    #[test]
    fn closed_to_is_verdict_for_every_source() {
        let policies = [
            format!(
                r#"{{{DEFS}, "grants": [{{"src": ["group:admins"], "dst": ["tag:panda"], "ip": ["tcp:22"]}}, {{"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]}}, {{"src": ["tag:redis"], "dst": ["tag:clanker"], "ip": ["udp:22", "tcp:2222"]}}], {SSH_ADMINS}}}"#
            ),
            format!(
                r#"{{{DEFS}, "hosts": {{"panda": "100.64.0.5", "lab": "10.0.0.0/8"}}, "acls": [{{"action": "accept", "src": ["group:admins"], "dst": ["panda:22"]}}, {{"action": "accept", "src": ["lab"], "dst": ["tag:redis:22"]}}, {{"action": "accept", "src": ["ann@example.com"], "dst": ["autogroup:self:22"]}}], {SSH_ADMINS}}}"#
            ),
            format!(
                r#"{{{DEFS}, "hosts": {{"lab": "10.0.0.0/8"}}, "acls": [{{"action": "accept", "src": ["lab"], "dst": ["autogroup:self:*"]}}, {{"action": "accept", "src": ["joel@example.com"], "dst": ["tag:panda:*"]}}], {SSH_ADMINS}}}"#
            ),
            format!("{{{DEFS}, {SSH_ADMINS}}}"),
        ];
        for text in &policies {
            let p = policy(text);
            let users = stand_in_users(&p, None);
            let roles = Roles::of_or_every(&users);
            let mut principals: Vec<Principal> =
                ["joel@example.com", "ann@example.com", "(any admin)"]
                    .into_iter()
                    .map(|u| Principal::User(u.into()))
                    .collect();
            for t in ["tag:panda", "tag:clanker", "tag:redis"] {
                principals.push(Principal::Tags(vec![t.into()]));
            }
            let model = AccessModel::new(&p, &roles, principals.clone());
            let port_22 = Port22::new(&model);
            let all: Vec<Id> = principals.iter().filter_map(|q| model.id(q)).collect();
            // Every contiguous run of sources, the empty one included.
            for start in 0..=all.len() {
                for end in start..=all.len() {
                    let from = &all[start..end];
                    let members: FxHashSet<Id> = from.iter().copied().collect();
                    let any = from.iter().any(|&a| port_22.to_addresses[a as usize]);
                    for &dst in &all {
                        let brute = from
                            .iter()
                            .all(|&a| port_22.verdict(a, dst) == Verdict::Closed);
                        assert_eq!(
                            port_22.closed_to(from, &members, any, dst),
                            brute,
                            "{text}: {from:?} to {dst}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rules_between_follows_the_ssh_rules() {
        let p = policy(&format!("{{{DEFS}, {SSH_ADMINS}}}"));
        let roles = Roles::none();
        let joel = Principal::User("joel@example.com".into());
        let panda = Principal::Tags(vec!["tag:panda".into()]);
        let redis = Principal::Tags(vec!["tag:redis".into()]);
        assert_eq!(rules_between(&p, &roles, &joel, &panda), vec![0]);
        assert!(rules_between(&p, &roles, &joel, &redis).is_empty());
        assert!(rules_between(&p, &roles, &panda, &panda).is_empty());
        assert_eq!(rules_into(&p, &roles, &panda), vec![0]);
        assert!(rules_into(&p, &roles, &redis).is_empty());
    }
}
