//! Sets of IP addresses as sorted, disjoint, non-adjacent inclusive intervals, one list
//! per address family. Every operation keeps that normal form, so two sets are equal
//! exactly when their interval lists are equal.

use crate::model::Prefix;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpSet {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

const V4_MAX: u128 = u32::MAX as u128;

impl IpSet {
    pub fn new() -> IpSet {
        IpSet::default()
    }
    /// Every IPv4 and IPv6 address.
    pub fn all() -> IpSet {
        IpSet {
            v4: vec![(0, V4_MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }
    pub fn from_prefix(p: &Prefix) -> IpSet {
        let mut s = IpSet::new();
        s.add_prefix(p);
        s
    }
    pub fn from_addr(a: IpAddr) -> IpSet {
        IpSet::from_prefix(&Prefix {
            addr: a,
            len: Prefix::max_len(a),
            bare: true,
        })
    }
    /// Parse `a.b.c.d`, a CIDR, or `a-b`; `None` if it is none of these.
    pub fn parse(text: &str) -> Option<IpSet> {
        if text == "*" {
            return Some(IpSet::all());
        }
        if let Some(p) = Prefix::parse(text) {
            return Some(IpSet::from_prefix(&p));
        }
        let (a, b) = text.split_once('-')?;
        let (a, b): (IpAddr, IpAddr) = (a.parse().ok()?, b.parse().ok()?);
        let mut s = IpSet::new();
        s.add_range(a, b);
        Some(s)
    }
    /// Build from addresses in any order, in O(n log n) (inserting one at a time would be
    /// quadratic for sets of many devices).
    pub fn from_addrs(addrs: impl IntoIterator<Item = IpAddr>) -> IpSet {
        // Sized for the usual input, one user's or tag's few addresses of both families:
        // growing two lists push by push cost a representative inventory's resolver a
        // sixth of its instructions.
        let addrs = addrs.into_iter();
        let (least, _) = addrs.size_hint();
        let mut v4 = Vec::with_capacity(least.div_ceil(2));
        let mut v6 = Vec::with_capacity(least.div_ceil(2));
        for a in addrs {
            match a {
                IpAddr::V4(x) => {
                    let x = u32::from(x) as u128;
                    v4.push((x, x));
                }
                IpAddr::V6(x) => {
                    let x = u128::from(x);
                    v6.push((x, x));
                }
            }
        }
        IpSet {
            v4: normalize(v4),
            v6: normalize(v6),
        }
    }

    /// The union of many sets, in O(n log n); a few sets are merged in linear time (the
    /// usual case: a rule's sources, one of them as large as `autogroup:member`).
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a IpSet>) -> IpSet {
        let sets: Vec<&IpSet> = sets.into_iter().collect();
        if sets.len() <= 8 {
            let mut out = IpSet::new();
            for s in sets {
                if out.is_empty() {
                    out = s.clone();
                } else if !s.is_empty() {
                    out.v4 = merge(&out.v4, &s.v4);
                    out.v6 = merge(&out.v6, &s.v6);
                }
            }
            return out;
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for s in sets {
            v4.extend_from_slice(&s.v4);
            v6.extend_from_slice(&s.v6);
        }
        IpSet {
            v4: normalize(v4),
            v6: normalize(v6),
        }
    }

    /// Whether the union of `sets` contains this set, without building the union: what
    /// remains is subtracted set by set, which for a small set beside large ones
    /// (`autogroup:member`) binary-searches them instead of merging them.
    pub fn within_union<'a>(&self, sets: impl IntoIterator<Item = &'a IpSet>) -> bool {
        let sets: Vec<&IpSet> = sets.into_iter().collect();
        // A set that is not within usually shows it at a sampled interval: a few binary
        // searches instead of subtracting.
        let sampled_within = |f: fn(&IpSet) -> &[(u128, u128)]| {
            let parts: Vec<&[(u128, u128)]> = sets.iter().map(|s| f(s)).collect();
            sampled(f(self)).all(|iv| covered(&parts, iv))
        };
        if !(sampled_within(|s| &s.v4) && sampled_within(|s| &s.v6)) {
            return false;
        }
        let mut rest = std::borrow::Cow::Borrowed(self);
        for s in sets {
            if rest.is_empty() {
                break;
            }
            if s.overlaps(&rest) {
                rest = std::borrow::Cow::Owned(rest.subtract(s));
            }
        }
        rest.is_empty()
    }

    /// Whether this set is exactly the union of `sets`, without building the union. Sets
    /// that differ usually differ at a sampled interval, so a few binary searches answer
    /// most questions; the exact test (each set within this one, this one within the
    /// union) runs only when every sample agrees.
    pub fn is_union_of(&self, sets: &[&IpSet]) -> bool {
        self.is_union_of_with(sets, &Computed)
    }

    /// [`IpSet::is_union_of`], asking `pairs` about this set and each of `sets` (a caller
    /// that asks often about the same large sets can remember the answers).
    pub fn is_union_of_with(&self, sets: &[&IpSet], pairs: &impl PairQuestions) -> bool {
        match sets {
            [] => self.is_empty(),
            // Normal form: equal sets have equal interval lists.
            [one] => pairs.equal(self, one),
            // The usual match: one set (`autogroup:member`) is the union, the others are
            // within it.
            _ if sets.iter().any(|s| pairs.equal(self, s)) => sets
                .iter()
                .all(|s| pairs.equal(self, s) || pairs.contains(self, s)),
            // Each set within this one (sampled first), and what this one holds beyond
            // the largest within the others (`within_union` samples first too).
            _ => {
                let sampled_within = |f: fn(&IpSet) -> &[(u128, u128)]| {
                    let own = f(self);
                    sets.iter()
                        .all(|s| sampled(f(s)).all(|iv| covered(&[own], iv)))
                };
                if !(sampled_within(|s| &s.v4)
                    && sampled_within(|s| &s.v6)
                    && sets.iter().all(|s| pairs.contains(self, s)))
                {
                    return false;
                }
                let largest = (0..sets.len())
                    .max_by_key(|&k| sets[k].interval_count())
                    .expect("two sets or more");
                let others = sets.iter().enumerate().filter(|&(k, _)| k != largest);
                pairs
                    .beyond(self, sets[largest])
                    .within_union(others.map(|(_, s)| *s))
            }
        }
    }

    /// A hash of the set from its sizes and a few of its intervals: equal sets hash
    /// equally, in time independent of their size (for keys compared in full on a match).
    pub fn sample_hash<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        for list in [&self.v4, &self.v6] {
            list.len().hash(h);
            let step = (list.len() / 8).max(1);
            for k in (0..list.len()).step_by(step).take(8) {
                list[k].hash(h);
            }
            list.last().hash(h);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    /// How many disjoint intervals hold the set (its size in memory).
    pub fn interval_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
    pub fn is_all(&self) -> bool {
        *self == IpSet::all()
    }
    pub fn add_prefix(&mut self, p: &Prefix) {
        let (lo, hi) = p.bounds();
        let list = if p.addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        insert(list, lo, hi);
    }
    pub fn add_range(&mut self, a: IpAddr, b: IpAddr) {
        if a.is_ipv4() != b.is_ipv4() {
            return;
        }
        let (lo, hi) = (
            crate::model::addr::ip_to_u128(a),
            crate::model::addr::ip_to_u128(b),
        );
        if lo > hi {
            return;
        }
        let list = if a.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        insert(list, lo, hi);
    }
    pub fn union_with(&mut self, other: &IpSet) {
        if other.v4.len() + other.v6.len() > 8 {
            // Merging two sorted lists is linear; inserting one by one is not.
            *self = IpSet {
                v4: merge(&self.v4, &other.v4),
                v6: merge(&self.v6, &other.v6),
            };
            return;
        }
        for &(lo, hi) in &other.v4 {
            insert(&mut self.v4, lo, hi);
        }
        for &(lo, hi) in &other.v6 {
            insert(&mut self.v6, lo, hi);
        }
    }
    pub fn union(&self, other: &IpSet) -> IpSet {
        let mut s = self.clone();
        s.union_with(other);
        s
    }
    pub fn intersect(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: intersect(&self.v4, &other.v4),
            v6: intersect(&self.v6, &other.v6),
        }
    }
    pub fn subtract(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: subtract(&self.v4, &other.v4),
            v6: subtract(&self.v6, &other.v6),
        }
    }
    pub fn overlaps(&self, other: &IpSet) -> bool {
        lists_overlap(&self.v4, &other.v4) || lists_overlap(&self.v6, &other.v6)
    }
    pub fn contains_set(&self, other: &IpSet) -> bool {
        // A set asked about itself (a selector beside the others of its rule) would
        // otherwise cost a binary search per interval.
        std::ptr::eq(self, other)
            || (list_contains(&self.v4, &other.v4) && list_contains(&self.v6, &other.v6))
    }
    pub fn contains(&self, a: IpAddr) -> bool {
        let (list, v) = match a {
            IpAddr::V4(x) => (&self.v4, u32::from(x) as u128),
            IpAddr::V6(x) => (&self.v6, u128::from(x)),
        };
        let i = list.partition_point(|&(lo, _)| lo <= v);
        i > 0 && list[i - 1].1 >= v
    }
    /// The whole intervals of this set that overlap `other` (not clipped to it).
    pub fn intervals_overlapping(&self, other: &IpSet) -> IpSet {
        let pick = |mine: &[(u128, u128)], theirs: &[(u128, u128)]| {
            let mut out: Vec<(u128, u128)> = Vec::new();
            for &(lo, hi) in theirs {
                let start = mine.partition_point(|&(_, end)| end < lo);
                for &interval in mine[start..].iter().take_while(|(a, _)| *a <= hi) {
                    if out.last() != Some(&interval) {
                        out.push(interval);
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        };
        IpSet {
            v4: pick(&self.v4, &other.v4),
            v6: pick(&self.v6, &other.v6),
        }
    }
    /// The interval lists, IPv4 then IPv6, as integers (for sweeps over many sets).
    pub(crate) fn families(&self) -> [&[(u128, u128)]; 2] {
        [&self.v4, &self.v6]
    }
    /// How many addresses, as a float (an IPv6 set can hold more than `u128::MAX`).
    pub fn size(&self) -> f64 {
        let count = |l: &[(u128, u128)]| l.iter().map(|(a, b)| (b - a) as f64 + 1.0).sum::<f64>();
        count(&self.v4) + count(&self.v6)
    }
    /// The intervals, IPv4 first, as addresses.
    pub fn ranges(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        let v4 = self.v4.iter().map(|&(a, b)| (v4(a), v4(b)));
        let v6 = self.v6.iter().map(|&(a, b)| (v6(a), v6(b)));
        v4.chain(v6)
    }
    /// Count of IPv4 addresses (saturating), for sizing and display.
    pub fn v4_len(&self) -> u128 {
        self.v4.iter().map(|(a, b)| b - a + 1).sum()
    }
    /// The set as the fewest CIDR blocks, in address order (IPv4 first), each its own set:
    /// how the control plane writes a destination's addresses.
    pub fn cidrs(&self) -> Vec<IpSet> {
        let mut out = Vec::new();
        for (family_v4, list) in [(true, &self.v4), (false, &self.v6)] {
            for &(lo, hi) in list.iter() {
                let mut at = lo;
                loop {
                    // The largest block aligned at `at` that stays within `hi`.
                    let mut size_bits = if at == 0 { 128 } else { at.trailing_zeros() };
                    if family_v4 {
                        size_bits = size_bits.min(32);
                    }
                    while size_bits > 0 && block_end(at, size_bits).is_none_or(|end| end > hi) {
                        size_bits -= 1;
                    }
                    let end = block_end(at, size_bits).unwrap_or(u128::MAX);
                    let block = vec![(at, end)];
                    out.push(if family_v4 {
                        IpSet {
                            v4: block,
                            v6: Vec::new(),
                        }
                    } else {
                        IpSet {
                            v4: Vec::new(),
                            v6: block,
                        }
                    });
                    if end >= hi {
                        break;
                    }
                    at = end + 1;
                }
            }
        }
        out
    }
    /// The set written the way Tailscale writes `SrcIPs`: single addresses bare, intervals
    /// that are exact CIDRs as CIDRs, other intervals as `a-b`.
    pub fn to_strings(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["*".into()];
        }
        let mut out = Vec::new();
        for (family_v4, list) in [(true, &self.v4), (false, &self.v6)] {
            let bits = if family_v4 { 32 } else { 128 };
            for &(lo, hi) in list.iter() {
                let show = |x: u128| {
                    if family_v4 {
                        v4(x).to_string()
                    } else {
                        v6(x).to_string()
                    }
                };
                if lo == hi {
                    out.push(show(lo));
                } else if let Some(len) = exact_prefix(lo, hi, bits) {
                    out.push(format!("{}/{len}", show(lo)));
                } else {
                    out.push(format!("{}-{}", show(lo), show(hi)));
                }
            }
        }
        out
    }
}

impl fmt::Display for IpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_strings().join(", "))
    }
}

/// An address from its family (0: IPv4, 1: IPv6, as in [`IpSet::families`]) and value.
pub(crate) fn address(family: usize, x: u128) -> IpAddr {
    if family == 0 { v4(x) } else { v6(x) }
}

fn v4(x: u128) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(x as u32))
}
fn v6(x: u128) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(x))
}

