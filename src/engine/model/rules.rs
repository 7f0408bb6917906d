//! ACLs and grants normalised to one form (the grant form: sources × destination entries),
//! resolved against an inventory, each rule keeping where it was written.

use super::ipset::IpSet;
use super::resolve::{Resolver, Target};
use crate::model::{Acl, AppCap, Grant, Policy, PortRange, Protocol, Sel, Selector, Spanned};
use crate::syntax::Span;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// Which section a rule came from, and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Acl(usize),
    Grant(usize),
    /// The allow-all rule of a policy with neither `acls` nor `grants`.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Acl(i) => write!(f, "acls[{i}]"),
            Origin::Grant(i) => write!(f, "grants[{i}]"),
            Origin::Default => f.write_str("the default allow-all (no acls or grants)"),
        }
    }
}

/// The protocols a filter entry matches: the client default (TCP, UDP, ICMP, ICMPv6) or
/// exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocols {
    Default,
    Only(Protocol),
}

impl Protocols {
    pub const DEFAULT_NUMBERS: [u8; 4] = [6, 17, 1, 58];

    pub fn numbers(self) -> Vec<u8> {
        match self {
            Protocols::Default => Self::DEFAULT_NUMBERS.to_vec(),
            Protocols::Only(p) => vec![p.0],
        }
    }
    pub fn contains(self, p: u8) -> bool {
        match self {
            Protocols::Default => Self::DEFAULT_NUMBERS.contains(&p),
            Protocols::Only(q) => q.0 == p,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub target: Target,
    /// The destination selector as written, and where.
    pub written: String,
    pub span: Span,
    pub protocols: Protocols,
    pub ports: Vec<PortRange>,
    /// Which of the grant's `ip` specs this entry comes from (0 for an ACL): the control
    /// plane sends a grant's destinations spec by spec.
    pub spec: usize,
    /// The destination names addresses ([`Selector::names_addresses`]).
    pub by_address: bool,
}

impl Entry {
    /// Whether this entry's destination takes in `dst` for a flow from `src`.
    /// `owner_of` tells which user owns the device holding an address, for
    /// `autogroup:self`.
    pub fn reaches<'a>(
        &self,
        owner_of: impl Fn(std::net::IpAddr) -> Option<&'a str>,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
    ) -> bool {
        match &self.target {
            Target::Everything => true,
            Target::Addresses(d) => d.contains(dst),
            Target::OwnDevices => owner_of(dst).is_some() && owner_of(dst) == owner_of(src),
        }
    }

    /// Whether this entry lets `src` send to `dst` on `proto`/`port`, sources aside.
    pub fn admits<'a>(
        &self,
        owner_of: impl Fn(std::net::IpAddr) -> Option<&'a str>,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        proto: u8,
        port: u16,
    ) -> bool {
        self.protocols.contains(proto)
            && self.ports.iter().any(|p| p.contains(port))
            && self.reaches(owner_of, src, dst)
    }
}

/// A rule's sources: the address sets of its selectors, shared with the resolver's (so
/// `autogroup:member` is stored once however many rules name it). Their union is built
/// only where it is needed, and not kept: at 100,000 devices, the thousand rules of a
/// large policy that name `autogroup:member` with something else held a gigabyte of
/// copies of it each way. Two `Sources` are equal when their unions are.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Not empty, none held twice (by address).
    parts: Vec<Arc<IpSet>>,
    /// [`IpSet::sample_hash`] of the union, computed when first asked for.
    hash: OnceLock<u64>,
}

impl Sources {
    pub fn new(mut parts: Vec<Arc<IpSet>>) -> Sources {
        parts.retain(|p| !p.is_empty());
        let mut seen = Vec::with_capacity(parts.len());
        parts.retain(|p| {
            let new = !seen.contains(&Arc::as_ptr(p));
            seen.push(Arc::as_ptr(p));
            new
        });
        Sources {
            parts,
            hash: OnceLock::new(),
        }
    }

    /// Sources of one set.
    pub fn of(set: IpSet) -> Sources {
        Sources::new(vec![Arc::new(set)])
    }

    /// [`Sources::new`], but when one part holds all the others (users beside
    /// `autogroup:member`) that part alone: the union is then shared, not built.
    pub fn simplified(parts: Vec<Arc<IpSet>>) -> Sources {
        let mut sources = Sources::new(parts);
        if sources.parts.len() > 1 {
            let big = sources.parts.iter().max_by_key(|s| s.interval_count());
            if let Some(big) = big.filter(|big| sources.parts.iter().all(|s| big.contains_set(s))) {
                sources.parts = vec![big.clone()];
            }
        }
        sources
    }

