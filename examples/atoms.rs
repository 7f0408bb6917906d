//! How much an audit on atoms (analysis-design §6.3: devices grouped by the selectors that
//! take them in) would shrink the structural audit's domain: a policy's representative
//! devices, beside the atoms they fall into by the rules' source selectors, destination
//! selectors, and both. Each distinct selector gets a random 128-bit key XORed into every
//! device it takes in (Zobrist hashing); devices with equal keys are one atom.
//! `cargo run --release --example atoms -- FILE...` (BENCHMARKS.md, session 37). Its tests
//! run with `cargo test` (`test = true` in Cargo.toml).

use std::collections::HashSet;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::IpSet;
use tsacl::engine::inventory::{AddressIndex, Inventory};
use tsacl::engine::resolve::{Resolver, Target};
use tsacl::engine::structural::{representative_atoms, representative_in};
use tsacl::model::{Policy, Sel};

fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read(&path).expect("readable");
        let Some(policy) = read(&path, text) else {
            println!("{path}: not HuJSON");
            continue;
        };
        let inventory = representative_in(&policy, None);
        let c = atoms(&policy, &inventory);
        println!(
            "{path}: {} representative devices ({} with one stand-in per atom of users, as the audit has them); {} source and {} destination selectors; atoms: {} by sources, {} by destinations, {} by both",
            c.devices,
            representative_atoms(&policy, None).devices.len(),
            c.source_selectors,
            c.destination_selectors,
            c.by_sources,
            c.by_destinations,
            c.by_both,
        );
    }
}

fn read(path: &str, text: Vec<u8>) -> Option<Policy> {
    let mut sources = SourceMap::default();
    let file = sources.add(SourceFile::new(path, path, text));
    let checked = tsacl::check::check_policy_to(
        &sources,
        file,
        &tsacl::validate::Options::default(),
        tsacl::check::Depth::Quick,
    );
    checked.policy
}

#[derive(Debug, PartialEq, Eq)]
struct Counts {
    devices: usize,
    source_selectors: usize,
    destination_selectors: usize,
    by_sources: usize,
    by_destinations: usize,
    by_both: usize,
}

/// The selectors rules write as sources and as destinations, each distinct text once,
/// with the set each takes in on `inventory` (`None`: `autogroup:self`, which depends on
/// the source).
fn selector_sets(policy: &Policy, inventory: &Inventory) -> [Vec<Option<IpSet>>; 2] {
    let resolver = Resolver::new(policy, inventory);
    let acls = policy.acls.iter().flatten();
    let grants = policy.grants.iter().flatten();
    let sources: Vec<&Sel> = acls
        .clone()
        .flat_map(|a| &a.src)
        .chain(grants.clone().flat_map(|g| &g.src))
        .collect();
    let destinations: Vec<&Sel> = acls
        .flat_map(|a| a.dst.iter().map(|d| &d.host))
        .chain(grants.flat_map(|g| &g.dst))
        .collect();
    let distinct = |written: &[&Sel], set_of: &dyn Fn(&Sel) -> Option<IpSet>| {
        let mut seen = HashSet::new();
        written
            .iter()
            .filter(|s| seen.insert(s.raw.trim().to_string()))
            .map(|s| set_of(s))
            .collect()
    };
    let source = |s: &Sel| Some((*resolver.source_shared(s.selector.as_ref()?)).clone());
    let destination = |s: &Sel| match resolver.target(s.selector.as_ref()?) {
        Target::Addresses(a) => Some(IpSet::clone(&a)),
        Target::Everything => Some(IpSet::all()),
        Target::OwnDevices => None,
    };
    [
        distinct(&sources, &source),
        distinct(&destinations, &destination),
    ]
}

