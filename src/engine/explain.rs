//! `explain`: who can reach a target, on which ports, through which rule; and why (or why
//! not) one source can. Answers are symbolic (principals, see [`super::reach`]), so they
//! hold without an inventory; rows keep the rule and its span for `file:line` output.

use super::IpSet;
use super::access::{AccessModel, Dst, Id};
use super::inventory::Inventory;
pub use super::reach::Held;
use super::reach::{EntryView, Principal, Roles, grants_through, protocol_matches, reachable};
use super::resolve::{device_address_space, named_addresses};
use super::rules::Origin;
use crate::model::{Policy, PortRange, Protocol, Selector};
use crate::suggest::did_you_mean;
use crate::syntax::Span;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// A target or source named on the command line, resolved.
#[derive(Clone, Debug)]
pub struct Named {
    /// What the user typed, normalised (`tag:redis`, `alice@example.com`).
    pub name: String,
    /// What kind of name it is.
    pub kind: &'static str,
    pub principals: Vec<Principal>,
    /// The addresses of the one inventory device it names, which a rule written with
    /// addresses may name apart from the other devices of its principal.
    pub device_addresses: Option<IpSet>,
}

/// Resolve a name: a tag, user, group, host alias, IP or CIDR, or an inventory device.
pub fn resolve_name(
    policy: &Policy,
    inventory: Option<&Inventory>,
    name: &str,
) -> Result<Named, String> {
    resolve_name_with(policy, inventory, &[], name)
}

/// [`resolve_name`], where `aliases` (names another layer defines, such as the intents'
/// devices and services) come after inventory devices and before the policy's selectors,
/// and are among the names "did you mean" offers.
pub fn resolve_name_with(
    policy: &Policy,
    inventory: Option<&Inventory>,
    aliases: &[Named],
    name: &str,
) -> Result<Named, String> {
    let text = name.trim();
    if let Some(inv) = inventory
        && let Some(d) = inv.device(text)
    {
        let principal = Principal::of_device(d);
        return Ok(Named {
            name: d.hostname.clone(),
            kind: "device",
            principals: vec![principal],
            device_addresses: Some(IpSet::from_addrs(d.addresses.iter().copied())),
        });
    }
    if let Some(alias) = aliases.iter().find(|a| a.name == text) {
        return Ok(with_holders(alias.clone(), inventory));
    }
    let unknown = |what: &str| {
        let mut names: Vec<&str> = aliases.iter().map(|a| a.name.as_str()).collect();
        names.extend(policy.tag_owners.iter().map(|t| t.tag.value.as_str()));
        names.extend(policy.groups.iter().map(|g| g.name.value.as_str()));
        names.extend(policy.hosts.iter().map(|h| h.name.value.as_str()));
        if let Some(inv) = inventory {
            names.extend(inv.devices.iter().map(|d| d.hostname.as_str()));
        }
        let hint = did_you_mean(text, names.iter().copied())
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        format!("{what} {text:?}{hint}")
    };
    match Selector::parse(text) {
        Ok(Selector::Tag(t)) => {
            if policy.tag_owner(&t).is_none() {
                return Err(unknown("no tag named"));
            }
            Ok(Named {
                name: t.clone(),
                kind: "tag",
                principals: vec![Principal::Tags(vec![t])],
                device_addresses: None,
            })
        }
        Ok(Selector::User(u)) => Ok(Named {
            name: u.clone(),
            kind: "user",
            principals: vec![Principal::User(u)],
            device_addresses: None,
        }),
        // A group the policy defines, or one the identity provider syncs that it names.
        Ok(Selector::Group(g))
            if policy.group(&g).is_some() || super::structural::idp_groups(policy).contains(&g) =>
        {
            Ok(Named {
                principals: super::structural::group_logins(policy, &g)
                    .map(|m| Principal::User(m.to_string()))
                    .collect(),
                name: g,
                kind: "group",
                device_addresses: None,
            })
        }
        Ok(Selector::Group(_)) => Err(unknown("no group named")),
        Ok(Selector::Host(h)) => match policy.host(&h).and_then(|d| d.prefix) {
            Some(p) => Ok(Named {
                name: h.clone(),
                kind: "host",
                principals: address_principals(inventory, IpSet::from_prefix(&p)),
                device_addresses: None,
            }),
            None if !aliases.is_empty() => Err(unknown(
                "no device or service of the intents, host alias or inventory device named",
            )),
            None => Err(unknown("no host alias or device named")),
        },
        Ok(Selector::Prefix(p)) => Ok(Named {
            name: p.to_string(),
            kind: if p.bare { "address" } else { "CIDR" },
            principals: address_principals(inventory, IpSet::from_prefix(&p)),
            device_addresses: None,
        }),
        _ if !aliases.is_empty() => Err(unknown("no device, service or policy name")),
        _ => Err(unknown("cannot explain")),
    }
}

