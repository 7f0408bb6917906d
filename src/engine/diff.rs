//! The effective-access diff: which principals gain or lose which destinations, protocols
//! and ports between two policies. Decided symbolically (see [`super::reach`]) over every
//! principal either policy names, plus one stand-in for any other member, so it needs no
//! inventory.
//!
//! Both policies become access models over the same principals
//! ([`super::access::AccessModel`]). A box (sources × destination × ports) that both have
//! changes nothing, so only the cells the other boxes cover are decided again: the diff of
//! a one-rule edit costs that rule's cells, not every pair of principals.

use super::access::{AccessModel, Dst, Id};
pub use super::reach::Access;
use super::reach::{Principal, Roles, add, entries, entry_reaches, minus, sources_include};
use crate::diagnostics::thousands;
use crate::model::{Policy, PortRange, Protocol};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeSet;

/// A stand-in for users neither policy names (matched by `*` and `autogroup:member`).
pub const ANY_OTHER_MEMBER: &str = "(any other member)";

/// One change: these sources gain and lose the same access to one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The sources, as numbers into [`AccessDiff::names`], in the principals' order.
    /// Shared between changes with the same sources: a diff of two large policies has
    /// tens of millions of (source, destination) cells, mostly the same few large groups of
    /// sources at one destination after another.
    pub sources: std::sync::Arc<[u32]>,
    pub dst: u32,
    /// Shared between changes with the same access (most gain or lose one of a few).
    pub gained: std::sync::Arc<Access>,
    pub lost: std::sync::Arc<Access>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessDiff {
    /// The principals' names (what [`Change`]'s numbers stand for).
    pub names: Vec<String>,
    /// Ordered by first source, then destination.
    pub changes: Vec<Change>,
    /// Principals that had some access before and have none after.
    pub locked_out: Vec<String>,
    /// Whether the old policy let every source reach every destination on everything
    /// (no rules at all, or a `*` → `*` rule on every port, as Tailscale's default policy
    /// has): then tags and stand-ins losing all their access is the allow-all ending,
    /// said once, not a lockout each.
    pub allow_all_ended: bool,
}

