//! Per-device packet filters: what the control plane sends each device, computed from the
//! resolved rules, and written in the wire shape (`SrcIPs`, `DstPorts`, `IPProto`,
//! `CapGrant`) as the server writes it: the same rules, merged and ordered the same way
//! (checked exactly against the conformance captures). Also a set comparison of filters
//! ([`FilterSets`]), for what a filter enforces: two filters are equal when they accept
//! the same (source, destination, protocol, port) tuples and grant the same
//! capabilities.
//!
//! How the server shapes a filter, as the captures show it: it compiles each grant's `ip`
//! specs and each ACL's destinations into rules (one per protocol), merges rules with the
//! same `SrcIPs` and protocols into the first of them in policy order (grants, then
//! ACLs), and then keeps for each device the destination blocks that land on it, whole
//! (`10.0.0.0/8` on a router of `10.33.0.0/16`). Within a rule, `*` destinations come
//! first, then addresses, `autogroup:self`, `autogroup:member`; entries naming the same
//! destination are written together, address by address, each with its ports.

use super::inventory::{Device, Inventory};
use super::ipset::IpSet;
use super::resolve::{Resolver, Target, device_addresses, internet};
use super::rules::{Origin, Protocols, Rule, Sources, Wanted, Written};
use crate::model::addr::ip_to_u128;
use crate::model::{Autogroup, PortRange, Sel, Selector};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// One rule of a device's packet filter.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterRule {
    /// Shared with the rule it comes from: a large source set is stored once, not once per device.
    pub src: Arc<Sources>,
    /// Written `*` (from `autogroup:danger-all`).
    pub src_everything: bool,
    /// Texts `SrcIPs` lists besides the ranges of `src` (see [`Rule::src_listed`]).
    pub src_listed: Arc<Vec<String>>,
    /// Destination addresses (`None` = `*`) and ports.
    pub dst_ports: Vec<(Option<IpSet>, PortRange)>,
    pub protocols: Protocols,
    pub cap_grants: Vec<CapGrant>,
    /// Which policy rule produced it.
    pub origin: super::rules::Origin,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CapGrant {
    pub dsts: IpSet,
    pub caps: Vec<(String, Value)>,
}

/// Capabilities whose grant implies a reverse grant (`filter.go: companionCaps`).
const COMPANIONS: &[(&str, &str)] = &[
    ("tailscale.com/cap/drive", "tailscale.com/cap/drive-sharer"),
    ("tailscale.com/cap/relay", "tailscale.com/cap/relay-target"),
];

/// The filter one device receives.
pub fn device_filter(resolver: &Resolver, rules: &[Rule], device: &Device) -> Vec<FilterRule> {
    let merges = Merges::of(rules.iter());
    filter_from(resolver, rules.iter(), device, &merges)
}

/// Where a rule of the filter first appears among the control plane's rules: the policy
/// rule (the default allow-all, then grants, then ACLs, by index), the stage within it
/// (its network rules, its capability rules, then the parts decided per device:
/// `autogroup:self`), and the piece within the stage.
pub(crate) type Place = (u8, usize, u8, usize);

const NETWORK: u8 = 0;
const CAPABILITIES: u8 = 1;
const OWN_NETWORK: u8 = 2;
const OWN_CAPABILITIES: u8 = 3;
/// Network pieces whose only destination here is `autogroup:member`: the control plane
/// places those after the per-device ones.
const MEMBER_NETWORK: u8 = 4;
/// The reverse grants of companion capabilities come last.
const COMPANION_CAPABILITIES: u8 = 5;

fn is_member(e: &super::rules::Entry) -> bool {
    e.written == "autogroup:member" || e.written.starts_with("autogroup:member:")
}

/// The stage of a network piece (of `specs`): [`MEMBER_NETWORK`] when its only
/// destinations besides `autogroup:self` are `autogroup:member`.
fn piece_stage(rule: &Rule, specs: &[usize]) -> u8 {
    let ordinary = rule.entries.iter().any(|e| {
        specs.contains(&e.spec)
            && !is_member(e)
            && match &e.target {
                Target::Everything => true,
                Target::Addresses(d) => !d.is_empty(),
                Target::OwnDevices => false,
            }
    });
    if ordinary { NETWORK } else { MEMBER_NETWORK }
}

/// The destinations of a network piece in the order the control plane sends them: `*`
/// first, then addresses, `autogroup:self`, `autogroup:member`; entries naming the same
/// destination together (their ports in the order written).
fn dst_groups<'r>(rule: &'r Rule, specs: &[usize]) -> Vec<(&'r Target, Vec<PortRange>)> {
    let mut groups: Vec<(u8, &str, &Target, Vec<PortRange>)> = Vec::new();
    for spec in specs {
        for e in rule.entries.iter().filter(|e| e.spec == *spec) {
            let stage = match &e.target {
                Target::Everything => 0,
                Target::OwnDevices => 2,
                Target::Addresses(_) if is_member(e) => 3,
                Target::Addresses(_) => 1,
            };
            let name = rule.destination_host(e);
            match groups
                .iter_mut()
                .find(|(s, h, _, _)| *s == stage && *h == name)
            {
                Some((_, _, _, ports)) => ports.extend(e.ports.iter().copied()),
                None => groups.push((stage, name, &e.target, e.ports.clone())),
            }
        }
    }
    groups.sort_by_key(|(stage, _, _, _)| *stage);
    groups.into_iter().map(|(_, _, t, p)| (t, p)).collect()
}

fn place(origin: Origin, stage: u8, piece: usize) -> Place {
    let (section, index) = match origin {
        Origin::Default => (0, 0),
        Origin::Grant(i) => (1, i),
        Origin::Acl(i) => (2, i),
    };
    (section, index, stage, piece)
}

/// A rule's network pieces: one per protocol, in the order of the grant's `ip` specs,
/// each with the specs that have that protocol (the control plane sends one rule per
/// spec and merges those with the same sources and protocols).
fn network_pieces(rule: &Rule) -> Vec<(Protocols, Vec<usize>)> {
    let mut specs: Vec<(usize, Protocols)> =
        rule.entries.iter().map(|e| (e.spec, e.protocols)).collect();
    specs.sort_unstable_by_key(|(spec, _)| *spec);
    specs.dedup_by_key(|(spec, _)| *spec);
    let mut pieces: Vec<(Protocols, Vec<usize>)> = Vec::new();
    for (spec, protocols) in specs {
        match pieces.iter_mut().find(|(p, _)| *p == protocols) {
            Some((_, list)) => list.push(spec),
            None => pieces.push((protocols, vec![spec])),
        }
    }
    pieces
}

/// The sources of a rule as the merge key sees them: `None` when written `*`, and the
/// addresses listed besides.
type SourceKey<'a> = (Option<&'a Sources>, &'a [String]);

fn source_key<'a>(src: &'a Sources, everything: bool, listed: &'a [String]) -> SourceKey<'a> {
    ((!everything).then_some(src), listed)
}

fn rule_key(rule: &Rule) -> SourceKey<'_> {
    source_key(&rule.src, rule.src_everything, &rule.src_listed)
}

fn piece_key(piece: &FilterRule) -> SourceKey<'_> {
    source_key(&piece.src, piece.src_everything, &piece.src_listed)
}

fn key_hash(src: SourceKey, protocols: Protocols) -> u64 {
    use std::hash::{Hash, Hasher};
    // A set of every member's devices has tens of thousands of intervals, and every
    // rule's key is hashed: sample it (keys that match are compared in full).
    let mut h = rustc_hash::FxHasher::default();
    match src.0 {
        Some(set) => set.sample_hash().hash(&mut h),
        None => 0u8.hash(&mut h),
    }
    src.1.hash(&mut h);
    protocols.hash(&mut h);
    h.finish()
}

/// A merge key held: the sources (`None`: `*`), the addresses listed besides, protocols.
type HeldKey = (Option<Arc<Sources>>, Arc<Vec<String>>, Protocols);

fn held(src: SourceKey, shared: &FilterRule, protocols: Protocols) -> HeldKey {
    (
        src.0.map(|_| shared.src.clone()),
        shared.src_listed.clone(),
        protocols,
    )
}

fn same_key(held: &HeldKey, src: SourceKey, protocols: Protocols) -> bool {
    held.2 == protocols && held.0.as_deref() == src.0 && held.1.as_slice() == src.1
}

/// The pieces of a rule that every device's list holds before the control plane reduces
/// it to the device (what is not per device: not `via`, not `autogroup:self`), with
/// their merge keys: those that have a destination at all.
fn global_pieces(rule: &Rule) -> impl Iterator<Item = (Protocols, Place)> + '_ {
    let pieces = if rule.via.is_empty() && (rule.src_everything || !rule.src.is_empty()) {
        network_pieces(rule)
    } else {
        Vec::new()
    };
    pieces
        .into_iter()
        .enumerate()
        .filter(|(_, (_, specs))| {
            rule.entries.iter().any(|e| {
                specs.contains(&e.spec)
                    && match &e.target {
                        Target::Everything => true,
                        Target::Addresses(d) => !d.is_empty(),
                        Target::OwnDevices => false,
                    }
            })
        })
        .map(|(k, (protocols, specs))| {
            (protocols, place(rule.origin, piece_stage(rule, &specs), k))
        })
}

/// Which network rules the control plane merges: those with the same sources and
/// protocols, into the first of them (its place), whichever devices they land on.
#[derive(Default)]
pub(crate) struct Merges {
    /// The first place of each merge key, by the key's hash.
    by_hash: FxHashMap<u64, Vec<(HeldKey, Place)>>,
    /// Each rule's network pieces' first places, by the address of the rule's sources.
    of_rule: FxHashMap<*const Sources, Vec<Place>>,
}