/// The last address of the block of `2^size_bits` addresses starting at `at`, if it fits.
fn block_end(at: u128, size_bits: u32) -> Option<u128> {
    if size_bits >= 128 {
        return (at == 0).then_some(u128::MAX);
    }
    at.checked_add((1u128 << size_bits) - 1)
}

fn exact_prefix(lo: u128, hi: u128, bits: u32) -> Option<u32> {
    let size = hi.wrapping_sub(lo).wrapping_add(1);
    if size == 0 {
        // The whole 128-bit space.
        return (lo == 0 && bits == 128).then_some(0);
    }
    if !size.is_power_of_two() || !lo.is_multiple_of(size) {
        return None;
    }
    Some(bits - size.trailing_zeros())
}

/// Sort and merge overlapping or adjacent intervals into normal form.
fn normalize(mut list: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    // Ordered by start alone: the merge below keeps the largest end of intervals that
    // start alike. Long lists (a group's or an autogroup's devices, the union of many
    // sets) are radix-sorted on the start, which skips the bytes every start shares (an
    // IPv4 address's upper twelve), rather than compared as 128-bit pairs (`check` at
    // 1k rules: 1.5 % fewer instructions).
    if list.len() > 64 {
        if list.iter().all(|(lo, _)| *lo <= u128::from(u64::MAX)) {
            radsort::sort_by_key(&mut list, |iv| iv.0 as u64);
        } else {
            radsort::sort_by_key(&mut list, |iv| iv.0);
        }
    } else {
        list.sort_unstable_by_key(|iv| iv.0);
    }
    // Merged in place: `kept` intervals are done, each later one joins the last of them
    // or follows it.
    let mut kept = 0;
    for i in 0..list.len() {
        let (lo, hi) = list[i];
        if kept > 0 && lo <= list[kept - 1].1.saturating_add(1) {
            list[kept - 1].1 = list[kept - 1].1.max(hi);
        } else {
            list[kept] = (lo, hi);
            kept += 1;
        }
    }
    list.truncate(kept);
    // A set of many adjacent addresses (a group's devices) may merge to a few intervals:
    // it does not keep the room of all of them.
    if list.capacity() > 2 * kept + 4 {
        list.shrink_to_fit();
    }
    list
}

