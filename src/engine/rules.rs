//! ACLs and grants normalised to one form (the grant form: sources × destination entries),
//! resolved against an inventory, each rule keeping where it was written.

use super::ipset::IpSet;
use super::resolve::{Resolver, Target};
use crate::model::{AppCap, PortRange, Protocol, Sel, Selector};
use crate::syntax::Span;

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

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub origin: Origin,
    pub span: Span,
    /// Resolved sources, shared by every device filter that includes this rule.
    pub src: std::sync::Arc<IpSet>,
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
    /// Capability destinations (the grant's `dst`, resolved).
    pub cap_targets: Vec<Target>,
    /// The same destinations resolved as sources, for companion capabilities that point
    /// back from them (`*` then includes approved subnet routes).
    pub cap_sources: IpSet,
    /// `via` tags: only devices with one of them carry this rule, for their routes.
    pub via: Vec<String>,
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
    SourcesKnown(std::sync::Arc<IpSet>),
}

/// An ACL or grant as written, for choosing which rules to compile.
pub struct Written<'p> {
    pub src: &'p [Sel],
    /// The destinations (an ACL's hosts, a grant's `dst`).
    pub dst: Vec<&'p Sel>,
    pub via: &'p [Sel],
    pub app: &'p [AppCap],
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
            src: std::sync::Arc::new(resolver.source(&Selector::Wildcard)),
            src_everything: false,
            src_listed: Default::default(),
            entries: vec![Entry {
                target: Target::Everything,
                written: "*".into(),
                span: Span::default(),
                protocols: Protocols::Default,
                ports: vec![PortRange::ALL],
                spec: 0,
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
        let mut src = IpSet::new();
        let mut listed = IpSet::new();
        let mut everything = false;
        let mut wildcard = false;
        for s in sels {
            if let Some(sel) = &s.selector {
                if *sel == Selector::Autogroup(crate::model::Autogroup::DangerAll) {
                    everything = true;
                }
                let one = match &wanted {
                    Wanted::SourcesWithin(within) => resolver.source_within(sel, within),
                    _ => resolver.source(sel),
                };
                if *sel == Selector::Wildcard {
                    wildcard = true;
                } else {
                    listed.union_with(&one);
                }
                src.union_with(&one);
            }
        }
        let mut texts = Vec::new();
        if wildcard {
            texts = listed.to_strings();
            texts.extend(route_texts.iter().cloned());
            texts.sort_unstable();
            texts.dedup();
        }
        (
            std::sync::Arc::new(src),
            everything,
            std::sync::Arc::new(texts),
        )
    };
    for (i, g) in policy.grants.iter().flatten().enumerate() {
        let written = Written {
            src: &g.src,
            dst: g.dst.iter().collect(),
            via: &g.via,
            app: &g.app,
        };
        let wanted = wanted(&written);
        if matches!(wanted, Wanted::Not) {
            continue;
        }
        let (src, src_everything, src_listed) = resolve_src(&g.src, wanted);
        let mut entries = Vec::new();
        let mut cap_targets = Vec::new();
        let mut cap_sources = IpSet::new();
        for d in &g.dst {
            let Some(sel) = &d.selector else { continue };
            let target = resolver.target(sel);
            if target != Target::OwnDevices {
                cap_sources.union_with(&resolver.source(sel));
            }
            for (k, spec) in g.ip.iter().enumerate() {
                entries.push(Entry {
                    target: target.clone(),
                    written: d.raw.trim().to_string(),
                    span: d.span,
                    protocols: spec.value.proto.map_or(Protocols::Default, Protocols::Only),
                    ports: spec.value.ports.clone(),
                    spec: k,
                });
            }
            cap_targets.push(target);
        }
        let caps = g
            .app
            .iter()
            .map(|c| (c.name.value.clone(), super::value_to_json(&c.values)))
            .collect();
        let via = g
            .via
            .iter()
            .filter_map(|v| match &v.selector {
                Some(Selector::Tag(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        rules(Rule {
            origin: Origin::Grant(i),
            span: g.span,
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
    for (i, a) in policy.acls.iter().flatten().enumerate() {
        let written = Written {
            src: &a.src,
            dst: a.dst.iter().map(|d| &d.host).collect(),
            via: &[],
            app: &[],
        };
        let wanted = wanted(&written);
        if matches!(wanted, Wanted::Not) {
            continue;
        }
        let (src, src_everything, src_listed) = resolve_src(&a.src, wanted);
        let protocols = a
            .proto
            .as_ref()
            .map_or(Protocols::Default, |p| Protocols::Only(p.value));
        let mut entries = Vec::new();
        for d in &a.dst {
            let Some(sel) = &d.host.selector else {
                continue;
            };
            entries.push(Entry {
                target: resolver.target(sel),
                written: d.raw.trim().to_string(),
                span: d.span,
                protocols,
                ports: d.ports.clone(),
                spec: 0,
            });
        }
        rules(Rule {
            origin: Origin::Acl(i),
            span: a.span,
            src,
            src_everything,
            src_listed,
            entries,
            caps: Vec::new(),
            cap_targets: Vec::new(),
            cap_sources: IpSet::new(),
            via: Vec::new(),
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