impl Merges {
    /// Merges among `rules` (every rule of the policy, in order).
    pub(crate) fn of<'r>(rules: impl Iterator<Item = &'r Rule> + Clone) -> Merges {
        let mut merges = Merges::default();
        for rule in rules.clone() {
            merges.record(rule, |_| true);
        }
        for rule in rules {
            merges.place_rule(rule);
        }
        merges
    }

    /// Note `rule`'s pieces whose key hash `wanted` accepts, keeping the earliest place
    /// of each key.
    fn record(&mut self, rule: &Rule, wanted: impl Fn(u64) -> bool) {
        let src = rule_key(rule);
        let mut hash_of = FxHashMap::default();
        for (protocols, at) in global_pieces(rule) {
            let hash = *hash_of
                .entry(protocols)
                .or_insert_with(|| key_hash(src, protocols));
            if !wanted(hash) {
                continue;
            }
            let known = self.by_hash.entry(hash).or_default();
            if let Some((_, first)) = known.iter_mut().find(|(k, _)| same_key(k, src, protocols)) {
                *first = (*first).min(at);
            } else {
                let key = (
                    src.0.map(|_| rule.src.clone()),
                    rule.src_listed.clone(),
                    protocols,
                );
                known.push((key, at));
            }
        }
    }

    /// Work out where `rule`'s network pieces go (once its key and every earlier rule's
    /// are recorded).
    fn place_rule(&mut self, rule: &Rule) {
        let src = rule_key(rule);
        let places = network_pieces(rule)
            .iter()
            .enumerate()
            .map(|(k, (protocols, specs))| {
                let own = place(rule.origin, piece_stage(rule, specs), k);
                self.first(src, *protocols).map_or(own, |p| p.min(own))
            })
            .collect();
        self.of_rule.insert(Arc::as_ptr(&rule.src), places);
    }

    /// The first place of a key among the recorded pieces.
    fn first(&self, src: SourceKey, protocols: Protocols) -> Option<Place> {
        self.by_hash
            .get(&key_hash(src, protocols))?
            .iter()
            .find(|(k, _)| same_key(k, src, protocols))
            .map(|(_, at)| *at)
    }

    /// Where piece `k` of `rule` goes: the first place of its key, or its own place if
    /// the rule is not known here.
    fn rule_piece(&self, rule: &Rule, k: usize, specs: &[usize]) -> Place {
        self.of_rule
            .get(&Arc::as_ptr(&rule.src))
            .and_then(|places| places.get(k).copied())
            .unwrap_or_else(|| place(rule.origin, piece_stage(rule, specs), k))
    }
}

/// What a device takes destinations for: a destination block lands on it when it holds
/// one of the device's addresses, overlaps one of its approved subnet routes, or (on an
/// exit node) lies within the internet.
struct Receiver {
    addrs: IpSet,
    routes: IpSet,
    exit: bool,
    /// All of the above, to find the candidate blocks fast.
    space: IpSet,
}

impl Receiver {
    fn of(device: &Device) -> Receiver {
        let addrs = device_addresses(device);
        let mut routes = IpSet::new();
        for r in device.subnet_routes() {
            routes.add_prefix(r);
        }
        let exit = device.is_exit_node();
        let mut space = addrs.union(&routes);
        if exit {
            space.union_with(internet());
        }
        Receiver {
            addrs,
            routes,
            exit,
            space,
        }
    }

    fn takes(&self, block: &IpSet) -> bool {
        block.overlaps(&self.addrs)
            || block.overlaps(&self.routes)
            || (self.exit && internet().contains_set(block))
    }

    /// The blocks of `dst`, whole, that land here, in address order.
    fn blocks(&self, dst: &IpSet) -> Vec<IpSet> {
        let mut blocks = dst.intervals_overlapping(&self.space).cidrs();
        blocks.retain(|b| self.takes(b));
        blocks
    }

    /// A capability destination as sent: the device's own addresses within it, and the
    /// approved subnet routes' blocks it overlaps, whole.
    fn cap_dsts(&self, dst: &IpSet) -> IpSet {
        let mut out = dst.intersect(&self.addrs);
        for block in dst.intervals_overlapping(&self.routes).cidrs() {
            if block.overlaps(&self.routes) {
                out.union_with(&block);
            }
        }
        out
    }
}

/// A device's filter being assembled: rules in the order of their places, network rules
/// with the same sources and protocols merged into one.
#[derive(Default)]
struct Assembly {
    rules: Vec<(Place, FilterRule)>,
    /// Network rules by the first place of their key.
    by_place: FxHashMap<Place, usize>,
    /// Network rules whose sources are this device's own (no rule of the policy has the
    /// same), by value.
    own: Vec<(HeldKey, usize)>,
}

impl Assembly {
    /// Add a network piece whose key first appears at `first` (if some rule of the
    /// policy has it) and which itself comes at `at`.
    fn network(&mut self, first: Option<Place>, at: Place, piece: FilterRule) {
        if piece.dst_ports.is_empty() {
            return;
        }
        let known = match first {
            Some(first) => self.by_place.get(&first).copied(),
            None => self
                .own
                .iter()
                .find(|(k, _)| same_key(k, piece_key(&piece), piece.protocols))
                .map(|(_, i)| *i),
        };
        if let Some(i) = known {
            self.rules[i].1.dst_ports.extend(piece.dst_ports);
            return;
        }
        let i = self.rules.len();
        match first {
            Some(first) => {
                self.by_place.insert(first, i);
            }
            None => {
                let key = held(piece_key(&piece), &piece, piece.protocols);
                self.own.push((key, i));
            }
        }
        self.rules.push((first.map_or(at, |f| f.min(at)), piece));
    }

    fn other(&mut self, at: Place, rule: FilterRule) {
        self.rules.push((at, rule));
    }

    fn finish(mut self) -> Vec<FilterRule> {
        self.rules.sort_by_key(|(at, _)| *at);
        self.rules.into_iter().map(|(_, r)| r).collect()
    }
}

/// The filter of one device from the rules that may concern it (in policy order), as
/// the control plane sends it: a rule's destination blocks whole where they land on the
/// device, network rules with the same sources and protocols merged (`merges`),
/// capability rules one per grant.
fn filter_from<'r>(
    resolver: &Resolver,
    rules: impl Iterator<Item = &'r Rule>,
    device: &Device,
    merges: &Merges,
) -> Vec<FilterRule> {
    let receiver = Receiver::of(device);
    let addrs = &receiver.addrs;
    let owner_devices = device.owner().map(|o| resolver.user(o));
    let mut out = Assembly::default();
    for rule in rules {
        let routed = (!rule.via.is_empty()).then(|| via_routes(rule, device));
        let sourced = rule.src_everything || !rule.src.is_empty();
        for (k, (protocols, specs)) in network_pieces(rule).iter().enumerate() {
            if !sourced {
                break;
            }
            let mut dst_ports = Vec::new();
            let mut own_ports = Vec::new();
            let add = |out: &mut Vec<_>, block: Option<IpSet>, ports: &[PortRange]| {
                out.extend(ports.iter().map(|p| (block.clone(), *p)));
            };
            for (target, ports) in dst_groups(rule, specs) {
                match (target, &routed) {
                    (Target::Everything, Some(routed)) => {
                        for block in routed.cidrs() {
                            add(&mut dst_ports, Some(block), &ports);
                        }
                    }
                    (Target::Addresses(d), Some(routed)) => {
                        for block in d.intervals_overlapping(routed).cidrs() {
                            if block.overlaps(routed) {
                                add(&mut dst_ports, Some(block), &ports);
                            }
                        }
                    }
                    (Target::OwnDevices, Some(_)) => {}
                    (Target::Everything, None) => add(&mut dst_ports, None, &ports),
                    (Target::Addresses(d), None) => {
                        for block in receiver.blocks(d) {
                            add(&mut dst_ports, Some(block), &ports);
                        }
                    }
                    (Target::OwnDevices, None) => {
                        if owner_devices.is_some() {
                            for block in addrs.cidrs() {
                                add(&mut own_ports, Some(block), &ports);
                            }
                        }
                    }
                }
            }
            let piece = |src: Arc<Sources>, src_listed: Arc<Vec<String>>, dst_ports| FilterRule {
                src,
                src_everything: rule.src_everything,
                src_listed,
                dst_ports,
                protocols: *protocols,
                cap_grants: Vec::new(),
                origin: rule.origin,
            };
            let whole = piece(rule.src.clone(), rule.src_listed.clone(), dst_ports);
            if routed.is_some() {
                let first = merges.first(rule_key(rule), *protocols);
                out.network(first, place(rule.origin, NETWORK, k), whole);
                continue;
            }
            let at = merges.rule_piece(rule, k, specs);
            out.network(Some(at), at, whole);
            if let Some(own) = owner_devices.as_ref().filter(|_| !own_ports.is_empty()) {
                let src = rule.src.intersect(own);
                if !src.is_empty() || rule.src_everything {
                    let own_piece = piece(Arc::new(Sources::of(src)), Arc::default(), own_ports);
                    let first = merges.first(piece_key(&own_piece), *protocols);
                    out.network(first, place(rule.origin, OWN_NETWORK, k), own_piece);
                }
            }
        }
        if rule.caps.is_empty() || !rule.via.is_empty() {
            continue;
        }
        // One capability rule per grant, a capability grant per destination, sent with
        // the grant's sources even when they are empty.
        let grants: Vec<CapGrant> = rule
            .cap_targets
            .iter()
            .filter_map(|target| {
                let dsts = match target {
                    Target::Everything => addrs.clone(),
                    Target::OwnDevices => return None,
                    Target::Addresses(d) => receiver.cap_dsts(d),
                };
                (!dsts.is_empty()).then(|| CapGrant {
                    dsts,
                    caps: rule.caps.clone(),
                })
            })
            .collect();
        if !grants.is_empty() && sourced {
            out.other(
                place(rule.origin, CAPABILITIES, 0),
                FilterRule {
                    src: rule.src.clone(),
                    src_everything: rule.src_everything,
                    src_listed: rule.src_listed.clone(),
                    dst_ports: Vec::new(),
                    protocols: Protocols::Default,
                    cap_grants: grants,
                    origin: rule.origin,
                },
            );
        }
        if rule.cap_targets.contains(&Target::OwnDevices)
            && let Some(own) = &owner_devices
        {
            let src = rule.src.intersect(own);
            if !src.is_empty() {
                out.other(
                    place(rule.origin, OWN_CAPABILITIES, 0),
                    FilterRule {
                        src: Arc::new(Sources::of(src)),
                        src_everything: false,
                        src_listed: Arc::default(),
                        dst_ports: Vec::new(),
                        protocols: Protocols::Default,
                        cap_grants: vec![CapGrant {
                            dsts: addrs.clone(),
                            caps: rule.caps.clone(),
                        }],
                        origin: rule.origin,
                    },
                );
            }
        }
        // The reverse grants: the destinations get the companion capability on the sources.
        for (c, (cap, companion)) in COMPANIONS.iter().enumerate() {
            if !rule.caps.iter().any(|(name, _)| name == cap) {
                continue;
            }
            let dsts = rule.src.intersect(addrs);
            if dsts.is_empty() {
                continue;
            }
            let mut src = rule.cap_sources.clone();
            if rule.cap_targets.contains(&Target::OwnDevices)
                && let Some(own) = &owner_devices
            {
                src.union_with(own);
            }
            if src.is_empty() {
                continue;
            }
            out.other(
                place(rule.origin, COMPANION_CAPABILITIES, c),
                FilterRule {
                    src: Arc::new(Sources::of(src)),
                    src_everything: false,
                    src_listed: Arc::default(),
                    dst_ports: Vec::new(),
                    protocols: Protocols::Default,
                    cap_grants: vec![CapGrant {
                        dsts,
                        caps: vec![(companion.to_string(), Value::Null)],
                    }],
                    origin: rule.origin,
                },
            );
        }
    }
    out.finish()
}