impl AccessDiff {
    /// Show principals by the names another layer gives them (the intents' services and
    /// devices: `redis (tag:redis)`).
    pub fn rename(&mut self, names: &std::collections::HashMap<String, String>) {
        for n in self.names.iter_mut().chain(self.locked_out.iter_mut()) {
            if let Some(new) = names.get(n.as_str()) {
                *n = new.clone();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
    /// Every (source, destination) pair whose access changes, with the change.
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str, &Access, &Access)> {
        self.changes.iter().flat_map(move |c| {
            c.sources
                .iter()
                .map(move |&s| (self.name(s), self.name(c.dst), &*c.gained, &*c.lost))
        })
    }
    /// The sources of a change for people: every one up to `limit`, then a count.
    pub fn sources_text(&self, c: &Change, limit: usize) -> String {
        self.sources_shown(c, limit, str::to_string)
    }

    /// [`Self::sources_text`], each name written by `name`.
    fn sources_shown(&self, c: &Change, limit: usize, name: impl Fn(&str) -> String) -> String {
        let shown: Vec<String> = c
            .sources
            .iter()
            .take(limit)
            .map(|&s| name(self.name(s)))
            .collect();
        let mut text = shown.join(", ");
        if c.sources.len() > limit {
            text.push_str(&format!(" and {} more", thousands(c.sources.len() - limit)));
        }
        text
    }
}

/// Sources a line of the text diff names before it counts the rest.
const SOURCES_SHOWN: usize = 8;

/// Every principal the policies name: the users of their groups and rules, the tags they
/// own, their host addresses and the addresses their rules name, and a stand-in for any
/// other member.
pub fn named_principals(policies: &[&Policy]) -> Vec<Principal> {
    // Gathered by hash and sorted once (the order a `BTreeSet` would give): a large
    // policy names each user many times, in groups and in rules.
    let mut users: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    let mut tags: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    let mut hosts = BTreeSet::new();
    let mut addresses: BTreeSet<super::IpSet> = BTreeSet::new();
    for &p in policies {
        for g in &p.groups {
            users.extend(g.members.iter().map(|m| m.value.trim()));
        }
        tags.extend(p.tag_owners.iter().map(|t| t.tag.value.as_str()));
        for h in &p.hosts {
            if let Some(prefix) = h.prefix {
                hosts.insert(prefix);
            }
        }
        // The users and the addresses written in rules (a CIDR, a range, an ipset, the
        // internet), from the selectors as lowering parsed them (`Sel::selector` is
        // `Selector::parse` of the raw text): access to a subnet or the internet changes
        // nothing for a user or tag as a destination, and a rule from addresses takes in
        // no user or tag the policy can place.
        let mut seen: FxHashSet<&crate::model::Selector> = FxHashSet::default();
        for sel in super::structural::flow_selectors(p).filter_map(|s| s.selector.as_ref()) {
            if let crate::model::Selector::User(u) = sel {
                users.insert(u.as_str());
                continue;
            }
            if matches!(
                sel,
                crate::model::Selector::Group(_)
                    | crate::model::Selector::Tag(_)
                    | crate::model::Selector::Host(_)
            ) || !seen.insert(sel)
            {
                continue; // Most selectors name no address; each address once.
            }
            let set = match sel {
                crate::model::Selector::Autogroup(crate::model::Autogroup::Internet) => {
                    Some(super::resolve::internet().clone())
                }
                crate::model::Selector::Host(_) => None, // Among the hosts above.
                sel => super::resolve::named_addresses(p, sel),
            };
            // A set of the tailnet's own addresses spanning a family of them takes in every
            // user and tag already: as a principal it would repeat them.
            let repeats = |s: &super::IpSet| {
                static RANGES: std::sync::LazyLock<super::IpSet> = std::sync::LazyLock::new(|| {
                    let mut r = super::IpSet::parse("100.64.0.0/10").expect("a CIDR");
                    r.union_with(&super::IpSet::parse("fd7a:115c:a1e0::/48").expect("a CIDR"));
                    r
                });
                RANGES.contains_set(s) && super::reach::covers_tailnet(s) != 0
            };
            if let Some(set) = set.filter(|s| !s.is_empty() && !repeats(s)) {
                addresses.insert(set);
            }
        }
    }
    users.insert(ANY_OTHER_MEMBER);
    let synced: Vec<String> = policies
        .iter()
        .flat_map(|p| super::structural::idp_groups(p))
        .map(|g| super::structural::idp_group_member(&g))
        .collect();
    users.extend(synced.iter().map(String::as_str));
    let mut users: Vec<&str> = users.into_iter().collect();
    users.sort_unstable();
    let mut tags: Vec<&str> = tags.into_iter().collect();
    tags.sort_unstable();
    let mut out: Vec<Principal> = Vec::with_capacity(users.len() + tags.len() + hosts.len());
    out.extend(users.into_iter().map(|u| Principal::User(u.to_string())));
    out.extend(
        tags.into_iter()
            .map(|t| Principal::Tags(vec![t.to_string()])),
    );
    let hosts: Vec<super::IpSet> = hosts
        .into_iter()
        .map(|p| super::IpSet::from_prefix(&p))
        .collect();
    addresses.retain(|a| !hosts.contains(a));
    out.extend(hosts.into_iter().chain(addresses).map(Principal::Address));
    out
}

/// Everything `src` may send to `dst` under `policy`, decided entry by entry: the
/// reference [`AccessModel::access`] is checked against.
pub fn access(policy: &Policy, roles: &Roles, src: &Principal, dst: &Principal) -> Access {
    let mut out = Access::new();
    if policy.acls.is_none() && policy.grants.is_none() {
        for p in super::rules::Protocols::DEFAULT_NUMBERS {
            add(&mut out, p, PortRange::ALL);
        }
        return out;
    }
    for e in entries(policy) {
        if !sources_include(policy, roles, &e, src) || !entry_reaches(policy, roles, &e, src, dst) {
            continue;
        }
        e.add_access(&mut out);
    }
    out
}

/// What makes two entries open the same cells: their sources' members, their
/// destination's (by the model's set fingerprints: the models share their principals),
/// and their protocol and ports.
#[derive(PartialEq, Eq, Hash)]
struct BoxKey<'m> {
    sources: Vec<u128>,
    destination: Option<u128>,
    own_devices: bool,
    protocol: Option<Protocol>,
    ports: &'m [PortRange],
}

fn box_key<'m>(m: &'m AccessModel, e: usize) -> BoxKey<'m> {
    let entry = &m.entries()[e];
    let (destination, own_devices) = match m.destination(e) {
        Dst::Set(set) => (Some(m.set_fingerprint(set)), false),
        Dst::OwnDevices => (None, true),
        Dst::Nothing => (None, false),
    };
    BoxKey {
        sources: m.sources_fingerprint(e),
        destination,
        own_devices,
        protocol: entry.protocol,
        ports: entry.ports,
    }
}

