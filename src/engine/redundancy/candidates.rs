//! Step 1, candidates: the rules that overlap a rule in sources, destinations and
//! ports, found through the overlap relation of selectors (one sweep over every
//! selector's addresses), not by intersecting address sets rule by rule.

use super::lower::AuditRule;
use super::{Audit, SetId, zobrist};
use crate::engine::ipset::IpSet;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

impl Audit {
    /// Which rules name each set, how many rules each set's overlaps lead to, and the
    /// processing order.
    pub(super) fn index(&mut self) {
        self.by_src = vec![Vec::new(); self.sets.len()];
        self.by_dst = vec![Vec::new(); self.sets.len()];
        self.by_pair = FxHashMap::default();
        let mut dst_keys: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); self.sets.len()];
        for (i, r) in self.rules.iter().enumerate() {
            for &s in &r.src_sels {
                push_unique(&mut self.by_src[s as usize], i as u32);
            }
            for e in &r.entries {
                push_unique(&mut self.by_dst[e.set as usize], i as u32);
                dst_keys[e.set as usize]
                    .extend(e.keys.0.iter().map(|&(lo, hi)| (lo, hi, i as u32)));
                for &s in &r.src_sels {
                    push_unique(self.by_pair.entry((s, e.set)).or_default(), i as u32);
                }
            }
        }
        // How many rules a selector leads to through its overlaps, per side: a broad
        // selector (`autogroup:member`) overlaps most sets, so summing that per rule would
        // cost rules × sets.
        let reach = |index: &Vec<Vec<u32>>| -> Vec<usize> {
            (0..self.sets.len())
                .map(|s| {
                    index[s].len()
                        + self.overlaps[s]
                            .iter()
                            .map(|t| index[*t as usize].len())
                            .sum::<usize>()
                })
                .collect()
        };
        self.dst_keys = dst_keys
            .into_iter()
            .map(super::keys::KeyStab::new)
            .collect();
        // The sets some rule names (on one side), by address, when `wanted`.
        let sets = &self.sets;
        let by_address = |wanted: bool, named: &Vec<Vec<u32>>| {
            if !wanted {
                return super::keys::AddressStab::default();
            }
            super::keys::AddressStab::new(
                (0..sets.len())
                    .filter(|&s| !named[s].is_empty())
                    .map(|s| (s as u32, sets[s].families())),
            )
        };
        // Only a destination with many rules on one port is looked up by source, and only
        // past a set with many overlaps are destinations looked up by address.
        let many_on_a_key = self.dst_keys.iter().any(|k| k.len() > super::keys::MANY);
        let many_overlaps = self.overlaps.iter().any(|o| o.len() > super::keys::MANY);
        self.src_stab = by_address(many_on_a_key, &self.by_src);
        self.dst_stab = by_address(many_overlaps, &self.by_dst);
        self.src_reach = reach(&self.by_src);
        self.dst_reach = reach(&self.by_dst);
        let mut order: Vec<u32> = (0..self.rules.len() as u32).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.rules[i as usize].span.start));
        self.order = vec![0; self.rules.len()];
        for (pos, &i) in order.iter().enumerate() {
            self.order[i as usize] = pos as u32;
        }
    }

    /// Rules that overlap rule `i` in sources, destinations and ports (any coverability).
    pub(super) fn candidates(&self, i: usize, scratch: &mut Scratch) -> Vec<u32> {
        let r = &self.rules[i];
        scratch.stamp += 1;
        let stamp = scratch.stamp;
        let mut out = Vec::new();
        // Walk whichever side names fewer rules.
        let src_cost: usize = r.src_sels.iter().map(|&s| self.src_reach[s as usize]).sum();
        let dst_cost: usize = r
            .entries
            .iter()
            .map(|e| self.dst_reach[e.set as usize])
            .sum();
        let around = |s: SetId| std::iter::once(s).chain(self.overlaps[s as usize].iter().copied());
        let src_sets: usize = r
            .src_sels
            .iter()
            .map(|&s| 1 + self.overlaps[s as usize].len())
            .sum();
        let dst_sets: usize = r
            .entries
            .iter()
            .map(|e| 1 + self.overlaps[e.set as usize].len())
            .sum();
        // Which sets overlap the rule's sources, and which its destinations (with the
        // entries they overlap, as bits), marked once when that is cheaper than the walk,
        // so that each rule met on the way is tested by lookups, not searches.
        let walk = src_cost.min(dst_cost);
        let src_marked = src_sets <= walk;
        if src_marked {
            for &s in &r.src_sels {
                for a in around(s) {
                    scratch.src_sets[a as usize] = stamp;
                }
            }
        }
        let dst_marked = r.entries.len() <= 64 && dst_sets <= walk;
        if dst_marked {
            for (k, e) in r.entries.iter().enumerate() {
                for b in around(e.set) {
                    let b = b as usize;
                    if scratch.dst_sets[b] != stamp {
                        scratch.dst_sets[b] = stamp;
                        scratch.dst_entries[b] = 0;
                    }
                    scratch.dst_entries[b] |= 1 << k;
                }
            }
        }
        let Scratch {
            mark,
            src_sets: near_src,
            dst_sets: near_dst,
            dst_entries,
            ..
        } = scratch;
        let mut consider = |c: u32, out: &mut Vec<u32>| {
            if mark[c as usize] != stamp {
                mark[c as usize] = stamp;
                let rule = &self.rules[c as usize];
                let sources = if src_marked {
                    rule.src_sels.iter().any(|&b| near_src[b as usize] == stamp)
                } else {
                    r.src_sels
                        .iter()
                        .any(|&a| rule.src_sels.iter().any(|&b| self.sets_overlap(a, b)))
                };
                let overlaps = sources
                    && if dst_marked {
                        rule.entries.iter().any(|f| {
                            let set = f.set as usize;
                            near_dst[set] == stamp && {
                                let mut bits = dst_entries[set];
                                let mut hit = false;
                                while bits != 0 && !hit {
                                    let k = bits.trailing_zeros() as usize;
                                    bits &= bits - 1;
                                    hit = r.entries[k].keys.overlaps(&f.keys);
                                }
                                hit
                            }
                        })
                    } else {
                        self.destinations_overlap(r, rule)
                    };
                if c as usize != i && overlaps {
                    out.push(c);
                }
            }
        };
        // When a rule's sources and destinations each overlap few sets (the common case:
        // users, groups and tags to a tag or a subnet), the rules naming one of those
        // source sets *and* one of those destination sets are found directly, so the
        // cost follows the answer rather than how many rules share one side (thousands
        // of rules to one subnet on port 22).
        if src_sets.saturating_mul(dst_sets) < walk {
            for &s in &r.src_sels {
                for a in around(s) {
                    for e in &r.entries {
                        for b in around(e.set) {
                            for &c in self.by_pair.get(&(a, b)).into_iter().flatten() {
                                consider(c, &mut out);
                            }
                        }
                    }
                }
            }
            return out;
        }
        let (seeds, index): (Vec<SetId>, &Vec<Vec<u32>>) = if src_cost <= dst_cost {
            (r.src_sels.clone(), &self.by_src)
        } else {
            (r.entries.iter().map(|e| e.set).collect(), &self.by_dst)
        };
        for s in seeds {
            for t in around(s) {
                for &c in &index[t as usize] {
                    consider(c, &mut out);
                }
            }
        }
        out
    }

    pub(super) fn sets_overlap(&self, a: SetId, b: SetId) -> bool {
        a == b || self.overlaps[a as usize].binary_search(&b).is_ok()
    }

    fn destinations_overlap(&self, r: &AuditRule, c: &AuditRule) -> bool {
        r.entries.iter().any(|e| {
            c.entries
                .iter()
                .any(|f| e.keys.overlaps(&f.keys) && self.sets_overlap(e.set, f.set))
        })
    }

    /// Scratch space for [`Self::candidates`], one per thread.
    pub(super) fn scratch(&self) -> Scratch {
        Scratch {
            mark: vec![0; self.rules.len()],
            src_sets: vec![0; self.sets.len()],
            dst_sets: vec![0; self.sets.len()],
            dst_entries: vec![0; self.sets.len()],
            stamp: 0,
        }
    }
}

