//! Rules in audit form, and lowering written rules into it: each ACL or grant becomes
//! its sources (the union of its selectors' sets, interned once per selector) and its
//! destination entries (a set and the keys of the ports), with what decides which rules
//! may cover it (`via`, posture, app capabilities) and a content key that recognises it
//! across edits.

use super::SetId;
use super::keys::Keys;
use crate::engine::inventory::Inventory;
use crate::engine::ipset::IpSet;
use crate::engine::resolve::Resolver;
use crate::engine::rules::{Origin, Protocols};
use crate::model::{Autogroup, Policy, Sel, Selector};
use crate::syntax::Span;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(super) struct AuditEntry {
    /// The destination's set; for `autogroup:self`, all user-owned devices (for overlap
    /// tests only: the flows themselves depend on the source's owner).
    pub(super) set: SetId,
    pub(super) own: bool,
    pub(super) keys: Keys,
    /// Which destination selector of the rule this entry comes from.
    pub(super) dst_index: usize,
}

#[derive(Clone, Debug)]
pub(super) struct AuditRule {
    pub(super) origin: Origin,
    pub(super) span: Span,
    pub(super) src_sels: Vec<SetId>,
    pub(super) src_spans: Vec<Span>,
    pub(super) src: Sources,
    /// The size of a one-set source (a union's is computed while the rule is decided).
    pub(super) src_size: Option<f64>,
    pub(super) entries: Vec<AuditEntry>,
    pub(super) dst_spans: Vec<Span>,
    pub(super) via: Vec<String>,
    pub(super) posture: Vec<String>,
    /// Grants app capabilities: needed whatever its network flows.
    pub(super) has_caps: bool,
    /// Identifies the rule's content across edits.
    pub(super) key: u64,
}

impl AuditRule {
    /// Can `other`'s flows stand in for this rule's, `via` and posture considered?
    pub(super) fn coverable_by(&self, other: &AuditRule) -> bool {
        (other.via.is_empty()
            || (!self.via.is_empty() && self.via.iter().all(|v| other.via.contains(v))))
            && (other.posture.is_empty() || other.posture == self.posture)
    }
}

/// A rule's sources: one set (shared with its selector's, or with the selector whose set
/// holds the others'), or the sets whose union it is. That union is built only while the
/// rule itself is decided, never kept: a rule naming `autogroup:member` and a tag would
/// otherwise hold a copy of every member device's addresses (at 100,000 devices, a
/// thousand such rules held over a gigabyte).
#[derive(Clone, Debug)]
pub(super) enum Sources {
    One(Arc<IpSet>),
    Parts(Vec<Arc<IpSet>>),
}

impl Sources {
    /// The set, built when it is a union.
    pub(super) fn union(&self) -> Cow<'_, IpSet> {
        match self {
            Sources::One(set) => Cow::Borrowed(&**set),
            Sources::Parts(parts) => Cow::Owned(IpSet::union_all(parts.iter().map(|p| &**p))),
        }
    }

    /// The parts whose union the sources are (one set, or each selector's).
    pub(super) fn parts(&self) -> &[Arc<IpSet>] {
        match self {
            Sources::One(set) => std::slice::from_ref(set),
            Sources::Parts(parts) => parts,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.parts().iter().all(|p| p.is_empty())
    }

    /// Whether the sources and `other` share an address.
    pub(super) fn overlaps(&self, other: &IpSet) -> bool {
        self.parts().iter().any(|p| p.overlaps(other))
    }

    /// One source address, as a set (the first of the first part that has one).
    pub(super) fn one_address(&self) -> Option<IpSet> {
        self.parts()
            .iter()
            .find_map(|p| p.ranges().next())
            .map(|(first, _)| IpSet::from_addr(first))
    }

    /// The one set, when the sources are one.
    pub(super) fn one(&self) -> Option<&Arc<IpSet>> {
        match self {
            Sources::One(set) => Some(set),
            Sources::Parts(_) => None,
        }
    }

    pub(super) fn contains(&self, addr: std::net::IpAddr) -> bool {
        match self {
            Sources::One(set) => set.contains(addr),
            Sources::Parts(parts) => parts.iter().any(|p| p.contains(addr)),
        }
    }

    /// Whether the sources take in every address of `other`.
    pub(super) fn contains_set(&self, other: &IpSet) -> bool {
        match self {
            Sources::One(set) => set.contains_set(other),
            Sources::Parts(parts) => other.within_union(parts.iter().map(|p| &**p)),
        }
    }

    /// Whether `other` takes in every source.
    pub(super) fn within(&self, other: &IpSet) -> bool {
        match self {
            Sources::One(set) => other.contains_set(set),
            Sources::Parts(parts) => parts.iter().all(|p| other.contains_set(p)),
        }
    }

    /// The sources `other` also takes in.
    pub(super) fn intersect(&self, other: &IpSet) -> IpSet {
        match self {
            Sources::One(set) => set.intersect(other),
            Sources::Parts(parts) => {
                let pieces: Vec<IpSet> = parts.iter().map(|p| p.intersect(other)).collect();
                IpSet::union_all(&pieces)
            }
        }
    }
}