/// Per destination, the entries of either model whose box the other model lacks: only
/// their cells can differ (all cells when either allows all).
fn changed_entries(a: &AccessModel, b: &AccessModel) -> Vec<Vec<(bool, u32)>> {
    let mut at: Vec<Vec<(bool, u32)>> = vec![Vec::new(); a.principals().len()];
    for (is_a, this, other) in [(true, a, b), (false, b, a)] {
        let theirs: FxHashSet<BoxKey> = (0..other.entries().len())
            .map(|e| box_key(other, e))
            .collect();
        for e in 0..this.entries().len() {
            if this.entries()[e].ports.is_empty() || theirs.contains(&box_key(this, e)) {
                continue;
            }
            match this.destination(e) {
                Dst::Set(set) => {
                    for &d in this.set(set) {
                        at[d as usize].push((is_a, e as u32));
                    }
                }
                Dst::OwnDevices => {
                    for d in this.sources(e) {
                        at[d as usize].push((is_a, e as u32));
                    }
                }
                Dst::Nothing => {}
            }
        }
    }
    at
}

/// Who gains and who loses what, from `old` to `new`.
///
/// Per destination, the sources that an entry present in only one policy takes in are the
/// only ones whose access there may change. Each gets a signature of the entries that
/// lead it to the destination under each policy (XOR of random 128-bit keys, as in
/// analysis-design §6.3), sources are grouped by signature, and each group's access is
/// decided exactly, once, from one member. Cost follows the changed boxes' cells.
pub fn diff(old: &Policy, new: &Policy) -> AccessDiff {
    let roles = Roles::none();
    let all = named_principals(&[old, new]);
    // The two models are independent: build them side by side.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| AccessModel::new(old, &roles, all.iter().cloned()));
        let b = AccessModel::new(new, &roles, all.iter().cloned());
        let a = a
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    });
    let n = a.principals().len();
    // Users and tags are sources; an address is one when a rule of either policy names it
    // (or addresses holding it) among its sources: a subnet, a host alias, a range. Not
    // otherwise: `*` takes in the tailnet's addresses as the devices the users and tags
    // already stand for.
    let mut address_source = vec![false; n];
    for m in [&a, &b] {
        for e in 0..m.entries().len() {
            for &(i, set) in m.written_sources(e) {
                if m.entries()[e].src[i as usize]
                    .selector
                    .as_ref()
                    .is_some_and(crate::model::Selector::names_addresses)
                {
                    for &s in m.set(set) {
                        address_source[s as usize] = true;
                    }
                }
            }
        }
    }
    let is_source =
        |s: Id| !matches!(a.principal(s), Principal::Address(_)) || address_source[s as usize];
    // Random 128-bit keys per entry of each policy, for the signatures.
    let keys = [
        (0..a.entries().len() as u64)
            .map(|e| super::zobrist128(0x01d_5eed, e))
            .collect::<Vec<_>>(),
        (0..b.entries().len() as u64)
            .map(|e| super::zobrist128(0x0e1d_5eed, e))
            .collect(),
    ];
    // Scratch space for one destination: which sources are in play there, and the
    // signature of the entries that lead each there under each policy.
    let mut in_play = vec![false; n];
    let mut signature: Vec<[u128; 2]> = vec![[0; 2]; n];
    // Per principal: 1 + its place among the representatives of a destination, else 0.
    let mut rep_slot: Vec<u32> = vec![0; n];
    let mut touched: Vec<Id> = Vec::new();
    let every_source: Vec<Id> = (0..n as Id).filter(|&s| is_source(s)).collect();
    let allow_all = a.allows_all() || b.allows_all();
    let changed = if allow_all {
        Vec::new()
    } else {
        changed_entries(&a, &b)
    };
    let mut changes: Vec<Change> = Vec::new();
    let mut shared: FxHashSet<std::sync::Arc<[u32]>> = FxHashSet::default();
    let mut shared_access: FxHashMap<Access, std::sync::Arc<Access>> = FxHashMap::default();
    let mut share = |a: Access| -> std::sync::Arc<Access> {
        shared_access
            .entry(a)
            .or_insert_with_key(|a| std::sync::Arc::new(a.clone()))
            .clone()
    };
    for d in 0..n as Id {
        // The sources in play at `d`.
        let mut visit = |s: Id| {
            if !std::mem::replace(&mut in_play[s as usize], true) {
                touched.push(s);
            }
        };
        if allow_all {
            every_source.iter().for_each(|&s| visit(s));
        } else {
            for &(is_a, e) in &changed[d as usize] {
                let m = if is_a { &a } else { &b };
                for s in m.sources(e as usize) {
                    if is_source(s) && m.leads(e as usize, s, d) {
                        visit(s);
                    }
                }
            }
        }
        if touched.is_empty() {
            continue;
        }
        touched.sort_unstable();
        // Their signatures under each policy.
        for (side, m) in [&a, &b].into_iter().enumerate() {
            for &e in m.reaching(d) {
                let e = e as usize;
                let key = keys[side][e];
                let leads = |s: Id| in_play[s as usize] && m.leads(e, s, d);
                // From whichever side is shorter; each source once (XOR twice cancels).
                if m.sources_size(e) < touched.len() {
                    for s in m.sources(e).filter(|&s| leads(s)) {
                        signature[s as usize][side] ^= key;
                    }
                } else {
                    for &s in &touched {
                        if m.sources_include(e, s) && leads(s) {
                            signature[s as usize][side] ^= key;
                        }
                    }
                }
            }
        }
        // One representative source per signature, and what each may send to `d` under
        // each policy, found entry by entry as the signatures were (reading an entry's
        // sources or the representatives, whichever is fewer), not by asking every
        // entry reaching `d` about each representative.
        let mut rep_of: FxHashMap<[u128; 2], u32> = FxHashMap::default();
        let mut reps: Vec<Id> = Vec::new();
        for &s in &touched {
            rep_of.entry(signature[s as usize]).or_insert_with(|| {
                reps.push(s);
                reps.len() as u32 - 1
            });
        }
        for (k, &r) in reps.iter().enumerate() {
            rep_slot[r as usize] = k as u32 + 1;
        }
        let mut sends: Vec<[Access; 2]> = vec![[Access::new(), Access::new()]; reps.len()];
        for (side, m) in [&a, &b].into_iter().enumerate() {
            if m.allows_all() {
                for (k, &r) in reps.iter().enumerate() {
                    sends[k][side] = m.access(r, d);
                }
                continue;
            }
            for &e in m.reaching(d) {
                let e = e as usize;
                let entry = &m.entries()[e];
                if m.sources_size(e) < reps.len() {
                    for s in m.sources(e) {
                        let k = rep_slot[s as usize];
                        if k != 0 && m.leads(e, s, d) {
                            entry.add_access(&mut sends[k as usize - 1][side]);
                        }
                    }
                } else {
                    for (k, &r) in reps.iter().enumerate() {
                        if m.sources_include(e, r) && m.leads(e, r, d) {
                            entry.add_access(&mut sends[k][side]);
                        }
                    }
                }
            }
        }
        for &r in &reps {
            rep_slot[r as usize] = 0;
        }
        // One exact answer per signature; sources with the same change together.
        // (sources, gained, lost), until the sources are complete.
        let mut here: Vec<(Vec<u32>, Access, Access)> = Vec::new();
        let unchanged = usize::MAX;
        let at_rep: Vec<usize> = sends
            .iter()
            .map(|[x, y]| {
                let (gained, lost) = (minus(y, x), minus(x, y));
                if gained.is_empty() && lost.is_empty() {
                    return unchanged;
                }
                match here.iter().position(|(_, g, l)| *g == gained && *l == lost) {
                    Some(i) => i,
                    None => {
                        here.push((Vec::new(), gained, lost));
                        here.len() - 1
                    }
                }
            })
            .collect();
        for &s in &touched {
            let at = at_rep[rep_of[&signature[s as usize]] as usize];
            if at != unchanged {
                here[at].0.push(s);
            }
        }
        changes.extend(here.into_iter().map(|(sources, gained, lost)| {
            let sources = match shared.get(sources.as_slice()) {
                Some(known) => known.clone(),
                None => {
                    let new: std::sync::Arc<[u32]> = sources.into();
                    shared.insert(new.clone());
                    new
                }
            };
            Change {
                sources,
                dst: d,
                gained: share(gained),
                lost: share(lost),
            }
        }));
        for s in touched.drain(..) {
            in_play[s as usize] = false;
            signature[s as usize] = [0; 2];
        }
    }
    changes.sort_by_key(|c| (c.sources[0], c.dst));
    let (before, after) = (a.sends(), b.sends());
    let mut locked: BTreeSet<String> = BTreeSet::new();
    for (i, p) in a.principals().iter().enumerate() {
        if !matches!(p, Principal::Address(_)) && before[i] && !after[i] {
            locked.insert(p.to_string());
        }
    }
    // An address a host alias or ipset names, as that name (the new policy's first).
    let aliases = super::explain::address_names(&[new, old]);
    AccessDiff {
        names: a
            .principals()
            .iter()
            .map(|p| match p {
                Principal::Address(set) if set == super::resolve::internet() => {
                    "autogroup:internet".to_string()
                }
                p => aliases.get(p).cloned().unwrap_or_else(|| p.to_string()),
            })
            .collect(),
        changes,
        locked_out: locked.into_iter().collect(),
        allow_all_ended: allows_everything(&a) && !allows_everything(&b),
    }
}