/// What a `via` rule may reach through `device`: it applies only on devices with one of
/// its tags, and only to the parts of its destinations that the device routes.
pub(crate) fn via_routes(rule: &Rule, device: &Device) -> IpSet {
    if !device.tags.iter().any(|t| rule.via.contains(t)) {
        return IpSet::new();
    }
    let mut routed = IpSet::new();
    for r in device.subnet_routes() {
        routed.add_prefix(r);
    }
    if device.is_exit_node() {
        routed.union_with(internet());
    }
    routed
}

/// How many source address texts a [`WireFilter`] keeps (about 100 MiB of text).
const TEXTS_LIMIT: usize = 1 << 21;

/// Writes filters in the wire shape of a conformance capture's `packet_filter_rules`
/// (`SrcIPs`, `DstPorts`, `IPProto`, `CapGrant`) straight to a serializer. The text of a
/// rule's sources, which the filter of every device receiving the rule repeats, is kept
/// (within [`TEXTS_LIMIT`]) rather than written out again for each device.
#[derive(Default)]
pub struct WireFilter {
    texts: RefCell<SourceTexts>,
}

#[derive(Default)]
struct SourceTexts {
    /// By the address of the shared set (the `Arc` held keeps the address unique).
    by_set: FxHashMap<*const Sources, (Arc<Sources>, Rc<[String]>)>,
    kept: usize,
}

impl WireFilter {
    /// `rules` (a device's filter), to serialize.
    pub fn of<'a>(&'a self, rules: &'a [FilterRule]) -> impl Serialize + 'a {
        WireRules {
            writer: self,
            rules,
        }
    }

    /// A filter rule's sources as written (`SrcIPs`).
    pub fn sources(&self, rule: &FilterRule) -> Rc<[String]> {
        if rule.src_everything {
            return Rc::from(vec!["*".to_string()]);
        }
        // A set only this filter rule holds is written once.
        if Arc::strong_count(&rule.src) == 1 {
            return wire_sources(&rule.src, &rule.src_listed).into();
        }
        if let Some((_, known)) = self.texts.borrow().by_set.get(&Arc::as_ptr(&rule.src)) {
            return known.clone();
        }
        let texts: Rc<[String]> = wire_sources(&rule.src, &rule.src_listed).into();
        let mut kept = self.texts.borrow_mut();
        if kept.kept + texts.len() <= TEXTS_LIMIT {
            kept.kept += texts.len();
            let entry = (rule.src.clone(), texts.clone());
            kept.by_set.insert(Arc::as_ptr(&rule.src), entry);
        }
        texts
    }
}

/// Sources as the control plane writes them: sorted as strings (so `100.115.94.0-…`
/// comes before `100.64.0.0-…`, and `fd7a:115c:a1e0::d37:…` after `…::8037:…`).
/// The addresses `listed` besides (`*` with other sources) appear as well, each once.
fn wire_sources(src: &Sources, listed: &[String]) -> Vec<String> {
    let mut texts = src.union().to_strings();
    texts.extend(listed.iter().cloned());
    texts.sort_unstable();
    texts.dedup();
    texts
}

/// A filter rule's destinations as written (`DstPorts`): an address text and ports each.
pub fn destinations(rule: &FilterRule) -> impl Iterator<Item = (String, PortRange)> + '_ {
    rule.dst_ports.iter().flat_map(|(ips, ports)| {
        let ips = ips
            .as_ref()
            .map_or_else(|| vec!["*".to_string()], IpSet::to_strings);
        ips.into_iter().map(|ip| (ip, *ports))
    })
}

struct WireRules<'a> {
    writer: &'a WireFilter,
    rules: &'a [FilterRule],
}

impl Serialize for WireRules<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rules = self.rules.iter().map(|rule| WireRule {
            writer: self.writer,
            rule,
        });
        serializer.collect_seq(rules)
    }
}

struct WireRule<'a> {
    writer: &'a WireFilter,
    rule: &'a FilterRule,
}

