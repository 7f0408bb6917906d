//! The device inventory: devices and users, shaped like the Tailscale API's own answers
//! (`GET /tailnet/{t}/devices?fields=all` and `GET /tailnet/{t}/users`) so a user can save
//! them once and work offline. Unknown fields are ignored.

use crate::model::Prefix;
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The full name (`beedrill.tail1234.ts.net`); `hostname` when absent.
    pub name: String,
    pub hostname: String,
    pub addresses: Vec<IpAddr>,
    /// Login name of the owner. Tagged devices belong to their tags, never to a user.
    pub user: Option<String>,
    pub tags: Vec<String>,
    pub advertised_routes: Vec<Prefix>,
    pub enabled_routes: Vec<Prefix>,
}

impl Device {
    pub fn is_tagged(&self) -> bool {
        !self.tags.is_empty()
    }
    /// The owner, for policy purposes: only untagged devices have one.
    pub fn owner(&self) -> Option<&str> {
        if self.is_tagged() {
            None
        } else {
            self.user.as_deref()
        }
    }
    /// Approved subnet routes other than the exit routes 0.0.0.0/0 and ::/0.
    pub fn subnet_routes(&self) -> impl Iterator<Item = &Prefix> {
        self.enabled_routes.iter().filter(|p| p.len != 0)
    }
    /// An exit node: both default routes approved (either one is enough here).
    pub fn is_exit_node(&self) -> bool {
        self.enabled_routes.iter().any(|p| p.len == 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Member,
    ItAdmin,
    NetworkAdmin,
    BillingAdmin,
    Auditor,
}

impl Role {
    /// Every role with its name in the API.
    const NAMES: [(Role, &'static str); 7] = [
        (Role::Owner, "owner"),
        (Role::Admin, "admin"),
        (Role::Member, "member"),
        (Role::ItAdmin, "it-admin"),
        (Role::NetworkAdmin, "network-admin"),
        (Role::BillingAdmin, "billing-admin"),
        (Role::Auditor, "auditor"),
    ];

    /// Every role, plain members first.
    pub const ALL: [Role; 7] = [
        Role::Member,
        Role::Owner,
        Role::Admin,
        Role::ItAdmin,
        Role::NetworkAdmin,
        Role::BillingAdmin,
        Role::Auditor,
    ];

    fn parse(text: &str) -> Option<Role> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(r, _)| *r)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("member", |(_, n)| n)
    }

    /// The role an autogroup selects (`autogroup:admin` → admin), if it is a role.
    pub fn of_autogroup(a: crate::model::Autogroup) -> Option<Role> {
        use crate::model::Autogroup;
        Some(match a {
            Autogroup::Owner => Role::Owner,
            Autogroup::Admin => Role::Admin,
            Autogroup::NetworkAdmin => Role::NetworkAdmin,
            Autogroup::ItAdmin => Role::ItAdmin,
            Autogroup::BillingAdmin => Role::BillingAdmin,
            Autogroup::Auditor => Role::Auditor,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub role: Role,
    /// A user from another tailnet who accepted a share.
    pub shared: bool,
}

impl User {
    pub fn standing(&self) -> Standing {
        if self.shared {
            Standing::Shared
        } else {
            Standing::Member(self.role)
        }
    }
}

/// A user's place in the tailnet as selectors see it: a member with a role, or a user
/// shared in from another tailnet (who holds no role here). A policy file does not say
/// it; the API's `users` answer does (`role`, `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Standing {
    Member(Role),
    Shared,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub devices: Vec<Device>,
    pub users: Vec<User>,
    /// Stand-in devices (policy-only analysis) that stand for their owner in this
    /// standing, whatever `users` says: one user can then be examined in every standing
    /// at once. Keyed by device index; empty for an inventory read from the API.
    pub standings: BTreeMap<usize, Standing>,
    /// Addresses of Tailscale Services (`svc:name`). The API's device and user answers
    /// do not carry them; analysis gives each service the policy names a stand-in
    /// address ([`crate::engine::structural::add_service_stand_ins`]).
    pub services: BTreeMap<String, Vec<IpAddr>>,
    /// Members of groups an identity provider defines (`group:name@domain`, synced by
    /// SCIM), by group. The API's answers do not carry them: analysis gives each such
    /// group the policy names a stand-in member
    /// ([`crate::engine::structural::idp_group_member`]).
    pub idp_groups: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    /// Read `{"devices": [...], "users": [...]}`; a missing required field is an error that
    /// names the device or user.
    pub fn from_json(bytes: &[u8]) -> Result<Inventory, String> {
        // The typed reading skips every field it does not use instead of building a map
        // of each device (the API's devices have dozens); anything it does not take as
        // it expects goes to the general reading below, which words the error.
        match fast::read(bytes) {
            Some(inventory) => Ok(inventory),
            None => Self::from_json_value(bytes),
        }
    }

    /// [`Inventory::from_json`] through a `serde_json::Value`: any shape, every error
    /// worded.
    fn from_json_value(bytes: &[u8]) -> Result<Inventory, String> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let mut inv = Inventory::default();
        let devices = match root.get("devices") {
            Some(Value::Array(d)) => d.as_slice(),
            Some(_) => return Err("\"devices\" must be an array".into()),
            None => &[],
        };
        for (i, d) in devices.iter().enumerate() {
            inv.devices.push(device(d).map_err(|e| {
                let who = d
                    .get("name")
                    .or_else(|| d.get("hostname"))
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("devices[{i}]"), |n| format!("device {n:?}"));
                format!("{who}: {e}")
            })?);
        }
        let users = match root.get("users") {
            Some(Value::Array(u)) => u.as_slice(),
            Some(_) => return Err("\"users\" must be an array".into()),
            None => &[],
        };
        for (i, u) in users.iter().enumerate() {
            let login = u
                .get("loginName")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("users[{i}]: missing \"loginName\""))?;
            let role = match u.get("role").and_then(Value::as_str) {
                None => Role::Member,
                Some(r) => {
                    Role::parse(r).ok_or_else(|| format!("user {login:?}: unknown role {r:?}"))?
                }
            };
            let shared = u.get("type").and_then(Value::as_str) == Some("shared");
            inv.users.push(User {
                login: login.to_string(),
                role,
                shared,
            });
        }
        Ok(inv)
    }

    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|d| {
            d.hostname == name || d.name == name || d.name.split('.').next() == Some(name)
        })
    }

    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.iter().find(|u| u.login == login)
    }

    /// The standing of the owner of device `index` as its filters see it (`None` for a
    /// tagged device). An owner missing from `users` counts as a member without a role:
    /// the API lists every user who owns a device.
    pub fn standing(&self, index: usize, users: &FxHashMap<&str, &User>) -> Option<Standing> {
        let owner = self.devices[index].owner()?;
        Some(match self.standings.get(&index) {
            Some(s) => *s,
            None => users
                .get(owner)
                .map_or(Standing::Member(Role::Member), |u| u.standing()),
        })
    }

    /// Users by login, for [`Inventory::standing`].
    pub fn users_by_login(&self) -> FxHashMap<&str, &User> {
        self.users.iter().map(|u| (u.login.as_str(), u)).collect()
    }
}