/// Whether a policy lets every source reach every destination on every port: no rules,
/// or an entry from `*` to `*` on every port of the client's default protocols.
fn allows_everything(m: &AccessModel) -> bool {
    use crate::model::{Autogroup, Selector};
    m.allows_all()
        || m.entries().iter().any(|e| {
            let everyone = |s: &crate::model::Sel| {
                matches!(
                    s.selector,
                    Some(Selector::Wildcard | Selector::Autogroup(Autogroup::DangerAll))
                )
            };
            e.src.iter().any(everyone)
                && matches!(e.dst.selector, Some(Selector::Wildcard))
                && e.protocol.is_none()
                && e.ports.iter().any(|p| p.is_all())
        })
}

/// Whether a principal's name is a person's (a login), not a tag or a stand-in.
fn is_person(name: &str) -> bool {
    name.contains('@') && !name.starts_with('(')
}

/// `tcp 80,443; udp 53`.
pub fn access_text(a: &Access) -> String {
    // Show the client default (TCP, UDP, ICMP, ICMPv6 on the same ports) as "any".
    let mut parts = Vec::new();
    let default = [6u8, 17, 1, 58];
    let mut rest: Vec<(&u8, &Vec<(u16, u16)>)> = a.iter().collect();
    if default
        .iter()
        .all(|p| a.get(p) == a.get(&6) && a.contains_key(p))
    {
        parts.push(format!("any {}", ranges_text(&a[&6])));
        rest.retain(|(p, _)| !default.contains(p));
    }
    for (p, r) in rest {
        parts.push(format!("{} {}", crate::model::Protocol(*p), ranges_text(r)));
    }
    parts.join("; ")
}