impl Serialize for WireRule<'_> {
    /// The keys in the order the control plane sends them (`tailcfg.FilterRule`'s).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.rule;
        let protocol = match r.protocols {
            Protocols::Only(p) => Some([p.0]),
            Protocols::Default => None,
        };
        let entries = 1
            + usize::from(!r.cap_grants.is_empty())
            + usize::from(!r.dst_ports.is_empty())
            + usize::from(protocol.is_some());
        let mut map = serializer.serialize_map(Some(entries))?;
        map.serialize_entry("SrcIPs", &*self.writer.sources(r))?;
        if !r.dst_ports.is_empty() {
            let dsts: Vec<DstPort> = destinations(r)
                .map(|(ip, ports)| DstPort {
                    ip,
                    ports: Ports {
                        first: ports.first,
                        last: ports.last,
                    },
                })
                .collect();
            map.serialize_entry("DstPorts", &dsts)?;
        }
        if let Some(protocol) = &protocol {
            map.serialize_entry("IPProto", protocol)?;
        }
        if !r.cap_grants.is_empty() {
            map.serialize_entry("CapGrant", &cap_grants(r))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct DstPort {
    #[serde(rename = "IP")]
    ip: String,
    #[serde(rename = "Ports")]
    ports: Ports,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Ports {
    first: u16,
    last: u16,
}

fn cap_grants(r: &FilterRule) -> Value {
    let grants: Vec<Value> = r
        .cap_grants
        .iter()
        .map(|g| {
            let dsts: Vec<String> = g
                .dsts
                .ranges()
                .flat_map(|(a, b)| single_prefixes(a, b))
                .collect();
            let caps: serde_json::Map<String, Value> =
                g.caps.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            json!({"Dsts": dsts, "CapMap": caps})
        })
        .collect();
    Value::Array(grants)
}

/// `a..=b` as `/32`/`/128` prefixes when small, else as the range text.
fn single_prefixes(a: std::net::IpAddr, b: std::net::IpAddr) -> Vec<String> {
    if a == b {
        let len = if a.is_ipv4() { 32 } else { 128 };
        vec![format!("{a}/{len}")]
    } else {
        let mut s = IpSet::new();
        s.add_range(a, b);
        s.to_strings()
    }
}

// ---------------------------------------------------------------------------------------
// Set comparison

/// A filter as plain sets: network boxes and capability boxes.
#[derive(Clone, Debug, Default)]
pub struct FilterSets {
    network: Vec<(IpSet, IpSet, Vec<u8>, PortRange)>,
    caps: Vec<(IpSet, IpSet, String)>,
}

impl FilterSets {
    pub fn from_rules(rules: &[FilterRule]) -> FilterSets {
        let mut s = FilterSets::default();
        for r in rules {
            let src = if r.src_everything {
                IpSet::all()
            } else {
                r.src.union().into_owned()
            };
            for (dst, ports) in &r.dst_ports {
                let dst = dst.clone().unwrap_or_else(IpSet::all);
                s.network
                    .push((src.clone(), dst, r.protocols.numbers(), *ports));
            }
            for g in &r.cap_grants {
                for (name, value) in &g.caps {
                    let v = value.to_string();
                    s.caps
                        .push((src.clone(), g.dsts.clone(), format!("{name}={v}")));
                }
            }
        }
        s
    }

    /// Read the wire shape (a capture's `packet_filter_rules`).
    pub fn from_json(rules: &Value) -> Result<FilterSets, String> {
        let mut s = FilterSets::default();
        let empty = Vec::new();
        let list = match rules {
            Value::Null => &empty,
            Value::Array(a) => a,
            _ => return Err("packet filter must be an array".into()),
        };
        let set_of = |items: &Value| -> Result<IpSet, String> {
            let mut s = IpSet::new();
            for i in items.as_array().ok_or("expected an array of addresses")? {
                let text = i.as_str().ok_or("expected an address string")?;
                s.union_with(&IpSet::parse(text).ok_or_else(|| format!("bad address {text:?}"))?);
            }
            Ok(s)
        };
        for r in list {
            let src = set_of(r.get("SrcIPs").unwrap_or(&Value::Null))?;
            let protos: Vec<u8> = match r.get("IPProto").and_then(Value::as_array) {
                Some(p) if !p.is_empty() => p
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|n| n as u8)
                    .collect(),
                _ => Protocols::DEFAULT_NUMBERS.to_vec(),
            };
            for d in r
                .get("DstPorts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ip = d
                    .get("IP")
                    .and_then(Value::as_str)
                    .ok_or("DstPorts entry without IP")?;
                let dst = IpSet::parse(ip).ok_or_else(|| format!("bad IP {ip:?}"))?;
                let first = d["Ports"]["First"].as_u64().unwrap_or(0) as u16;
                let last = d["Ports"]["Last"].as_u64().unwrap_or(0) as u16;
                s.network
                    .push((src.clone(), dst, protos.clone(), PortRange { first, last }));
            }
            for g in r
                .get("CapGrant")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let dsts = set_of(g.get("Dsts").unwrap_or(&Value::Null))?;
                for (name, value) in g
                    .get("CapMap")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    s.caps
                        .push((src.clone(), dsts.clone(), format!("{name}={value}")));
                }
            }
        }
        Ok(s)
    }

    /// Restrict destinations to what a device can receive.
    pub fn restrict(&self, space: &IpSet) -> FilterSets {
        FilterSets {
            network: self
                .network
                .iter()
                .map(|(s, d, p, r)| (s.clone(), d.intersect(space), p.clone(), *r))
                .collect(),
            caps: self.caps.clone(),
        }
    }

    /// `Ok` when both accept exactly the same tuples and grant the same capabilities;
    /// otherwise a description of one difference.
    pub fn compare(&self, other: &FilterSets) -> Result<(), String> {
        // Cut both on the union of their boundaries, so equal tuple sets give equal maps.
        let mut port_cuts: Vec<u32> = vec![0, 65536];
        let mut dst_cuts: Vec<(bool, u128)> = vec![(true, 0), (false, 0)];
        for (_, d, _, r) in self.network.iter().chain(&other.network) {
            port_cuts.push(r.first as u32);
            port_cuts.push(r.last as u32 + 1);
            for (a, b) in d.ranges() {
                let v4 = a.is_ipv4();
                dst_cuts.push((v4, ip_to_u128(a)));
                if let Some(next) = ip_to_u128(b).checked_add(1) {
                    dst_cuts.push((v4, next));
                }
            }
        }
        port_cuts.sort_unstable();
        port_cuts.dedup();
        dst_cuts.sort_unstable();
        dst_cuts.dedup();
        let a = self.cells(&port_cuts, &dst_cuts);
        let b = other.cells(&port_cuts, &dst_cuts);
        let show = |(proto, port, (v4, dst)): &(u8, u32, (bool, u128))| {
            let ip = if *v4 {
                std::net::IpAddr::V4((*dst as u32).into())
            } else {
                std::net::IpAddr::V6((*dst).into())
            };
            format!("proto {proto}, port {port}, dst {ip}")
        };
        for (key, sa) in &a {
            match b.get(key) {
                Some(sb) if sb == sa => {}
                Some(sb) => return Err(format!("{}: ours from {sa}, theirs from {sb}", show(key))),
                None => return Err(format!("{}: ours from {sa}, theirs nothing", show(key))),
            }
        }
        for (key, sb) in &b {
            if !a.contains_key(key) {
                return Err(format!("{}: ours nothing, theirs from {sb}", show(key)));
            }
        }
        let ca = cap_cells(&self.caps);
        let cb = cap_cells(&other.caps);
        if ca != cb {
            let only_a: Vec<_> = ca.iter().filter(|x| !cb.contains(x)).take(3).collect();
            let only_b: Vec<_> = cb.iter().filter(|x| !ca.contains(x)).take(3).collect();
            return Err(format!(
                "capabilities differ: ours only {only_a:?}; theirs only {only_b:?}"
            ));
        }
        Ok(())
    }

    /// Sources per (protocol, elementary port interval, elementary destination interval),
    /// each cell named by its lower bounds.
    fn cells(
        &self,
        port_cuts: &[u32],
        dst_cuts: &[(bool, u128)],
    ) -> BTreeMap<(u8, u32, (bool, u128)), IpSet> {
        let mut cells: BTreeMap<(u8, u32, (bool, u128)), IpSet> = BTreeMap::new();
        for (src, dst, protos, ports) in &self.network {
            if src.is_empty() {
                continue;
            }
            let (p_lo, p_hi) = (ports.first as u32, ports.last as u32 + 1);
            for (a, b) in dst.ranges() {
                let v4 = a.is_ipv4();
                let (lo, hi) = (ip_to_u128(a), ip_to_u128(b));
                let start = dst_cuts.partition_point(|c| *c < (v4, lo));
                for cut in &dst_cuts[start..] {
                    if cut.0 != v4 || cut.1 > hi {
                        break;
                    }
                    let pstart = port_cuts.partition_point(|c| *c < p_lo);
                    for pc in &port_cuts[pstart..] {
                        if *pc >= p_hi {
                            break;
                        }
                        for p in protos {
                            cells.entry((*p, *pc, *cut)).or_default().union_with(src);
                        }
                    }
                }
            }
        }
        cells
    }
}

fn cap_cells(caps: &[(IpSet, IpSet, String)]) -> Vec<(String, String, String)> {
    // Per capability and destination address: the union of sources.
    let mut by: BTreeMap<(String, String), IpSet> = BTreeMap::new();
    for (src, dsts, cap) in caps {
        for (a, b) in dsts.ranges() {
            let mut d = IpSet::new();
            d.add_range(a, b);
            by.entry((cap.clone(), d.to_string()))
                .or_default()
                .union_with(src);
        }
    }
    let mut out: Vec<_> = by
        .into_iter()
        .map(|((c, d), s)| (c, d, s.to_string()))
        .collect();
    out.sort();
    out
}

/// The filters of every device, by hostname.
///
/// Cost grows with the matches, not with devices × rules: each rule entry finds the devices
/// it concerns by binary search over the sorted device addresses, and each device then
/// looks only at those rules. (One device at a time, and peers: [`Filters`].)
pub fn all_filters(
    resolver: &Resolver,
    rules: &[Rule],
    inventory: &Inventory,
) -> BTreeMap<String, Vec<FilterRule>> {
    let candidates = candidate_rules(rules, inventory);
    let merges = Merges::of(rules.iter());
    inventory
        .devices
        .iter()
        .zip(candidates)
        .map(|(d, rule_ids)| {
            (
                d.hostname.clone(),
                filter_from(resolver, rule_ids.iter().map(|i| &rules[*i]), d, &merges),
            )
        })
        .collect()
}

/// For each device, the indices (ascending) of the rules that may put something in its filter.
pub(crate) fn candidate_rules(rules: &[Rule], inventory: &Inventory) -> Vec<Vec<usize>> {
    let landings: Vec<Landing> = rules.iter().map(Landing::of).collect();
    candidates_within(&DeviceIndex::new(inventory), &landings, usize::MAX).expect("no limit")
}

/// [`candidate_rules`], or `None` once they would hold more than `limit` rule numbers.
fn candidates_within(
    devices: &DeviceIndex,
    landings: &[Landing],
    limit: usize,
) -> Option<Vec<Vec<usize>>> {
    let n = devices.inventory.devices.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut mark = vec![usize::MAX; n];
    let mut held = 0;
    for (ri, landing) in landings.iter().enumerate() {
        devices.landing(landing, |i| {
            if mark[i] != ri {
                mark[i] = ri;
                out[i].push(ri);
                held += 1;
            }
        });
        if held > limit {
            return None;
        }
    }
    Some(out)
}

/// Where one rule may put something in a device's filter: a cheap over-approximation that
/// [`filter_from`] then decides exactly.
struct Landing<'r> {
    /// `via` tags: only devices with one of them, whatever the destinations.
    via: &'r [String],
    everywhere: bool,
    /// `autogroup:self`: every untagged device.
    own: bool,
    /// Devices with an address in one of these sets, or routing into one.
    addresses: Vec<&'r IpSet>,
}

