//! The semantic engine: what a policy actually allows. Selectors resolve against a device
//! inventory ([`inventory`], [`resolve`]); ACLs and grants become one rule form
//! ([`rules`]); each device gets the packet filter the control plane would send it
//! ([`filter`]).

pub mod model;

pub mod attrs;
pub mod diff;
pub mod explain;
pub mod filter;
pub mod graph;
pub mod paths;
pub mod posture;
pub mod redundancy;
pub mod ssh;
pub mod ssh_access;
pub mod tests_eval;

// The model's modules under the paths every client and caller uses.
pub use model::{access, inventory, ipset, reach, resolve, rules, stab, standings, structural};

pub use inventory::{Device, Inventory};
pub use ipset::IpSet;

use crate::syntax::{Kind, Value};

/// A well-mixed 64-bit key per index (splitmix64), for hashing sets of indices by XOR
/// (Zobrist hashing).
pub(crate) fn zobrist(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 128-bit key per index, one family per `seed`: the XORs of two different sets of
/// indices agree with probability 2^-128.
pub(crate) fn zobrist128(seed: u64, k: u64) -> u128 {
    let at = seed ^ k.wrapping_mul(2);
    (u128::from(zobrist(at)) << 64) | u128::from(zobrist(at ^ 1))
}

/// A syntax-tree value as `serde_json::Value` (capability values are arbitrary JSON).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match &v.kind {
        Kind::Null => serde_json::Value::Null,
        Kind::Bool(b) => serde_json::Value::Bool(*b),
        Kind::Number(n) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
        Kind::String(s) => serde_json::Value::String(s.clone()),
        Kind::Array(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
        Kind::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), value_to_json(&m.value)))
                .collect(),
        ),
    }
}
