//! Intervals and what each belongs to, looked up by a point: "which rules' destinations
//! hold this address", "which rules on this set open this port key", "which source sets
//! hold this address". The offline tests and the redundancy audit ask these questions of
//! the concrete layer; this is the one index that answers them.
//!
//! Intervals are sorted by start, with a running maximum of their ends: a lookup finds the
//! last interval starting at or before the point, then only those from the first whose
//! running maximum reaches the point, so it looks at intervals that may hold the point
//! and at none of the rest. **Invariant:** `max_end[i]` is the greatest end among
//! `intervals[..=i]`, so it never decreases and a binary search finds where it reaches a
//! point.

/// Closed intervals `[lo, hi]` of keys `K`, each with a value `V` (values may repeat: one
/// per interval of the same owner).
#[derive(Clone, Debug)]
pub struct Stab<K, V> {
    intervals: Vec<(K, K, V)>,
    max_end: Vec<K>,
}

impl<K, V> Default for Stab<K, V> {
    fn default() -> Self {
        Stab {
            intervals: Vec::new(),
            max_end: Vec::new(),
        }
    }
}

/// A key of a [`Stab`], with a radix sort of intervals by their start: the audit's indexes
/// hold hundreds of thousands of intervals on a 40,000-rule policy, and a comparison sort
/// of the tuples was 4 % of its `check`. The sort is stable, so intervals starting at the
/// same key keep the order they were given in.
pub trait Point: Ord + Copy {
    fn sort_by_start<V: Copy>(intervals: &mut [(Self, Self, V)]);
}

/// Below this many intervals a radix sort's passes cost more than comparing: the
/// standard library's stable sort, which orders alike.
const RADIX_FROM: usize = 256;

/// A stable sort by `key`. `radsort` skips the bytes every key shares (all but four of an
/// IPv4 address).
fn stable_by<T: Copy, R: radsort::Key + Ord>(items: &mut [T], key: impl Fn(&T) -> R + Copy) {
    if items.len() < RADIX_FROM {
        items.sort_by_key(key);
    } else {
        radsort::sort_by_key(items, key);
    }
}

impl Point for u32 {
    fn sort_by_start<V: Copy>(intervals: &mut [(u32, u32, V)]) {
        stable_by(intervals, |iv| iv.0);
    }
}

impl Point for u128 {
    fn sort_by_start<V: Copy>(intervals: &mut [(u128, u128, V)]) {
        stable_by(intervals, |iv| iv.0);
    }
}

impl Point for (bool, u128) {
    fn sort_by_start<V: Copy>(intervals: &mut [((bool, u128), (bool, u128), V)]) {
        // By the address, then (stably) by the family: the tuple's order.
        stable_by(intervals, |iv| iv.0.1);
        stable_by(intervals, |iv| iv.0.0);
    }
}

impl<K: Point, V: Copy> Stab<K, V> {
    pub fn new(mut intervals: Vec<(K, K, V)>) -> Stab<K, V> {
        K::sort_by_start(&mut intervals);
        let mut max_end: Vec<K> = Vec::with_capacity(intervals.len());
        for &(_, hi, _) in &intervals {
            let m = max_end.last().map_or(hi, |&m| m.max(hi));
            max_end.push(m);
        }
        Stab { intervals, max_end }
    }