/// Resolves a selector to its set id, creating the set on first use. `None` for a
/// selector that did not parse (validation reports it). The flag marks `autogroup:self`.
pub(super) struct Interner<'p> {
    pub(super) policy: &'p Policy,
    pub(super) inventory: &'p Inventory,
    pub(super) resolver: Option<Resolver<'p>>,
}

impl Interner<'_> {
    fn get(
        &mut self,
        sets: &mut Vec<Arc<IpSet>>,
        ids: &mut FxHashMap<(bool, String), SetId>,
        is_src: bool,
        sel: &Sel,
    ) -> Option<(SetId, bool)> {
        let s = sel.selector.as_ref()?;
        if !is_src && *s == Selector::Autogroup(Autogroup::SelfDevices) {
            return Some((0, true));
        }
        let key = (is_src, sel.raw.trim().to_string());
        if let Some(&id) = ids.get(&key) {
            return Some((id, false));
        }
        // Built only when a selector is new: an edit that reuses known selectors costs
        // no pass over the inventory.
        let resolver = self
            .resolver
            .get_or_insert_with(|| Resolver::new(self.policy, self.inventory));
        let set = match s {
            // A Tailscale Service has addresses of its own, outside the inventory: its
            // stand-in is covered only by rules naming it. Nothing recorded shows that
            // `*` or an address range reaches a service's address.
            Selector::Service(name) => {
                IpSet::from_addr(crate::engine::structural::service_stand_in(name))
            }
            _ if is_src => resolver.source(s),
            _ => match resolver.target(s) {
                crate::engine::resolve::Target::Everything => {
                    IpSet::all().subtract(&crate::engine::structural::service_block())
                }
                crate::engine::resolve::Target::Addresses(a) => {
                    a.subtract(&crate::engine::structural::service_block())
                }
                crate::engine::resolve::Target::OwnDevices => IpSet::new(),
            },
        };
        let id = sets.len() as SetId;
        sets.push(Arc::new(set));
        ids.insert(key, id);
        Some((id, false))
    }
}

