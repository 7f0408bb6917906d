//! The access model that `explain`, the effective-access diff, `paths` and the intents
//! proof answer from (analysis-design §6.3–6.4): the principals a question ranges over,
//! numbered; every selector's members as a sorted list of those numbers, computed once
//! per distinct selector (by lookup for users, groups and tags, the selectors a large
//! policy is made of); every rule entry as a box — its sources' members × its
//! destination's members × its protocols and ports, with the rule it came from; and an
//! index from each principal to the entries that reach it as a destination.
//!
//! A question then costs what its answer touches: "who reaches tag:db" reads the entries
//! indexed at tag:db and their sources, not every rule for every principal; the diff of a
//! one-rule edit recomputes only the cells (source, destination) that the edited boxes
//! cover.
//!
//! **Invariant** (checked by `tests/access_property.rs` against [`super::reach`], which
//! decides one selector and one principal at a time): `sources_include(e, p)` holds
//! exactly when [`super::reach::sources_include`] does, an entry is indexed at a
//! destination exactly when [`super::reach::entry_reaches`] holds for some source it takes
//! in (for `autogroup:self`: the principal itself), and [`AccessModel::access`] equals
//! [`crate::engine::diff::access`].
//!
//! **Addresses.** Built [`AccessModel::with_addresses`], the model also answers what the
//! intents proof asks of address selectors (a host, an IP, a CIDR, a range, an ipset,
//! `autogroup:internet`), whose members are decided by containment above: the addresses
//! each names ([`AccessModel::named_addresses`]), the families in which they cover the
//! tailnet's range, the principals a source selector takes in *with the address families
//! it takes them in by* ([`AccessModel::takers`]: an address principal that overlaps it,
//! a device principal whose inventory addresses it holds or whose range it covers, and for
//! `*` the approved subnet routes), and the addresses it names that no principal holds
//! ([`AccessModel::unheld`]). These are computed once per distinct selector, with the
//! member lists; the members themselves stay as above.

use super::IpSet;
use super::reach::{
    self, Access, BOTH, EntryView, Families, Principal, Roles, Side, covers_tailnet, families,
    in_families,
};
use super::resolve::{Resolver, tailnet_space};
use crate::model::{Autogroup, Policy, Selector};
use rustc_hash::FxHashMap;

/// A principal's number in a model.
pub type Id = u32;

/// Where an entry's destination lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dst {
    /// The members of this set (an index into the model's sets).
    Set(u32),
    /// `autogroup:self`: each source user's own devices.
    OwnDevices,
    /// A selector that did not parse (already reported): nothing.
    Nothing,
}

/// What a model needs to answer about addresses (see the module documentation).
pub struct Addressing<'r> {
    /// Resolves the addresses a selector names (ipsets may name an inventory's devices).
    pub resolver: &'r Resolver<'r>,
    /// Approved (or approvable) subnet routes, which `*` as a source takes in.
    pub routes: IpSet,
    /// The addresses each principal's devices hold (an inventory's); an address principal
    /// holds itself and needs no entry.
    pub held: FxHashMap<Principal, IpSet>,
}

/// Per set, what [`Addressing`] adds (see the module documentation).
struct AddressLayer {
    named: Vec<Option<IpSet>>,
    covers: Vec<Families>,
    /// For source sets whose takers are not their members on every family they hold.
    takers: Vec<Option<Vec<(Id, Families)>>>,
    unheld: Vec<IpSet>,
    routes: IpSet,
}

