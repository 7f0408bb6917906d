//! Step 2, the exact check: do a rule's flows lie inside the union of some candidates'?
//! The rule's sources are cut into pieces by the candidates' sources; pieces inside the
//! same candidates form one class (Zobrist hashing), and each class needs one
//! two-dimensional check, destinations × ports, which sweeps the port keys and
//! subtracts destination sets.

use super::keys::Keys;
use super::lower::AuditEntry;
use super::owners::NO_OWNER;
use super::{Audit, zobrist};
use crate::engine::ipset::IpSet;
use rustc_hash::FxHashSet;
use std::borrow::Cow;

/// A candidate rule restricted to the sources of the rule being checked.
pub(super) struct Part<'a> {
    pub(super) rule: u32,
    pub(super) volume: f64,
    /// Borrowed when the candidate takes in all of the rule's sources.
    pub(super) src: Cow<'a, IpSet>,
    pub(super) entries: &'a [AuditEntry],
}

impl Part<'_> {
    pub(super) fn has_every_source(&self, src: &IpSet) -> bool {
        match &self.src {
            Cow::Borrowed(b) => std::ptr::eq(*b, src) || **b == *src,
            Cow::Owned(o) => o == src,
        }
    }
}

/// Source addresses `lo..=hi` of one family, inside the same parts (their hash).
#[derive(Clone, Copy)]
struct Piece {
    fam: usize,
    lo: u128,
    hi: u128,
    hash: u64,
}

/// Decides whether a rule's flows (`src` × `entries`) lie inside the union of parts.
pub(super) struct Checker<'a> {
    pub(super) audit: &'a Audit,
    pub(super) src: &'a IpSet,
    pub(super) entries: &'a [AuditEntry],
}