/// An address, and with an inventory the principals of the devices holding addresses in
/// it: a rule naming `tag:db` reaches 100.101.102.103 when that is a `tag:db` device.
/// `named` with, for each of its addresses, the principals of the inventory devices
/// holding them (an intents device known by its address is the device holding it).
pub fn with_holders(mut named: Named, inventory: Option<&Inventory>) -> Named {
    if inventory.is_none() {
        return named;
    }
    let mut principals: Vec<Principal> = Vec::new();
    for p in std::mem::take(&mut named.principals) {
        let expanded = match p {
            Principal::Address(set) => address_principals(inventory, set),
            p => vec![p],
        };
        for q in expanded {
            if !principals.contains(&q) {
                principals.push(q);
            }
        }
    }
    named.principals = principals;
    named
}

fn address_principals(inventory: Option<&Inventory>, set: IpSet) -> Vec<Principal> {
    let mut out = Vec::new();
    if let Some(inv) = inventory {
        for d in &inv.devices {
            if d.addresses.iter().any(|a| set.contains(*a)) {
                let p = Principal::of_device(d);
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out.insert(0, Principal::Address(set));
    out
}

/// One way in: these sources, through this rule, on these ports.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub protocol: String,
    pub ports: String,
    pub sources: Vec<String>,
    pub rule: String,
    /// The rule, as a value (`None` for the default allow-all).
    #[serde(skip)]
    pub origin: Option<Origin>,
    #[serde(skip)]
    pub span: Span,
    pub destination: String,
}

fn protocol_text(p: Option<Protocol>) -> String {
    p.map_or_else(|| "any".to_string(), |p| p.to_string())
}

fn ports_text(ports: &[PortRange]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The access model `explain` answers from: over every principal the policy names (see
/// [`super::diff::named_principals`]) and the names asked about.
pub fn model<'p>(policy: &'p Policy, roles: &Roles, names: &[&Named]) -> AccessModel<'p> {
    let mut principals = super::diff::named_principals(&[policy]);
    for n in names {
        principals.extend(n.principals.iter().cloned());
    }
    AccessModel::new(policy, roles, principals)
}

/// The default allow-all, as a row.
fn allow_all_row() -> Row {
    Row {
        protocol: "any".into(),
        ports: "*".into(),
        sources: vec!["*".into()],
        rule: "the default allow-all (no acls or grants)".into(),
        origin: None,
        span: Span::default(),
        destination: "*".into(),
    }
}

fn ids(model: &AccessModel, named: &Named) -> Vec<Id> {
    named
        .principals
        .iter()
        .filter_map(|p| model.id(p))
        .collect()
}

fn row(e: &EntryView, sources: Vec<String>) -> Row {
    Row {
        protocol: protocol_text(e.protocol),
        ports: ports_text(e.ports),
        sources,
        rule: e.rule.to_string(),
        origin: Some(e.rule),
        span: e.dst.span,
        destination: e.dst.raw.trim().to_string(),
    }
}

/// Every rule entry through which something reaches `target` (which `model` must have
/// been built with), in policy order.
pub fn inbound(model: &AccessModel, target: &Named) -> Vec<Row> {
    if model.allows_all() {
        return vec![allow_all_row()];
    }
    let mut hits: Vec<u32> = ids(model, target)
        .into_iter()
        .flat_map(|t| model.reaching(t).iter().copied())
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits.into_iter()
        .map(|e| {
            let e = e as usize;
            let entry = &model.entries()[e];
            let sources = if model.destination(e) == Dst::OwnDevices {
                target
                    .principals
                    .iter()
                    .filter(|p| model.id(p).is_some_and(|id| model.sources_include(e, id)))
                    .map(|p| format!("{p} (own devices)"))
                    .collect()
            } else {
                entry.src.iter().map(|s| s.raw.trim().to_string()).collect()
            };
            row(entry, sources)
        })
        .collect()
}

/// Every rule entry through which `source` reaches something.
pub fn outbound(model: &AccessModel, source: &Named) -> Vec<Row> {
    let from = ids(model, source);
    model
        .entries()
        .iter()
        .enumerate()
        .filter(|(e, _)| from.iter().any(|&f| model.sources_include(*e, f)))
        .map(|(_, entry)| row(entry, vec![source.name.clone()]))
        .collect()
}

/// Whether a rule written with addresses takes in a device of a principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Takes {
    Yes,
    /// Its devices' addresses decide, and they are not known.
    Maybe,
    No,
}

/// Whether `set` (the addresses of part of the tailnet's range an address selector
/// names, see [`AddressSelectors::get`]) takes in one of `p`'s devices: by the
/// addresses they hold (`own`, those of the one device asked about), or, when those are
/// unknown, maybe.
fn takes_by_address(held: &Held, set: &IpSet, p: &Principal, own: Option<&IpSet>) -> Takes {
    if matches!(p, Principal::Address(_)) {
        return Takes::No; // The model decides addresses by containment.
    }
    let held = own.or_else(|| held.known().then(|| held.get(p).unwrap_or(empty_set())));
    match held {
        Some(h) if h.overlaps(set) => Takes::Yes,
        Some(_) => Takes::No,
        None => Takes::Maybe,
    }
}

fn empty_set() -> &'static IpSet {
    static EMPTY: std::sync::LazyLock<IpSet> = std::sync::LazyLock::new(IpSet::new);
    &EMPTY
}

