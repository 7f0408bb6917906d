//! Per-device packet filters: what the control plane sends each device, computed from the
//! resolved rules, and written in the wire shape (`SrcIPs`, `DstPorts`, `IPProto`,
//! `CapGrant`). Also a set comparison of filters, since the server splits, merges and
//! orders rules its own way: two filters are equal when they accept the same
//! (source, destination, protocol, port) tuples and grant the same capabilities.

use super::inventory::{Device, Inventory};
use super::ipset::IpSet;
use super::resolve::{Resolver, Target, device_addresses, device_space, internet};
use super::rules::{Protocols, Rule, Wanted, Written};
use crate::model::addr::ip_to_u128;
use crate::model::{Autogroup, PortRange, Sel, Selector};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// One rule of a device's packet filter.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterRule {
    /// Shared with the rule it comes from: a large source set is stored once, not once per device.
    pub src: Arc<IpSet>,
    /// Written `*` (from `autogroup:danger-all`).
    pub src_everything: bool,
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
    filter_from(resolver, rules.iter(), device)
}

/// The filter of one device from the rules that may concern it (in policy order).
fn filter_from<'r>(
    resolver: &Resolver,
    rules: impl Iterator<Item = &'r Rule>,
    device: &Device,
) -> Vec<FilterRule> {
    let addrs = device_addresses(device);
    let space = device_space(device);
    let owner_devices = device.owner().map(|o| resolver.user(o));
    let mut out = Vec::new();
    for rule in rules {
        if !rule.via.is_empty() {
            via_rule(rule, device, &mut out);
            continue;
        }
        for e in &rule.entries {
            let (src, dst) = match &e.target {
                Target::Everything => (rule.src.clone(), None),
                Target::OwnDevices => match &owner_devices {
                    Some(own) => (Arc::new(rule.src.intersect(own)), Some(addrs.clone())),
                    None => continue,
                },
                Target::Addresses(d) => (rule.src.clone(), Some(d.intersect(&space))),
            };
            if src.is_empty() && !rule.src_everything || dst.as_ref().is_some_and(IpSet::is_empty) {
                continue;
            }
            out.push(FilterRule {
                src,
                src_everything: rule.src_everything,
                dst_ports: e.ports.iter().map(|p| (dst.clone(), *p)).collect(),
                protocols: e.protocols,
                cap_grants: Vec::new(),
                origin: rule.origin,
            });
        }
        if rule.caps.is_empty() {
            continue;
        }
        for target in &rule.cap_targets {
            let (src, dsts) = match target {
                Target::Everything => (rule.src.clone(), addrs.clone()),
                Target::OwnDevices => match &owner_devices {
                    Some(own) => (Arc::new(rule.src.intersect(own)), addrs.clone()),
                    None => continue,
                },
                Target::Addresses(d) => (rule.src.clone(), d.intersect(&addrs)),
            };
            if src.is_empty() || dsts.is_empty() {
                continue;
            }
            out.push(FilterRule {
                src,
                src_everything: rule.src_everything,
                dst_ports: Vec::new(),
                protocols: Protocols::Default,
                cap_grants: vec![CapGrant {
                    dsts,
                    caps: rule.caps.clone(),
                }],
                origin: rule.origin,
            });
        }
        // The reverse grants: the destinations get the companion capability on the sources.
        for (cap, companion) in COMPANIONS {
            if !rule.caps.iter().any(|(name, _)| name == cap) {
                continue;
            }
            let dsts = rule.src.intersect(&addrs);
            if dsts.is_empty() {
                continue;
            }
            let mut src = rule.cap_sources.clone();
            if rule.cap_targets.contains(&Target::OwnDevices)
                && let Some(own) = &owner_devices
            {
                src.union_with(own);
            }
            let src = Arc::new(src);
            if src.is_empty() {
                continue;
            }
            out.push(FilterRule {
                src,
                src_everything: false,
                dst_ports: Vec::new(),
                protocols: Protocols::Default,
                cap_grants: vec![CapGrant {
                    dsts,
                    caps: vec![(companion.to_string(), Value::Null)],
                }],
                origin: rule.origin,
            });
        }
    }
    out
}

