//! Who owns which device address: `autogroup:self` destinations depend on the source's
//! owner, so when one is involved the sources are split by owner.

use crate::engine::inventory::Inventory;
use crate::engine::ipset::IpSet;
use rustc_hash::FxHashMap;

/// User-owned device addresses with their owner, to split sources by owner for
/// `autogroup:self`, and each owner's devices.
pub(super) struct Owners {
    /// Per family, sorted (address, owner index).
    pub(super) addrs: [Vec<(u128, u32)>; 2],
    pub(super) devices: Vec<IpSet>,
}

impl Owners {
    pub(super) fn new(inventory: &Inventory) -> Owners {
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        let mut addrs: [Vec<(u128, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut per: Vec<Vec<std::net::IpAddr>> = Vec::new();
        for d in &inventory.devices {
            let Some(owner) = d.owner() else { continue };
            let next = index.len() as u32;
            let id = *index.entry(owner).or_insert(next);
            if id as usize == per.len() {
                per.push(Vec::new());
            }
            for a in &d.addresses {
                per[id as usize].push(*a);
                let fam = usize::from(a.is_ipv6());
                addrs[fam].push((crate::model::addr::ip_to_u128(*a), id));
            }
        }
        for list in &mut addrs {
            list.sort_unstable();
        }
        Owners {
            addrs,
            devices: per.into_iter().map(IpSet::from_addrs).collect(),
        }
    }
    pub(super) fn all(&self) -> IpSet {
        IpSet::union_all(&self.devices)
    }
    /// The owner of the device with address `a` in family `fam`, if a user owns one.
    pub(super) fn owner_of(&self, fam: usize, a: u128) -> Option<u32> {
        let list = &self.addrs[fam];
        let i = list.partition_point(|&(x, _)| x < a);
        list.get(i).filter(|(x, _)| *x == a).map(|(_, o)| *o)
    }
}
