//! Selectors of a needed rule made redundant by, or empty next to, the rule's other
//! selectors.

use super::coverage::{Checker, Part};
use super::keys::Keys;
use super::lower::AuditEntry;
use super::{Audit, Inner};
use crate::engine::ipset::IpSet;
use std::borrow::Cow;

impl Audit {
    /// Selectors of a needed rule made redundant by, or empty next to, its other ones.
    pub(super) fn selector_findings(&self, i: usize) -> Vec<Inner> {
        let r = &self.rules[i];
        // The sources the destinations are compared on. Both sides of the comparison
        // have the same sources, so one address of them decides it as well as all of
        // them do, unless an entry is `autogroup:self` (whose destinations depend on the
        // source): then their union, built only if it comes to that.
        let union = std::cell::OnceCell::new();
        let one_source = std::cell::OnceCell::new();
        let mut out = Vec::new();
        // Sources: later duplicates are the redundant ones.
        let mut gone = vec![false; r.src_sels.len()];
        for k in (0..r.src_sels.len()).rev() {
            let set = &self.sets[r.src_sels[k] as usize];
            if set.is_empty() {
                out.push(Inner::EmptySource(k));
                gone[k] = true;
                continue;
            }
            let others = || (0..r.src_sels.len()).filter(|&j| j != k && !gone[j]);
            // One other selector containing it is the common case (a user beside
            // `autogroup:member`); the union of the others is built only when none does.
            let other = |j: usize| &*self.sets[r.src_sels[j] as usize];
            if within_others(set, others().map(other)) {
                let others: Vec<usize> = others().collect();
                // Name the fewest others that together contain it.
                let by = minimal_containing(set, &others, |j| &self.sets[r.src_sels[j] as usize]);
                out.push(Inner::RedundantSource(k, by));
                gone[k] = true;
            }
        }
        // Destinations: is one selector's part of the flows inside the others'?
        let n = r.dst_spans.len();
        let mut gone = vec![false; n];
        // Lowering pushes each destination's entries together, in order: a destination's
        // entries are a slice, and so are the others' when it is first or last.
        let of = |k: usize| {
            let start = r.entries.partition_point(|e| e.dst_index < k);
            start..start + r.entries[start..].partition_point(|e| e.dst_index == k)
        };
        debug_assert!(r.entries.is_sorted_by_key(|e| e.dst_index));
        for k in (0..n).rev() {
            let at = of(k);
            let mine = &r.entries[at.clone()];
            if mine.is_empty() {
                continue;
            }
            let empty = mine
                .iter()
                .all(|e| !e.own && self.sets[e.set as usize].is_empty());
            if empty {
                out.push(Inner::EmptyDestination(k));
                gone[k] = true;
                continue;
            }
            let none_gone = gone.iter().all(|g| !g);
            let rest: Cow<[AuditEntry]> = if none_gone && at.start == 0 {
                Cow::Borrowed(&r.entries[at.end..])
            } else if none_gone && at.end == r.entries.len() {
                Cow::Borrowed(&r.entries[..at.start])
            } else {
                let others = r
                    .entries
                    .iter()
                    .filter(|e| e.dst_index != k && !gone[e.dst_index]);
                Cow::Owned(others.cloned().collect())
            };
            if rest.is_empty() || !keys_may_be_covered(mine, &rest, &self.sets) {
                continue;
            }
            let src: &IpSet = if mine.iter().chain(rest.iter()).any(|e| e.own) {
                union.get_or_init(|| r.src.union())
            } else {
                match one_source.get_or_init(|| r.src.one_address()) {
                    Some(one) => one,
                    None => union.get_or_init(|| r.src.union()),
                }
            };
            let checker = Checker {
                audit: self,
                src,
                entries: mine,
            };
            let part = Part {
                rule: i as u32,
                volume: 0.0,
                src: Cow::Borrowed(src),
                entries: &rest,
            };
            if checker.covered(&[&part]) {
                // Name one other selector if one suffices.
                let mut by: Vec<usize> = rest.iter().map(|e| e.dst_index).collect();
                by.dedup();
                let alone = by.iter().copied().find(|&j| {
                    let part = Part {
                        rule: i as u32,
                        volume: 0.0,
                        src: Cow::Borrowed(src),
                        entries: &r.entries[of(j)],
                    };
                    checker.covered(&[&part])
                });
                if let Some(j) = alone {
                    by = vec![j];
                }
                out.push(Inner::RedundantDestination(k, by));
                gone[k] = true;
            }
        }
        let at = |k: &Inner| match k {
            Inner::RedundantSource(k, _) | Inner::EmptySource(k) => r.src_spans[*k].start,
            Inner::RedundantDestination(k, _) | Inner::EmptyDestination(k) => r.dst_spans[*k].start,
        };
        out.sort_by_key(at);
        out
    }
}

/// Whether `set` lies within the union of `others`. One other containing it is the common
/// case (a user beside `autogroup:member`); the union is tested only when none does. A set
/// within the others holds its first address in one of them: most sources are not, and
/// one lookup per other shows it.
fn within_others<'a>(set: &IpSet, others: impl Iterator<Item = &'a IpSet> + Clone) -> bool {
    let first = set.ranges().next().map(|(lo, _)| lo);
    first.is_some_and(|a| others.clone().any(|o| o.contains(a)))
        && (others.clone().any(|o| o.contains_set(set))
            || (others.clone().nth(1).is_some() && set.within_union(others)))
}