/// A `via` rule applies only on devices with one of its tags, and only to the parts of its
/// destinations that the device routes.
fn via_rule(rule: &Rule, device: &Device, out: &mut Vec<FilterRule>) {
    if !device.tags.iter().any(|t| rule.via.contains(t)) {
        return;
    }
    let mut routed = IpSet::new();
    for r in device.subnet_routes() {
        routed.add_prefix(r);
    }
    if device.is_exit_node() {
        routed.union_with(&internet());
    }
    for e in &rule.entries {
        let dst = match &e.target {
            Target::Everything => routed.clone(),
            Target::OwnDevices => continue,
            Target::Addresses(d) => d.intersect(&routed),
        };
        if dst.is_empty() || rule.src.is_empty() {
            continue;
        }
        out.push(FilterRule {
            src: rule.src.clone(),
            src_everything: rule.src_everything,
            dst_ports: e.ports.iter().map(|p| (Some(dst.clone()), *p)).collect(),
            protocols: e.protocols,
            cap_grants: Vec::new(),
            origin: rule.origin,
        });
    }
}

/// The filter in the wire shape of a conformance capture's `packet_filter_rules`.
pub fn to_json(rules: &[FilterRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                let mut obj = serde_json::Map::new();
                let src = if r.src_everything { vec!["*".to_string()] } else { r.src.to_strings() };
                obj.insert("SrcIPs".into(), json!(src));
                if !r.dst_ports.is_empty() {
                    let mut dsts = Vec::new();
                    for (ips, ports) in &r.dst_ports {
                        let ips = ips.as_ref().map_or_else(|| vec!["*".to_string()], IpSet::to_strings);
                        for ip in ips {
                            dsts.push(json!({"IP": ip, "Ports": {"First": ports.first, "Last": ports.last}}));
                        }
                    }
                    obj.insert("DstPorts".into(), Value::Array(dsts));
                }
                if let Protocols::Only(p) = r.protocols {
                    obj.insert("IPProto".into(), json!([p.0]));
                }
                if !r.cap_grants.is_empty() {
                    let grants: Vec<Value> = r
                        .cap_grants
                        .iter()
                        .map(|g| {
                            let dsts: Vec<String> = g
                                .dsts
                                .ranges()
                                .flat_map(|(a, b)| single_prefixes(a, b))
                                .collect();
                            let caps: serde_json::Map<String, Value> = g
                                .caps
                                .iter()
                                .map(|(n, v)| (n.clone(), v.clone()))
                                .collect();
                            json!({"Dsts": dsts, "CapMap": caps})
                        })
                        .collect();
                    obj.insert("CapGrant".into(), Value::Array(grants));
                }
                Value::Object(obj)
            })
            .collect(),
    )
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
                IpSet::clone(&r.src)
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
    inventory
        .devices
        .iter()
        .zip(candidates)
        .map(|(d, rule_ids)| {
            (
                d.hostname.clone(),
                filter_from(resolver, rule_ids.iter().map(|i| &rules[*i]), d),
            )
        })
        .collect()
}