/// The union of two normal-form lists.
fn merge(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j >= b.len() || (i < a.len() && a[i].0 <= b[j].0) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if next.0 <= last.1.saturating_add(1) => last.1 = last.1.max(next.1),
            _ => out.push(next),
        }
    }
    out
}

/// Insert `[lo, hi]` into a normal-form list, merging overlapping and adjacent intervals.
fn insert(list: &mut Vec<(u128, u128)>, lo: u128, hi: u128) {
    // First interval that could merge: its end + 1 >= lo.
    let start = list.partition_point(|&(_, b)| b.saturating_add(1) < lo);
    let mut end = start;
    let (mut new_lo, mut new_hi) = (lo, hi);
    while end < list.len() && list[end].0 <= hi.saturating_add(1) {
        new_lo = new_lo.min(list[end].0);
        new_hi = new_hi.max(list[end].1);
        end += 1;
    }
    list.splice(start..end, [(new_lo, new_hi)]);
}

/// Whether every interval of `inner` lies inside `outer`. With few intervals outside
/// (`*`, a CIDR) against many inside (every member's device), count by binary search what
/// each outer interval holds instead of walking the long list.
fn list_contains(outer: &[(u128, u128)], inner: &[(u128, u128)]) -> bool {
    if outer.len() * 16 < inner.len() {
        let mut held = 0;
        for &(lo, hi) in outer {
            let start = inner.partition_point(|&(a, _)| a < lo);
            let end = inner.partition_point(|&(_, b)| b <= hi);
            held += end.saturating_sub(start);
        }
        return held == inner.len();
    }
    // Normal form merges adjacent intervals, so an interval inside the union lies inside
    // one of them: find it by binary search, without building the difference.
    let mut j = 0;
    inner.iter().all(|&(lo, hi)| {
        j += outer[j..].partition_point(|&(_, end)| end < lo);
        j < outer.len() && outer[j].0 <= lo && hi <= outer[j].1
    })
}