/// [`Inventory::from_json`] for an inventory as the API writes it, typed; `None` for
/// anything else (a wrong type, a missing field, a repeated key, a value that does not
/// parse), which the general reading then reads or words as an error. On what it reads,
/// it answers exactly as the general reading (checked by a unit test).
mod fast {
    use super::{Device, Inventory, Role, User};
    use crate::model::Prefix;
    use serde::Deserialize;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Root<'a> {
        #[serde(borrow)]
        devices: Option<Vec<WireDevice<'a>>>,
        #[serde(borrow)]
        users: Option<Vec<WireUser<'a>>>,
    }

    #[derive(Deserialize)]
    struct WireDevice<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        hostname: Option<Cow<'a, str>>,
        addresses: Option<Vec<Cow<'a, str>>>,
        #[serde(borrow)]
        user: Option<Cow<'a, str>>,
        tags: Option<Vec<String>>,
        #[serde(rename = "advertisedRoutes")]
        advertised_routes: Option<Vec<Cow<'a, str>>>,
        #[serde(rename = "enabledRoutes")]
        enabled_routes: Option<Vec<Cow<'a, str>>>,
    }

    #[derive(Deserialize)]
    struct WireUser<'a> {
        #[serde(borrow, rename = "loginName")]
        login_name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        role: Option<Cow<'a, str>>,
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }

    pub(super) fn read(bytes: &[u8]) -> Option<Inventory> {
        let root: Root = serde_json::from_slice(bytes).ok()?;
        // Missing and `null` read alike here; the general reading tells them apart.
        let (devices, users) = (root.devices?, root.users?);
        let mut inv = Inventory::default();
        for d in devices {
            let name = d.name.map(Cow::into_owned);
            let hostname = match (d.hostname, &name) {
                (Some(h), _) => h.into_owned(),
                (None, Some(n)) => n.split('.').next().unwrap_or_default().to_string(),
                (None, None) => return None,
            };
            let addresses = d
                .addresses?
                .iter()
                .map(|a| a.parse().ok())
                .collect::<Option<Vec<_>>>()?;
            let prefixes = |list: Option<Vec<Cow<str>>>| -> Option<Vec<Prefix>> {
                list.unwrap_or_default()
                    .iter()
                    .map(|p| Prefix::parse(p))
                    .collect()
            };
            let tags = d.tags.unwrap_or_default();
            let user = d.user.filter(|u| !u.is_empty()).map(Cow::into_owned);
            if tags.is_empty() && user.is_none() {
                return None;
            }
            inv.devices.push(Device {
                name: name.unwrap_or_else(|| hostname.clone()),
                hostname,
                addresses,
                user,
                tags,
                advertised_routes: prefixes(d.advertised_routes)?,
                enabled_routes: prefixes(d.enabled_routes)?,
            });
        }
        for u in users {
            let role = match u.role {
                None => Role::Member,
                Some(r) => Role::parse(&r)?,
            };
            inv.users.push(User {
                login: u.login_name?.into_owned(),
                role,
                shared: u.kind.as_deref() == Some("shared"),
            });
        }
        Some(inv)
    }
}