/// For each device, the indices (ascending) of the rules that may put something in its filter.
pub(crate) fn candidate_rules(rules: &[Rule], inventory: &Inventory) -> Vec<Vec<usize>> {
    let devices = DeviceIndex::new(inventory);
    let n = inventory.devices.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut mark = vec![usize::MAX; n];
    for (ri, rule) in rules.iter().enumerate() {
        devices.landing(&Landing::of(rule), |i| {
            if mark[i] != ri {
                mark[i] = ri;
                out[i].push(ri);
            }
        });
    }
    out
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
            landing.addresses.push(&rule.src);
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
                    routed.union_with(&internet());
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

/// How many device numbers [`Filters`] keeps for rules already asked about (64 MiB);
/// beyond that it recomputes them, so memory stays bounded on any policy.
const WIDE_CACHE_LIMIT: usize = 1 << 24;

/// The receivers of the rules already asked about, within [`WIDE_CACHE_LIMIT`].
struct WideReceivers {
    by_rule: Vec<Option<Rc<[u32]>>>,
    kept: usize,
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
    /// Per rule, once computed (within [`WIDE_CACHE_LIMIT`]): the devices that receive a
    /// piece of it with the rule's own sources, whoever the sender.
    wide: RefCell<WideReceivers>,
    /// Which devices a [`Filters::peers`] call has met, by stamp (to avoid clearing).
    stamps: RefCell<Stamps>,
}

impl<'r> Filters<'r> {
    pub fn new(resolver: &'r Resolver<'r>, rules: &'r [Rule]) -> Filters<'r> {
        Filters {
            resolver,
            rules,
            landings: rules.iter().map(Landing::of).collect(),
            devices: DeviceIndex::new(resolver.inventory),
            wide: RefCell::new(WideReceivers {
                by_rule: vec![None; rules.len()],
                kept: 0,
            }),
            stamps: RefCell::new(Stamps::new(resolver.inventory.devices.len())),
        }
    }

    /// The packet filter of device `i` (an index into the inventory's devices).
    pub fn filter(&self, i: usize) -> Vec<FilterRule> {
        let rules = self
            .rules
            .iter()
            .zip(&self.landings)
            .filter(|(_, landing)| self.devices.lands_on(landing, i))
            .map(|(rule, _)| rule);
        filter_from(self.resolver, rules, &self.resolver.inventory.devices[i])
    }

    /// The peers of device `i` given its packet filter (from [`Filters::filter`]), as
    /// device indices in no particular order, each once.
    pub fn peers(&self, i: usize, filter: &[FilterRule]) -> Vec<usize> {
        let mut stamps = self.stamps.borrow_mut();
        let mut search = PeerSearch::new(self.resolver, &self.devices, i, &mut stamps);
        search.senders(filter);
        for (ri, rule) in self.rules.iter().enumerate() {
            search.receivers(rule, &self.landings[ri], || self.wide_receivers(ri));
        }
        search.found
    }

    fn wide_receivers(&self, ri: usize) -> Rc<[u32]> {
        if let Some(known) = &self.wide.borrow().by_rule[ri] {
            return known.clone();
        }
        let receivers: Rc<[u32]> = wide_receivers(
            self.resolver,
            &self.devices,
            &self.rules[ri],
            &self.landings[ri],
        )
        .into();
        let mut wide = self.wide.borrow_mut();
        if wide.kept + receivers.len() <= WIDE_CACHE_LIMIT {
            wide.kept += receivers.len();
            wide.by_rule[ri] = Some(receivers.clone());
        }
        receivers
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
        search.receivers(&rule, &landing, || {
            wide_receivers(resolver, &devices, &rule, &landing)
        });
        if devices.lands_on(&landing, i) {
            drop(landing);
            landing_here.push(rule);
        }
    });
    let filter = filter_from(resolver, landing_here.iter(), device);
    search.senders(&filter);
    (filter, search.found)
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
    let via_tags: Vec<&str> = selectors(rule.via)
        .filter_map(|sel| match sel {
            Selector::Tag(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let lands = if via_tags.is_empty() {
        selectors(rule.dst.iter().copied()).any(|sel| match sel {
            Selector::Wildcard => true,
            Selector::Autogroup(Autogroup::SelfDevices) => !device.is_tagged(),
            other => resolver.names_any_of(other, here),
        })
    } else {
        device.tags.iter().any(|t| via_tags.contains(&t.as_str()))
    };
    if lands || !rule.app.is_empty() {
        return Wanted::Whole;
    }
    let takes_in = selectors(rule.src).any(|sel| match sel {
        Selector::Wildcard | Selector::Autogroup(Autogroup::DangerAll) => true,
        other => resolver.names_any_of(other, sources),
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

    /// The devices that may send to this one: whoever its filter takes in.
    fn senders(&mut self, filter: &[FilterRule]) {
        if filter.iter().any(|r| r.src_everything) {
            (0..self.marks.len()).for_each(|j| self.add(j));
            return;
        }
        let mut distinct: Vec<&IpSet> = Vec::new();
        let mut last: Option<&Arc<IpSet>> = None;
        for r in filter {
            if last.is_none_or(|l| !Arc::ptr_eq(l, &r.src)) {
                distinct.push(&r.src);
                last = Some(&r.src);
            }
        }
        let senders = IpSet::union_all(distinct);
        let devices = self.devices;
        devices.sending_from(&senders, &mut |j| self.add(j));
    }

    /// The devices this one may send to through `rule`. `wide` gives the rule's
    /// [`wide_receivers`], asked for only when the rule's sources take this device in.
    fn receivers<W: AsRef<[u32]>>(
        &mut self,
        rule: &Rule,
        landing: &Landing,
        wide: impl FnOnce() -> W,
    ) {
        let takes_in = rule.src_everything || rule.src.overlaps(&self.sources);
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
            devices.addressed(&rule.src, &mut check);
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
            && filter_from(self.resolver, std::iter::once(rule), device)
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
        )
        .iter()
        .any(|piece| Arc::ptr_eq(&piece.src, &rule.src))
    });
    receivers
}
