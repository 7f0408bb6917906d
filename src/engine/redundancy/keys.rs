//! Protocols and ports as one dimension: sorted, disjoint intervals of
//! `proto << 16 | port`, so that a rule's flows are sources × destinations × keys.

use crate::engine::rules::Protocols;
use crate::model::PortRange;

/// Protocols × ports as sorted, disjoint intervals of `proto << 16 | port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Keys(pub(super) Vec<(u32, u32)>);

impl Keys {
    pub(super) fn new(protocols: Protocols, ports: &[PortRange]) -> Keys {
        let one;
        let numbers: &[u8] = match protocols {
            // Ascending, so that the intervals usually arrive sorted.
            Protocols::Default => &[1, 6, 17, 58],
            Protocols::Only(q) => {
                one = [q.0];
                &one
            }
        };
        let mut v = Vec::with_capacity(numbers.len() * ports.len());
        for &p in numbers {
            let base = u32::from(p) << 16;
            for r in ports {
                v.push((base | u32::from(r.first), base | u32::from(r.last)));
            }
        }
        Keys::union(v)
    }
    /// The union of some key intervals, in any order.
    pub(super) fn union(mut v: Vec<(u32, u32)>) -> Keys {
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Keys(out)
    }
    /// Whether every key from `lo` to `hi` is among these.
    pub(super) fn contains_all(&self, (lo, hi): (u32, u32)) -> bool {
        let i = self.0.partition_point(|&(a, _)| a <= lo);
        i > 0 && self.0[i - 1].1 >= hi
    }
    pub(super) fn overlaps(&self, other: &Keys) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            if a.0.max(b.0) <= a.1.min(b.1) {
                return true;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }
    pub(super) fn contains(&self, k: u32) -> bool {
        let i = self.0.partition_point(|&(lo, _)| lo <= k);
        i > 0 && self.0[i - 1].1 >= k
    }
    pub(super) fn overlap_size(&self, other: &Keys) -> f64 {
        let (mut i, mut j, mut n) = (0, 0, 0.0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                n += f64::from(hi - lo) + 1.0;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        n
    }
}

/// The rules whose entries on one destination set open a key: their key intervals sorted
/// by start, with a running maximum of ends, so a lookup scans back only over intervals
/// that can reach the key. Rules may repeat (one per interval).
#[derive(Clone, Debug, Default)]
pub(super) struct KeyStab {
    intervals: Vec<(u32, u32, u32)>,
    max_end: Vec<u32>,
}

impl KeyStab {
    pub(super) fn new(mut intervals: Vec<(u32, u32, u32)>) -> KeyStab {
        intervals.sort_unstable();
        let mut max_end = Vec::with_capacity(intervals.len());
        let mut m = 0;
        for &(_, hi, _) in &intervals {
            m = m.max(hi);
            max_end.push(m);
        }
        KeyStab { intervals, max_end }
    }

    /// The rules with an interval holding `key`.
    pub(super) fn at(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        let (start, end) = self.range(key);
        self.intervals[start..end]
            .iter()
            .filter(move |&&(_, hi, _)| hi >= key)
            .map(|&(_, _, rule)| rule)
    }

    /// How many intervals it holds.
    pub(super) fn len(&self) -> usize {
        self.intervals.len()
    }

    /// How many intervals [`Self::at`] looks at for `key` (at least as many as it yields).
    pub(super) fn scanned(&self, key: u32) -> usize {
        let (start, end) = self.range(key);
        end - start
    }

    fn range(&self, key: u32) -> (usize, usize) {
        let end = self.intervals.partition_point(|&(lo, _, _)| lo <= key);
        let start = self.max_end[..end].partition_point(|&m| m < key);
        (start, end)
    }
}

/// From this many rules opening one key on one destination, the glance looks rules up by
/// their sources ([`AddressStab`]) rather than by key.
pub(super) const MANY: usize = 64;

/// Source sets by the addresses they hold: the sets holding an address, found without
/// looking at the others. Sets of more than [`AddressStab::NARROW`] intervals (groups,
/// `autogroup:member`) are kept aside and asked directly; they are few, and indexing
/// their every device would cost memory for nothing.
#[derive(Debug, Default)]
pub(super) struct AddressStab {
    /// Per family: (first, last, set) sorted, and the running maximum of `last`.
    intervals: [Vec<(u128, u128, u32)>; 2],
    max_end: [Vec<u128>; 2],
    pub(super) broad: Vec<u32>,
}

impl AddressStab {
    const NARROW: usize = 64;

    pub(super) fn new<'a>(
        sets: impl Iterator<Item = (u32, [&'a [(u128, u128)]; 2])>,
    ) -> AddressStab {
        let mut stab = AddressStab::default();
        for (id, families) in sets {
            if families[0].len() + families[1].len() > Self::NARROW {
                stab.broad.push(id);
                continue;
            }
            for (fam, list) in families.iter().enumerate() {
                stab.intervals[fam].extend(list.iter().map(|&(lo, hi)| (lo, hi, id)));
            }
        }
        for fam in 0..2 {
            stab.intervals[fam].sort_unstable();
            let mut m = 0;
            stab.max_end[fam] = stab.intervals[fam]
                .iter()
                .map(|&(_, hi, _)| {
                    m = m.max(hi);
                    m
                })
                .collect();
        }
        stab
    }

    /// The narrow sets holding address `a` of family `fam`.
    pub(super) fn at(&self, fam: usize, a: u128) -> impl Iterator<Item = u32> + '_ {
        let list = &self.intervals[fam];
        let end = list.partition_point(|&(lo, _, _)| lo <= a);
        let start = self.max_end[fam][..end].partition_point(|&m| m < a);
        list[start..end]
            .iter()
            .filter(move |&&(_, hi, _)| hi >= a)
            .map(|&(_, _, set)| set)
    }
}