    /// The one set, when the sources are one.
    pub fn one(&self) -> Option<&Arc<IpSet>> {
        match self.parts.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// One source address, as a set (the first of the first part).
    pub fn one_address(&self) -> Option<IpSet> {
        self.parts
            .iter()
            .find_map(|p| p.ranges().next())
            .map(|(first, _)| IpSet::from_addr(first))
    }

    /// Whether the sources take in every address of `other`.
    pub fn contains_set(&self, other: &IpSet) -> bool {
        match self.parts.as_slice() {
            [one] => one.contains_set(other),
            parts => other.within_union(parts.iter().map(|p| &**p)),
        }
    }

    /// Whether `other` takes in every source.
    pub fn within(&self, other: &IpSet) -> bool {
        self.parts.iter().all(|p| other.contains_set(p))
    }

    /// The sets whose union the sources are.
    pub fn parts(&self) -> &[Arc<IpSet>] {
        &self.parts
    }

    /// The union, built when there is more than one part.
    pub fn union(&self) -> Cow<'_, IpSet> {
        match self.parts.as_slice() {
            [] => Cow::Owned(IpSet::new()),
            [one] => Cow::Borrowed(&**one),
            parts => Cow::Owned(IpSet::union_all(parts.iter().map(|p| &**p))),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.parts.iter().any(|p| p.contains(addr))
    }

    pub fn overlaps(&self, other: &IpSet) -> bool {
        self.parts.iter().any(|p| p.overlaps(other))
    }

    /// The sources `other` also takes in.
    pub fn intersect(&self, other: &IpSet) -> IpSet {
        match self.parts.as_slice() {
            [one] => one.intersect(other),
            parts => {
                IpSet::union_all(&parts.iter().map(|p| p.intersect(other)).collect::<Vec<_>>())
            }
        }
    }

    /// The lowest address (IPv4 before IPv6).
    pub fn first_address(&self) -> Option<IpAddr> {
        self.parts
            .iter()
            .filter_map(|p| p.ranges().next())
            .map(|r| r.0)
            .min()
    }

    /// A hash of the union ([`IpSet::sample_hash`]): equal sources hash alike.
    pub fn sample_hash(&self) -> u64 {
        *self.hash.get_or_init(|| {
            use std::hash::Hasher;
            let mut h = rustc_hash::FxHasher::default();
            self.union().sample_hash(&mut h);
            h.finish()
        })
    }
}

impl PartialEq for Sources {
    fn eq(&self, other: &Sources) -> bool {
        let same_parts = self.parts.len() == other.parts.len()
            && self
                .parts
                .iter()
                .zip(&other.parts)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        same_parts || (self.sample_hash() == other.sample_hash() && self.union() == other.union())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub origin: Origin,
    pub span: Span,
    /// Resolved sources, shared by every device filter that includes this rule.
    pub src: Arc<Sources>,
    /// The sources contain `autogroup:danger-all` (written `*` in filters).
    pub src_everything: bool,
    /// When the sources include `*`: texts the control plane lists in `SrcIPs` besides
    /// the ranges of the sources, each approved subnet route on its own (`10.33.0.0/16`
    /// although `10.0.0.0/8` takes it in) and the addresses of the other selectors
    /// (sorted, each once).
    pub src_listed: std::sync::Arc<Vec<String>>,
    pub entries: Vec<Entry>,
    /// Application capabilities: name and values, granted on the destinations.
    pub caps: Vec<(String, serde_json::Value)>,
    /// Capability destinations (the grant's `dst`, resolved); empty for a rule without
    /// app capabilities.
    pub cap_targets: Vec<Target>,
    /// The same destinations resolved as sources, for companion capabilities that point
    /// back from them (`*` then includes approved subnet routes); empty for a grant without
    /// app capabilities, which has no companions.
    pub cap_sources: IpSet,
    /// `via` tags: only devices with one of them carry this rule, for their routes.
    pub via: Vec<String>,
}

impl Rule {
    /// The destination of `entry` (one of this rule's) as written, without ports: a
    /// grant's destination is written alone, an ACL's as `host:ports`.
    pub fn destination_host<'e>(&self, entry: &'e Entry) -> &'e str {
        match self.origin {
            Origin::Acl(_) => entry
                .written
                .rsplit_once(':')
                .map_or(entry.written.as_str(), |(host, _)| host),
            _ => entry.written.as_str(),
        }
    }
}