impl Checker<'_> {
    pub(super) fn covered(&self, parts: &[&Part]) -> bool {
        let involves_self = self.entries.iter().any(|e| e.own)
            || parts.iter().any(|p| p.entries.iter().any(|e| e.own));
        // One part with every source: no sweep needed.
        if let [only] = parts
            && !involves_self
            && only.has_every_source(self.src)
        {
            return self.zone_covered(parts, None);
        }
        // Parts with the same sources (often: the same selector's shared set) sweep as
        // one group; a group with every source is active on every piece and adds no
        // events (a broad rule would add one per source interval).
        let mut group_of: Vec<usize> = Vec::with_capacity(parts.len());
        let mut groups: Vec<(*const IpSet, u64)> = Vec::new();
        for (k, p) in parts.iter().enumerate() {
            let ptr: *const IpSet = &*p.src;
            let g = match groups.iter().position(|(q, _)| *q == ptr) {
                Some(g) => g,
                None => {
                    groups.push((ptr, 0));
                    groups.len() - 1
                }
            };
            groups[g].1 ^= zobrist(k as u64);
            group_of.push(g);
        }
        let mut group_src: Vec<&IpSet> = vec![self.src; groups.len()];
        for (k, p) in parts.iter().enumerate() {
            group_src[group_of[k]] = &p.src;
        }
        let everywhere: Vec<bool> = (0..groups.len())
            .map(|g| {
                let k = group_of
                    .iter()
                    .position(|&x| x == g)
                    .expect("every group has a part");
                parts[k].has_every_source(self.src)
            })
            .collect();
        let mut decided: FxHashSet<(u64, u32)> = FxHashSet::default();
        for fam in 0..2 {
            let base = self.src.families()[fam];
            if base.is_empty() {
                continue;
            }
            // Events: (position, group, starts). An interval ending at the top of the
            // space has no end event.
            let mut events: Vec<(u128, u32, bool)> = Vec::new();
            for (g, src) in group_src.iter().enumerate() {
                if everywhere[g] {
                    continue;
                }
                for &(lo, hi) in src.families()[fam] {
                    events.push((lo, g as u32, true));
                    if hi < u128::MAX {
                        events.push((hi + 1, g as u32, false));
                    }
                }
            }
            events.sort_unstable_by_key(|e| e.0);
            let mut active = everywhere.clone();
            let mut hash = (0..groups.len())
                .filter(|&g| everywhere[g])
                .fold(0u64, |h, g| h ^ groups[g].1);
            let mut ev = 0;
            for &(lo, hi) in base {
                let mut cur = lo;
                loop {
                    while ev < events.len() && events[ev].0 <= cur {
                        let (_, g, start) = events[ev];
                        active[g as usize] = start;
                        hash ^= groups[g as usize].1;
                        ev += 1;
                    }
                    let end = if ev < events.len() && events[ev].0 <= hi {
                        events[ev].0 - 1
                    } else {
                        hi
                    };
                    let piece = Piece {
                        fam,
                        lo: cur,
                        hi: end,
                        hash,
                    };
                    if !self.piece_covered(
                        piece,
                        &|k| active[group_of[k]],
                        parts,
                        involves_self,
                        &mut decided,
                    ) {
                        return false;
                    }
                    if end == hi {
                        break;
                    }
                    cur = end + 1;
                }
            }
        }
        true
    }

    fn piece_covered(
        &self,
        Piece { fam, lo, hi, hash }: Piece,
        active: &dyn Fn(usize) -> bool,
        parts: &[&Part],
        involves_self: bool,
        decided: &mut FxHashSet<(u64, u32)>,
    ) -> bool {
        let mut class = |owner: u32| -> bool {
            if !decided.insert((hash, owner)) {
                return true;
            }
            let owner = (owner != NO_OWNER).then_some(owner);
            let chosen: Vec<&Part> = parts
                .iter()
                .enumerate()
                .filter(|(k, _)| active(*k))
                .map(|(_, p)| *p)
                .collect();
            self.zone_covered(&chosen, owner)
        };
        if !involves_self {
            return class(NO_OWNER);
        }
        // Walk the owned addresses in [lo, hi]; the gaps between them have no owner.
        let mut cur = Some(lo);
        for (a, owner) in self.audit.owners.owned_in(fam, lo, hi) {
            if cur.is_some_and(|c| a > c) && !class(NO_OWNER) {
                return false;
            }
            if !class(owner) {
                return false;
            }
            cur = a.checked_add(1);
        }
        match cur {
            Some(c) if c <= hi => class(NO_OWNER),
            _ => true,
        }
    }

    /// Are the rule's destinations × ports (for a source owned by `owner`, if any) inside
    /// the union of the parts' destinations × ports?
    fn zone_covered(&self, parts: &[&Part], owner: Option<u32>) -> bool {
        let audit = self.audit;
        let dst = |e: &AuditEntry| -> Option<&IpSet> {
            if e.own {
                owner.map(|o| &*audit.owners.devices[o as usize])
            } else {
                Some(&audit.sets[e.set as usize])
            }
        };
        // An owner's devices are few; rank them last.
        let size = |e: &AuditEntry| {
            if e.own {
                0.0
            } else {
                audit.sizes[e.set as usize]
            }
        };
        let mine: Vec<(&IpSet, &Keys)> = self
            .entries
            .iter()
            .filter_map(|e| Some((dst(e)?, &e.keys)))
            .filter(|(d, _)| !d.is_empty())
            .collect();
        if mine.is_empty() {
            return true;
        }
        if parts.is_empty() {
            return false;
        }
        let mut theirs: Vec<(f64, &IpSet, &Keys)> = parts
            .iter()
            .flat_map(|p| p.entries.iter())
            .filter_map(|e| Some((size(e), dst(e)?, &e.keys)))
            .filter(|(_, d, k)| !d.is_empty() && mine.iter().any(|(_, mk)| mk.overlaps(k)))
            .collect();
        // Big destinations first: they empty the remainder soonest.
        theirs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let theirs: Vec<(&IpSet, &Keys)> = theirs.into_iter().map(|(_, d, k)| (d, k)).collect();
        let mut bounds: Vec<u32> = Vec::new();
        for (_, k) in mine.iter().chain(theirs.iter()) {
            for &(lo, hi) in &k.0 {
                bounds.push(lo);
                if hi < u32::MAX {
                    bounds.push(hi + 1);
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut seen: FxHashSet<(u64, u64)> = FxHashSet::default();
        for &x in &bounds {
            let mut mine_sig = 0u64;
            let mut theirs_sig = 0u64;
            let active_mine: Vec<&IpSet> = mine
                .iter()
                .enumerate()
                .filter(|(_, (_, k))| k.contains(x))
                .map(|(j, (d, _))| {
                    mine_sig ^= zobrist(j as u64);
                    *d
                })
                .collect();
            if active_mine.is_empty() {
                continue;
            }
            let active_theirs: Vec<&IpSet> = theirs
                .iter()
                .enumerate()
                .filter(|(_, (_, k))| k.contains(x))
                .map(|(j, (d, _))| {
                    theirs_sig ^= zobrist(!(j as u64));
                    *d
                })
                .collect();
            if !seen.insert((mine_sig, theirs_sig)) {
                continue;
            }
            let mut rest = IpSet::union_all(active_mine.iter().copied());
            for d in active_theirs {
                if rest.is_empty() {
                    break;
                }
                if d.is_all() {
                    rest = IpSet::new();
                    break;
                }
                rest = rest.subtract(d);
            }
            if !rest.is_empty() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{DEFS, audit};

    #[test]
    fn own_devices_flows_depend_on_the_owner() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["alice@example.com:22"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["bob@example.com:22"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["autogroup:self:22"]}}]}}"#
        ));
        // alice's own rule is covered by group:eng's; autogroup:member's would cover it
        // only if alice is a member, not shared in.
        assert_eq!(f, ["acls[1] redundant: acls[3]"]);
    }
}
