//! Who owns which device address: `autogroup:self` destinations depend on the source's
//! owner, so when one is involved the sources are split by owner. Answered from the
//! inventory's address index and the resolver's sets of users' devices; the audit keeps
//! only a number per owner.

use crate::engine::inventory::{AddressIndex, Inventory};
use crate::engine::ipset::IpSet;
use crate::engine::resolve::Resolver;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A device no user owns (a tagged one).
pub(super) const NO_OWNER: u32 = u32::MAX;

pub(super) struct Owners {
    addresses: AddressIndex,
    /// Per device, its owner's number (owners numbered as they first appear), or
    /// [`NO_OWNER`].
    owner_of_device: Vec<u32>,
    /// Per owner, their devices: the resolver's set, shared.
    pub(super) devices: Vec<Arc<IpSet>>,
}

impl Owners {
    pub(super) fn new(inventory: &Inventory, resolver: &Resolver) -> Owners {
        let mut number: FxHashMap<&str, u32> = FxHashMap::default();
        let mut devices: Vec<Arc<IpSet>> = Vec::new();
        let owner_of_device = inventory
            .devices
            .iter()
            .map(|d| {
                let Some(owner) = d.owner() else {
                    return NO_OWNER;
                };
                *number.entry(owner).or_insert_with(|| {
                    let set = resolver.user_shared(owner).cloned().unwrap_or_default();
                    devices.push(set);
                    devices.len() as u32 - 1
                })
            })
            .collect();
        Owners {
            addresses: AddressIndex::new(inventory),
            owner_of_device,
            devices,
        }
    }

    pub(super) fn all(&self) -> IpSet {
        IpSet::union_all(self.devices.iter().map(|d| &**d))
    }

    /// The owner of the device with address `a` in family `fam`, if a user owns one (of
    /// several, the one numbered first).
    pub(super) fn owner_of(&self, fam: usize, a: u128) -> Option<u32> {
        self.owned_in(fam, a, a).map(|(_, o)| o).min()
    }

    /// The addresses of user-owned devices in `lo..=hi` of family `fam`, by address, each
    /// with its owner.
    pub(super) fn owned_in(
        &self,
        fam: usize,
        lo: u128,
        hi: u128,
    ) -> impl Iterator<Item = (u128, u32)> + '_ {
        self.addresses
            .in_range(fam, lo, hi)
            .map(|&(a, d)| (a, self.owner_of_device[d as usize]))
            .filter(|&(_, o)| o != NO_OWNER)
    }
}
