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
        let end = self.intervals.partition_point(|&(lo, _, _)| lo <= key);
        let start = self.max_end[..end].partition_point(|&m| m < key);
        self.intervals[start..end]
            .iter()
            .filter(move |&&(_, hi, _)| hi >= key)
            .map(|&(_, _, rule)| rule)
    }
}