fn push_unique(list: &mut Vec<u32>, v: u32) {
    if list.last() != Some(&v) {
        list.push(v);
    }
}

/// Marks stamped per call, so nothing is cleared between rules.
pub(super) struct Scratch {
    /// Per rule: met in this call.
    mark: Vec<u32>,
    /// Per set: overlaps this call's rule's sources.
    src_sets: Vec<u32>,
    /// Per set: overlaps this call's rule's destinations, and which of its entries (bits).
    dst_sets: Vec<u32>,
    dst_entries: Vec<u64>,
    stamp: u32,
}

/// Every interval of the sets that are not broad in family `fam`, as a start and an end
/// event, sorted by position. The order among events at one position does not matter:
/// the sweep takes them all before it looks at the active sets (a set's own start and end
/// never share a position; [a, b] and [b+1, c] do not overlap).
fn sorted_events(sets: &[Arc<IpSet>], broad: &[bool], fam: usize) -> Vec<(u128, bool, u32)> {
    let mut events: Vec<(u128, bool, u32)> = Vec::new();
    for (i, s) in sets.iter().enumerate() {
        if broad[i] {
            continue;
        }
        for &(lo, hi) in s.families()[fam] {
            events.push((lo, true, i as u32));
            if hi < u128::MAX {
                events.push((hi + 1, false, i as u32));
            }
        }
    }
    // A radix sort on the address (`radsort` skips the bytes every key shares: an IPv4
    // address's upper twelve, a tailnet's IPv6 prefix), not a comparison sort: with tens
    // of thousands of devices this sort was a sixth of `check --inventory`.
    if fam == 0 {
        // IPv4 ends are at most 2^32: eight bytes to look at, not sixteen.
        radsort::sort_by_key(&mut events, |e| e.0 as u64);
    } else {
        radsort::sort_by_key(&mut events, |e| e.0);
    }
    events
}