/// A written rule of either kind, before lowering.
#[derive(Clone, Copy)]
pub(super) enum Written<'p> {
    Grant(usize, &'p crate::model::Grant),
    Acl(usize, &'p crate::model::Acl),
}

impl Written<'_> {
    pub(super) fn all(policy: &Policy) -> Vec<Written<'_>> {
        let grants = policy.grants.iter().flatten().enumerate();
        let acls = policy.acls.iter().flatten().enumerate();
        grants
            .map(|(i, g)| Written::Grant(i, g))
            .chain(acls.map(|(i, a)| Written::Acl(i, a)))
            .collect()
    }
    pub(super) fn origin(self) -> Origin {
        match self {
            Written::Grant(i, _) => Origin::Grant(i),
            Written::Acl(i, _) => Origin::Acl(i),
        }
    }
    pub(super) fn span(self) -> Span {
        match self {
            Written::Grant(_, g) => g.span,
            Written::Acl(_, a) => a.span,
        }
    }
    /// Identifies the rule's content, wherever it sits in the file.
    pub(super) fn key(self) -> u64 {
        match self {
            Written::Grant(_, g) => content_key(&(
                "grant",
                g.src.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.dst.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.ip.iter()
                    .map(|s| format!("{:?}", s.value))
                    .collect::<Vec<_>>(),
                g.via.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.src_posture
                    .iter()
                    .map(|s| s.value.as_str())
                    .collect::<Vec<_>>(),
                !g.app.is_empty(),
            )),
            Written::Acl(_, a) => content_key(&(
                "acl",
                a.src.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                a.dst.iter().map(|d| d.raw.as_str()).collect::<Vec<_>>(),
                a.proto.as_ref().map(|p| p.value.0),
                a.src_posture
                    .iter()
                    .map(|s| s.value.as_str())
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// The spans of the source selectors and destinations that lowering keeps.
    pub(super) fn selector_spans(self) -> (Vec<Span>, Vec<Span>) {
        let keep = |s: &Sel| s.selector.is_some();
        match self {
            Written::Grant(_, g) => (
                g.src.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
                g.dst.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
            ),
            Written::Acl(_, a) => (
                a.src.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
                a.dst
                    .iter()
                    .filter(|d| keep(&d.host))
                    .map(|d| d.span)
                    .collect(),
            ),
        }
    }

    pub(super) fn lower(
        self,
        interner: &mut Interner,
        sets: &mut Vec<Arc<IpSet>>,
        ids: &mut FxHashMap<(bool, String), SetId>,
    ) -> AuditRule {
        type Parts<'a> = (
            &'a [Sel],
            Vec<(&'a Sel, Span)>,
            &'a [crate::model::Spanned<String>],
        );
        let (src, dsts, posture): Parts = match self {
            Written::Grant(_, g) => (
                &g.src,
                g.dst.iter().map(|d| (d, d.span)).collect(),
                &g.src_posture,
            ),
            Written::Acl(_, a) => (
                &a.src,
                a.dst.iter().map(|d| (&d.host, d.span)).collect(),
                &a.src_posture,
            ),
        };
        let mut src_sels = Vec::new();
        let mut src_spans = Vec::new();
        for s in src {
            if let Some((id, _)) = interner.get(sets, ids, true, s) {
                src_sels.push(id);
                src_spans.push(s.span);
            }
        }
        let mut entries = Vec::new();
        let mut dst_spans = Vec::new();
        for (k, (sel, span)) in dsts.into_iter().enumerate() {
            let Some((set, own)) = interner.get(sets, ids, false, sel) else {
                continue;
            };
            let dst_index = dst_spans.len();
            dst_spans.push(span);
            match self {
                Written::Grant(_, g) => {
                    for spec in &g.ip {
                        entries.push(AuditEntry {
                            set,
                            own,
                            keys: Keys::new(
                                spec.value.proto.map_or(Protocols::Default, Protocols::Only),
                                &spec.value.ports,
                            ),
                            dst_index,
                        });
                    }
                }
                Written::Acl(_, a) => entries.push(AuditEntry {
                    set,
                    own,
                    keys: Keys::new(
                        a.proto
                            .as_ref()
                            .map_or(Protocols::Default, |p| Protocols::Only(p.value)),
                        &a.dst[k].ports,
                    ),
                    dst_index,
                }),
            }
        }
        let (via, has_caps) = match self {
            Written::Grant(_, g) => (
                sorted(g.via.iter().map(|v| v.raw.trim().to_string())),
                !g.app.is_empty(),
            ),
            Written::Acl(..) => (Vec::new(), false),
        };
        let src = match src_sels[..] {
            [one] => Sources::One(Arc::clone(&sets[one as usize])),
            _ => {
                // When one part holds the others (users beside `autogroup:member`), the
                // union is that part: share it rather than build a copy per rule.
                let parts = || src_sels.iter().map(|&s| &sets[s as usize]);
                let largest = parts().max_by_key(|s| s.interval_count());
                match largest {
                    Some(big) if parts().all(|s| big.contains_set(s)) => {
                        Sources::One(Arc::clone(big))
                    }
                    _ => Sources::Parts(parts().cloned().collect()),
                }
            }
        };
        AuditRule {
            origin: self.origin(),
            span: self.span(),
            src_size: src.one().map(|set| set.size()),
            src,
            src_sels,
            src_spans,
            entries,
            dst_spans,
            via,
            posture: sorted(posture.iter().map(|p| p.value.clone())),
            has_caps,
            key: self.key(),
        }
    }
}

/// What the definitions rules resolve through look like: an edit to any of them
/// re-decides everything.
pub(super) fn definitions_key(policy: &Policy) -> u64 {
    content_key(&(
        policy
            .groups
            .iter()
            .map(|g| {
                (
                    &g.name.value,
                    g.members.iter().map(|m| &m.value).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
        policy
            .hosts
            .iter()
            .map(|h| (&h.name.value, &h.value.value))
            .collect::<Vec<_>>(),
        policy
            .ipsets
            .iter()
            .map(|s| {
                (
                    &s.name.value,
                    s.ops.iter().map(|o| &o.value).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
        policy.acls.is_none() && policy.grants.is_none(),
    ))
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}

fn content_key(value: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(value)
}