fn device(d: &Value) -> Result<Device, String> {
    let text = |key: &str| d.get(key).and_then(Value::as_str).map(str::to_string);
    let hostname = text("hostname")
        .or_else(|| text("name").map(|n| n.split('.').next().unwrap_or_default().to_string()))
        .ok_or("missing \"hostname\"")?;
    let name = text("name").unwrap_or_else(|| hostname.clone());
    let addresses = match d.get("addresses") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .ok_or_else(|| format!("invalid address {v}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("missing \"addresses\"".into()),
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        match d.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("\"{key}\" must hold strings"))
                })
                .collect(),
            Some(_) => Err(format!("\"{key}\" must be an array")),
        }
    };
    let prefixes = |key: &str| -> Result<Vec<Prefix>, String> {
        strings(key)?
            .iter()
            .map(|s| Prefix::parse(s).ok_or_else(|| format!("\"{key}\": {s:?} is not a CIDR")))
            .collect()
    };
    let tags = strings("tags")?;
    let user = text("user").filter(|u| !u.is_empty());
    if tags.is_empty() && user.is_none() {
        return Err("an untagged device needs \"user\"".into());
    }
    Ok(Device {
        name,
        hostname,
        addresses,
        user,
        tags,
        advertised_routes: prefixes("advertisedRoutes")?,
        enabled_routes: prefixes("enabledRoutes")?,
    })
}

/// Where a subnet route may carry an address: the subnet routes `inventory`'s devices
/// have approved (not the exit routes), and, when the inventory is not the tailnet's own
/// (`known` false: stand-ins only), the prefixes `autoApprovers.routes` approves, since a
/// router may advertise one any day.
pub fn subnet_route_space(
    inventory: &Inventory,
    policy: &crate::model::Policy,
    known: bool,
) -> super::IpSet {
    let mut routes = super::IpSet::new();
    for r in inventory.devices.iter().flat_map(Device::subnet_routes) {
        routes.add_prefix(r);
    }
    if !known {
        for r in &policy.auto_approvers.routes {
            if let Some(p) = r.prefix.filter(|p| p.len != 0) {
                routes.add_prefix(&p);
            }
        }
    }
    routes
}