/// See the module documentation.
pub struct AccessModel<'p> {
    policy: &'p Policy,
    principals: Vec<Principal>,
    index: FxHashMap<Principal, Id>,
    /// A policy with neither `acls` nor `grants` allows everything (see `rules::compile`).
    allow_all: bool,
    entries: Vec<EntryView<'p>>,
    /// Member lists, sorted and without repeats, one per distinct selector and side.
    sets: Vec<Vec<Id>>,
    /// Per rule's sources: the sets of its selectors, largest first. The union is never
    /// built: a rule naming `autogroup:member` and a tag would copy every member.
    source_parts: Vec<Vec<u32>>,
    /// Per rule's sources, as written: (the selector's place in `src`, its set), for
    /// each selector that parsed.
    source_written: Vec<Vec<(u32, u32)>>,
    /// Per entry, its sources (an index into `source_parts`).
    src: Vec<u32>,
    dst: Vec<Dst>,
    /// Per set, a 128-bit fingerprint of its members (XOR of a fixed random key per
    /// principal number): equal sets, in this model or another over the same principals,
    /// have equal fingerprints, and unequal ones collide with probability 2^-128.
    fingerprints: Vec<u128>,
    /// Per principal, the entries (in policy order) whose destination takes it in; for
    /// `autogroup:self` entries, those whose sources take it in.
    reaching: Vec<Vec<u32>>,
    /// Each set's selector and side, and the way back.
    keys: Vec<(Side, &'p Selector)>,
    by_selector: FxHashMap<(bool, &'p Selector), u32>,
    addresses: Option<AddressLayer>,
}

impl<'p> AccessModel<'p> {
    /// The model of `policy` over `principals` (repeats are dropped; the first keeps its
    /// place). Questions about a principal outside them find nothing.
    pub fn new(
        policy: &'p Policy,
        roles: &Roles,
        principals: impl IntoIterator<Item = Principal>,
    ) -> AccessModel<'p> {
        Self::build(policy, roles, principals, std::iter::empty(), None)
    }

    /// The model of `policy` over `principals`, with what [`Addressing`] adds, and with
    /// source sets for `extra_sources` too (selectors no rule of the policy writes: an
    /// intent's `from`), found by [`Self::set_of`].
    pub fn with_addresses(
        policy: &'p Policy,
        roles: &Roles,
        principals: impl IntoIterator<Item = Principal>,
        extra_sources: impl IntoIterator<Item = &'p Selector>,
        addressing: &Addressing,
    ) -> AccessModel<'p> {
        Self::build(policy, roles, principals, extra_sources, Some(addressing))
    }

    fn build(
        policy: &'p Policy,
        roles: &Roles,
        principals: impl IntoIterator<Item = Principal>,
        extra_sources: impl IntoIterator<Item = &'p Selector>,
        addressing: Option<&Addressing>,
    ) -> AccessModel<'p> {
        let mut list = Vec::new();
        let mut index = FxHashMap::default();
        for p in principals {
            if !index.contains_key(&p) {
                index.insert(p.clone(), list.len() as Id);
                list.push(p);
            }
        }
        let mut users: FxHashMap<&str, Id> = FxHashMap::default();
        let mut by_tag: FxHashMap<&str, Vec<Id>> = FxHashMap::default();
        let mut addresses: Vec<Id> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            match p {
                Principal::User(u) => {
                    users.insert(u.as_str(), i as Id);
                }
                Principal::Tags(ts) => {
                    for t in ts {
                        let at = by_tag.entry(t.as_str()).or_default();
                        if at.last() != Some(&(i as Id)) {
                            at.push(i as Id);
                        }
                    }
                }
                Principal::Address(_) => addresses.push(i as Id),
            }
        }
        // Address principals by where they start (family, first address): a set holds one
        // only if it holds its start, so an address selector visits the principals starting
        // within its intervals rather than every address principal (a policy naming 10,000
        // host aliases made that quadratic).
        let mut address_starts: Vec<(usize, u128, Id)> = Vec::new();
        let mut empty_addresses: Vec<Id> = Vec::new();
        for &i in &addresses {
            let Principal::Address(a) = &list[i as usize] else {
                continue;
            };
            let start = a
                .families()
                .iter()
                .enumerate()
                .find_map(|(f, intervals)| intervals.first().map(|&(lo, _)| (f, lo)));
            match start {
                Some((f, lo)) => address_starts.push((f, lo, i)),
                None => empty_addresses.push(i),
            }
        }
        address_starts.sort_unstable();
        let addresses_in = |set: &IpSet| -> Vec<Id> {
            let mut out = empty_addresses.clone();
            for (f, intervals) in set.families().iter().enumerate() {
                for &(lo, hi) in *intervals {
                    let from = address_starts.partition_point(|&(g, s, _)| (g, s) < (f, lo));
                    for &(g, s, i) in &address_starts[from..] {
                        if (g, s) > (f, hi) {
                            break;
                        }
                        if let Principal::Address(a) = &list[i as usize]
                            && set.contains_set(a)
                        {
                            out.push(i);
                        }
                    }
                }
            }
            out
        };
        // What a selector takes in, decided as `reach::contains` decides it: by lookup
        // where the selector names its members, else by asking `contains` of every
        // principal (few selectors are of that kind: autogroups, `*`, addresses).
        let members = |sel: &Selector, side: Side| -> Vec<Id> {
            let mut out: Vec<Id> = match sel {
                Selector::User(u) => users.get(u.as_str()).copied().into_iter().collect(),
                Selector::Group(g) => super::structural::group_logins(policy, g)
                    .filter_map(|m| users.get(m.as_ref()).copied())
                    .collect(),
                Selector::Tag(t) => by_tag.get(t.as_str()).cloned().unwrap_or_default(),
                // Address selectors take in addresses, and with no address layer (which
                // answers for devices by their addresses) every device when they span a
                // family of the tailnet's range: their set is made once.
                Selector::Host(_)
                | Selector::Prefix(_)
                | Selector::Range(..)
                | Selector::IpSet(_) => {
                    let set = super::resolve::named_addresses(policy, sel).unwrap_or_default();
                    let every_device = addressing.is_none() && reach::covers_tailnet(&set) != 0;
                    let mut out = addresses_in(&set);
                    if every_device {
                        out.extend(
                            (0..list.len() as Id)
                                .filter(|&i| !matches!(list[i as usize], Principal::Address(_))),
                        );
                    }
                    out
                }
                _ => (0..list.len() as Id)
                    .filter(|&i| reach::contains(policy, roles, sel, side, &list[i as usize]))
                    .collect(),
            };
            out.sort_unstable();
            out.dedup();
            out
        };
        let entries = reach::entries(policy);
        let mut sets: Vec<Vec<Id>> = Vec::new();
        let mut by_selector: FxHashMap<(bool, &Selector), u32> = FxHashMap::default();
        let mut by_sources: FxHashMap<(usize, usize), u32> = FxHashMap::default();
        let mut src = Vec::with_capacity(entries.len());
        let mut dst = Vec::with_capacity(entries.len());
        let mut keys: Vec<(Side, &'p Selector)> = Vec::new();
        let mut set_of = |sets: &mut Vec<Vec<Id>>, sel: &'p Selector, side: Side| -> u32 {
            *by_selector
                .entry((side == Side::Src, sel))
                .or_insert_with(|| {
                    sets.push(members(sel, side));
                    keys.push((side, sel));
                    sets.len() as u32 - 1
                })
        };
        let mut source_parts: Vec<Vec<u32>> = Vec::new();
        let mut source_written: Vec<Vec<(u32, u32)>> = Vec::new();
        for e in &entries {
            let key = (e.src.as_ptr() as usize, e.src.len());
            let s = match by_sources.get(&key) {
                Some(&s) => s,
                None => {
                    let written: Vec<(u32, u32)> = e
                        .src
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| Some((i as u32, s.selector.as_ref()?)))
                        .map(|(i, sel)| (i, set_of(&mut sets, sel, Side::Src)))
                        .collect();
                    let mut parts: Vec<u32> = written.iter().map(|&(_, set)| set).collect();
                    source_written.push(written);
                    parts.retain(|&p| !sets[p as usize].is_empty());
                    parts.sort_unstable();
                    parts.dedup();
                    parts.sort_by_key(|&p| std::cmp::Reverse(sets[p as usize].len()));
                    source_parts.push(parts);
                    let s = source_parts.len() as u32 - 1;
                    by_sources.insert(key, s);
                    s
                }
            };
            src.push(s);
            dst.push(match &e.dst.selector {
                Some(Selector::Autogroup(Autogroup::SelfDevices)) => Dst::OwnDevices,
                Some(sel) => Dst::Set(set_of(&mut sets, sel, Side::Dst)),
                None => Dst::Nothing,
            });
        }
        let mut reaching: Vec<Vec<u32>> = vec![Vec::new(); list.len()];
        for (i, d) in dst.iter().enumerate() {
            match d {
                Dst::Set(set) => {
                    for &p in &sets[*set as usize] {
                        reaching[p as usize].push(i as u32);
                    }
                }
                Dst::OwnDevices => {
                    for p in distinct(&sets, &source_parts[src[i] as usize]) {
                        if matches!(list[p as usize], Principal::User(_)) {
                            reaching[p as usize].push(i as u32);
                        }
                    }
                }
                Dst::Nothing => {}
            }
        }
        for sel in extra_sources {
            set_of(&mut sets, sel, Side::Src);
        }
        let addresses = addressing.map(|a| address_layer(a, &list, &sets, &keys));
        // The same key per principal number in every model.
        let fingerprints = sets
            .iter()
            .map(|set| {
                set.iter().fold(0u128, |fp, &p| {
                    fp ^ crate::engine::zobrist128(0x5eed_ac55, p.into())
                })
            })
            .collect();
        AccessModel {
            policy,
            fingerprints,
            principals: list,
            index,
            allow_all: policy.acls.is_none() && policy.grants.is_none(),
            entries,
            sets,
            source_parts,
            source_written,
            src,
            dst,
            reaching,
            keys,
            by_selector,
            addresses,
        }
    }

    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Whether the policy has neither `acls` nor `grants`, and so allows everything.
    pub fn allows_all(&self) -> bool {
        self.allow_all
    }

    pub fn principals(&self) -> &[Principal] {
        &self.principals
    }

    pub fn id(&self, p: &Principal) -> Option<Id> {
        self.index.get(p).copied()
    }

    pub fn principal(&self, id: Id) -> &Principal {
        &self.principals[id as usize]
    }

    /// Every destination entry of the policy (grants, then ACLs).
    pub fn entries(&self) -> &[EntryView<'p>] {
        &self.entries
    }

    /// The principals entry `e`'s sources take in, each once, in no particular order.
    pub fn sources(&self, e: usize) -> impl Iterator<Item = Id> + '_ {
        distinct(&self.sets, &self.source_parts[self.src[e] as usize])
    }

    /// The sets (see [`Self::set`]) whose union is entry `e`'s sources.
    pub fn source_sets(&self, e: usize) -> &[u32] {
        &self.source_parts[self.src[e] as usize]
    }

    /// Entry `e`'s source selectors as written, each with its set: (its place in the
    /// entry's `src`, the set), for each selector that parsed.
    pub fn written_sources(&self, e: usize) -> &[(u32, u32)] {
        &self.source_written[self.src[e] as usize]
    }

    /// How many principals [`Self::sources`] yields at most (the sizes of its parts).
    pub fn sources_size(&self, e: usize) -> usize {
        self.source_parts[self.src[e] as usize]
            .iter()
            .map(|&p| self.sets[p as usize].len())
            .sum()
    }

    /// Where entry `e` leads.
    pub fn destination(&self, e: usize) -> Dst {
        self.dst[e]
    }

    /// The members of a set a [`Dst::Set`] names.
    pub fn set(&self, set: u32) -> &[Id] {
        &self.sets[set as usize]
    }

    /// The fingerprint of the set a [`Dst::Set`] names.
    pub fn set_fingerprint(&self, set: u32) -> u128 {
        self.fingerprints[set as usize]
    }

    /// The fingerprints of entry `e`'s source selectors' sets, sorted: entries with equal
    /// lists take in the same principals.
    pub fn sources_fingerprint(&self, e: usize) -> Vec<u128> {
        let mut fps: Vec<u128> = self.source_parts[self.src[e] as usize]
            .iter()
            .map(|&p| self.fingerprints[p as usize])
            .collect();
        fps.sort_unstable();
        fps
    }

    /// Whether entry `e`'s sources take in `p`.
    pub fn sources_include(&self, e: usize, p: Id) -> bool {
        self.source_parts[self.src[e] as usize]
            .iter()
            .any(|&set| self.sets[set as usize].binary_search(&p).is_ok())
    }

    /// The set of `selector` on `side`, when a rule (or, on the source side, an extra
    /// source the model was built with) writes it there.
    pub fn set_of(&self, selector: &Selector, side: Side) -> Option<u32> {
        self.by_selector
            .get(&(side == Side::Src, selector))
            .copied()
    }

    /// The addresses the set's selector names, when it is an address selector (a host,
    /// an IP, a CIDR, a range, an ipset, `autogroup:internet`) and the model was built
    /// [`Self::with_addresses`].
    pub fn named_addresses(&self, set: u32) -> Option<&IpSet> {
        self.addresses.as_ref()?.named[set as usize].as_ref()
    }

    /// The families in which [`Self::named_addresses`] cover the tailnet's range (where
    /// every device's address lies), so take in every device.
    pub fn covers(&self, set: u32) -> Families {
        self.addresses
            .as_ref()
            .map_or(0, |a| a.covers[set as usize])
    }

    /// The principals a source set takes in, each once in order of number, with the
    /// address families it takes them in by (an address principal: those its addresses
    /// share with the selector's; any other: those of its devices).
    pub fn takers(&self, set: u32) -> impl Iterator<Item = (Id, Families)> + '_ {
        let listed = self
            .addresses
            .as_ref()
            .and_then(|a| a.takers[set as usize].as_deref());
        let members: &[Id] = if listed.is_some() {
            &[]
        } else {
            &self.sets[set as usize]
        };
        listed.into_iter().flatten().copied().chain(
            members
                .iter()
                .map(|&p| (p, held_families(&self.principals[p as usize])))
                .filter(|&(_, f)| f != 0),
        )
    }

    /// The addresses a source set names that no principal holds: outside every device
    /// address of the inventory, every address principal, and the tailnet's range where
    /// the set covers it (where it does not, an address in that range may be no device's).
    /// Empty without [`Self::with_addresses`].
    pub fn unheld(&self, set: u32) -> &IpSet {
        static EMPTY: std::sync::OnceLock<IpSet> = std::sync::OnceLock::new();
        match &self.addresses {
            Some(a) => &a.unheld[set as usize],
            None => EMPTY.get_or_init(IpSet::new),
        }
    }

    /// The addresses a source set names as addresses: [`Self::named_addresses`], or for
    /// `*` the tailnet's range and the subnet routes, for `autogroup:danger-all` every
    /// address. Empty for identities, or without [`Self::with_addresses`].
    pub fn source_addresses(&self, set: u32) -> IpSet {
        let Some(a) = &self.addresses else {
            return IpSet::new();
        };
        if let Some(named) = &a.named[set as usize] {
            return named.clone();
        }
        match self.keys_selector(set) {
            Some(Selector::Wildcard) => tailnet_space().union(&a.routes),
            Some(Selector::Autogroup(Autogroup::DangerAll)) => IpSet::all(),
            _ => IpSet::new(),
        }
    }

    fn keys_selector(&self, set: u32) -> Option<&'p Selector> {
        self.keys.get(set as usize).map(|&(_, sel)| sel)
    }

    /// The entries that reach `d` from some source (for `autogroup:self`, from `d`'s
    /// owner), in policy order.
    pub fn reaching(&self, d: Id) -> &[u32] {
        &self.reaching[d as usize]
    }

    /// Whether entry `e` leads from `s` to `d` (not asking whether its sources take in
    /// `s`): [`reach::entry_reaches`].
    pub fn leads(&self, e: usize, s: Id, d: Id) -> bool {
        match self.dst[e] {
            Dst::OwnDevices => s == d && matches!(self.principal(d), Principal::User(_)),
            Dst::Set(set) => self.sets[set as usize].binary_search(&d).is_ok(),
            Dst::Nothing => false,
        }
    }

    /// The entries through which `s` reaches `d`, in policy order.
    pub fn entries_between(&self, s: Id, d: Id) -> impl Iterator<Item = usize> + '_ {
        self.reaching(d)
            .iter()
            .map(|&e| e as usize)
            .filter(move |&e| self.sources_include(e, s) && self.leads(e, s, d))
    }

    /// Everything `s` may send to `d`.
    pub fn access(&self, s: Id, d: Id) -> Access {
        let mut out = Access::new();
        if self.allow_all {
            for p in super::rules::Protocols::DEFAULT_NUMBERS {
                reach::add(&mut out, p, crate::model::PortRange::ALL);
            }
            return out;
        }
        for e in self.entries_between(s, d) {
            self.entries[e].add_access(&mut out);
        }
        out
    }

    /// For each principal, whether it may send anything to anyone among the principals.
    pub fn sends(&self) -> Vec<bool> {
        let mut out = vec![self.allow_all; self.principals.len()];
        if self.allow_all {
            return out;
        }
        let mut done = vec![false; self.source_parts.len()];
        for (e, entry) in self.entries.iter().enumerate() {
            if entry.ports.is_empty() {
                continue;
            }
            let own = match self.dst[e] {
                Dst::Set(set) if !self.sets[set as usize].is_empty() => false,
                Dst::OwnDevices => true,
                _ => continue,
            };
            let s = self.src[e] as usize;
            if !own && std::mem::replace(&mut done[s], true) {
                continue;
            }
            for &part in &self.source_parts[s] {
                for &p in &self.sets[part as usize] {
                    if !own || matches!(self.principal(p), Principal::User(_)) {
                        out[p as usize] = true;
                    }
                }
            }
        }
        out
    }
}