/// A few intervals of a list, spread over it (its first and last among them).
fn sampled(list: &[(u128, u128)]) -> impl Iterator<Item = (u128, u128)> + '_ {
    let step = (list.len() / 8).max(1);
    (0..list.len())
        .step_by(step)
        .chain(list.len().checked_sub(1))
        .map(|k| list[k])
}

/// Whether the union of normal-form `lists` holds every address of `(lo, hi)`: from `lo`,
/// jump to the end of an interval holding the next address until past `hi`.
fn covered(lists: &[&[(u128, u128)]], (lo, hi): (u128, u128)) -> bool {
    let mut next = lo;
    loop {
        let reach = lists
            .iter()
            .filter_map(|l| {
                let k = l.partition_point(|&(_, end)| end < next);
                l.get(k)
                    .filter(|&&(start, _)| start <= next)
                    .map(|&(_, end)| end)
            })
            .max();
        match reach {
            Some(end) if end >= hi => return true,
            Some(end) => next = end + 1,
            None => return false,
        }
    }
}

/// Whether two normal-form lists share an address, without building the intersection.
fn lists_overlap(a: &[(u128, u128)], b: &[(u128, u128)]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * 16 < large.len() {
        let mut j = 0;
        for &(lo, hi) in small {
            j += large[j..].partition_point(|&(_, end)| end < lo);
            if j < large.len() && large[j].0 <= hi {
                return true;
            }
        }
        return false;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].0.max(b[j].0) <= a[i].1.min(b[j].1) {
            return true;
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

fn intersect(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    // A few intervals against many (a group against every member's device): binary
    // search the long list instead of walking it.
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * 16 < large.len() {
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in small {
            j += large[j..].partition_point(|&(_, end)| end < lo);
            let mut k = j;
            while k < large.len() && large[k].0 <= hi {
                out.push((lo.max(large[k].0), hi.min(large[k].1)));
                k += 1;
            }
        }
        return out;
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn subtract(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(lo, hi) in a {
        let mut cur = lo;
        let mut done = false;
        // Skip the intervals of `b` that end before this one (binary search: `b` may be
        // far longer than `a`).
        j += b[j..].partition_point(|&(_, end)| end < cur);
        let mut k = j;
        while k < b.len() && b[k].0 <= hi {
            if b[k].0 > cur {
                out.push((cur, b[k].0 - 1));
            }
            if b[k].1 >= hi {
                done = true;
                break;
            }
            cur = b[k].1 + 1;
            k += 1;
        }
        if !done {
            out.push((cur, hi));
        }
    }
    out
}

/// Questions about two sets that [`IpSet::is_union_of_with`] asks, each answered by
/// computing it ([`Computed`]) or by a caller that remembers the answers for sets it
/// keeps.
pub trait PairQuestions {
    /// Whether `a` equals `b`.
    fn equal(&self, a: &IpSet, b: &IpSet) -> bool {
        a == b
    }
    /// Whether `a` takes in every address of `b`.
    fn contains(&self, a: &IpSet, b: &IpSet) -> bool {
        a.contains_set(b)
    }
    /// The addresses of `a` outside `b`.
    fn beyond(&self, a: &IpSet, b: &IpSet) -> std::sync::Arc<IpSet> {
        std::sync::Arc::new(a.subtract(b))
    }
}

/// [`PairQuestions`] answered by computing each.
pub struct Computed;

impl PairQuestions for Computed {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cidrs_are_the_fewest_blocks_in_address_order() {
        let texts =
            |s: &IpSet| -> Vec<String> { s.cidrs().iter().flat_map(IpSet::to_strings).collect() };
        let one = IpSet::parse("10.0.0.1-10.0.0.6").unwrap();
        assert_eq!(
            texts(&one),
            ["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6"]
        );
        assert_eq!(texts(&IpSet::parse("10.0.0.0/8").unwrap()), ["10.0.0.0/8"]);
        assert_eq!(texts(&IpSet::parse("::/0").unwrap()), ["::/0"]);
        assert_eq!(texts(&IpSet::parse("0.0.0.0/0").unwrap()), ["0.0.0.0/0"]);
        let internet = crate::engine::resolve::internet();
        let blocks = internet.cidrs();
        assert_eq!(IpSet::union_all(&blocks), *internet);
        assert!(blocks.iter().all(|b| b.to_strings().len() == 1));
    }

    fn set(items: &[&str]) -> IpSet {
        let mut s = IpSet::new();
        for i in items {
            s.union_with(&IpSet::parse(i).unwrap());
        }
        s
    }

    #[test]
    fn writes_sets_like_tailscale() {
        let cgnat = set(&["100.64.0.0/10"]).subtract(&set(&["100.115.92.0/23"]));
        assert_eq!(
            cgnat.to_strings(),
            vec!["100.64.0.0-100.115.91.255", "100.115.94.0-100.127.255.255"]
        );
        assert_eq!(
            set(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]).to_strings(),
            vec!["10.0.0.1-10.0.0.3"]
        );
        assert_eq!(
            set(&["10.0.0.0/25", "10.0.0.128/25"]).to_strings(),
            vec!["10.0.0.0/24"]
        );
        assert_eq!(
            set(&["fd7a:115c:a1e0::/48"]).to_strings(),
            vec!["fd7a:115c:a1e0::/48"]
        );
        assert_eq!(IpSet::all().to_strings(), vec!["*"]);
        assert!(set(&["10.0.0.0/8"]).contains("10.2.3.4".parse().unwrap()));
        assert!(!set(&["10.0.0.0/8"]).contains("11.0.0.0".parse().unwrap()));
    }

    fn arb_set() -> impl Strategy<Value = Vec<(u8, u8)>> {
        proptest::collection::vec((any::<u8>(), any::<u8>()), 0..14)
    }

    fn build(items: &[(u8, u8)]) -> (IpSet, std::collections::BTreeSet<u8>) {
        let mut s = IpSet::new();
        let mut naive = std::collections::BTreeSet::new();
        for &(a, b) in items {
            let (lo, hi) = (a.min(b), a.max(b));
            s.add_range(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, lo)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, hi)),
            );
            naive.extend(lo..=hi);
        }
        (s, naive)
    }

    proptest! {
        #[test]
        fn set_algebra_matches_naive_sets(a in arb_set(), b in arb_set()) {
            let (sa, na) = build(&a);
            let (sb, nb) = build(&b);
            let members = |s: &IpSet| -> std::collections::BTreeSet<u8> {
                (0..=255u8).filter(|x| s.contains(IpAddr::V4(Ipv4Addr::new(10, 0, 0, *x)))).collect()
            };
            prop_assert_eq!(members(&sa.union(&sb)), na.union(&nb).copied().collect());
            prop_assert_eq!(members(&sa.intersect(&sb)), na.intersection(&nb).copied().collect());
            prop_assert_eq!(members(&sa.subtract(&sb)), na.difference(&nb).copied().collect());
            prop_assert_eq!(sa.contains_set(&sb), nb.is_subset(&na));
            prop_assert_eq!(IpSet::union_all([&sa, &sb]), sa.union(&sb));
            prop_assert_eq!(sa.within_union([&sb]), sa.within_union([&sb, &IpSet::new()]));
            prop_assert_eq!(sa.within_union([&sb]), sb.contains_set(&sa));
            let halves = [sb.intersect(&sa), sb.subtract(&sa)];
            prop_assert_eq!(sa.within_union(&halves), sb.contains_set(&sa));
            prop_assert_eq!(sb.within_union([&sa, &sb]), true);
            let union = sa.union(&sb);
            prop_assert!(union.is_union_of(&[&sa, &sb]));
            prop_assert!(union.is_union_of(&[&sb, &sa, &IpSet::new()]));
            prop_assert_eq!(sa.is_union_of(&[&sb]), sa == sb);
            prop_assert_eq!(sa.is_union_of(&[&sb, &sb]), sa == sb);
            prop_assert_eq!(sa.is_union_of(&[]), sa.is_empty());
            prop_assert!(union.is_union_of_with(&[&sa, &union, &sb], &Computed));
            prop_assert_eq!(sa.is_union_of_with(&[&sa, &sb], &Computed), sb.within_union([&sa]));
            // Against the union of two sets, with one address more or less.
            let one = IpSet::from_addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, b.len() as u8 * 17)));
            let more = union.union(&one);
            prop_assert_eq!(more.is_union_of(&[&sa, &sb]), more == union);
            let less = union.subtract(&one);
            prop_assert_eq!(less.is_union_of(&[&sa, &sb]), less == union);
            // Normal form: equal sets have equal representations.
            prop_assert_eq!(sa.union(&sb), sb.union(&sa));
        }

        /// Many single addresses against a few ranges: the binary-search paths.
        #[test]
        fn lopsided_set_algebra_matches_naive_sets(
            points in proptest::collection::vec(any::<u8>(), 0..120),
            b in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..3),
        ) {
            let a: Vec<(u8, u8)> = points.iter().map(|&p| (p & !1, p & !1)).collect();
            let (sa, na) = build(&a);
            let (sb, nb) = build(&b);
            let members = |s: &IpSet| -> std::collections::BTreeSet<u8> {
                (0..=255u8).filter(|x| s.contains(IpAddr::V4(Ipv4Addr::new(10, 0, 0, *x)))).collect()
            };
            for (x, y, nx, ny) in [(&sa, &sb, &na, &nb), (&sb, &sa, &nb, &na)] {
                prop_assert_eq!(members(&x.intersect(y)), nx.intersection(ny).copied().collect());
                prop_assert_eq!(members(&x.subtract(y)), nx.difference(ny).copied().collect());
                prop_assert_eq!(x.overlaps(y), !nx.is_disjoint(ny));
                prop_assert_eq!(x.contains_set(y), ny.is_subset(nx));
            }
        }
    }
}