/// The inventory as the policy sees it: advertised routes that the policy's
/// `autoApprovers` approve count as approved (capture acl-ah01: an auto-approved route
/// makes its router visible to sources in that range).
pub fn with_auto_approvals(inventory: &Inventory, policy: &crate::model::Policy) -> Inventory {
    use crate::model::{Autogroup, Selector};
    let mut out = inventory.clone();
    let approves = |approvers: &[crate::model::Sel], d: &Device| {
        approvers.iter().any(|a| match &a.selector {
            Some(Selector::Tag(t)) => d.tags.contains(t),
            Some(Selector::User(u)) => d.owner() == Some(u.as_str()),
            Some(Selector::Group(g)) => d.owner().is_some_and(|o| {
                policy
                    .group(g)
                    .is_some_and(|g| g.members.iter().any(|m| m.value.trim() == o))
            }),
            Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members)) => {
                d.owner().is_some()
            }
            Some(Selector::Autogroup(Autogroup::Tagged)) => d.is_tagged(),
            _ => false,
        })
    };
    for d in &mut out.devices {
        let mut added = Vec::new();
        for route in &d.advertised_routes {
            if d.enabled_routes.contains(route) {
                continue;
            }
            let approved = if route.len == 0 {
                approves(&policy.auto_approvers.exit_node, d)
            } else {
                policy.auto_approvers.routes.iter().any(|ra| {
                    ra.prefix.is_some_and(|p| p.contains(route)) && approves(&ra.approvers, d)
                })
            };
            if approved {
                added.push(*route);
            }
        }
        d.enabled_routes.extend(added);
    }
    out
}

/// Every device address, sorted, to find the devices inside an IP set by binary search
/// (rather than testing every device against the set). The one such index: the filters,
/// the offline tests and the addresses principals hold ([`super::reach::Held`]) use it.
pub struct AddressIndex {
    /// Per family (IPv4, IPv6, as [`super::IpSet::families`]): (address, the device's
    /// place in the inventory), sorted.
    sorted: [Vec<(u128, u32)>; 2],
}

impl AddressIndex {
    pub fn new(inventory: &Inventory) -> AddressIndex {
        let mut sorted: [Vec<(u128, u32)>; 2] = Default::default();
        for (i, d) in inventory.devices.iter().enumerate() {
            for a in &d.addresses {
                let family = usize::from(a.is_ipv6());
                sorted[family].push((crate::model::addr::ip_to_u128(*a), i as u32));
            }
        }
        for family in &mut sorted {
            family.sort_unstable();
        }
        AddressIndex { sorted }
    }

    /// The device holding `ip` (of several, the last in the inventory).
    pub fn device_at(&self, ip: IpAddr) -> Option<usize> {
        let sorted = &self.sorted[usize::from(ip.is_ipv6())];
        let key = crate::model::addr::ip_to_u128(ip);
        let after = sorted.partition_point(|&(a, _)| a <= key);
        let &(a, i) = sorted[..after].last()?;
        (a == key).then_some(i as usize)
    }