/// The addresses each address selector of the model's rules names, computed once each.
struct AddressSelectors<'p> {
    policy: &'p Policy,
    sets: FxHashMap<&'p Selector, Option<IpSet>>,
}

impl<'p> AddressSelectors<'p> {
    fn new(policy: &'p Policy) -> Self {
        AddressSelectors {
            policy,
            sets: FxHashMap::default(),
        }
    }

    /// The addresses `sel` names, when it is an address selector naming part of the
    /// tailnet's range: only devices' addresses decide whether it takes them in (the
    /// model has decided the others: no device holds an address outside the range, and
    /// every device one in a family it spans).
    fn get(&mut self, sel: Option<&'p Selector>) -> Option<&IpSet> {
        let sel = sel?;
        let policy = self.policy;
        self.sets
            .entry(sel)
            .or_insert_with(|| {
                named_addresses(policy, sel).filter(super::reach::in_part_of_tailnet)
            })
            .as_ref()
    }

    /// How an entry's sources take in `p` beyond what the model says: through its
    /// address selectors.
    fn sources_take(
        &mut self,
        entry: &EntryView<'p>,
        held: &Held,
        p: &Principal,
        own: Option<&IpSet>,
    ) -> Takes {
        let mut best = Takes::No;
        for s in entry.src {
            match self
                .get(s.selector.as_ref())
                .map(|set| takes_by_address(held, set, p, own))
            {
                Some(Takes::Yes) => return Takes::Yes,
                Some(Takes::Maybe) => best = Takes::Maybe,
                _ => {}
            }
        }
        best
    }
}

/// Entries written with addresses that reach `target` by the addresses its devices hold,
/// beside [`inbound`]'s (which the access model decides on principals).
#[derive(Default)]
pub struct AddressRows {
    /// Decided by an inventory: they reach it.
    pub reach: Vec<Row>,
    /// Without one: they reach it if its devices hold one of their addresses.
    pub undecided: Vec<Row>,
    reach_entries: Vec<usize>,
    undecided_entries: Vec<usize>,
}

/// A name's users and tags (not its addresses, which the model decides), with their
/// numbers in `model`.
fn device_principals<'n>(model: &AccessModel, named: &'n Named) -> Vec<(Id, &'n Principal)> {
    named
        .principals
        .iter()
        .filter(|p| !matches!(p, Principal::Address(_)))
        .filter_map(|p| Some((model.id(p)?, p)))
        .collect()
}