/// The families a principal holds addresses in when a selector takes it in by identity:
/// an address principal, its own; a device principal, both.
fn held_families(p: &Principal) -> Families {
    match p {
        Principal::Address(a) => families(a),
        _ => BOTH,
    }
}

/// What [`Addressing`] adds to the sets `keys` describe.
fn address_layer(
    addressing: &Addressing,
    principals: &[Principal],
    sets: &[Vec<Id>],
    keys: &[(Side, &Selector)],
) -> AddressLayer {
    let empty = IpSet::new();
    let held: Vec<&IpSet> = principals
        .iter()
        .map(|p| match p {
            Principal::Address(a) => a,
            _ => addressing.held.get(p).unwrap_or(&empty),
        })
        .collect();
    let tailnet = tailnet_space();
    let mut all_held: Option<IpSet> = None;
    let mut layer = AddressLayer {
        named: Vec::with_capacity(sets.len()),
        covers: Vec::with_capacity(sets.len()),
        takers: Vec::with_capacity(sets.len()),
        unheld: Vec::with_capacity(sets.len()),
        routes: addressing.routes.clone(),
    };
    for &(side, sel) in keys {
        let named = match sel {
            Selector::Host(_)
            | Selector::Prefix(_)
            | Selector::Range(..)
            | Selector::IpSet(_)
            | Selector::Autogroup(Autogroup::Internet) => Some(addressing.resolver.addresses(sel)),
            _ => None,
        };
        let covers = named.as_ref().map_or(0, covers_tailnet);
        let (takers, unheld) = if side == Side::Src {
            let each = |f: &dyn Fn(usize, &Principal) -> Families| -> Vec<(Id, Families)> {
                principals
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i as Id, f(i, p)))
                    .filter(|&(_, f)| f != 0)
                    .collect()
            };
            let takers = match (sel, &named) {
                (_, Some(set)) => Some(each(&|i, p| match p {
                    Principal::Address(a) => families(&set.intersect(a)),
                    _ => covers | families(&set.intersect(held[i])),
                })),
                (Selector::Wildcard, None) => {
                    let space = tailnet.union(&addressing.routes);
                    Some(each(&|_, p| match p {
                        Principal::Address(a) => families(&a.intersect(&space)),
                        _ => BOTH,
                    }))
                }
                _ => None,
            };
            let written = match (sel, &named) {
                (_, Some(set)) => Some(set.clone()),
                (Selector::Wildcard, None) => Some(addressing.routes.clone()),
                (Selector::Autogroup(Autogroup::DangerAll), None) => Some(IpSet::all()),
                _ => None,
            };
            let unheld = match written {
                Some(written) if !written.is_empty() => {
                    let mut known = all_held
                        .get_or_insert_with(|| IpSet::union_all(held.iter().copied()))
                        .clone();
                    if matches!(sel, Selector::Autogroup(Autogroup::DangerAll)) {
                        known.union_with(tailnet);
                    } else {
                        known.union_with(&in_families(tailnet, covers));
                    }
                    written.subtract(&known)
                }
                _ => IpSet::new(),
            };
            (takers, unheld)
        } else {
            (None, IpSet::new())
        };
        layer.named.push(named);
        layer.covers.push(covers);
        layer.takers.push(takers);
        layer.unheld.push(unheld);
    }
    layer
}