    /// Indices of the devices with an address in `set`, each once, in inventory order.
    pub fn devices_holding(&self, set: &super::IpSet) -> Vec<usize> {
        let mut found: Vec<usize> = self.devices_in(set).collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Indices of the devices with an address in `set`, once per address that matches.
    pub fn devices_in<'a>(&'a self, set: &'a super::IpSet) -> impl Iterator<Item = usize> + 'a {
        set.families()
            .into_iter()
            .enumerate()
            .flat_map(move |(family, ranges)| {
                ranges.iter().flat_map(move |&(lo, hi)| {
                    self.in_range(family, lo, hi).map(|&(_, i)| i as usize)
                })
            })
    }

    /// The (address, device) pairs of `family` with the address in `lo..=hi`, by address
    /// (a device that holds several addresses there appears once for each).
    pub fn in_range(
        &self,
        family: usize,
        lo: u128,
        hi: u128,
    ) -> impl Iterator<Item = &(u128, u32)> + '_ {
        let sorted = &self.sorted[family];
        let start = sorted.partition_point(|&(a, _)| a < lo);
        // Walked, not searched for its end: most ranges hold a device or two.
        sorted[start..].iter().take_while(move |&&(a, _)| a <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_index_finds_devices_by_address_in_each_family() {
        use super::super::IpSet;
        let device = |name: &str, addresses: &[&str]| Device {
            name: name.into(),
            hostname: name.into(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            user: None,
            tags: Vec::new(),
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        };
        let inventory = Inventory {
            devices: vec![
                device("a", &["100.64.0.1", "fd7a:115c:a1e0::1"]),
                device("b", &["100.64.0.2", "fd7a:115c:a1e0::2"]),
                // The same address as `a`'s: the last device holding it answers, as a map
                // built in inventory order would.
                device("c", &["100.64.0.1"]),
                // IPv4 0.0.0.1 and IPv6 ::1 are the same integer in different families.
                device("d", &["0.0.0.1", "::1"]),
            ],
            ..Default::default()
        };
        let index = AddressIndex::new(&inventory);
        let at = |ip: &str| index.device_at(ip.parse().unwrap());
        assert_eq!(at("100.64.0.1"), Some(2));
        assert_eq!(at("fd7a:115c:a1e0::1"), Some(0));
        assert_eq!(at("fd7a:115c:a1e0::2"), Some(1));
        assert_eq!(at("0.0.0.1"), Some(3));
        assert_eq!(at("::1"), Some(3));
        assert_eq!(at("100.64.0.3"), None);
        assert_eq!(at("::2"), None);
        let set = IpSet::parse("100.64.0.0/30").unwrap();
        assert_eq!(index.devices_holding(&set), vec![0, 1, 2]);
        let v6 = IpSet::parse("fd7a:115c:a1e0::/48").unwrap();
        assert_eq!(index.devices_in(&v6).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(
            index.devices_in(&IpSet::parse("::1/128").unwrap()).count(),
            1
        );
    }

    #[test]
    fn the_typed_reading_answers_as_the_general_one() {
        let cases: Vec<&[u8]> = vec![
            include_bytes!("../../../policies/inventory.json"),
            br#"{"devices": [{"name": "a.ts.net", "hostname": "a", "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"], "user": "x@example.com", "tags": null, "os": "linux", "extra": {"k": [1, 2]}},
                             {"name": "r.ts.net", "addresses": ["100.64.0.2"], "tags": ["tag:r"], "user": "", "advertisedRoutes": ["10.0.0.0/8", "0.0.0.0/0"], "enabledRoutes": ["10.0.0.0/8"]},
                             {"hostname": "h\u0041", "addresses": [], "tags": ["tag:\u0061"]}],
                 "users": [{"loginName": "x@example.com", "role": "admin", "type": "member"}, {"loginName": "y@example.com", "type": "shared", "role": null}, {"loginName": "z@example.com"}]}"#,
            br#"{"devices": [], "users": []}"#,
        ];
        for bytes in cases {
            let typed = fast::read(bytes).expect("read typed");
            assert_eq!(
                typed.devices,
                Inventory::from_json_value(bytes).unwrap().devices
            );
            assert_eq!(
                typed.users,
                Inventory::from_json_value(bytes).unwrap().users
            );
        }
        // What it does not take goes to the general reading, which answers or words it.
        for bytes in [
            &br#"{"devices": null, "users": []}"#[..],
            br#"{"devices": []}"#,
            br#"{"devices": [{"hostname": 1, "name": "n", "addresses": [], "tags": ["tag:a"]}], "users": []}"#,
            br#"{"devices": [{"hostname": "a", "addresses": ["nope"], "tags": ["tag:a"]}], "users": []}"#,
            br#"{"devices": [{"hostname": "a", "hostname": "b", "addresses": [], "tags": ["tag:a"]}], "users": []}"#,
            br#"{"devices": [{"hostname": "a", "addresses": []}], "users": []}"#,
            br#"{"devices": [], "users": [{"loginName": "x", "role": "boss"}]}"#,
            br#"{"devices": [], "users": [{"loginName": "x", "role": 3}]}"#,
        ] {
            assert!(fast::read(bytes).is_none(), "{}", String::from_utf8_lossy(bytes));
            let general = Inventory::from_json_value(bytes);
            let via = Inventory::from_json(bytes);
            assert_eq!(
                general.as_ref().map(|i| (&i.devices, &i.users)),
                via.as_ref().map(|i| (&i.devices, &i.users))
            );
        }
    }

    #[test]
    fn reads_api_shaped_json_and_names_bad_devices() {
        let inv = Inventory::from_json(
            br#"{"devices": [{"name": "a.ts.net", "hostname": "a", "addresses": ["100.64.0.1"], "user": "x@example.com", "tags": [], "extra": 1},
                              {"hostname": "r", "addresses": ["100.64.0.2"], "tags": ["tag:r"], "enabledRoutes": ["10.0.0.0/8", "0.0.0.0/0"]}],
                 "users": [{"loginName": "x@example.com", "role": "admin", "type": "member"}]}"#,
        )
        .unwrap();
        assert_eq!(inv.devices[0].owner(), Some("x@example.com"));
        assert!(inv.devices[1].is_exit_node());
        assert_eq!(inv.devices[1].subnet_routes().count(), 1);
        assert_eq!(inv.users[0].role, Role::Admin);
        let err =
            Inventory::from_json(br#"{"devices": [{"hostname": "b", "tags": []}]}"#).unwrap_err();
        assert_eq!(err, "device \"b\": missing \"addresses\"");
    }
}
