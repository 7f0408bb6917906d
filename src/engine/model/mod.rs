//! The model every analysis answers from, in two layers over one inventory (real, or the
//! representative one of [`structural`]):
//!
//! - the concrete layer: [`ipset`] (address sets in normal form), [`inventory`] (devices
//!   and users), [`resolve`] (selectors as address sets), [`rules`] (ACLs and grants as one
//!   rule form over those sets); what must answer in addresses (packet filters, the
//!   offline tests, the redundancy audit) reads it;
//! - the access model: [`reach`] (symbolic reachability over principals, valid for every
//!   inventory) and [`access`] (principals numbered, each selector's members computed once,
//!   each rule entry a box, indexed by destination); `explain`, the diff, `paths`, the
//!   intents proof and the lints TSA219 and TSA240 read it;
//!
//! with [`standings`] (the roles and membership a policy tells apart), [`structural`]
//! (the representative inventory) and the two indexes clients look things up by under
//! both: [`stab`] (intervals holding a point: rules by destination address or port key,
//! source sets by address) and [`inventory::AddressIndex`] (devices by address). The clients are the modules beside this
//! one in `engine/`.

pub mod access;
pub mod inventory;
pub mod ipset;
pub mod reach;
pub mod resolve;
pub mod rules;
pub mod stab;
pub mod standings;
pub mod structural;

pub use inventory::{Device, Inventory};
pub use ipset::IpSet;