    /// The values of the intervals holding `key`, once per interval.
    pub fn at(&self, key: K) -> impl Iterator<Item = V> + '_ {
        let (start, end) = self.range(key);
        self.intervals[start..end]
            .iter()
            .filter(move |&&(_, hi, _)| hi >= key)
            .map(|&(_, _, v)| v)
    }

    /// How many intervals [`Self::at`] looks at for `key` (at least as many as it yields).
    pub fn scanned(&self, key: K) -> usize {
        let (start, end) = self.range(key);
        end - start
    }

    /// How many intervals it holds.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// The intervals that may hold `key`: those starting at or before it, from the first
    /// whose running maximum reaches it. That first one is found by galloping back from
    /// the end, so a lookup costs the logarithm of what it scans, not of the whole index
    /// (most lookups scan a few intervals of many).
    fn range(&self, key: K) -> (usize, usize) {
        let end = self.intervals.partition_point(|&(lo, _, _)| lo <= key);
        // `max_end[hi..end]` all reach `key`; the first that does is in `from..=hi`.
        let (mut from, mut hi, mut step) = (0, end, 1);
        while step <= end {
            let i = end - step;
            if self.max_end[i] < key {
                from = i + 1;
                break;
            }
            hi = i;
            step *= 2;
        }
        let start = from + self.max_end[from..hi].partition_point(|&m| m < key);
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::Stab;
    use proptest::prelude::*;

    /// Each kind of key sorts as the standard library's stable sort does, by radix past
    /// [`super::RADIX_FROM`] intervals and by comparison below.
    #[test]
    fn every_key_sorts_stably_by_start() {
        use super::Point;
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for n in [0, 1, 5, super::RADIX_FROM - 1, super::RADIX_FROM, 3000] {
            let raw: Vec<(u64, u64)> = (0..n).map(|_| (next() % 500, next())).collect();
            fn check<K: Point + std::fmt::Debug>(mut v: Vec<(K, K, usize)>) {
                let mut expected = v.clone();
                expected.sort_by_key(|iv| iv.0);
                K::sort_by_start(&mut v);
                assert_eq!(v, expected);
            }
            let at = |i: usize| raw[i];
            check((0..n).map(|i| (at(i).0 as u32, 0, i)).collect());
            check((0..n).map(|i| (u128::from(at(i).0) << 70, 0, i)).collect());
            check(
                (0..n)
                    .map(|i| ((at(i).1 % 2 == 0, u128::from(at(i).0)), (false, 0), i))
                    .collect(),
            );
        }
    }

    proptest! {
        /// A lookup yields exactly the intervals holding the key, as a scan of all does.
        #[test]
        fn finds_exactly_the_intervals_holding_a_key(
            raw in prop::collection::vec((0u32..200, 0u32..40, 0u8..8), 0..300),
            keys in prop::collection::vec(0u32..260, 1..20),
        ) {
            let intervals: Vec<(u32, u32, u8)> =
                raw.iter().map(|&(lo, len, v)| (lo, lo + len, v)).collect();
            let stab = Stab::new(intervals.clone());
            prop_assert_eq!(stab.len(), intervals.len());
            for key in keys {
                let mut found: Vec<u8> = stab.at(key).collect();
                let mut expected: Vec<u8> = intervals
                    .iter()
                    .filter(|&&(lo, hi, _)| lo <= key && key <= hi)
                    .map(|&(_, _, v)| v)
                    .collect();
                found.sort_unstable();
                expected.sort_unstable();
                // It scans exactly the intervals starting at or before the key from the
                // first whose running maximum of ends reaches it.
                // In the order it keeps them: by start, those starting together as given.
                let mut sorted = intervals.clone();
                sorted.sort_by_key(|&(lo, _, _)| lo);
                let end = sorted.iter().filter(|&&(lo, _, _)| lo <= key).count();
                let mut reach = 0;
                let first = sorted[..end]
                    .iter()
                    .position(|&(_, hi, _)| {
                        reach = reach.max(hi);
                        reach >= key
                    })
                    .unwrap_or(end);
                prop_assert_eq!(stab.scanned(key), end - first);
                prop_assert_eq!(found, expected);
            }
        }
    }

    #[test]
    fn an_empty_index_holds_nothing() {
        let stab: Stab<u32, u32> = Stab::default();
        assert!(stab.is_empty());
        assert_eq!(stab.at(7).count(), 0);
        assert_eq!(stab.scanned(7), 0);
    }
}