impl<'r> Landing<'r> {
    fn of(rule: &'r Rule) -> Landing<'r> {
        let mut landing = Landing {
            via: &rule.via,
            everywhere: false,
            own: false,
            addresses: Vec::new(),
        };
        if !rule.via.is_empty() {
            return landing;
        }
        for target in rule
            .entries
            .iter()
            .map(|e| &e.target)
            .chain(&rule.cap_targets)
        {
            match target {
                Target::Everything => landing.everywhere = true,
                Target::OwnDevices => landing.own = true,
                Target::Addresses(d) => landing.addresses.push(d),
            }
        }
        if has_companion(rule) {
            // The reverse grant lands on the sources.
            landing
                .addresses
                .extend(rule.src.parts().iter().map(|p| &**p));
        }
        landing
    }
}

/// The rule grants a capability whose companion points back from the destinations.
fn has_companion(rule: &Rule) -> bool {
    COMPANIONS
        .iter()
        .any(|(cap, _)| rule.caps.iter().any(|(name, _)| name == cap))
}

/// The inventory indexed to find devices by address, route, tag and owner.
struct DeviceIndex<'a> {
    inventory: &'a Inventory,
    addresses: super::inventory::AddressIndex,
    /// Devices that route something (subnet routers, exit nodes; few), by index, with what
    /// they route.
    routers: Vec<(usize, IpSet)>,
    untagged: Vec<usize>,
    tagged_with: FxHashMap<&'a str, Vec<usize>>,
    /// Untagged devices by owner.
    owned_by: FxHashMap<&'a str, Vec<usize>>,
}

impl<'a> DeviceIndex<'a> {
    fn new(inventory: &'a Inventory) -> DeviceIndex<'a> {
        let routers = inventory
            .devices
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.enabled_routes.is_empty())
            .map(|(i, d)| {
                let mut routed = IpSet::new();
                for r in d.subnet_routes() {
                    routed.add_prefix(r);
                }
                if d.is_exit_node() {
                    routed.union_with(internet());
                }
                (i, routed)
            })
            .collect();
        let mut untagged = Vec::new();
        let mut tagged_with: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        let mut owned_by: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, d) in inventory.devices.iter().enumerate() {
            if !d.is_tagged() {
                untagged.push(i);
            }
            for t in &d.tags {
                tagged_with.entry(t.as_str()).or_default().push(i);
            }
            if let Some(owner) = d.owner() {
                owned_by.entry(owner).or_default().push(i);
            }
        }
        DeviceIndex {
            inventory,
            addresses: super::inventory::AddressIndex::new(inventory),
            routers,
            untagged,
            tagged_with,
            owned_by,
        }
    }

    /// What device `i` routes, if it routes anything.
    fn routed(&self, i: usize) -> Option<&IpSet> {
        self.routers
            .binary_search_by_key(&i, |(j, _)| *j)
            .ok()
            .map(|k| &self.routers[k].1)
    }

    /// Every device a rule may land on (some more than once).
    fn landing(&self, landing: &Landing, mut hit: impl FnMut(usize)) {
        if !landing.via.is_empty() {
            for tag in landing.via {
                let devices = self.tagged_with.get(tag.as_str());
                devices.into_iter().flatten().for_each(|i| hit(*i));
            }
            return;
        }
        if landing.everywhere {
            (0..self.inventory.devices.len()).for_each(hit);
            return;
        }
        if landing.own {
            self.untagged.iter().for_each(|i| hit(*i));
        }
        for set in &landing.addresses {
            self.addressed(set, &mut hit);
        }
    }

    /// Whether a rule may land on device `i`: the one-device form of [`Self::landing`].
    fn lands_on(&self, landing: &Landing, i: usize) -> bool {
        let device = &self.inventory.devices[i];
        if !landing.via.is_empty() {
            return device.tags.iter().any(|t| landing.via.contains(t));
        }
        let routed = self.routed(i);
        landing.everywhere
            || (landing.own && !device.is_tagged())
            || landing.addresses.iter().any(|set| {
                device.addresses.iter().any(|a| set.contains(*a))
                    || routed.is_some_and(|r| r.overlaps(set))
            })
    }

    /// Devices with an address in `set` or routing into it (some more than once).
    fn addressed(&self, set: &IpSet, hit: &mut impl FnMut(usize)) {
        self.addresses.devices_in(set).for_each(&mut *hit);
        for (i, routed) in &self.routers {
            if routed.overlaps(set) {
                hit(*i);
            }
        }
    }

    /// Devices that may send from an address in `set`: an address of theirs, or one of
    /// their approved subnet routes, is in it (some more than once).
    fn sending_from(&self, set: &IpSet, hit: &mut impl FnMut(usize)) {
        self.addresses.devices_in(set).for_each(&mut *hit);
        for (i, _) in &self.routers {
            if device_sources(&self.inventory.devices[*i]).overlaps(set) {
                hit(*i);
            }
        }
    }

    /// Untagged devices whose owner also owns a device with an address in `set`.
    fn owners_devices(&self, set: &IpSet, hit: &mut impl FnMut(usize)) {
        for k in self.addresses.devices_in(set) {
            let owner = self.inventory.devices[k].owner();
            let devices = owner.and_then(|o| self.owned_by.get(o));
            devices.into_iter().flatten().for_each(|j| hit(*j));
        }
    }
}

/// The addresses a device may send from: its own and its approved subnet routes.
fn device_sources(device: &Device) -> IpSet {
    let mut s = device_addresses(device);
    for r in device.subnet_routes() {
        s.add_prefix(r);
    }
    s
}

/// How many rule or device numbers [`Filters`] keeps to answer device after device
/// faster (each list up to 128 MiB); beyond that it recomputes, so memory stays bounded
/// whatever the policy and inventory.
const KEPT_LIMIT: usize = 1 << 24;

/// For each device, the rules whose sources take it in (ascending), leaving out those
/// whose sources are everything; `None` once they would hold more than `limit` numbers.
fn taken_in_within(devices: &DeviceIndex, rules: &[Rule], limit: usize) -> Option<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); devices.inventory.devices.len()];
    let mut held = 0;
    for (ri, rule) in rules.iter().enumerate() {
        if rule.src_everything {
            continue;
        }
        for part in rule.src.parts() {
            devices.sending_from(part, &mut |j| {
                if out[j].last() != Some(&ri) {
                    out[j].push(ri);
                    held += 1;
                }
            });
        }
        if held > limit {
            return None;
        }
    }
    Some(out)
}

/// Device lists per rule, computed when first asked for and kept within a limit.
struct PerRule {
    by_rule: Vec<Option<Rc<[u32]>>>,
    kept: usize,
    limit: usize,
}

impl PerRule {
    fn new(rules: usize, limit: usize) -> RefCell<PerRule> {
        RefCell::new(PerRule {
            by_rule: vec![None; rules],
            kept: 0,
            limit,
        })
    }
}

/// Rule `ri`'s list from `cache`, computed by `compute` if not kept yet.
fn kept_or(cache: &RefCell<PerRule>, ri: usize, compute: impl FnOnce() -> Vec<u32>) -> Rc<[u32]> {
    if let Some(known) = &cache.borrow().by_rule[ri] {
        return known.clone();
    }
    let list: Rc<[u32]> = compute().into();
    let mut cache = cache.borrow_mut();
    if cache.kept + list.len() <= cache.limit {
        cache.kept += list.len();
        cache.by_rule[ri] = Some(list.clone());
    }
    list
}

/// Per-device packet filters and peers, one device at a time, at a cost that follows
/// the rules concerning that device rather than the whole tailnet, and in memory that
/// does not grow with the number of devices already answered.
///
/// Two devices are peers when either may send the other anything at all (ports and
/// protocols ignored), counting a device's approved subnet routes as its own sources.
/// The devices that may send to a device come from its own filter; the devices it may
/// send to come from the rules whose sources take it in, each rule's receiving devices
/// found through the same address index as [`candidate_rules`].
///
/// For a single device, [`device_filter_and_peers`] gives the same answer without
/// holding every compiled rule.
pub struct Filters<'r> {
    resolver: &'r Resolver<'r>,
    rules: &'r [Rule],
    landings: Vec<Landing<'r>>,
    devices: DeviceIndex<'r>,
    /// Each device's candidate rules, when they fit within the limit on kept numbers
    /// ([`KEPT_LIMIT`]); otherwise each device tests every rule.
    candidates: Option<Vec<Vec<usize>>>,
    /// For each device, the rules whose sources take it in (ascending), when they fit
    /// within the limit, apart from those in `always`.
    taking_in: Option<Vec<Vec<usize>>>,
    /// The rules every device's peers look at: sources that are everything, and reverse
    /// grants (which may let a device send to others whatever the rule's sources).
    always: Vec<usize>,
    /// Which rule a filter piece's sources are, by address of the shared set.
    rule_of_sources: FxHashMap<*const Sources, usize>,
    /// Per rule: the devices that receive a piece of it with the rule's own sources, so
    /// that whoever those sources take in may send to them ([`wide_receivers`]).
    receivers: RefCell<PerRule>,
    /// Per rule: the devices its sources take in.
    senders: RefCell<PerRule>,
    /// Which devices a [`Filters::peers`] call has met, by stamp (to avoid clearing).
    stamps: RefCell<Stamps>,
    /// Which network rules the control plane merges, and where they go.
    merges: Merges,
}