/// Every rule of the policy, grants first then ACLs (the control plane's order).
///
/// A policy with neither `acls` nor `grants` allows everything (the control plane's
/// default); `"acls": []` allows nothing.
pub fn compile(resolver: &Resolver) -> Vec<Rule> {
    let mut rules = Vec::new();
    compile_each(resolver, |_| Wanted::Whole, |rule| rules.push(rule));
    rules
}

/// Which rules [`compile_each`] compiles, and how much of their sources it resolves.
pub enum Wanted {
    Not,
    Whole,
    /// Only the sources inside this set: the rule's `src` then holds only those (a small
    /// set keeps a rule cheap to compile when only its destinations matter, and whether
    /// its sources take in that set).
    SourcesWithin(IpSet),
    /// The rule's sources are known to be this set (none of them `*` or
    /// `autogroup:danger-all`): it is used as it is, not built again.
    SourcesKnown(Arc<Sources>),
}

/// An ACL or grant as written, in the grant form: sources, destinations, and for each
/// destination one entry per protocol-and-ports spec (a grant's `ip`; an ACL has one,
/// its `proto` with the destination's ports). Every engine lowers the rules from this
/// form, in this order (grants, then ACLs): the compiled rules here, the access model's
/// entries ([`super::reach::entries`]) and the redundancy audit.
#[derive(Clone, Copy)]
pub struct Written<'p> {
    pub origin: Origin,
    form: Form<'p>,
}

#[derive(Clone, Copy)]
enum Form<'p> {
    Grant(&'p Grant),
    Acl(&'p Acl),
}

/// A destination as written: its selector (an ACL's host part), its whole text (with an
/// ACL's ports) and where.
#[derive(Clone, Copy)]
pub struct Destination<'p> {
    pub sel: &'p Sel,
    pub raw: &'p str,
    pub span: Span,
}