/// See [`AddressRows`].
pub fn inbound_by_address(model: &AccessModel, target: &Named, held: &Held) -> AddressRows {
    let mut out = AddressRows::default();
    if model.allows_all() {
        return out;
    }
    let targets = device_principals(model, target);
    if targets.is_empty() {
        return out;
    }
    let mut sets = AddressSelectors::new(model.policy());
    for (e, entry) in model.entries().iter().enumerate() {
        let Dst::Set(_) = model.destination(e) else {
            continue;
        };
        let Some(set) = sets.get(entry.dst.selector.as_ref()) else {
            continue;
        };
        let mut takes = Takes::No;
        for &(id, p) in &targets {
            if model.leads(e, id, id) {
                takes = Takes::No; // Already among `inbound`'s rows.
                break;
            }
            match takes_by_address(held, set, p, target.device_addresses.as_ref()) {
                Takes::Yes => takes = Takes::Yes,
                Takes::Maybe if takes == Takes::No => takes = Takes::Maybe,
                _ => {}
            }
        }
        let sources = entry.src.iter().map(|s| s.raw.trim().to_string()).collect();
        match takes {
            Takes::Yes => {
                out.reach.push(row(entry, sources));
                out.reach_entries.push(e);
            }
            Takes::Maybe => {
                out.undecided.push(row(entry, sources));
                out.undecided_entries.push(e);
            }
            Takes::No => {}
        }
    }
    out
}

/// Entries whose sources take in `source` only by the addresses its devices hold (see
/// [`AddressRows`]), beside [`outbound`]'s.
pub fn outbound_by_address(model: &AccessModel, source: &Named, held: &Held) -> AddressRows {
    let mut out = AddressRows::default();
    if model.allows_all() {
        return out;
    }
    let from = device_principals(model, source);
    let mut sets = AddressSelectors::new(model.policy());
    for (e, entry) in model.entries().iter().enumerate() {
        if from.iter().any(|&(id, _)| model.sources_include(e, id)) {
            continue; // Among `outbound`'s rows.
        }
        let mut takes = Takes::No;
        for &(_, p) in &from {
            match sets.sources_take(entry, held, p, source.device_addresses.as_ref()) {
                Takes::Yes => takes = Takes::Yes,
                Takes::Maybe if takes == Takes::No => takes = Takes::Maybe,
                _ => {}
            }
        }
        let list = match takes {
            Takes::Yes => (&mut out.reach, &mut out.reach_entries),
            Takes::Maybe => (&mut out.undecided, &mut out.undecided_entries),
            Takes::No => continue,
        };
        list.0.push(row(entry, vec![source.name.clone()]));
        list.1.push(e);
    }
    out
}

/// Principals the policy names that cannot reach a target, and those whose devices'
/// addresses decide whether they can.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cannot {
    pub cannot: Vec<String>,
    /// A rule written with addresses in part of the tailnet's range may take in their
    /// devices (as sources) or the target's (as its destination); no inventory says.
    pub undecided: Vec<String>,
}

