//! Protocols and ports as one dimension: sorted, disjoint intervals of
//! `proto << 16 | port`, so that a rule's flows are sources × destinations × keys.

use crate::engine::rules::Protocols;
use crate::engine::stab::Stab;
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

/// The rules whose entries on one destination set open a key, by their key intervals.
/// Rules may repeat (one per interval).
pub(super) type KeyStab = Stab<u32, u32>;

/// From this many rules opening one key on one destination, the glance looks rules up by
/// their sources ([`AddressStab`]) rather than by key.
pub(super) const MANY: usize = 64;

/// Source sets by the addresses they hold: the sets holding an address, found without
/// looking at the others. Sets of more than [`AddressStab::NARROW`] intervals (groups,
/// `autogroup:member`) are kept aside and asked directly; they are few, and indexing
/// their every device would cost memory for nothing.
#[derive(Debug, Default)]
pub(super) struct AddressStab {
    /// Per family.
    narrow: [Stab<u128, u32>; 2],
    pub(super) broad: Vec<u32>,
}

impl AddressStab {
    const NARROW: usize = 64;

    pub(super) fn new<'a>(
        sets: impl Iterator<Item = (u32, [&'a [(u128, u128)]; 2])>,
    ) -> AddressStab {
        let mut intervals: [Vec<(u128, u128, u32)>; 2] = Default::default();
        let mut broad = Vec::new();
        for (id, families) in sets {
            if families[0].len() + families[1].len() > Self::NARROW {
                broad.push(id);
                continue;
            }
            for (fam, list) in families.iter().enumerate() {
                intervals[fam].extend(list.iter().map(|&(lo, hi)| (lo, hi, id)));
            }
        }
        AddressStab {
            narrow: intervals.map(Stab::new),
            broad,
        }
    }

    /// The narrow sets holding address `a` of family `fam`.
    pub(super) fn at(&self, fam: usize, a: u128) -> impl Iterator<Item = u32> + '_ {
        self.narrow[fam].at(a)
    }
}