/// The fewest of `candidates` whose sets together contain `target` (greedy, largest
/// first, then pruned).
fn minimal_containing<'a>(
    target: &IpSet,
    candidates: &[usize],
    set: impl Fn(usize) -> &'a IpSet,
) -> Vec<usize> {
    // One that contains it all is the answer (it would be ranked first, and the rest
    // would be pruned): the common case, spared the intersections and subtractions.
    if let Some(j) = candidates
        .iter()
        .copied()
        .find(|&j| set(j).contains_set(target))
    {
        return vec![j];
    }
    let mut ranked: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&j| set(j).overlaps(target))
        .collect();
    ranked.sort_by(|&a, &b| {
        set(b)
            .intersect(target)
            .size()
            .total_cmp(&set(a).intersect(target).size())
    });
    let mut chosen = Vec::new();
    let mut rest = target.clone();
    for j in ranked {
        if rest.is_empty() {
            break;
        }
        if set(j).overlaps(&rest) {
            rest = rest.subtract(set(j));
            chosen.push(j);
        }
    }
    let mut k = chosen.len();
    while k > 0 {
        k -= 1;
        let without: Vec<usize> = chosen.iter().copied().filter(|&j| j != chosen[k]).collect();
        if target.within_union(without.iter().map(|&j| set(j))) {
            chosen = without;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Whether the other destinations' entries (`rest`) open every key that an entry of `mine`
/// opens on some address: a key only `mine` opens, on an address, is a flow no other
/// destination allows, found without the exact check. `autogroup:self` entries (whose
/// addresses depend on the source) are left to the exact check.
fn keys_may_be_covered(
    mine: &[AuditEntry],
    rest: &[AuditEntry],
    sets: &[std::sync::Arc<IpSet>],
) -> bool {
    if mine.iter().any(|e| e.own) {
        return true;
    }
    let theirs = Keys::union(rest.iter().flat_map(|e| e.keys.0.iter().copied()).collect());
    mine.iter()
        .filter(|e| !sets[e.set as usize].is_empty())
        .all(|e| e.keys.0.iter().all(|&k| theirs.contains_all(k)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{DEFS, audit};

    #[test]
    fn selectors_made_redundant_inside_their_rule() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["group:eng", "alice@example.com", "group:none"], "dst": ["tag:db:22", "tag:db:*", "lan:22"]}}]}}"#
        ));
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("RedundantSource"), "{f:?}");
        assert!(f[1].contains("EmptySource"), "{f:?}");
        assert!(f[2].contains("RedundantDestination"), "{f:?}");
    }

    use super::super::lower::AuditEntry;
    use super::{Keys, keys_may_be_covered};
    use crate::engine::ipset::IpSet;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn entry(set: u32, intervals: &[(u32, u32)]) -> AuditEntry {
        AuditEntry {
            set,
            own: false,
            keys: Keys(intervals.to_vec()),
            dst_index: 0,
        }
    }

    fn intervals() -> impl Strategy<Value = Vec<(u32, u32)>> {
        proptest::collection::vec((0u32..40, 0u32..6), 0..4).prop_map(|v| {
            // Sorted and disjoint, as `Keys` holds them.
            let mut out: Vec<(u32, u32)> = Vec::new();
            let mut v: Vec<(u32, u32)> = v.into_iter().map(|(lo, n)| (lo, lo + n)).collect();
            v.sort_unstable();
            for (lo, hi) in v {
                match out.last_mut() {
                    Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                    _ => out.push((lo, hi)),
                }
            }
            out
        })
    }

    fn ip_set(ranges: &[(u8, u8)]) -> IpSet {
        let mut set = IpSet::new();
        for &(lo, n) in ranges {
            let at = |x: u8| std::net::IpAddr::from([100, 64, 0, x]);
            set.add_range(at(lo), at(lo.saturating_add(n)));
        }
        set
    }

    proptest! {
        /// The first-address shortcut and the containment tests answer exactly whether a
        /// set lies within the union of the others.
        #[test]
        fn a_source_within_the_others_is_found_exactly(
            set in proptest::collection::vec((0u8..60, 0u8..8), 0..4),
            others in proptest::collection::vec(proptest::collection::vec((0u8..60, 0u8..12), 0..4), 0..4),
        ) {
            let set = ip_set(&set);
            let others: Vec<IpSet> = others.iter().map(|o| ip_set(o)).collect();
            let union = IpSet::union_all(&others);
            let expected = !set.is_empty() && set.subtract(&union).is_empty();
            prop_assert_eq!(super::within_others(&set, others.iter()), expected);
        }

        /// The shortcut says "not covered" only when some key of a non-empty entry of
        /// `mine` is opened by no entry of `rest`, key by key.
        #[test]
        fn the_key_shortcut_never_hides_a_cover(
            mine in proptest::collection::vec((intervals(), any::<bool>()), 1..3),
            rest in proptest::collection::vec(intervals(), 0..4),
        ) {
            let sets = vec![Arc::new(IpSet::new()), Arc::new(IpSet::all())];
            let mine: Vec<AuditEntry> = mine
                .iter()
                .map(|(k, empty)| entry(if *empty { 0 } else { 1 }, k))
                .collect();
            let rest: Vec<AuditEntry> = rest.iter().map(|k| entry(1, k)).collect();
            let opened = |key: u32| rest.iter().any(|e| e.keys.contains(key));
            let every_key_opened = mine
                .iter()
                .filter(|e| e.set == 1)
                .all(|e| e.keys.0.iter().all(|&(lo, hi)| (lo..=hi).all(opened)));
            prop_assert_eq!(keys_may_be_covered(&mine, &rest, &sets), every_key_opened);
        }
    }
}