fn atoms(policy: &Policy, inventory: &Inventory) -> Counts {
    let [sources, destinations] = selector_sets(policy, inventory);
    let devices = AddressIndex::new(inventory);
    let mut key = 0u64;
    let mut signature = |sets: &[Option<IpSet>]| {
        let mut signature = vec![0u128; inventory.devices.len()];
        for set in sets.iter().flatten() {
            key += 1;
            let k = zobrist(key);
            for d in devices.devices_holding(set) {
                signature[d] ^= k;
            }
        }
        signature
    };
    let src = signature(&sources);
    let dst = signature(&destinations);
    let distinct = |v: &[u128]| v.iter().collect::<HashSet<_>>().len();
    Counts {
        devices: inventory.devices.len(),
        source_selectors: sources.len(),
        destination_selectors: destinations.len(),
        by_sources: distinct(&src),
        by_destinations: distinct(&dst),
        by_both: src.iter().zip(&dst).collect::<HashSet<_>>().len(),
    }
}

/// A well-mixed 128-bit key per index (two rounds of splitmix64).
fn zobrist(k: u64) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (u128::from(mix(2 * k)) << 64) | u128::from(mix(2 * k + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The atoms by brute force: devices grouped by which selectors take each in, without
    /// hashing.
    fn brute_force(policy: &Policy, inventory: &Inventory) -> [usize; 3] {
        let [sources, destinations] = selector_sets(policy, inventory);
        let takes = |sets: &[Option<IpSet>], i: usize| -> Vec<bool> {
            let d = &inventory.devices[i];
            sets.iter()
                .flatten()
                .map(|s| d.addresses.iter().any(|a| s.contains(*a)))
                .collect()
        };
        let count = |f: &dyn Fn(usize) -> Vec<bool>| {
            (0..inventory.devices.len())
                .map(f)
                .collect::<HashSet<_>>()
                .len()
        };
        [
            count(&|i| takes(&sources, i)),
            count(&|i| takes(&destinations, i)),
            count(&|i| [takes(&sources, i), takes(&destinations, i)].concat()),
        ]
    }

    #[test]
    fn users_named_only_through_one_group_are_one_atom() {
        let policy = read(
            "p.hujson",
            br#"{
                "groups": {"group:eng": ["a@x.com", "b@x.com", "c@x.com"]},
                "tagOwners": {"tag:db": ["group:eng"], "tag:web": ["group:eng"]},
                "grants": [
                    {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["5432"]},
                    {"src": ["d@x.com"], "dst": ["tag:web"], "ip": ["443"]},
                    {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["5432"]},
                    {"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["80"]},
                ],
            }"#
            .to_vec(),
        )
        .expect("parses");
        let inventory = representative_in(&policy, None);
        let c = atoms(&policy, &inventory);
        assert_eq!((c.source_selectors, c.destination_selectors), (4, 2));
        // The group's three users are one atom however many devices stand for them.
        let [by_sources, by_destinations, by_both] = brute_force(&policy, &inventory);
        assert_eq!(
            (c.by_sources, c.by_destinations, c.by_both),
            (by_sources, by_destinations, by_both)
        );
        assert!(c.by_both < c.devices, "{c:?}");
        // Each named user stands as a member and as shared in: the group's users as members
        // (group and autogroup:member), as shared in (group only); d@x.com as a member, as
        // shared in; tag:web; the members the policy does not name; and the rest (tag:db,
        // users shared in whom the policy does not name), which no source takes in.
        assert_eq!(c.by_sources, 7, "{c:?}");
    }

    #[test]
    fn atoms_equal_brute_force_on_the_repository_policies() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
        let mut read_any = false;
        for entry in std::fs::read_dir(dir).expect("policies/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "hujson") {
                continue;
            }
            let Some(policy) = read(&path.display().to_string(), std::fs::read(&path).unwrap())
            else {
                continue;
            };
            let inventory = representative_in(&policy, None);
            let c = atoms(&policy, &inventory);
            let [s, d, b] = brute_force(&policy, &inventory);
            assert_eq!(
                (c.by_sources, c.by_destinations, c.by_both),
                (s, d, b),
                "{path:?}"
            );
            read_any = true;
        }
        assert!(read_any, "no policy read under {dir}");
    }
}