impl<'p> Destination<'p> {
    fn of_grant(sel: &'p Sel) -> Destination<'p> {
        Destination {
            sel,
            raw: &sel.raw,
            span: sel.span,
        }
    }
    fn of_acl(dst: &'p crate::model::AclDst) -> Destination<'p> {
        Destination {
            sel: &dst.host,
            raw: &dst.raw,
            span: dst.span,
        }
    }
}

/// A rule's destinations, in order.
#[derive(Clone)]
pub enum Destinations<'p> {
    Grant(std::slice::Iter<'p, Sel>),
    Acl(std::slice::Iter<'p, crate::model::AclDst>),
}

impl<'p> Iterator for Destinations<'p> {
    type Item = Destination<'p>;
    fn next(&mut self) -> Option<Destination<'p>> {
        match self {
            Destinations::Grant(it) => it.next().map(Destination::of_grant),
            Destinations::Acl(it) => it.next().map(Destination::of_acl),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Destinations::Grant(it) => it.size_hint(),
            Destinations::Acl(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Destinations<'_> {}

/// One destination on one spec.
#[derive(Clone, Copy)]
pub struct WrittenEntry<'p> {
    pub destination: Destination<'p>,
    /// The spec's place among the grant's `ip` (0 for an ACL).
    pub spec: usize,
    /// `None`: the client default.
    pub protocol: Option<Protocol>,
    pub ports: &'p [PortRange],
}

impl<'p> Written<'p> {
    /// Every ACL and grant of the policy: grants, then ACLs (the control plane's order).
    pub fn all(policy: &'p Policy) -> impl Iterator<Item = Written<'p>> + Clone {
        let grants = policy.grants.iter().flatten().enumerate();
        let acls = policy.acls.iter().flatten().enumerate();
        grants
            .map(|(i, g)| Written {
                origin: Origin::Grant(i),
                form: Form::Grant(g),
            })
            .chain(acls.map(|(i, a)| Written {
                origin: Origin::Acl(i),
                form: Form::Acl(a),
            }))
    }
    /// The rule written at `origin`; `None` for the default allow-all, written nowhere.
    pub fn at(policy: &'p Policy, origin: Origin) -> Option<Written<'p>> {
        let form = match origin {
            Origin::Grant(i) => Form::Grant(policy.grants.as_deref()?.get(i)?),
            Origin::Acl(i) => Form::Acl(policy.acls.as_deref()?.get(i)?),
            Origin::Default => return None,
        };
        Some(Written { origin, form })
    }
    pub fn span(self) -> Span {
        match self.form {
            Form::Grant(g) => g.span,
            Form::Acl(a) => a.span,
        }
    }
    pub fn src(self) -> &'p [Sel] {
        match self.form {
            Form::Grant(g) => &g.src,
            Form::Acl(a) => &a.src,
        }
    }
    /// A grant's `via` (none for an ACL).
    pub fn via(self) -> &'p [Sel] {
        match self.form {
            Form::Grant(g) => &g.via,
            Form::Acl(_) => &[],
        }
    }
    /// A grant's application capabilities (none for an ACL).
    pub fn app(self) -> &'p [AppCap] {
        match self.form {
            Form::Grant(g) => &g.app,
            Form::Acl(_) => &[],
        }
    }
    pub fn posture(self) -> &'p [Spanned<String>] {
        match self.form {
            Form::Grant(g) => &g.src_posture,
            Form::Acl(a) => &a.src_posture,
        }
    }
    pub fn is_grant(self) -> bool {
        matches!(self.form, Form::Grant(_))
    }
    pub fn destinations(self) -> Destinations<'p> {
        match self.form {
            Form::Grant(g) => Destinations::Grant(g.dst.iter()),
            Form::Acl(a) => Destinations::Acl(a.dst.iter()),
        }
    }
    fn destination(self, k: usize) -> Destination<'p> {
        match self.form {
            Form::Grant(g) => Destination::of_grant(&g.dst[k]),
            Form::Acl(a) => Destination::of_acl(&a.dst[k]),
        }
    }
    /// How many entries each destination has.
    pub fn specs(self) -> usize {
        match self.form {
            Form::Grant(g) => g.ip.len(),
            Form::Acl(_) => 1,
        }
    }
    /// Every destination on every spec, destination by destination.
    pub fn entries(self) -> impl Iterator<Item = WrittenEntry<'p>> {
        (0..self.destinations().len()).flat_map(move |k| self.entries_at(k))
    }
    /// The entries of the `k`th destination, spec by spec.
    pub fn entries_at(self, k: usize) -> impl Iterator<Item = WrittenEntry<'p>> {
        let destination = self.destination(k);
        (0..self.specs()).map(move |spec| {
            let (protocol, ports): (_, &'p [PortRange]) = match self.form {
                Form::Grant(g) => (g.ip[spec].value.proto, &g.ip[spec].value.ports),
                Form::Acl(a) => (a.proto.as_ref().map(|p| p.value), &a.dst[k].ports),
            };
            WrittenEntry {
                destination,
                spec,
                protocol,
                ports,
            }
        })
    }
}

