//! How much an audit on atoms (analysis-design §6.3: devices grouped by the selectors that
//! take them in) would shrink the structural audit's domain: a policy's representative
//! devices, beside the atoms they fall into by the rules' source selectors, destination
//! selectors, and both. Each distinct selector gets a random 128-bit key XORed into every
//! device it takes in (Zobrist hashing); devices with equal keys are one atom.
//! `cargo run --release --example atoms -- FILE...` (BENCHMARKS.md, session 37).

use std::collections::HashSet;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::IpSet;
use tsacl::engine::inventory::AddressIndex;
use tsacl::engine::resolve::{Resolver, Target};
use tsacl::engine::structural::representative_in;
use tsacl::model::Sel;

fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read(&path).expect("readable");
        let mut sources = SourceMap::default();
        let file = sources.add(SourceFile::new(&path, &path, text));
        let checked = tsacl::check::check_policy_to(
            &sources,
            file,
            &tsacl::validate::Options::default(),
            tsacl::check::Depth::Quick,
        );
        let Some(policy) = checked.policy else {
            println!("{path}: not HuJSON");
            continue;
        };
        let inventory = representative_in(&policy, None);
        let resolver = Resolver::new(&policy, &inventory);
        let acls = policy.acls.iter().flatten();
        let grants = policy.grants.iter().flatten();
        let sources_written: Vec<&Sel> = acls
            .clone()
            .flat_map(|a| &a.src)
            .chain(grants.clone().flat_map(|g| &g.src))
            .collect();
        let destinations_written: Vec<&Sel> = acls
            .flat_map(|a| a.dst.iter().map(|d| &d.host))
            .chain(grants.flat_map(|g| &g.dst))
            .collect();
        let devices = AddressIndex::new(&inventory);
        let mut key = 0u64;
        let mut signature = |written: &[&Sel], set_of: &dyn Fn(&Sel) -> Option<IpSet>| {
            let mut signature = vec![0u128; inventory.devices.len()];
            let mut seen = HashSet::new();
            for sel in written {
                if !seen.insert(sel.raw.trim()) {
                    continue;
                }
                let Some(set) = set_of(sel) else { continue };
                key += 1;
                let k = zobrist(key);
                for d in devices.devices_holding(&set) {
                    signature[d] ^= k;
                }
            }
            (seen.len(), signature)
        };
        let (src_selectors, src) = signature(&sources_written, &|s| {
            Some((*resolver.source_shared(s.selector.as_ref()?)).clone())
        });
        let destination = |s: &Sel| match resolver.target(s.selector.as_ref()?) {
            Target::Addresses(a) => Some(a),
            Target::Everything => Some(IpSet::all()),
            Target::OwnDevices => None,
        };
        let (dst_selectors, dst) = signature(&destinations_written, &destination);
        let distinct = |v: &[u128]| v.iter().collect::<HashSet<_>>().len();
        let both = src.iter().zip(&dst).collect::<HashSet<_>>().len();
        println!(
            "{path}: {} representative devices; {src_selectors} source and {dst_selectors} destination selectors; atoms: {} by sources, {} by destinations, {both} by both",
            inventory.devices.len(),
            distinct(&src),
            distinct(&dst),
        );
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
