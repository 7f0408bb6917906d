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
use crate::engine::rules::{Origin, Protocols, Sources};
use crate::model::{Autogroup, Policy, Sel, Selector};
use crate::syntax::Span;
use rustc_hash::FxHashMap;
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

/// Each selector's set, by its text: destinations' first, then sources' (`*` differs).
/// Looked up by the borrowed text, so a selector met again allocates nothing.
pub(super) type SetIds = [FxHashMap<String, SetId>; 2];

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
        ids: &mut SetIds,
        is_src: bool,
        sel: &Sel,
    ) -> Option<(SetId, bool)> {
        let s = sel.selector.as_ref()?;
        if !is_src && *s == Selector::Autogroup(Autogroup::SelfDevices) {
            return Some((0, true));
        }
        let raw = sel.raw.trim();
        if let Some(&id) = ids[usize::from(is_src)].get(raw) {
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
            Selector::Service(name) => Arc::new(IpSet::from_addr(
                crate::engine::structural::service_stand_in(name),
            )),
            // The resolver's own set when it keeps one: shared, not copied.
            _ if is_src => resolver.source_shared(s),
            _ => Arc::new(match resolver.target(s) {
                crate::engine::resolve::Target::Everything => {
                    IpSet::all().subtract(&crate::engine::structural::service_block())
                }
                crate::engine::resolve::Target::Addresses(a) => {
                    // Most sets hold no service address: kept as they are, not copied.
                    let services = crate::engine::structural::service_block();
                    if a.overlaps(&services) {
                        a.subtract(&services)
                    } else {
                        a
                    }
                }
                crate::engine::resolve::Target::OwnDevices => IpSet::new(),
            }),
        };
        let id = sets.len() as SetId;
        sets.push(set);
        ids[usize::from(is_src)].insert(raw.to_string(), id);
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
    /// Identifies the rule's content, wherever it sits in the file. Hashed as it is read:
    /// each list length-prefixed, so that two rules hash alike only when they say the
    /// same (as a tuple of lists would, without building the lists).
    pub(super) fn key(self) -> u64 {
        use std::hash::{Hash, Hasher};
        fn list<'a, T: Hash + 'a>(h: &mut impl Hasher, items: impl ExactSizeIterator<Item = T>) {
            h.write_usize(items.len());
            for item in items {
                item.hash(h);
            }
        }
        let mut h = rustc_hash::FxHasher::default();
        match self {
            Written::Grant(_, g) => {
                "grant".hash(&mut h);
                list(&mut h, g.src.iter().map(|s| s.raw.as_str()));
                list(&mut h, g.dst.iter().map(|s| s.raw.as_str()));
                list(&mut h, g.ip.iter().map(|s| &s.value));
                list(&mut h, g.via.iter().map(|s| s.raw.as_str()));
                list(&mut h, g.src_posture.iter().map(|s| s.value.as_str()));
                (!g.app.is_empty()).hash(&mut h);
            }
            Written::Acl(_, a) => {
                "acl".hash(&mut h);
                list(&mut h, a.src.iter().map(|s| s.raw.as_str()));
                list(&mut h, a.dst.iter().map(|d| d.raw.as_str()));
                a.proto.as_ref().map(|p| p.value.0).hash(&mut h);
                list(&mut h, a.src_posture.iter().map(|s| s.value.as_str()));
            }
        }
        h.finish()
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
        ids: &mut SetIds,
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
        let mut src_sels = Vec::with_capacity(src.len());
        let mut src_spans = Vec::with_capacity(src.len());
        for s in src {
            if let Some((id, _)) = interner.get(sets, ids, true, s) {
                src_sels.push(id);
                src_spans.push(s.span);
            }
        }
        let specs = match self {
            Written::Grant(_, g) => g.ip.len(),
            Written::Acl(..) => 1,
        };
        let mut entries = Vec::with_capacity(dsts.len() * specs);
        let mut dst_spans = Vec::with_capacity(dsts.len());
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
        let src = Sources::simplified(src_sels.iter().map(|&s| sets[s as usize].clone()).collect());
        AuditRule {
            origin: self.origin(),
            span: self.span(),
            // Set with the sets' sizes ([`super::Audit::source_sizes`]).
            src_size: None,
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