/// For each set, the sets it overlaps. One sweep over every set's intervals: each
/// elementary piece's active sets overlap pairwise; pieces with the same active sets
/// (Zobrist hash) are handled once. Sets active on most pieces (`*`, `autogroup:member`)
/// would make that quadratic, so they are compared with every set directly instead.
pub(super) fn overlaps(sets: &[Arc<IpSet>]) -> Vec<Vec<SetId>> {
    let n = sets.len();
    let mut out: Vec<Vec<SetId>> = vec![Vec::new(); n];
    let mut broad = vec![false; n];
    let total: usize = sets
        .iter()
        .map(|s| s.families()[0].len() + s.families()[1].len())
        .sum();
    for (i, s) in sets.iter().enumerate() {
        // Few intervals spanning much: a huge range, not a handful of devices.
        let [v4, v6] = s.families();
        let wide =
            v4.iter().any(|(a, b)| b - a > 65_536) || v6.iter().any(|(a, b)| b - a > 1 << 64);
        broad[i] = wide || (v4.len() + v6.len()) * 8 > total.max(64);
    }
    for fam in 0..2 {
        let events = sorted_events(sets, &broad, fam);
        let mut active: Vec<u32> = Vec::new();
        let mut hash = 0u64;
        let mut seen: FxHashSet<u64> = FxHashSet::default();
        let mut k = 0;
        while k < events.len() {
            let pos = events[k].0;
            while k < events.len() && events[k].0 == pos {
                let (_, start, i) = events[k];
                if start {
                    active.push(i);
                } else if let Some(at) = active.iter().position(|&x| x == i) {
                    active.swap_remove(at);
                }
                hash ^= zobrist(u64::from(i));
                k += 1;
            }
            if active.len() > 1 && seen.insert(hash) {
                for &a in &active {
                    for &b in &active {
                        if a != b {
                            out[a as usize].push(b);
                        }
                    }
                }
            }
        }
    }
    for (i, is_broad) in broad.iter().enumerate() {
        if !*is_broad {
            continue;
        }
        for j in 0..n {
            if i != j && sets[i].overlaps(&sets[j]) {
                out[i].push(j as SetId);
                out[j].push(i as SetId);
            }
        }
    }
    // A pair is met once per distinct piece both sets are active on: drop the repeats
    // (one pass, by stamp). The relation is symmetric (every pair is pushed both ways), so
    // reading the lists in order of `a` and putting `a` into each of its sets' new lists
    // writes every new list in ascending order: sorted without a sort (the sorts were
    // most of this function with tens of thousands of devices).
    let mut stamp = vec![u32::MAX; n];
    for (a, list) in out.iter_mut().enumerate() {
        list.retain(|&b| std::mem::replace(&mut stamp[b as usize], a as u32) != a as u32);
    }
    let mut sorted: Vec<Vec<SetId>> = out.iter().map(|l| Vec::with_capacity(l.len())).collect();
    for (a, list) in out.iter().enumerate() {
        for &b in list {
            sorted[b as usize].push(a as SetId);
        }
    }
    debug_assert!(sorted.iter().zip(&out).all(|(s, o)| s.len() == o.len()));
    sorted
}