fn ranges_text(r: &[(u16, u16)]) -> String {
    r.iter()
        .map(|&(a, b)| PortRange { first: a, last: b }.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Change lines the text shows before it counts the rest (JSON lists every one).
const CHANGES_SHOWN: usize = 200;

/// The lines a summary shows: a gain and a loss per change, at most [`CHANGES_SHOWN`],
/// and how many more there are.
fn summary_lines(d: &AccessDiff) -> (Vec<(bool, &Change, &Access)>, usize) {
    let mut all = d
        .changes
        .iter()
        .flat_map(|c| [(true, c, &*c.gained), (false, c, &*c.lost)])
        .filter(|(_, _, access)| !access.is_empty());
    let shown: Vec<_> = all.by_ref().take(CHANGES_SHOWN).collect();
    (shown, all.count())
}

/// The diff for people: a line per destination and change, naming its sources (the
/// first few, then a count), at most a few hundred lines.
pub fn render(d: &AccessDiff) -> String {
    if d.is_empty() {
        return "effective access: unchanged\n".into();
    }
    let mut out = String::from("effective access changes:\n");
    let (lines, left) = summary_lines(d);
    for (gained, c, access) in lines {
        out.push_str(&format!(
            "  {} {} -> {}: {}\n",
            if gained { '+' } else { '-' },
            d.sources_text(c, SOURCES_SHOWN),
            d.name(c.dst),
            access_text(access)
        ));
    }
    if left > 0 {
        out.push_str(&format!(
            "  ... and {} more changes (tsacl diff --format json lists every one)\n",
            thousands(left)
        ));
    }
    // When the old policy allowed everything, tags and stand-ins that had nothing else
    // end with it: one line. People losing everything stay warnings (an admin locked out).
    let (summed, warned): (Vec<&String>, Vec<&String>) = d
        .locked_out
        .iter()
        .partition(|p| d.allow_all_ended && !is_person(p));
    if !summed.is_empty() {
        let names: Vec<&str> = summed.iter().map(|s| s.as_str()).collect();
        let shown = names.len().min(SOURCES_SHOWN);
        let mut list = names[..shown].join(", ");
        if shown < names.len() {
            list.push_str(&format!(" and {} more", thousands(names.len() - shown)));
        }
        out.push_str(&format!(
            "  note: the allow-all ends (the old policy let everything reach everything); {} tag{} and stand-in{} that had only that now reach nothing: {list}\n",
            thousands(names.len()),
            if names.len() == 1 { "" } else { "s" },
            if names.len() == 1 { "" } else { "s" },
        ));
    }
    for p in warned {
        out.push_str(&format!(
            "  warning: {p} loses all the access it had (lockout?)\n"
        ));
    }
    out
}

fn access_json(a: &Access) -> serde_json::Value {
    a.iter()
        .map(|(p, r)| {
            let ranges: Vec<String> = r
                .iter()
                .map(|&(x, y)| PortRange { first: x, last: y }.to_string())
                .collect();
            (
                crate::model::Protocol(*p).to_string(),
                serde_json::json!(ranges),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The diff as JSON: `{"changes": [{"src", "dst", "gained", "lost"}], "locked_out": [...]}`,
/// a change per source and destination, access written `{"tcp": ["80", "443"], ...}`.
pub fn to_json(d: &AccessDiff) -> serde_json::Value {
    let mut out = Vec::new();
    write_json(d, &mut out).expect("writing to memory");
    serde_json::from_slice(&out).expect("valid JSON")
}

/// [`to_json`] written as it goes, a change per line: the diff of two large policies
/// has millions of changes, which need not all be in memory as JSON values.
pub fn write_json(d: &AccessDiff, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let text = |v: &serde_json::Value| serde_json::to_string(v).expect("JSON");
    out.write_all(b"{\n  \"changes\": [")?;
    let mut first = true;
    for c in &d.changes {
        let (gained, lost) = (text(&access_json(&c.gained)), text(&access_json(&c.lost)));
        let dst = text(&d.name(c.dst).into());
        for &s in c.sources.iter() {
            let src = text(&d.name(s).into());
            let sep = if std::mem::take(&mut first) { "" } else { "," };
            write!(
                out,
                "{sep}\n    {{\"src\": {src}, \"dst\": {dst}, \"gained\": {gained}, \"lost\": {lost}}}"
            )?;
        }
    }
    let end = if first { "]" } else { "\n  ]" };
    writeln!(
        out,
        "{end},\n  \"locked_out\": {}\n}}",
        text(&d.locked_out.clone().into())
    )
}

/// "alice gains" or "alice, bob and 3 more gain".
fn who(d: &AccessDiff, c: &Change, verb: &str) -> String {
    let sources = d.sources_text(c, SOURCES_SHOWN);
    if c.sources.len() == 1 {
        format!("{sources} {verb}s")
    } else {
        format!("{sources} {verb}")
    }
}

/// The diff as findings about `file` (the new side), for SARIF and GitHub annotations:
/// one `access-gained` or `access-lost` note per change (sources that change alike
/// together), and an `access-lockout` warning per principal left with nothing. They are
/// file-level (an empty span at the start): an access change belongs to no single line.
pub fn to_diagnostics(
    d: &AccessDiff,
    file: crate::diagnostics::FileId,
) -> Vec<crate::diagnostics::Diagnostic> {
    use crate::diagnostics::{Diagnostic, Location};
    use crate::rules::Code;
    let at = Location {
        file,
        span: crate::syntax::Span::new(0, 0),
    };
    let mut out = Vec::new();
    for c in &d.changes {
        for (code, verb, access) in [
            (Code::AccessGained, "gain", &*c.gained),
            (Code::AccessLost, "lose", &*c.lost),
        ] {
            if !access.is_empty() {
                out.push(Diagnostic::new(
                    code,
                    at,
                    format!(
                        "{} access to {}: {}",
                        who(d, c, verb),
                        d.name(c.dst),
                        access_text(access)
                    ),
                ));
            }
        }
    }
    for p in &d.locked_out {
        out.push(
            Diagnostic::new(
                Code::AccessLockout,
                at,
                format!("{p} loses all the access it had"),
            )
            .with_help("a lockout? make sure the change means to leave it with no access"),
        );
    }
    out
}

/// The diff as a Markdown table, for pull-request comments and job summaries.
pub fn render_markdown(d: &AccessDiff, old: &str, new: &str) -> String {
    let mut out = format!("### Effective access: `{old}` → `{new}`\n\n");
    if d.is_empty() {
        out.push_str("No change in who can reach what.\n");
        return out;
    }
    out.push_str("| | source | destination | access |\n|---|---|---|---|\n");
    let (lines, left) = summary_lines(d);
    for (gained, c, access) in lines {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            if gained { "➕ gains" } else { "➖ loses" },
            d.sources_shown(c, SOURCES_SHOWN, |n| format!("`{n}`")),
            d.name(c.dst),
            access_text(access)
        ));
    }
    if left > 0 {
        out.push_str(&format!(
            "\n{} more changes; `tsacl diff --format json` lists every one.\n",
            thousands(left)
        ));
    }
    for p in &d.locked_out {
        out.push_str(&format!(
            "\n> **Warning**: `{p}` loses all the access it had.\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    #[test]
    fn reports_exactly_the_flows_that_changed() {
        let tags = r#""tagOwners": {"tag:web": [], "tag:db": []}"#;
        let old = policy(&format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}]}}"#
        ));
        let new = policy(&format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432", "tcp:6432"]}}, {{"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["443"]}}]}}"#
        ));
        let d = diff(&old, &new);
        let text = render(&d);
        assert!(text.contains("+ tag:web -> tag:db: tcp 6432"), "{text}");
        assert!(
            text.contains("+ alice@example.com -> tag:web: any 443"),
            "{text}"
        );
        assert_eq!(d.changes.len(), 2, "{text}");
        let back = render(&diff(&new, &old));
        assert!(back.contains("- tag:web -> tag:db: tcp 6432"), "{back}");
        assert!(
            back.contains("warning: alice@example.com loses all the access"),
            "{back}"
        );
        assert_eq!(render(&diff(&old, &old)), "effective access: unchanged\n");
    }
}