/// Principals the policy names (tags it owns, users of its groups) that cannot reach
/// `target` on any port, with `by_address` ([`inbound_by_address`]) for the rules that
/// reach it by address.
pub fn cannot_reach(
    model: &AccessModel,
    target: &Named,
    held: &Held,
    by_address: &AddressRows,
) -> Cannot {
    if model.allows_all() {
        return Cannot::default(); // The default policy lets everyone reach everything.
    }
    let policy = model.policy();
    let mut candidates: Vec<Principal> = policy
        .tag_owners
        .iter()
        .map(|t| Principal::Tags(vec![t.tag.value.clone()]))
        .collect();
    let mut users: Vec<String> = policy
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.value.trim().to_string()))
        .collect();
    users.sort();
    users.dedup();
    candidates.extend(users.into_iter().map(Principal::User));
    candidates.retain(|c| !target.principals.contains(c));
    // The entries that reach the target: for certain, or if its devices hold their
    // addresses. `autogroup:self` reaches it only from itself, which is not a candidate.
    let mut sure: Vec<usize> = Vec::new();
    for t in ids(model, target) {
        sure.extend(
            model
                .reaching(t)
                .iter()
                .map(|&e| e as usize)
                .filter(|&e| model.destination(e) != Dst::OwnDevices),
        );
    }
    sure.extend(&by_address.reach_entries);
    sure.sort_unstable();
    sure.dedup();
    // An address of the tailnet's range may be any device's: without an inventory, rules
    // to users, tags and autogroups may reach it too.
    let mut undecided_entries = by_address.undecided_entries.clone();
    if address_note(target, held).is_some() {
        undecided_entries.extend((0..model.entries().len()).filter(
            |&e| match model.destination(e) {
                Dst::OwnDevices => true,
                Dst::Set(_) => names_devices(model.entries()[e].dst.selector.as_ref()),
                Dst::Nothing => false,
            },
        ));
    }
    let mut reached = vec![false; model.principals().len()];
    let mut maybe = vec![false; model.principals().len()];
    for (entries, marks) in [(&sure, &mut reached), (&undecided_entries, &mut maybe)] {
        for &e in entries {
            for s in model.sources(e) {
                marks[s as usize] = true;
            }
        }
    }
    // Address sources: each distinct one once, asked of every candidate.
    let mut sets = AddressSelectors::new(policy);
    let mut address_sources: Vec<(&Selector, bool)> = Vec::new();
    let mut seen: rustc_hash::FxHashSet<(&Selector, bool)> = Default::default();
    for (list, is_sure) in [(&sure, true), (&undecided_entries, false)] {
        for &e in list {
            for s in model.entries()[e].src {
                if let Some(sel) = s.selector.as_ref()
                    && sets.get(Some(sel)).is_some()
                    && seen.insert((sel, is_sure))
                {
                    address_sources.push((sel, is_sure));
                }
            }
        }
    }
    let mut out = Cannot::default();
    for c in candidates {
        let id = model.id(&c);
        let mut is_reached = id.is_some_and(|id| reached[id as usize]);
        let mut is_maybe = id.is_some_and(|id| maybe[id as usize]);
        for &(sel, is_sure) in &address_sources {
            if is_reached || (is_maybe && !is_sure) {
                break; // Sure sources come first: nothing after can change the answer.
            }
            let set = sets.get(Some(sel)).expect("an address selector");
            match takes_by_address(held, set, &c, None) {
                Takes::Yes if is_sure => is_reached = true,
                Takes::Yes | Takes::Maybe => is_maybe = true,
                Takes::No => {}
            }
        }
        if is_reached {
            continue;
        }
        if is_maybe {
            out.undecided.push(c.to_string());
        } else {
            out.cannot.push(c.to_string());
        }
    }
    out
}

/// Whether a selector names devices by who they are (a user, group, tag, autogroup or
/// Tailscale Service), so that it may take in an address of the tailnet's range that no
/// inventory places. (`*` is decided on addresses by the model.)
fn names_devices(sel: Option<&Selector>) -> bool {
    use crate::model::Autogroup;
    sel.is_some_and(|sel| {
        !sel.names_addresses()
            && !matches!(
                sel,
                Selector::Wildcard
                    | Selector::Autogroup(Autogroup::Internet | Autogroup::DangerAll)
            )
    })
}

/// Addresses a host alias or ipset of `policies` names, as that name ("name (addresses)";
/// an ipset with many addresses by its name alone), for addresses only one name of a
/// policy stands for (the first policy that has one).
pub fn address_names(policies: &[&Policy]) -> FxHashMap<Principal, String> {
    let mut out = FxHashMap::default();
    for policy in policies {
        for (p, name) in address_names_of(policy) {
            out.entry(p).or_insert(name);
        }
    }
    out
}