impl<'r> Filters<'r> {
    pub fn new(resolver: &'r Resolver<'r>, rules: &'r [Rule]) -> Filters<'r> {
        Filters::keeping(resolver, rules, KEPT_LIMIT)
    }

    /// [`Filters::new`], keeping at most `limit` numbers in each list.
    fn keeping(resolver: &'r Resolver<'r>, rules: &'r [Rule], limit: usize) -> Filters<'r> {
        let landings: Vec<Landing> = rules.iter().map(Landing::of).collect();
        let devices = DeviceIndex::new(resolver.inventory);
        let always: Vec<usize> = (0..rules.len())
            .filter(|ri| rules[*ri].src_everything || has_companion(&rules[*ri]))
            .collect();
        Filters {
            resolver,
            rules,
            candidates: candidates_within(&devices, &landings, limit),
            taking_in: taken_in_within(&devices, rules, limit),
            always,
            landings,
            devices,
            rule_of_sources: rules
                .iter()
                .enumerate()
                .map(|(ri, rule)| (Arc::as_ptr(&rule.src), ri))
                .collect(),
            receivers: PerRule::new(rules.len(), limit),
            senders: PerRule::new(rules.len(), limit),
            stamps: RefCell::new(Stamps::new(resolver.inventory.devices.len())),
            merges: Merges::of(rules.iter()),
        }
    }

    /// The packet filter of device `i` (an index into the inventory's devices).
    pub fn filter(&self, i: usize) -> Vec<FilterRule> {
        let device = &self.resolver.inventory.devices[i];
        match &self.candidates {
            Some(candidates) => {
                let rules = candidates[i].iter().map(|ri| &self.rules[*ri]);
                filter_from(self.resolver, rules, device, &self.merges)
            }
            None => {
                let rules = self
                    .rules
                    .iter()
                    .zip(&self.landings)
                    .filter(|(_, landing)| self.devices.lands_on(landing, i))
                    .map(|(rule, _)| rule);
                filter_from(self.resolver, rules, device, &self.merges)
            }
        }
    }

    /// The peers of device `i` given its packet filter (from [`Filters::filter`]), as
    /// device indices in no particular order, each once.
    pub fn peers(&self, i: usize, filter: &[FilterRule]) -> Vec<usize> {
        let mut stamps = self.stamps.borrow_mut();
        let mut search = PeerSearch::new(self.resolver, &self.devices, i, &mut stamps);
        search.senders(filter, |sources| {
            let ri = self.rule_of_sources.get(&Arc::as_ptr(sources))?;
            Some(kept_or(&self.senders, *ri, || {
                let mut senders = Vec::new();
                for part in sources.parts() {
                    self.devices
                        .sending_from(part, &mut |j| senders.push(j as u32));
                }
                senders.sort_unstable();
                senders.dedup();
                senders
            }))
        });
        let receivers = |ri: usize, takes_in: bool, search: &mut PeerSearch| {
            let (rule, landing) = (&self.rules[ri], &self.landings[ri]);
            search.receivers(rule, landing, takes_in, || {
                kept_or(&self.receivers, ri, || {
                    wide_receivers(self.resolver, &self.devices, rule, landing)
                })
            });
        };
        match &self.taking_in {
            Some(taking_in) => {
                let mine = &taking_in[i];
                mine.iter().for_each(|ri| receivers(*ri, true, &mut search));
                for &ri in &self.always {
                    let listed = mine.binary_search(&ri).is_ok();
                    if !listed {
                        let takes_in = search.taken_in_by(&self.rules[ri]);
                        receivers(ri, takes_in, &mut search);
                    }
                }
            }
            None => {
                for (ri, rule) in self.rules.iter().enumerate() {
                    let takes_in = search.taken_in_by(rule);
                    receivers(ri, takes_in, &mut search);
                }
            }
        }
        search.found
    }
}

/// One device's packet filter and peers (as [`Filters::filter`] and [`Filters::peers`]
/// give them), in one pass over the rules that may concern it, compiled as the pass
/// reaches them: memory holds the rules that land on the device, not every rule, and the
/// rules that cannot concern it are never resolved.
pub fn device_filter_and_peers(resolver: &Resolver, i: usize) -> (Vec<FilterRule>, Vec<usize>) {
    let devices = DeviceIndex::new(resolver.inventory);
    let device = &resolver.inventory.devices[i];
    // Where a rule's destinations must point to land here.
    let mut here = device_addresses(device);
    if let Some(routed) = devices.routed(i) {
        here.union_with(routed);
    }
    let sources = device_sources(device);
    let mut stamps = Stamps::new(resolver.inventory.devices.len());
    let mut search = PeerSearch::new(resolver, &devices, i, &mut stamps);
    let mut landing_here = Vec::new();
    let wanted = |rule: &Written| concern(resolver, rule, device, &here, &sources);
    super::rules::compile_each(resolver, wanted, |rule| {
        let landing = Landing::of(&rule);
        let takes_in = search.taken_in_by(&rule);
        search.receivers(&rule, &landing, takes_in, || {
            wide_receivers(resolver, &devices, &rule, &landing)
        });
        if devices.lands_on(&landing, i) {
            drop(landing);
            landing_here.push(rule);
        }
    });
    let merges = merges_for(resolver, device, &landing_here);
    let filter = filter_from(resolver, landing_here.iter(), device, &merges);
    search.senders(&filter, |_| None::<Vec<u32>>);
    (filter, search.found)
}

/// The merges that decide `device`'s filter, given the rules that land on it. For each
/// of their merge keys, the first rule of the policy that has it may land elsewhere, so
/// the policy is read again: a rule is compiled only when its sources are exactly the
/// sources of one of these keys (or it is everything, for `*` keys) and it comes before
/// the first rule here with that key. The test is made on its selectors' sets as they
/// are, without their union: each within the key, the key within them (Merging every
/// candidate's sources was most of `filter --node` on a large policy.)
fn merges_for(resolver: &Resolver, device: &Device, landing_here: &[Rule]) -> Merges {
    let mut merges = Merges::default();
    if landing_here.is_empty() {
        return merges;
    }
    let owner_devices = device.owner().map(|o| resolver.user(o));
    let grants = resolver.policy.grants.as_ref().map_or(0, Vec::len);
    // Where `compile_each` asks about a rule: grants, then ACLs.
    let order = |origin: Origin| match origin {
        Origin::Default => 0,
        Origin::Grant(i) => i,
        Origin::Acl(i) => grants + i,
    };
    let mut wanted = rustc_hash::FxHashSet::default();
    // The sources of each key, by their first address, with the first rule landing here
    // that has the key (only rules before it can come first); and the same for `*` keys.
    // Each key is held with its union, which the rules read again are compared with.
    type Key = (usize, Arc<Sources>, Arc<IpSet>);
    let mut keys: FxHashMap<crate::model::addr::IpKey, Vec<Key>> = FxHashMap::default();
    let mut everything_before = 0;
    let mut note = |src: SourceKey, set: &dyn Fn() -> Arc<Sources>, protocols, before: usize| {
        wanted.insert(key_hash(src, protocols));
        match src.0.and_then(|s| s.first_address()) {
            Some(first) => {
                let known = keys.entry(crate::model::addr::ip_key(first)).or_default();
                match known.iter_mut().find(|(_, k, _)| Some(&**k) == src.0) {
                    Some((at, _, _)) => *at = (*at).max(before),
                    None => {
                        let sources = set();
                        let union = match sources.parts() {
                            [one] => one.clone(),
                            _ => Arc::new(sources.union().into_owned()),
                        };
                        known.push((before, sources, union));
                    }
                }
            }
            None if src.0.is_none() => everything_before = everything_before.max(before),
            None => {}
        }
    };
    for rule in landing_here {
        let before = order(rule.origin);
        let own = owner_devices
            .as_ref()
            .filter(|_| rule.entries.iter().any(|e| e.target == Target::OwnDevices))
            .map(|own| Arc::new(Sources::of(rule.src.intersect(own))));
        for (protocols, _) in network_pieces(rule) {
            note(rule_key(rule), &|| rule.src.clone(), protocols, before);
            if let Some(own) = &own {
                // The rule's own sources may be the same: it counts too.
                note(
                    source_key(own, rule.src_everything, &[]),
                    &|| own.clone(),
                    protocols,
                    before + 1,
                );
            }
        }
    }
    let policy = resolver.policy;
    let remembered = KeptPairs::default();
    let may_share = |i: usize, src: &[crate::model::Sel]| -> Wanted {
        let selectors = || src.iter().filter_map(|s| s.selector.as_ref());
        if selectors().any(|sel| *sel == Selector::Autogroup(Autogroup::DangerAll)) {
            return if i < everything_before {
                Wanted::Whole
            } else {
                Wanted::Not
            };
        }
        // `*` lists its other sources in the key: compiled whole.
        let whole = selectors().any(|sel| *sel == Selector::Wildcard);
        let sets: Vec<_> = selectors()
            .map(|sel| resolver.source_shared(sel))
            .filter(|set| !set.is_empty())
            .collect();
        let Some(first) = sets
            .iter()
            .filter_map(|s| s.ranges().next())
            .map(|r| r.0)
            .min()
        else {
            return Wanted::Not;
        };
        let Some(known) = keys.get(&crate::model::addr::ip_key(first)) else {
            return Wanted::Not;
        };
        let sets: Vec<&IpSet> = sets.iter().map(|s| &**s).collect();
        match known
            .iter()
            .find(|(before, _, key)| *before > i && key.is_union_of_with(&sets, &remembered))
        {
            Some(_) if whole => Wanted::Whole,
            Some((_, key, _)) => Wanted::SourcesKnown(key.clone()),
            None => Wanted::Not,
        }
    };
    let mut candidates: Vec<Wanted> = Written::all(policy)
        .enumerate()
        .map(|(i, written)| may_share(i, written.src()))
        .collect();
    let mut asked = 0;
    super::rules::compile_each(
        resolver,
        |_| {
            asked += 1;
            candidates
                .get_mut(asked - 1)
                .map_or(Wanted::Not, |w| std::mem::replace(w, Wanted::Not))
        },
        |rule| merges.record(&rule, |hash| wanted.contains(&hash)),
    );
    // The rules landing here have their keys too (a later one may share the key of an
    // `autogroup:self` piece before it).
    for rule in landing_here {
        merges.record(rule, |_| true);
    }
    for rule in landing_here {
        merges.place_rule(rule);
    }
    merges
}

/// Whether a key equals, takes in or holds more than one of the resolver's sets is asked
/// again and again in [`merges_for`] (each a pass over a set as long as
/// `autogroup:member`): the answers are remembered by the sets' addresses, which stay
/// valid because the resolver keeps every set it hands out and the keys outlive the
/// questions.
#[derive(Default)]
struct KeptPairs {
    equal: RefCell<FxHashMap<(*const IpSet, *const IpSet), bool>>,
    contains: RefCell<FxHashMap<(*const IpSet, *const IpSet), bool>>,
    beyond: RefCell<FxHashMap<(*const IpSet, *const IpSet), Arc<IpSet>>>,
}

impl crate::engine::ipset::PairQuestions for KeptPairs {
    fn equal(&self, a: &IpSet, b: &IpSet) -> bool {
        *self
            .equal
            .borrow_mut()
            .entry((a, b))
            .or_insert_with(|| a == b)
    }
    fn contains(&self, a: &IpSet, b: &IpSet) -> bool {
        let mut answers = self.contains.borrow_mut();
        *answers.entry((a, b)).or_insert_with(|| a.contains_set(b))
    }
    fn beyond(&self, a: &IpSet, b: &IpSet) -> Arc<IpSet> {
        let mut answers = self.beyond.borrow_mut();
        let rest = answers.entry((a, b));
        rest.or_insert_with(|| Arc::new(a.subtract(b))).clone()
    }
}

/// How much of a rule, as written, `device` needs compiled. The whole rule when the rule
/// may land on it (its destinations take in `here`, the device's addresses and routes)
/// or grants application capabilities (their reverse grants point back from the
/// destinations); when it only takes the device in as a source, its sources within the
/// device's (`sources`), which tell its receivers just as well; else nothing. It errs on
/// the side of more: the compiled rule then decides exactly.
fn concern(
    resolver: &Resolver,
    rule: &Written,
    device: &Device,
    here: &IpSet,
    sources: &IpSet,
) -> Wanted {
    fn selectors<'a>(
        sels: impl IntoIterator<Item = &'a Sel>,
    ) -> impl Iterator<Item = &'a Selector> {
        sels.into_iter().filter_map(|s| s.selector.as_ref())
    }
    let via_tags: Vec<&str> = selectors(rule.via())
        .filter_map(|sel| match sel {
            Selector::Tag(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let lands = if via_tags.is_empty() {
        selectors(rule.destinations().map(|d| d.sel)).any(|sel| match sel {
            Selector::Wildcard => true,
            Selector::Autogroup(Autogroup::SelfDevices) => !device.is_tagged(),
            other => resolver.shared(other).overlaps(here),
        })
    } else {
        device.tags.iter().any(|t| via_tags.contains(&t.as_str()))
    };
    if lands || !rule.app().is_empty() {
        return Wanted::Whole;
    }
    let takes_in = selectors(rule.src()).any(|sel| match sel {
        Selector::Wildcard | Selector::Autogroup(Autogroup::DangerAll) => true,
        other => resolver.shared(other).overlaps(sources),
    });
    if takes_in {
        Wanted::SourcesWithin(sources.clone())
    } else {
        Wanted::Not
    }
}

/// Marks on devices, one stamp per search, so a new search need not clear them.
struct Stamps {
    marks: Vec<u32>,
    current: u32,
}

impl Stamps {
    fn new(devices: usize) -> Stamps {
        Stamps {
            marks: vec![0; devices],
            current: 0,
        }
    }

    /// Start a search: every device unmarked.
    fn next(&mut self) -> u32 {
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.current = 1;
        }
        self.current
    }
}

/// The peers of one device, found so far.
struct PeerSearch<'s, 'r> {
    resolver: &'s Resolver<'r>,
    devices: &'s DeviceIndex<'s>,
    device: usize,
    /// The addresses the device may send from.
    sources: IpSet,
    marks: &'s mut [u32],
    stamp: u32,
    found: Vec<usize>,
}

impl<'s, 'r> PeerSearch<'s, 'r> {
    fn new(
        resolver: &'s Resolver<'r>,
        devices: &'s DeviceIndex<'s>,
        device: usize,
        stamps: &'s mut Stamps,
    ) -> PeerSearch<'s, 'r> {
        let stamp = stamps.next();
        PeerSearch {
            resolver,
            devices,
            device,
            sources: device_sources(&resolver.inventory.devices[device]),
            marks: &mut stamps.marks,
            stamp,
            found: Vec::new(),
        }
    }

    fn is_new(&self, j: usize) -> bool {
        j != self.device && self.marks[j] != self.stamp
    }

    fn add(&mut self, j: usize) {
        if self.is_new(j) {
            self.marks[j] = self.stamp;
            self.found.push(j);
        }
    }

    /// The devices that may send to this one: whoever its filter takes in. `known`
    /// gives the devices a set of sources takes in when they are already listed.
    fn senders<L: AsRef<[u32]>>(
        &mut self,
        filter: &[FilterRule],
        known: impl Fn(&Arc<Sources>) -> Option<L>,
    ) {
        if filter.iter().any(|r| r.src_everything) {
            (0..self.marks.len()).for_each(|j| self.add(j));
            return;
        }
        let mut unlisted: Vec<&IpSet> = Vec::new();
        let mut last: Option<&Arc<Sources>> = None;
        for r in filter {
            if last.is_some_and(|l| Arc::ptr_eq(l, &r.src)) {
                continue;
            }
            last = Some(&r.src);
            match known(&r.src) {
                Some(listed) => listed.as_ref().iter().for_each(|j| self.add(*j as usize)),
                None => unlisted.extend(r.src.parts().iter().map(|p| &**p)),
            }
        }
        if !unlisted.is_empty() {
            let senders = IpSet::union_all(unlisted);
            let devices = self.devices;
            devices.sending_from(&senders, &mut |j| self.add(j));
        }
    }

    /// Whether `rule`'s sources take this device in.
    fn taken_in_by(&self, rule: &Rule) -> bool {
        rule.src_everything || rule.src.overlaps(&self.sources)
    }

    /// The devices this one may send to through `rule`, whose sources take this device
    /// in or not (`takes_in`). `wide` gives the rule's [`wide_receivers`], asked for only
    /// when they do.
    fn receivers<W: AsRef<[u32]>>(
        &mut self,
        rule: &Rule,
        landing: &Landing,
        takes_in: bool,
        wide: impl FnOnce() -> W,
    ) {
        if takes_in {
            for j in wide().as_ref() {
                self.add(*j as usize);
            }
        }
        // Pieces whose sources depend on the receiving device (`autogroup:self`, the
        // reverse grants of companion capabilities): decided device by device, among
        // the devices of the owners of this device's sources, or the rule's sources.
        let own = landing.own && takes_in;
        let own_sources = (own && !rule.src_everything).then(|| rule.src.intersect(&self.sources));
        let reverse = has_companion(rule) && landing.via.is_empty();
        let reverse_to_sources = reverse && rule.cap_sources.overlaps(&self.sources);
        let reverse_to_owners = (reverse && rule.cap_targets.contains(&Target::OwnDevices))
            .then(|| self.sources.clone());
        let devices = self.devices;
        let mut check = |j: usize| {
            if self.is_new(j) && self.sends_to(rule, landing, j) {
                self.add(j);
            }
        };
        if own && rule.src_everything {
            devices.untagged.iter().for_each(|j| check(*j));
        }
        if let Some(own_sources) = own_sources {
            devices.owners_devices(&own_sources, &mut check);
        }
        if reverse_to_sources {
            for part in rule.src.parts() {
                devices.addressed(part, &mut check);
            }
        }
        if let Some(sources) = reverse_to_owners {
            devices.owners_devices(&sources, &mut check);
        }
    }

    /// Whether what `rule` puts in device `j`'s filter takes in an address this device
    /// may send from.
    fn sends_to(&self, rule: &Rule, landing: &Landing, j: usize) -> bool {
        let device = &self.resolver.inventory.devices[j];
        self.devices.lands_on(landing, j)
            && filter_from(
                self.resolver,
                std::iter::once(rule),
                device,
                &Merges::default(),
            )
            .iter()
            .any(|r| r.src_everything || r.src.overlaps(&self.sources))
    }
}

/// The devices that receive a piece of `rule` with the rule's own sources, so that every
/// device those sources take in may send to them.
fn wide_receivers(
    resolver: &Resolver,
    devices: &DeviceIndex,
    rule: &Rule,
    landing: &Landing,
) -> Vec<u32> {
    let mut receivers = Vec::new();
    devices.landing(landing, |j| receivers.push(j as u32));
    receivers.sort_unstable();
    receivers.dedup();
    // The pieces that keep the rule's own sources share them (the same `Arc`); those of
    // `autogroup:self` and of reverse grants have sources of their own.
    let inventory = resolver.inventory;
    receivers.retain(|j| {
        filter_from(
            resolver,
            std::iter::once(rule),
            &inventory.devices[*j as usize],
            &Merges::default(),
        )
        .iter()
        .any(|piece| Arc::ptr_eq(&piece.src, &rule.src))
    });
    receivers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inventory::with_auto_approvals;

    /// The repository's own policy and inventory, and a tailnet with every kind of piece:
    /// `autogroup:self`, a reverse grant, a `via` route, `autogroup:danger-all`, a
    /// subnet router and an exit node.
    fn tailnets() -> Vec<(crate::model::Policy, Inventory)> {
        let repo = (
            crate::model::from_text(include_str!("../../policies/policy.hujson")),
            Inventory::from_json(include_bytes!("../../policies/inventory.json")).unwrap(),
        );
        let mixed = crate::model::from_text(
            r#"{"tagOwners": {"tag:r": [], "tag:db": []},
                "grants": [
                  {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]},
                  {"src": ["ann@example.com"], "dst": ["tag:db"],
                   "app": {"tailscale.com/cap/drive": [{"shares": ["*"]}]}},
                  {"src": ["bob@example.com"], "dst": ["10.1.0.0/16"], "ip": ["tcp:22"], "via": ["tag:r"]},
                  {"src": ["autogroup:danger-all"], "dst": ["tag:db"], "ip": ["tcp:443"]}
                ],
                "acls": [{"action": "accept", "src": ["tag:db"], "dst": ["autogroup:internet:*"]}]}"#,
        );
        let devices = r#"{"devices": [
            {"hostname": "a1", "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"], "user": "ann@example.com"},
            {"hostname": "a2", "addresses": ["100.64.0.2"], "user": "ann@example.com"},
            {"hostname": "b1", "addresses": ["100.64.0.3"], "user": "bob@example.com"},
            {"hostname": "db", "addresses": ["100.64.0.4"], "tags": ["tag:db"]},
            {"hostname": "r", "addresses": ["100.64.0.5"], "tags": ["tag:r"],
             "advertisedRoutes": ["10.1.0.0/16", "0.0.0.0/0", "::/0"], "enabledRoutes": ["10.1.0.0/16", "0.0.0.0/0", "::/0"]}
        ]}"#;
        let mixed = (mixed, Inventory::from_json(devices.as_bytes()).unwrap());
        vec![repo, mixed]
    }

    #[test]
    fn keeping_nothing_answers_as_keeping_everything_and_as_one_pass() {
        for (policy, inventory) in tailnets() {
            let inventory = with_auto_approvals(&inventory, &policy);
            let resolver = Resolver::new(&policy, &inventory);
            let rules = super::super::rules::compile(&resolver);
            let kept = Filters::new(&resolver, &rules);
            let recomputed = Filters::keeping(&resolver, &rules, 0);
            assert!(kept.candidates.is_some() && kept.taking_in.is_some());
            assert!(recomputed.candidates.is_none() && recomputed.taking_in.is_none());
            let mut peers_seen = 0;
            for i in 0..inventory.devices.len() {
                let filter = kept.filter(i);
                assert_eq!(filter, recomputed.filter(i));
                let mut peers = kept.peers(i, &filter);
                let mut again = recomputed.peers(i, &filter);
                let (alone, mut alone_peers) = device_filter_and_peers(&resolver, i);
                peers.sort();
                again.sort();
                alone_peers.sort();
                assert_eq!(peers, again);
                assert_eq!((alone, alone_peers), (filter, peers.clone()));
                peers_seen += peers.len();
            }
            assert!(peers_seen > 0);
        }
    }

    #[test]
    fn the_wire_shape_reads_back_as_the_same_filter() {
        for (policy, inventory) in tailnets() {
            let inventory = with_auto_approvals(&inventory, &policy);
            let resolver = Resolver::new(&policy, &inventory);
            let rules = super::super::rules::compile(&resolver);
            let filters = Filters::new(&resolver, &rules);
            let wire = WireFilter::default();
            for i in 0..inventory.devices.len() {
                let filter = filters.filter(i);
                let written = serde_json::to_value(wire.of(&filter)).unwrap();
                // Written again, from the kept source texts: the same.
                assert_eq!(written, serde_json::to_value(wire.of(&filter)).unwrap());
                FilterSets::from_json(&written)
                    .unwrap()
                    .compare(&FilterSets::from_rules(&filter))
                    .unwrap();
            }
            assert!(!wire.texts.borrow().by_set.is_empty());
        }
    }

    /// Every device's filter as sent (JSON), by hostname, both ways `tsacl filter`
    /// computes it: all devices, and one device alone.
    fn sent(policy: &str, devices: &str) -> BTreeMap<String, Value> {
        let policy = crate::model::from_text(policy);
        let inventory = Inventory::from_json(devices.as_bytes()).unwrap();
        let inventory = with_auto_approvals(&inventory, &policy);
        let resolver = Resolver::new(&policy, &inventory);
        let rules = super::super::rules::compile(&resolver);
        let filters = Filters::new(&resolver, &rules);
        let wire = WireFilter::default();
        let mut out = BTreeMap::new();
        for (i, d) in inventory.devices.iter().enumerate() {
            let written = serde_json::to_value(wire.of(&filters.filter(i))).unwrap();
            let (alone, _) = device_filter_and_peers(&resolver, i);
            assert_eq!(serde_json::to_value(wire.of(&alone)).unwrap(), written);
            out.insert(d.hostname.clone(), written);
        }
        out
    }

    const TAILNET: &str = r#"{"devices": [
        {"hostname": "client", "addresses": ["100.89.1.1", "fd7a:115c:a1e0::d37:1"], "tags": ["tag:client"]},
        {"hostname": "server", "addresses": ["100.89.1.20", "fd7a:115c:a1e0::8037:2"], "tags": ["tag:server"]},
        {"hostname": "prod", "addresses": ["100.89.1.3"], "tags": ["tag:prod"]},
        {"hostname": "router", "addresses": ["100.89.1.4"], "tags": ["tag:router"],
         "advertisedRoutes": ["10.33.0.0/16"], "enabledRoutes": ["10.33.0.0/16"]}
    ]}"#;

    #[test]
    fn a_destination_block_is_sent_whole_where_it_overlaps_a_route() {
        let filters = sent(
            r#"{"acls": [{"action": "accept", "src": ["tag:client"], "dst": ["10.0.0.0/8:22"]}]}"#,
            TAILNET,
        );
        assert_eq!(
            filters["router"],
            json!([{"SrcIPs": ["100.89.1.1", "fd7a:115c:a1e0::d37:1"],
                    "DstPorts": [{"IP": "10.0.0.0/8", "Ports": {"First": 22, "Last": 22}}]}])
        );
        assert_eq!(filters["server"], json!([]));
    }

    #[test]
    fn rules_with_the_same_sources_merge_into_the_first_even_when_it_lands_elsewhere() {
        // As capture acl-at06: on prod, the client's rule comes first, because the
        // client's first rule (to the server) opened the merged rule.
        let filters = sent(
            r#"{"acls": [
                {"action": "accept", "src": ["tag:client"], "dst": ["tag:server:22"]},
                {"action": "accept", "src": ["tag:server"], "dst": ["tag:prod:5432"]},
                {"action": "accept", "src": ["tag:client"], "dst": ["tag:prod:443", "tag:server:80"]}
            ]}"#,
            TAILNET,
        );
        let port = |ip: &str, p: u16| json!({"IP": ip, "Ports": {"First": p, "Last": p}});
        assert_eq!(
            filters["prod"],
            json!([
                {"SrcIPs": ["100.89.1.1", "fd7a:115c:a1e0::d37:1"], "DstPorts": [port("100.89.1.3", 443)]},
                {"SrcIPs": ["100.89.1.20", "fd7a:115c:a1e0::8037:2"], "DstPorts": [port("100.89.1.3", 5432)]}
            ])
        );
        // On the server, both client rules in one, addresses then ports.
        assert_eq!(
            filters["server"],
            json!([{"SrcIPs": ["100.89.1.1", "fd7a:115c:a1e0::d37:1"], "DstPorts": [
                port("100.89.1.20", 22), port("fd7a:115c:a1e0::8037:2", 22),
                port("100.89.1.20", 80), port("fd7a:115c:a1e0::8037:2", 80)
            ]}])
        );
    }

    #[test]
    fn sources_are_sorted_as_strings_and_a_wildcard_lists_routes_and_other_sources() {
        let filters = sent(
            r#"{"acls": [
                {"action": "accept", "src": ["*", "tag:client"], "dst": ["tag:prod:22"]},
                {"action": "accept", "src": ["tag:client", "tag:server"], "dst": ["tag:prod:80,443"]}
            ]}"#,
            TAILNET,
        );
        let port = |p: u16| json!({"IP": "100.89.1.3", "Ports": {"First": p, "Last": p}});
        assert_eq!(
            filters["prod"],
            json!([
                {"SrcIPs": ["10.33.0.0/16", "100.115.94.0-100.127.255.255", "100.64.0.0-100.115.91.255",
                            "100.89.1.1", "fd7a:115c:a1e0::/48", "fd7a:115c:a1e0::d37:1"],
                 "DstPorts": [port(22)]},
                // Strings: `…::8037:2` before `…::d37:1` (as addresses, the other way).
                {"SrcIPs": ["100.89.1.1", "100.89.1.20", "fd7a:115c:a1e0::8037:2", "fd7a:115c:a1e0::d37:1"],
                 "DstPorts": [port(80), port(443)]}
            ])
        );
    }
}
