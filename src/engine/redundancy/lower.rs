//! Rules in audit form, and lowering written rules into it: each ACL or grant becomes
//! its sources (the union of its selectors' sets, interned once per selector) and its
//! destination entries (a set and the keys of the ports), with what decides which rules
//! may cover it (`via`, posture, app capabilities) and a content key that recognises it
//! across edits.

use super::SetId;
use super::keys::Keys;
use crate::engine::inventory::Inventory;
use crate::engine::ipset::IpSet;
use crate::engine::resolve::{Resolver, Target};
use crate::engine::rules::{Origin, Protocols, Sources, Written};
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
            // The resolver's own set: shared, not copied.
            _ if is_src => resolver.source_shared(s),
            _ => {
                let services = crate::engine::structural::service_block();
                match resolver.target(s) {
                    Target::Everything => Arc::new(IpSet::all().subtract(&services)),
                    // Most sets hold no service address: shared as they are.
                    Target::Addresses(a) if a.overlaps(&services) => {
                        Arc::new(a.subtract(&services))
                    }
                    Target::Addresses(a) => a,
                    Target::OwnDevices => Arc::new(IpSet::new()),
                }
            }
        };
        let id = sets.len() as SetId;
        sets.push(set);
        ids[usize::from(is_src)].insert(raw.to_string(), id);
        Some((id, false))
    }
}

/// Identifies a rule's content, wherever it sits in the file. Hashed as it is read:
/// each list length-prefixed, so that two rules hash alike only when they say the same
/// (as a tuple of lists would, without building the lists).
pub(super) fn content_key_of(w: Written) -> u64 {
    use std::hash::{Hash, Hasher};
    fn list<'a, T: Hash + 'a>(h: &mut impl Hasher, items: impl ExactSizeIterator<Item = T>) {
        h.write_usize(items.len());
        for item in items {
            item.hash(h);
        }
    }
    let mut h = rustc_hash::FxHasher::default();
    w.is_grant().hash(&mut h);
    list(&mut h, w.src().iter().map(|s| s.raw.as_str()));
    list(&mut h, w.destinations().map(|d| d.raw));
    h.write_usize(w.destinations().len() * w.specs());
    for e in w.entries() {
        (e.protocol, e.ports).hash(&mut h);
    }
    list(&mut h, w.via().iter().map(|s| s.raw.as_str()));
    list(&mut h, w.posture().iter().map(|s| s.value.as_str()));
    (!w.app().is_empty()).hash(&mut h);
    h.finish()
}

/// The spans of the source selectors and destinations that lowering keeps.
pub(super) fn selector_spans(w: Written) -> (Vec<Span>, Vec<Span>) {
    (
        w.src()
            .iter()
            .filter(|s| s.selector.is_some())
            .map(|s| s.span)
            .collect(),
        w.destinations()
            .filter(|d| d.sel.selector.is_some())
            .map(|d| d.span)
            .collect(),
    )
}

/// A written rule in audit form, its selectors' sets interned.
pub(super) fn lower(
    w: Written,
    interner: &mut Interner,
    sets: &mut Vec<Arc<IpSet>>,
    ids: &mut SetIds,
) -> AuditRule {
    let mut src_sels = Vec::with_capacity(w.src().len());
    let mut src_spans = Vec::with_capacity(w.src().len());
    for s in w.src() {
        if let Some((id, _)) = interner.get(sets, ids, true, s) {
            src_sels.push(id);
            src_spans.push(s.span);
        }
    }
    let mut entries = Vec::with_capacity(w.destinations().len() * w.specs());
    let mut dst_spans = Vec::with_capacity(w.destinations().len());
    for (k, d) in w.destinations().enumerate() {
        let Some((set, own)) = interner.get(sets, ids, false, d.sel) else {
            continue;
        };
        let dst_index = dst_spans.len();
        dst_spans.push(d.span);
        for e in w.entries_at(k) {
            entries.push(AuditEntry {
                set,
                own,
                keys: Keys::new(
                    e.protocol.map_or(Protocols::Default, Protocols::Only),
                    e.ports,
                ),
                dst_index,
            });
        }
    }
    let src = Sources::simplified(src_sels.iter().map(|&s| sets[s as usize].clone()).collect());
    AuditRule {
        origin: w.origin,
        span: w.span(),
        // Set with the sets' sizes ([`super::Audit::source_sizes`]).
        src_size: None,
        src,
        src_sels,
        src_spans,
        entries,
        dst_spans,
        via: sorted(w.via().iter().map(|v| v.raw.trim().to_string())),
        posture: sorted(w.posture().iter().map(|p| p.value.clone())),
        has_caps: !w.app().is_empty(),
        key: content_key_of(w),
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

#[cfg(test)]
mod tests {
    use super::content_key_of;
    use crate::engine::rules::Written;

    /// The content keys of every rule of `rules` (a JSON list of grants and one of ACLs).
    fn keys(grants: &str, acls: &str) -> Vec<u64> {
        let policy = crate::model::from_text(&format!(r#"{{"grants": {grants}, "acls": {acls}}}"#));
        Written::all(&policy).map(content_key_of).collect()
    }

    #[test]
    fn a_rule_keeps_its_key_where_it_moves_and_changes_it_with_anything_it_says() {
        let grant = r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:443"]}"#;
        let acl = r#"{"action": "accept", "src": ["tag:a"], "dst": ["tag:b:443"]}"#;
        let [g, a] = keys(&format!("[{grant}]"), &format!("[{acl}]"))[..] else {
            panic!("two rules")
        };
        // Moved among others: the same keys.
        let moved = keys(
            &format!(r#"[{{"src": ["tag:c"], "dst": ["tag:d"], "ip": ["*"]}}, {grant}]"#),
            &format!(r#"[{acl}, {acl}]"#),
        );
        assert_eq!(moved[1..], [g, a, a]);
        // Each part of a grant counts, and so do an ACL's protocol and ports.
        for changed in [
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["udp:443"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:444"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:443", "tcp:80"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:443"], "via": ["tag:r"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:443"], "srcPosture": ["posture:p"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:443"], "app": {"example.com/cap/x": [{}]}}"#,
            r#"{"src": ["tag:a", "tag:c"], "dst": ["tag:b"], "ip": ["tcp:443"]}"#,
            r#"{"src": ["tag:a"], "dst": ["tag:b", "tag:c"], "ip": ["tcp:443"]}"#,
        ] {
            assert_ne!(keys(&format!("[{changed}]"), "[]"), [g], "{changed}");
        }
        for changed in [
            r#"{"action": "accept", "proto": "udp", "src": ["tag:a"], "dst": ["tag:b:443"]}"#,
            r#"{"action": "accept", "src": ["tag:a"], "dst": ["tag:b:444"]}"#,
            r#"{"action": "accept", "src": ["tag:a"], "dst": ["tag:b:443"], "srcPosture": ["posture:p"]}"#,
        ] {
            assert_ne!(keys("[]", &format!("[{changed}]")), [a], "{changed}");
        }
        // An ACL and a grant that say the same are still two kinds of rule.
        let as_grant = r#"{"src": ["tag:a"], "dst": ["tag:b:443"], "ip": ["443"]}"#;
        assert_ne!(keys(&format!("[{as_grant}]"), "[]"), [a]);
    }
}