/// [`compile`], handing each rule over as soon as it is compiled, and compiling of each
/// ACL and grant only what `wanted` asks for, decided before anything is resolved: a pass
/// over the rules then holds one rule's resolved sources at a time, and resolves only the
/// rules it wants.
pub fn compile_each(
    resolver: &Resolver,
    mut wanted: impl FnMut(&Written) -> Wanted,
    mut rules: impl FnMut(Rule),
) {
    let policy = resolver.policy;
    if policy.acls.is_none() && policy.grants.is_none() {
        rules(Rule {
            origin: Origin::Default,
            span: Span::default(),
            src: Arc::new(Sources::new(vec![
                resolver.source_shared(&Selector::Wildcard),
            ])),
            src_everything: false,
            src_listed: Default::default(),
            entries: vec![Entry {
                target: Target::Everything,
                written: "*".into(),
                span: Span::default(),
                protocols: Protocols::Default,
                ports: vec![PortRange::ALL],
                spec: 0,
                by_address: false,
            }],
            caps: Vec::new(),
            cap_targets: Vec::new(),
            cap_sources: IpSet::new(),
            via: Vec::new(),
        });
    }
    let mut route_texts: Vec<String> = resolver
        .inventory
        .devices
        .iter()
        .flat_map(|d| d.subnet_routes())
        .flat_map(|p| IpSet::from_prefix(p).to_strings())
        .collect();
    route_texts.sort_unstable();
    route_texts.dedup();
    let resolve_src = |sels: &[crate::model::Sel], wanted: Wanted| {
        if let Wanted::SourcesKnown(known) = wanted {
            return (known, false, Default::default());
        }
        let mut parts = Vec::new();
        let mut listed = Vec::new();
        let mut everything = false;
        let mut wildcard = false;
        for s in sels {
            if let Some(sel) = &s.selector {
                if *sel == Selector::Autogroup(crate::model::Autogroup::DangerAll) {
                    everything = true;
                }
                let one = match &wanted {
                    Wanted::SourcesWithin(within) => {
                        Arc::new(resolver.source_shared(sel).intersect(within))
                    }
                    _ => resolver.source_shared(sel),
                };
                if *sel == Selector::Wildcard {
                    wildcard = true;
                } else {
                    listed.push(one.clone());
                }
                parts.push(one);
            }
        }
        let mut texts = Vec::new();
        if wildcard {
            texts = IpSet::union_all(listed.iter().map(|p| &**p)).to_strings();
            texts.extend(route_texts.iter().cloned());
            texts.sort_unstable();
            texts.dedup();
        }
        (Arc::new(Sources::new(parts)), everything, Arc::new(texts))
    };
    for written in Written::all(policy) {
        let wanted = wanted(&written);
        if matches!(wanted, Wanted::Not) {
            continue;
        }
        let (src, src_everything, src_listed) = resolve_src(written.src(), wanted);
        let app = written.app();
        let mut entries = Vec::with_capacity(written.destinations().len() * written.specs());
        let mut cap_targets = Vec::new();
        let mut cap_sources = IpSet::new();
        for (k, d) in written.destinations().enumerate() {
            let Some(sel) = &d.sel.selector else { continue };
            let target = resolver.target(sel);
            // Only the companions of app capabilities read these sources.
            if !app.is_empty() && target != Target::OwnDevices {
                cap_sources.union_with(&resolver.source_shared(sel));
            }
            let by_address = sel.names_addresses();
            for e in written.entries_at(k) {
                entries.push(Entry {
                    target: target.clone(),
                    written: d.raw.trim().to_string(),
                    span: d.span,
                    protocols: e.protocol.map_or(Protocols::Default, Protocols::Only),
                    ports: e.ports.to_vec(),
                    spec: e.spec,
                    by_address,
                });
            }
            if !app.is_empty() {
                cap_targets.push(target);
            }
        }
        let caps = app
            .iter()
            .map(|c| {
                (
                    c.name.value.clone(),
                    crate::engine::value_to_json(&c.values),
                )
            })
            .collect();
        let via = written
            .via()
            .iter()
            .filter_map(|v| match &v.selector {
                Some(Selector::Tag(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        rules(Rule {
            origin: written.origin,
            span: written.span(),
            src,
            src_everything,
            src_listed,
            entries,
            caps,
            cap_targets,
            cap_sources,
            via,
        });
    }
}

/// Whether the compiled rules let `src` send to `dst` on `proto`/`port` (every rule, `via`
/// ones included). `owner_of` tells which user owns the device holding an address, for
/// `autogroup:self`.
pub fn allowed<'a>(
    rules: &[Rule],
    owner_of: impl Fn(std::net::IpAddr) -> Option<&'a str>,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    proto: u8,
    port: u16,
) -> bool {
    rules.iter().any(|r| {
        (r.src_everything || r.src.contains(src))
            && r.entries
                .iter()
                .any(|e| e.admits(&owner_of, src, dst, proto, port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inventory::Inventory;

    fn set(text: &str) -> Arc<IpSet> {
        Arc::new(IpSet::union_all(
            &text
                .split(' ')
                .map(|t| IpSet::parse(t).unwrap())
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn sources_answer_as_their_union_however_they_are_split() {
        let whole = Sources::of(IpSet::parse("100.64.0.0-100.64.0.9").unwrap());
        let split = Sources::new(vec![
            set("100.64.0.0-100.64.0.4"),
            set("100.64.0.5-100.64.0.9"),
        ]);
        let overlapping = Sources::new(vec![
            set("100.64.0.0-100.64.0.6"),
            set("100.64.0.3-100.64.0.9"),
        ]);
        for s in [&split, &overlapping] {
            assert_eq!(*s, whole);
            assert_eq!(s.sample_hash(), whole.sample_hash());
            assert_eq!(s.union(), whole.union());
            assert!(s.contains("100.64.0.7".parse().unwrap()));
            assert!(!s.contains("100.64.0.10".parse().unwrap()));
            assert_eq!(s.first_address(), Some("100.64.0.0".parse().unwrap()));
            assert_eq!(
                s.intersect(&set("100.64.0.3-100.64.0.5")),
                *set("100.64.0.3-100.64.0.5")
            );
            assert!(s.contains_set(&set("100.64.0.2-100.64.0.8")));
            assert!(s.within(&set("100.64.0.0/24")));
        }
        assert_ne!(split, Sources::new(vec![set("100.64.0.0-100.64.0.4")]));
        // Empty parts and a part given twice are dropped.
        let a = set("100.64.0.1");
        let sources = Sources::new(vec![a.clone(), Arc::new(IpSet::new()), a.clone()]);
        assert_eq!(sources.parts().len(), 1);
        assert!(Sources::new(vec![Arc::new(IpSet::new())]).is_empty());
        // A part holding the others stands for them all, shared.
        let big = set("100.64.0.0/24");
        let simplified = Sources::simplified(vec![set("100.64.0.3"), big.clone()]);
        assert!(Arc::ptr_eq(simplified.one().unwrap(), &big));
    }

    /// A set of 10.0.0.x addresses from ranges of x (either way round).
    fn ranges(items: &[(u8, u8)]) -> Arc<IpSet> {
        let mut set = IpSet::new();
        for &(a, b) in items {
            let at = |x: u8| std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, x));
            set.add_range(at(a.min(b)), at(a.max(b)));
        }
        Arc::new(set)
    }

    proptest::proptest! {
        /// **Invariant:** `Sources` answer every question as their union does, however
        /// the union is split into parts (and `simplified` does not change it).
        #[test]
        fn sources_answer_as_their_union(
            parts in proptest::collection::vec(
                proptest::collection::vec((0u8..64, 0u8..64), 0..4), 0..4),
            other in proptest::collection::vec((0u8..64, 0u8..64), 0..4),
            probe in 0u8..70,
        ) {
            let parts: Vec<Arc<IpSet>> = parts.iter().map(|p| ranges(p)).collect();
            let union = IpSet::union_all(parts.iter().map(|p| &**p));
            let other = ranges(&other);
            let addr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, probe));
            for sources in [Sources::new(parts.clone()), Sources::simplified(parts.clone())] {
                proptest::prop_assert_eq!(&*sources.union(), &union);
                proptest::prop_assert_eq!(&sources, &Sources::of(union.clone()));
                proptest::prop_assert_eq!(sources.sample_hash(), Sources::of(union.clone()).sample_hash());
                proptest::prop_assert_eq!(sources.is_empty(), union.is_empty());
                proptest::prop_assert_eq!(sources.contains(addr), union.contains(addr));
                proptest::prop_assert_eq!(sources.overlaps(&other), union.overlaps(&other));
                proptest::prop_assert_eq!(sources.intersect(&other), union.intersect(&other));
                proptest::prop_assert_eq!(sources.contains_set(&other), union.contains_set(&other));
                proptest::prop_assert_eq!(sources.within(&other), other.contains_set(&union));
                proptest::prop_assert_eq!(
                    sources.first_address(),
                    union.ranges().next().map(|r| r.0)
                );
                proptest::prop_assert_eq!(
                    sources.one_address().is_some(),
                    !union.is_empty()
                );
                proptest::prop_assert_eq!(
                    sources == Sources::of(other.as_ref().clone()),
                    union == *other
                );
            }
        }
    }

    #[test]
    fn written_rules_are_grants_then_acls_each_destination_on_each_spec() {
        let policy = crate::model::from_text(
            r#"{"acls": [{"action": "accept", "proto": "udp", "src": ["tag:a"],
                          "dst": ["tag:b:53", "tag:c:5353,6000-6001"]}],
                "grants": [{"src": ["tag:x"], "dst": ["tag:y", "tag:z"], "ip": ["tcp:443", "*"],
                            "via": ["tag:r"], "srcPosture": ["posture:p"]}]}"#,
        );
        let all: Vec<Written> = Written::all(&policy).collect();
        assert_eq!(
            all.iter().map(|w| w.origin).collect::<Vec<_>>(),
            [Origin::Grant(0), Origin::Acl(0)]
        );
        let shown = |w: &Written| {
            w.entries()
                .map(|e| {
                    let ports: Vec<String> = e.ports.iter().map(ToString::to_string).collect();
                    format!(
                        "{}={} #{} {:?} {}",
                        e.destination.sel.raw,
                        e.destination.raw,
                        e.spec,
                        e.protocol.map(|p| p.0),
                        ports.join(",")
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(&all[0]),
            [
                "tag:y=tag:y #0 Some(6) 443",
                "tag:y=tag:y #1 None *",
                "tag:z=tag:z #0 Some(6) 443",
                "tag:z=tag:z #1 None *",
            ]
        );
        // An ACL's destination is its host part, written with its ports.
        assert_eq!(
            shown(&all[1]),
            [
                "tag:b=tag:b:53 #0 Some(17) 53",
                "tag:c=tag:c:5353,6000-6001 #0 Some(17) 5353,6000-6001",
            ]
        );
        assert_eq!(all[0].via().len(), 1);
        assert_eq!(all[0].posture().len(), 1);
        assert!(all[1].via().is_empty() && all[1].app().is_empty());
        assert_eq!(all[1].destinations().len(), 2);
        // Found again by where they come from; the default allow-all and a rule past
        // the end are written nowhere.
        for w in &all {
            let again = Written::at(&policy, w.origin).expect("written");
            assert_eq!((again.origin, again.span()), (w.origin, w.span()));
        }
        assert!(Written::at(&policy, Origin::Default).is_none());
        assert!(Written::at(&policy, Origin::Acl(1)).is_none());
    }

    #[test]
    fn a_rule_holds_the_resolvers_sets_not_copies() {
        let policy = crate::model::from_text(
            r#"{"tagOwners": {"tag:a": [], "tag:b": []},
                "acls": [{"action": "accept", "src": ["tag:a", "tag:b"], "dst": ["tag:a:22"]},
                         {"action": "accept", "src": ["tag:a"], "dst": ["tag:b:22"]}]}"#,
        );
        let inventory = Inventory::from_json(
            br#"{"devices": [
                {"hostname": "a", "addresses": ["100.64.0.1"], "tags": ["tag:a"]},
                {"hostname": "b", "addresses": ["100.64.0.2"], "tags": ["tag:b"]}]}"#,
        )
        .unwrap();
        let resolver = Resolver::new(&policy, &inventory);
        let rules = compile(&resolver);
        let tag_a = resolver.source_shared(&Selector::Tag("tag:a".into()));
        assert!(rules.iter().all(|r| Arc::ptr_eq(&r.src.parts()[0], &tag_a)));
        assert_eq!(*rules[0].src.union(), *set("100.64.0.1-100.64.0.2"));
    }

    #[test]
    fn a_destination_named_twice_is_one_set_whatever_its_kind() {
        let policy = crate::model::from_text(
            r#"{"tagOwners": {"tag:a": []},
                "hosts": {"db": "100.64.0.9"},
                "grants": [{"src": ["tag:a"], "dst": ["tag:a", "db", "10.0.0.0/8", "user:*@example.com"],
                            "ip": ["tcp:22", "udp:53"]}],
                "acls": [{"action": "accept", "src": ["tag:a"],
                          "dst": ["tag:a:80", "db:80", "10.0.0.0/8:80", "user:*@example.com:80"]}]}"#,
        );
        let inventory = Inventory::from_json(
            br#"{"devices": [
                {"hostname": "a", "addresses": ["100.64.0.1"], "tags": ["tag:a"]},
                {"hostname": "u", "addresses": ["100.64.0.2"], "user": "u@example.com"}]}"#,
        )
        .unwrap();
        let resolver = Resolver::new(&policy, &inventory);
        let rules = compile(&resolver);
        let sets = |rule: &Rule| -> Vec<Arc<IpSet>> {
            let sets = rule.entries.iter().map(|e| match &e.target {
                Target::Addresses(set) => set.clone(),
                other => panic!("{other:?}"),
            });
            sets.collect()
        };
        let (grant, acl) = (sets(&rules[0]), sets(&rules[1]));
        // Two specs per destination in the grant, one in the ACL: each destination's
        // entries, and the other rule's entry for it, hold the same set.
        assert_eq!((grant.len(), acl.len()), (8, 4));
        for (k, one) in acl.iter().enumerate() {
            assert!(Arc::ptr_eq(one, &grant[2 * k]) && Arc::ptr_eq(one, &grant[2 * k + 1]));
        }
        assert_eq!(*acl[3], *set("100.64.0.2"));
    }
}
