//! The semantic engine: what a policy actually allows. Selectors resolve against a device
//! inventory ([`inventory`], [`resolve`]); ACLs and grants become one rule form
//! ([`rules`]); each device gets the packet filter the control plane would send it
//! ([`filter`]).

pub mod access;
pub mod attrs;
pub mod diff;
pub mod explain;
pub mod filter;
pub mod graph;
pub mod inventory;
pub mod ipset;
pub mod reach;
pub mod redundancy;
pub mod resolve;
pub mod rules;
pub mod ssh;
pub mod standings;
pub mod structural;
pub mod tests_eval;

pub use inventory::{Device, Inventory};
pub use ipset::IpSet;

use crate::syntax::{Kind, Value};

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