fn address_names_of(policy: &Policy) -> Vec<(Principal, String)> {
    let mut by: std::collections::BTreeMap<Principal, Vec<String>> = Default::default();
    for h in &policy.hosts {
        if let Some(p) = h.prefix {
            let set = IpSet::from_prefix(&p);
            let name = format!("{} ({set})", h.name.value);
            by.entry(Principal::Address(set)).or_default().push(name);
        }
    }
    for d in &policy.ipsets {
        let selector = Selector::IpSet(d.name.value.clone());
        let Some(set) = named_addresses(policy, &selector) else {
            continue;
        };
        if set.is_empty() {
            continue;
        }
        let text = set.to_string();
        let name = if text.len() <= 40 {
            format!("{} ({text})", d.name.value)
        } else {
            d.name.value.clone()
        };
        by.entry(Principal::Address(set)).or_default().push(name);
    }
    by.into_iter()
        .filter_map(|(p, mut names)| (names.len() == 1).then(|| (p, names.pop().unwrap())))
        .collect()
}

/// A line saying what a policy file leaves open about an address in the tailnet's range
/// named on the command line: whose device it is.
pub fn address_note(target: &Named, held: &Held) -> Option<String> {
    if held.known() {
        return None; // The devices holding it are among its principals.
    }
    let in_range = target
        .principals
        .iter()
        .any(|p| matches!(p, Principal::Address(a) if a.overlaps(device_address_space())));
    in_range.then(|| {
        format!(
            "{} is in the tailnet's address range: rules naming users, tags or autogroups reach it too if it is one of their devices, which a policy file does not say (pass --inventory)",
            target.name
        )
    })
}

/// A rule that comes close to allowing a denied flow.
#[derive(Clone, Debug, Serialize)]
pub struct Near {
    /// `grants[3]`.
    pub rule: String,
    #[serde(skip)]
    pub origin: Origin,
    /// The rule's span.
    #[serde(skip)]
    pub span: Span,
    /// What it lacks: "its sources (tag:panda) do not include tag:clanker".
    pub lacks: String,
}

/// The answer to "can `from` reach `to` on `port`", with the reasons.
#[derive(Clone, Debug, Serialize)]
pub struct Why {
    pub allowed: bool,
    pub protocol: String,
    pub port: u16,
    /// Rules that allow it (when allowed).
    pub through: Vec<Row>,
    /// When denied: the nearest rules and what each lacks, each rule once.
    pub nearest: Vec<Near>,
    /// When denied: rules written with addresses that allow it if the devices hold them,
    /// which no inventory says.
    pub undecided: Vec<Undecided>,
}

/// A rule that allows a flow if devices hold its addresses (see [`Why::undecided`]).
#[derive(Clone, Debug, Serialize)]
pub struct Undecided {
    pub rule: String,
    #[serde(skip)]
    pub origin: Origin,
    #[serde(skip)]
    pub span: Span,
    /// What decides it: "whether tag:redis's devices hold an address of 100.64.0.0/12".
    pub depends: String,
}