/// The members of `parts` (largest first), each once: a member of a later part is
/// skipped when an earlier part has it.
fn distinct<'s>(sets: &'s [Vec<Id>], parts: &'s [u32]) -> impl Iterator<Item = Id> + 's {
    parts.iter().enumerate().flat_map(move |(k, &part)| {
        sets[part as usize].iter().copied().filter(move |p| {
            !parts[..k]
                .iter()
                .any(|&earlier| sets[earlier as usize].binary_search(p).is_ok())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_by_lookup_and_entries_indexed_at_their_destinations() {
        let policy = crate::model::from_text(
            r#"{
              "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
              "tagOwners": {"tag:db": [], "tag:web": []},
              "grants": [
                {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
                {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["22"]},
                {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}
              ]
            }"#,
        );
        let alice = Principal::User("alice@example.com".into());
        let carol = Principal::User("carol@example.com".into());
        let db = Principal::Tags(vec!["tag:db".into()]);
        let web = Principal::Tags(vec!["tag:web".into()]);
        let roles = Roles::none();
        let m = AccessModel::new(
            &policy,
            &roles,
            [alice.clone(), carol.clone(), db.clone(), web.clone()],
        );
        let id = |p: &Principal| m.id(p).expect("in the model");
        assert_eq!(m.reaching(id(&db)), &[0, 2]);
        // Carol is a member (no inventory says otherwise): her own devices.
        assert_eq!(m.reaching(id(&carol)), &[1]);
        assert!(m.sources_include(0, id(&alice)) && !m.sources_include(0, id(&carol)));
        assert_eq!(
            m.entries_between(id(&web), id(&db)).collect::<Vec<_>>(),
            [2]
        );
        assert!(m.access(id(&carol), id(&db)).is_empty());
        assert_eq!(
            m.sends(),
            vec![true, true, false, true],
            "the database sends nothing"
        );
    }

    #[test]
    fn address_selectors_take_in_principals_by_family_and_leave_unheld_addresses() {
        let policy = crate::model::from_text(
            r#"{
              "hosts": {"nas-net": "192.168.1.0/24", "v4-tailnet": "100.64.0.0/10"},
              "tagOwners": {"tag:db": []},
              "grants": [
                {"src": ["nas-net"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
                {"src": ["v4-tailnet", "*"], "dst": ["tag:db"], "ip": ["tcp:80"]},
                {"src": ["autogroup:danger-all"], "dst": ["nas-net"], "ip": ["tcp:443"]}
              ]
            }"#,
        );
        let ip = |t: &str| IpSet::parse(t).expect("an address");
        let alice = Principal::User("alice@example.com".into());
        let db = Principal::Tags(vec!["tag:db".into()]);
        let nas = Principal::Address(ip("192.168.1.5"));
        let routed = Principal::Address(ip("10.0.0.5"));
        let inventory = crate::engine::Inventory::default();
        let resolver = Resolver::new(&policy, &inventory);
        let mut held = FxHashMap::default();
        held.insert(alice.clone(), ip("fd7a:115c:a1e0::1"));
        let addressing = Addressing {
            resolver: &resolver,
            routes: ip("10.0.0.0/24"),
            held,
        };
        let extra = Selector::parse("192.168.1.5").expect("a selector");
        let roles = Roles::none();
        let m = AccessModel::with_addresses(
            &policy,
            &roles,
            [alice.clone(), db.clone(), nas.clone(), routed.clone()],
            [&extra],
            &addressing,
        );
        let id = |p: &Principal| m.id(p).expect("in the model");
        let src = |text: &str| {
            m.set_of(&Selector::parse(text).expect("a selector"), Side::Src)
                .expect("a source set")
        };
        let takers = |set: u32| m.takers(set).collect::<Vec<_>>();

        let nas_net = src("nas-net");
        assert_eq!(m.named_addresses(nas_net), Some(&ip("192.168.1.0/24")));
        assert_eq!(m.covers(nas_net), 0);
        assert_eq!(takers(nas_net), [(id(&nas), reach::IPV4)]);
        // The /24's other addresses are no principal's: sources of their own.
        assert_eq!(
            m.unheld(nas_net),
            &ip("192.168.1.0/24").subtract(&ip("192.168.1.5"))
        );
        // Covering 100.64.0.0/10 takes in every device over IPv4, and alice's IPv6
        // address is not in it.
        let v4 = src("v4-tailnet");
        assert_eq!(m.covers(v4), reach::IPV4);
        assert_eq!(
            takers(v4),
            [(id(&alice), reach::IPV4), (id(&db), reach::IPV4)]
        );
        // The range is the devices', but for the part reserved for ChromeOS VMs.
        assert_eq!(m.unheld(v4), &ip("100.115.92.0/23"));
        // `*` takes in every device, and the routed address by the approved route.
        let any = src("*");
        assert_eq!(m.written_sources(1), [(0, v4), (1, any)]);
        assert_eq!(
            takers(any),
            [
                (id(&alice), BOTH),
                (id(&db), BOTH),
                (id(&routed), reach::IPV4)
            ]
        );
        assert_eq!(m.unheld(any), &ip("10.0.0.0/24").subtract(&ip("10.0.0.5")));
        assert_eq!(
            m.source_addresses(any),
            tailnet_space().union(&ip("10.0.0.0/24"))
        );
        assert_eq!(
            m.source_addresses(src("autogroup:danger-all")),
            IpSet::all()
        );
        assert!(
            m.unheld(src("autogroup:danger-all"))
                .intersect(tailnet_space())
                .is_empty()
        );
        // An extra source no rule writes has its set; members stay by containment.
        let one = src("192.168.1.5");
        assert_eq!(takers(one), [(id(&nas), reach::IPV4)]);
        assert_eq!(m.set(one), [id(&nas)]);
        assert!(m.set_of(&extra, Side::Dst).is_none());
        // Destination sets have addresses but no takers of their own.
        let dst = m.set_of(&Selector::parse("nas-net").expect("a selector"), Side::Dst);
        assert_eq!(
            dst.and_then(|d| m.named_addresses(d)),
            Some(&ip("192.168.1.0/24"))
        );
    }

    #[test]
    fn without_addresses_takers_are_the_members() {
        let policy = crate::model::from_text(
            r#"{"hosts": {"nas": "192.168.1.5"},
                "grants": [{"src": ["nas", "alice@example.com"], "dst": ["*"], "ip": ["*"]}]}"#,
        );
        let alice = Principal::User("alice@example.com".into());
        let nas = Principal::Address(IpSet::parse("192.168.1.5").expect("an address"));
        let roles = Roles::none();
        let m = AccessModel::new(&policy, &roles, [alice.clone(), nas.clone()]);
        let set = |t: &str| {
            m.set_of(&Selector::parse(t).expect("a selector"), Side::Src)
                .expect("a source set")
        };
        assert_eq!(m.takers(set("nas")).collect::<Vec<_>>(), [(1, reach::IPV4)]);
        assert_eq!(
            m.takers(set("alice@example.com")).collect::<Vec<_>>(),
            [(0, BOTH)]
        );
        assert!(m.named_addresses(set("nas")).is_none() && m.unheld(set("nas")).is_empty());
    }
}