/// Can `from` reach `to` on `proto`/`port` (both named when `model` was built), and
/// through which rules; or, when not, which rules come nearest and what each lacks.
pub fn why(
    model: &AccessModel,
    roles: &Roles,
    from: &Named,
    to: &Named,
    held: &Held,
    proto: u8,
    port: u16,
) -> Why {
    let policy = model.policy();
    let (from_ids, to_ids) = (ids(model, from), ids(model, to));
    let mut through = Vec::new();
    for f in &from.principals {
        let Some(fid) = model.id(f) else { continue };
        for &tid in &to_ids {
            let grants = if model.allows_all() {
                reachable(policy, roles, f, model.principal(tid), proto, port)
            } else {
                let entries: Vec<&EntryView> = model
                    .entries_between(fid, tid)
                    .map(|e| &model.entries()[e])
                    .collect();
                grants_through(policy, roles, &entries, f, proto, port)
            };
            for g in grants {
                through.push(Row {
                    protocol: protocol_text(g.protocol),
                    ports: ports_text(&g.ports),
                    sources: g.via_sources.clone(),
                    rule: g.rule.clone(),
                    origin: g.origin,
                    span: g.entry_span,
                    destination: g.dst.clone(),
                });
            }
        }
    }
    let undecided = if model.allows_all() {
        Vec::new()
    } else {
        by_address(model, held, from, to, proto, port, &mut through)
    };
    // Each rule once, though several of its entries (or principals) may allow the flow.
    let mut seen: std::collections::HashSet<String> = Default::default();
    through.retain(|r| seen.insert(r.rule.clone()));
    let undecided = if through.is_empty() {
        undecided
    } else {
        Vec::new()
    };
    let mut nearest: Vec<(Origin, Span, Lack)> = Vec::new();
    if through.is_empty() {
        let mut at: rustc_hash::FxHashMap<Origin, usize> = Default::default();
        for (i, e) in model.entries().iter().enumerate() {
            let src_ok = from_ids.iter().any(|&f| model.sources_include(i, f));
            let dst_ok = from_ids
                .iter()
                .any(|&f| to_ids.iter().any(|&t| model.leads(i, f, t)));
            let lack = match (src_ok, dst_ok) {
                (false, false) => continue, // Shares neither: not near.
                (false, true) => Lack::Source(
                    e.src
                        .iter()
                        .map(|s| s.raw.trim())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (true, false) => Lack::Destination(e.dst.raw.trim().to_string()),
                (true, true) if !e.ports.iter().any(|p| p.contains(port)) => Lack::Port {
                    ports: vec![ports_text(e.ports)],
                    dst: e.dst.raw.trim().to_string(),
                },
                (true, true) => Lack::Protocol(protocol_text(e.protocol)),
            };
            // A rule once, at its nearest entry; the ports of its entries together.
            match at.get(&e.rule) {
                None => {
                    at.insert(e.rule, nearest.len());
                    nearest.push((e.rule, e.rule_span, lack));
                }
                Some(&k) => match (&mut nearest[k].2, lack) {
                    (Lack::Port { ports, .. }, Lack::Port { ports: more, .. }) => {
                        for p in more {
                            if !ports.contains(&p) {
                                ports.push(p);
                            }
                        }
                    }
                    (found, lack) if lack.rank() < found.rank() => *found = lack,
                    _ => {}
                },
            }
        }
        nearest.sort_by_key(|(_, _, lack)| lack.rank());
        // Rules that take the source elsewhere matter only when none opens the
        // destination at all.
        if nearest.first().is_some_and(|(_, _, lack)| lack.rank() < 3) {
            nearest.retain(|(_, _, lack)| lack.rank() < 3);
        }
        nearest.truncate(5);
    }
    let nearest: Vec<Near> = nearest
        .into_iter()
        .map(|(origin, span, lack)| Near {
            rule: origin.to_string(),
            origin,
            span,
            lacks: lack.text(&from.name, &to.name, port, proto),
        })
        .collect();
    Why {
        allowed: !through.is_empty(),
        protocol: Protocol(proto).to_string(),
        port,
        through,
        nearest,
        undecided,
    }
}

/// The rules written with addresses that let `from` reach `to` by the addresses their
/// devices hold: added to `through` where an inventory says so, returned where no
/// inventory says.
fn by_address(
    model: &AccessModel,
    held: &Held,
    from: &Named,
    to: &Named,
    proto: u8,
    port: u16,
    through: &mut Vec<Row>,
) -> Vec<Undecided> {
    let mut undecided: Vec<Undecided> = Vec::new();
    let mut sets = AddressSelectors::new(model.policy());
    let ids_of = |named: &'_ Named| -> Vec<(Id, Principal)> {
        named
            .principals
            .iter()
            .filter_map(|p| Some((model.id(p)?, p.clone())))
            .collect()
    };
    let (froms, tos) = (ids_of(from), ids_of(to));
    // Addresses of the tailnet's range whose devices no inventory names.
    let (from_unknown, to_unknown) = (
        address_note(from, held).is_some(),
        address_note(to, held).is_some(),
    );
    for (e, entry) in model.entries().iter().enumerate() {
        if !protocol_matches(entry.protocol, proto) || !entry.ports.iter().any(|p| p.contains(port))
        {
            continue;
        }
        let mut best: Option<(Takes, Takes)> = None;
        for (fid, f) in &froms {
            let src = if model.sources_include(e, *fid) {
                Takes::Yes
            } else if from_unknown && matches!(f, Principal::Address(_)) {
                // An address of the tailnet's range may be a device its sources name.
                if entry.src.iter().any(|s| names_devices(s.selector.as_ref())) {
                    Takes::Maybe
                } else {
                    Takes::No
                }
            } else {
                sets.sources_take(entry, held, f, from.device_addresses.as_ref())
            };
            if src == Takes::No {
                continue;
            }
            for (tid, t) in &tos {
                let dst = if model.leads(e, *fid, *tid) {
                    Takes::Yes
                } else if to_unknown && matches!(t, Principal::Address(_)) {
                    if model.destination(e) != Dst::OwnDevices
                        && names_devices(entry.dst.selector.as_ref())
                    {
                        Takes::Maybe
                    } else {
                        Takes::No
                    }
                } else if let Dst::Set(_) = model.destination(e) {
                    sets.get(entry.dst.selector.as_ref())
                        .map_or(Takes::No, |set| {
                            takes_by_address(held, set, t, to.device_addresses.as_ref())
                        })
                } else {
                    Takes::No
                };
                if dst == Takes::No {
                    continue;
                }
                let rank =
                    |(s, d): (Takes, Takes)| (s == Takes::Yes) as u8 + (d == Takes::Yes) as u8;
                if best.is_none_or(|b| rank((src, dst)) > rank(b)) {
                    best = Some((src, dst));
                }
            }
        }
        let sources: Vec<String> = entry.src.iter().map(|s| s.raw.trim().to_string()).collect();
        match best {
            None => {}
            Some((Takes::Yes, Takes::Yes)) => through.push(row(entry, sources)),
            Some((src, dst)) => {
                if undecided.iter().any(|u| u.origin == entry.rule) {
                    continue;
                }
                let mut depends = Vec::new();
                if src == Takes::Maybe && from_unknown {
                    let named: Vec<&str> = entry
                        .src
                        .iter()
                        .filter(|s| names_devices(s.selector.as_ref()))
                        .map(|s| s.raw.trim())
                        .collect();
                    depends.push(format!(
                        "whether {} is a device of its sources ({})",
                        from.name,
                        named.join(", ")
                    ));
                } else if src == Takes::Maybe {
                    let named: Vec<&str> = entry
                        .src
                        .iter()
                        .filter(|s| sets.get(s.selector.as_ref()).is_some())
                        .map(|s| s.raw.trim())
                        .collect();
                    depends.push(format!(
                        "whether {}'s devices hold an address of its sources ({})",
                        from.name,
                        named.join(", ")
                    ));
                }
                if dst == Takes::Maybe && to_unknown {
                    depends.push(format!(
                        "whether {} is a device of {}",
                        to.name,
                        entry.dst.raw.trim()
                    ));
                } else if dst == Takes::Maybe {
                    depends.push(format!(
                        "whether {}'s devices hold an address of {}",
                        to.name,
                        entry.dst.raw.trim()
                    ));
                }
                undecided.push(Undecided {
                    rule: entry.rule.to_string(),
                    origin: entry.rule,
                    span: entry.rule_span,
                    depends: depends.join(", and "),
                });
            }
        }
    }
    undecided
}

/// What a near rule lacks to allow the flow.
enum Lack {
    /// It opens the destination to these sources, not this one.
    Source(String),
    /// It takes in the source but reaches this destination instead.
    Destination(String),
    /// Source and destination, but these ports.
    Port { ports: Vec<String>, dst: String },
    /// Source, destination and port, but this protocol.
    Protocol(String),
}

impl Lack {
    /// Nearest first: a rule that shares source, destination and port, then source and
    /// destination, then one that opens the destination to others, then one that takes
    /// the source elsewhere.
    fn rank(&self) -> u8 {
        match self {
            Lack::Protocol(_) => 0,
            Lack::Port { .. } => 1,
            Lack::Source(_) => 2,
            Lack::Destination(_) => 3,
        }
    }

    fn text(&self, from: &str, to: &str, port: u16, proto: u8) -> String {
        match self {
            Lack::Source(sources) => format!("its sources ({sources}) do not include {from}"),
            Lack::Destination(dst) => format!("it reaches {dst}, not {to}"),
            Lack::Port { ports, dst } => {
                format!("it allows port(s) {} on {dst}, not {port}", ports.join(","))
            }
            Lack::Protocol(p) => format!("it allows protocol {p}, not {}", Protocol(proto)),
        }
    }
}
