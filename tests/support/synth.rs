//! Synthetic policies for benchmarks and stress tests: deterministic, valid, and shaped
//! like real tailnets (groups of users, tags owned by groups, hosts, ACLs, grants, SSH
//! rules, node attributes and tests), with comments and trailing commas.
//!
//! Not part of the library: benches, examples and tests include this file with
//! `#[path = ".../tests/support/synth.rs"] mod synth;`, and `tests/synth.rs` tests it.
// Each including target uses a few of these generators.
#![allow(dead_code)]

use std::fmt::Write;

/// A small deterministic generator (xorshift64*), so benchmarks need no RNG crate and
/// give the same policy on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Sizes of a synthetic policy.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub users: usize,
    pub groups: usize,
    pub tags: usize,
    pub hosts: usize,
    pub acls: usize,
    pub grants: usize,
    pub ssh: usize,
}

impl Shape {
    /// A shape whose HuJSON text is about `bytes` long.
    pub fn of_size(bytes: usize) -> Shape {
        // About 125 bytes of text per rule with the definitions that go with it.
        let rules = (bytes / 125).max(10);
        Shape {
            users: (rules / 4).max(4),
            groups: (rules / 40).max(2),
            tags: (rules / 20).max(2),
            hosts: (rules / 20).max(2),
            acls: rules * 2 / 5,
            grants: rules * 2 / 5,
            ssh: rules / 10,
        }
    }
}

/// A valid HuJSON policy of the given shape.
pub fn policy(shape: Shape, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(shape.acls * 400 + shape.grants * 400);
    let user = |i: usize| format!("user{i}@example.com");
    out.push_str("// Synthetic tailnet policy (synth::policy).\n{\n\t\"groups\": {\n");
    for g in 0..shape.groups {
        let members: Vec<String> = (0..4)
            .map(|_| format!("{:?}", user(rng.below(shape.users))))
            .collect();
        let _ = writeln!(out, "\t\t\"group:team{g}\": [{}],", members.join(", "));
    }
    out.push_str("\t},\n\t\"tagOwners\": {\n");
    for t in 0..shape.tags {
        let _ = writeln!(
            out,
            "\t\t\"tag:svc{t}\": [\"group:team{}\"],",
            t % shape.groups
        );
    }
    out.push_str("\t},\n\t\"hosts\": {\n");
    for h in 0..shape.hosts {
        let _ = writeln!(
            out,
            "\t\t\"host{h}\": \"10.{}.{}.0/24\",",
            h / 256 % 256,
            h % 256
        );
    }
    out.push_str("\t},\n\t\"acls\": [\n");
    // Flows the ACLs allow, to write tests that pass: (user, tag, port).
    let mut allowed: Vec<(String, usize, usize)> = Vec::new();
    for i in 0..shape.acls {
        let src = source(&mut rng, shape);
        let dst = match rng.below(3) {
            0 => {
                let (tag, port) = (rng.below(shape.tags), 1000 + rng.below(5000));
                if src.contains('@') {
                    allowed.push((src.clone(), tag, port));
                }
                format!("tag:svc{tag}:{port}")
            }
            1 => format!("host{}:22,80,443", rng.below(shape.hosts)),
            _ => format!("tag:svc{}:8000-8100", rng.below(shape.tags)),
        };
        let _ = writeln!(
            out,
            "\t\t// rule {i}\n\t\t{{\"action\": \"accept\", \"src\": [{src:?}, \"group:team{}\"], \"dst\": [{dst:?}]}},",
            rng.below(shape.groups)
        );
    }
    out.push_str("\t],\n\t\"grants\": [\n");
    for _ in 0..shape.grants {
        let src = source(&mut rng, shape);
        let _ = writeln!(
            out,
            "\t\t{{\n\t\t\t\"src\": [{src:?}],\n\t\t\t\"dst\": [\"tag:svc{}\", \"100.{}.{}.{}\"],\n\t\t\t\"ip\":  [\"tcp:{}\", \"udp:53\"],\n\t\t}},",
            rng.below(shape.tags),
            64 + rng.below(64),
            rng.below(256),
            1 + rng.below(254),
            1 + rng.below(65535)
        );
    }
    out.push_str("\t],\n\t\"ssh\": [\n");
    for _ in 0..shape.ssh {
        let _ = writeln!(
            out,
            "\t\t{{\"action\": \"check\", \"src\": [\"group:team{}\"], \"dst\": [\"tag:svc{}\"], \"users\": [\"autogroup:nonroot\", \"root\"], \"checkPeriod\": \"12h\"}},",
            rng.below(shape.groups),
            rng.below(shape.tags)
        );
    }
    out.push_str("\t],\n\t\"nodeAttrs\": [\n\t\t{\"target\": [\"autogroup:member\"], \"attr\": [\"funnel\"]},\n\t],\n");
    out.push_str("\t\"tests\": [\n");
    for (src, tag, port) in allowed.iter().take((shape.acls / 50).max(1)) {
        let _ = writeln!(
            out,
            "\t\t{{\"src\": {src:?}, \"accept\": [\"tag:svc{tag}:{port}\"], \"deny\": [\"203.0.113.{}:8080\"]}},",
            1 + rng.below(254)
        );
    }
    out.push_str("\t],\n}\n");
    out
}

fn source(rng: &mut Rng, shape: Shape) -> String {
    match rng.below(4) {
        0 => format!("user{}@example.com", rng.below(shape.users)),
        1 => format!("group:team{}", rng.below(shape.groups)),
        2 => format!("tag:svc{}", rng.below(shape.tags)),
        _ => "autogroup:member".to_string(),
    }
}

/// Users `user0@example.com` to `user{n-1}@example.com`, the first the tailnet's owner.
fn users_named(n: usize) -> Vec<tsacl::engine::inventory::User> {
    use tsacl::engine::inventory::{Role, User};
    (0..n)
        .map(|u| User {
            login: format!("user{u}@example.com"),
            role: if u == 0 { Role::Owner } else { Role::Member },
            shared: false,
        })
        .collect()
}

/// One of `tags` tags, and a second one time in four, sorted.
fn one_or_two_tags(rng: &mut Rng, tags: usize) -> Vec<String> {
    let mut out = vec![format!("tag:svc{}", rng.below(tags))];
    if rng.below(4) == 0 {
        out.push(format!("tag:svc{}", rng.below(tags)));
    }
    out.sort();
    out.dedup();
    out
}

/// Device `i`: the (i+1)-th address of each tailnet range, owned by user `owner`
/// (tagged devices belong to their tags whatever it says); every 5,000th device, from the
/// fourth, routes a 10.x.0.0/16 subnet.
fn device(i: usize, tags: Vec<String>, owner: usize) -> tsacl::engine::Device {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let n = i as u32 + 1;
    let v4 = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + n);
    let v6 = Ipv6Addr::from(0xfd7a_115c_a1e0_0000_0000_0000_0000_0000u128 + n as u128);
    let routes = if i % 5000 == 3 {
        let p = format!("10.{}.0.0/16", (i / 5000) % 256);
        vec![tsacl::model::Prefix::parse(&p).expect("a CIDR")]
    } else {
        Vec::new()
    };
    tsacl::engine::Device {
        name: format!("d{i}.example.ts.net"),
        hostname: format!("d{i}"),
        addresses: vec![IpAddr::V4(v4), IpAddr::V6(v6)],
        user: Some(format!("user{owner}@example.com")),
        tags,
        advertised_routes: routes.clone(),
        enabled_routes: routes,
    }
}

/// A synthetic tailnet: a policy of `rules` rules over users, groups and tags, and an
/// inventory of `devices` devices (half user-owned, half tagged, a few subnet routers),
/// for benchmarks of the engine at scale. Deterministic for a seed.
pub fn tailnet(devices: usize, rules: usize, seed: u64) -> (String, tsacl::engine::Inventory) {
    use tsacl::engine::Inventory;
    let mut rng = Rng::new(seed);
    let users = (devices / 4).max(2);
    let tags = (devices / 200).clamp(4, 500);
    let groups = (users / 100).clamp(2, 200);
    let mut inv = Inventory {
        users: users_named(users),
        ..Inventory::default()
    };
    for i in 0..devices {
        let device_tags = if i % 2 == 1 {
            one_or_two_tags(&mut rng, tags)
        } else {
            Vec::new()
        };
        inv.devices.push(device(i, device_tags, (i / 2) % users));
    }
    let mut out = String::from("{\n\t\"groups\": {\n");
    for g in 0..groups {
        let members: Vec<String> = (0..50)
            .map(|_| format!("\"user{}@example.com\"", rng.below(users)))
            .collect();
        let _ = writeln!(out, "\t\t\"group:g{g}\": [{}],", members.join(", "));
    }
    out.push_str("\t},\n\t\"tagOwners\": {\n");
    for t in 0..tags {
        let _ = writeln!(out, "\t\t\"tag:svc{t}\": [\"group:g{}\"],", t % groups);
    }
    out.push_str("\t},\n\t\"grants\": [\n");
    let src = |rng: &mut Rng| match rng.below(3) {
        0 => format!("group:g{}", rng.below(groups)),
        1 => format!("tag:svc{}", rng.below(tags)),
        _ => format!("user{}@example.com", rng.below(users)),
    };
    for _ in 0..rules / 2 {
        let (s1, s2) = (src(&mut rng), src(&mut rng));
        let _ = writeln!(
            out,
            "\t\t{{\"src\": [{s1:?}, {s2:?}], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:{}\", \"udp:53\"]}},",
            rng.below(tags),
            1 + rng.below(65535)
        );
    }
    out.push_str("\t],\n\t\"acls\": [\n");
    for _ in rules / 2..rules {
        let s1 = src(&mut rng);
        let _ = writeln!(
            out,
            "\t\t{{\"action\": \"accept\", \"src\": [{s1:?}], \"dst\": [\"tag:svc{}:{}\", \"10.{}.0.0/16:22\"]}},",
            rng.below(tags),
            1000 + rng.below(9000),
            rng.below(20)
        );
    }
    out.push_str("\t],\n}\n");
    (out, inv)
}

/// A synthetic tailnet for the redundancy audit: the inventory of [`tailnet`], and `rules`
/// rules shaped like a grown policy, with the redundancy such policies collect: team
/// grants on common ports, per-user exceptions that a team grant already covers, port
/// ranges split over several rules, tag-to-tag rules, a few broad rules
/// (`autogroup:member`, `*`) that cover many others, subnet rules and `autogroup:self`.
pub fn audit_tailnet(
    devices: usize,
    rules: usize,
    seed: u64,
) -> (String, tsacl::engine::Inventory) {
    let (base, inv) = tailnet(devices, 0, seed);
    let mut rng = Rng::new(seed ^ 0x5eed);
    let users = (devices / 4).max(2);
    let tags = (devices / 200).clamp(4, 500);
    let groups = (users / 100).clamp(2, 200);
    // Group members, as `tailnet` wrote them.
    let members: Vec<Vec<String>> = base
        .lines()
        .filter(|l| l.trim_start().starts_with("\"group:g"))
        .map(|l| {
            l.split('"')
                .filter(|w| w.ends_with("@example.com"))
                .map(str::to_string)
                .collect()
        })
        .collect();
    const PORTS: [&str; 8] = [
        "22",
        "80",
        "443",
        "5432",
        "6379",
        "8080-8090",
        "9000-9100",
        "3000",
    ];
    // Keep `tailnet`'s groups and tagOwners; its (empty) rule lists are replaced.
    let mut out = base;
    if let Some(at) = out.find("\t\"grants\"") {
        out.truncate(at);
    }
    out.push_str("\t\"grants\": [\n");
    let mut written = 0;
    let mut team_rules: Vec<(usize, usize, &str)> = Vec::new();
    while written < rules {
        let roll = rng.below(100);
        let line = if roll < 40 || team_rules.is_empty() {
            // A team reaches a service on a common port.
            let (g, t, p) = (
                rng.below(groups),
                rng.below(tags),
                PORTS[rng.below(PORTS.len())],
            );
            team_rules.push((g, t, p));
            format!(
                "{{\"src\": [\"group:g{g}\"], \"dst\": [\"tag:svc{t}\"], \"ip\": [\"tcp:{p}\"]}}"
            )
        } else if roll < 55 {
            // A per-user exception that the user's team grant already covers.
            let (g, t, p) = team_rules[rng.below(team_rules.len())];
            let user = members
                .get(g)
                .and_then(|m| m.get(rng.below(m.len().max(1))))
                .cloned()
                .unwrap_or_else(|| format!("user{}@example.com", rng.below(users)));
            format!("{{\"src\": [{user:?}], \"dst\": [\"tag:svc{t}\"], \"ip\": [\"tcp:{p}\"]}}")
        } else if roll < 65 {
            // A user reaches a service no team rule covers.
            format!(
                "{{\"src\": [\"user{}@example.com\"], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:{}\"]}}",
                rng.below(users),
                rng.below(tags),
                10_000 + rng.below(50_000)
            )
        } else if roll < 75 {
            // A port range split over two rules, and a third rule inside their union.
            let (g, t) = (rng.below(groups), rng.below(tags));
            let lo = 20_000 + rng.below(20_000);
            written += 2;
            format!(
                "{{\"src\": [\"group:g{g}\"], \"dst\": [\"tag:svc{t}\"], \"ip\": [\"tcp:{lo}-{}\"]}},\n\t\t{{\"src\": [\"group:g{g}\"], \"dst\": [\"tag:svc{t}\"], \"ip\": [\"tcp:{}-{}\"]}},\n\t\t{{\"src\": [\"group:g{g}\"], \"dst\": [\"tag:svc{t}\"], \"ip\": [\"tcp:{}-{}\"]}}",
                lo + 99,
                lo + 100,
                lo + 199,
                lo + 50,
                lo + 150
            )
        } else if roll < 90 {
            // Services talk to services.
            format!(
                "{{\"src\": [\"tag:svc{}\"], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:{}\"]}}",
                rng.below(tags),
                rng.below(tags),
                PORTS[rng.below(PORTS.len())]
            )
        } else if roll < 95 {
            // A subnet behind a router.
            format!(
                "{{\"src\": [\"group:g{}\"], \"dst\": [\"10.{}.0.0/16\"], \"ip\": [\"tcp:22\", \"tcp:443\"]}}",
                rng.below(groups),
                rng.below(20)
            )
        } else if roll < 98 {
            // Everyone reaches a shared service.
            format!(
                "{{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:443\", \"tcp:80\"]}}",
                rng.below(tags)
            )
        } else if roll < 99 {
            "{\"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self\"], \"ip\": [\"tcp:22\"]}"
                .to_string()
        } else {
            format!(
                "{{\"src\": [\"*\"], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:443\"]}}",
                rng.below(tags)
            )
        };
        let _ = writeln!(out, "\t\t{line},");
        written += 1;
    }
    out.push_str("\t],\n}\n");
    (out, inv)
}

/// A synthetic intents file: `services` services reachable from random devices and
/// groups among `devices` devices, with the operator (JSON5 text).
pub fn intents(services: usize, devices: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\n  output: \"policy.hujson\",\n  groups: {\n");
    let groups = (devices / 20).max(1);
    for g in 0..groups {
        let _ = writeln!(
            out,
            "    g{g}: [\"user{}@example.com\", \"user{}@example.com\"],",
            rng.below(devices),
            rng.below(devices)
        );
    }
    out.push_str("  },\n  devices: {\n");
    for d in 0..devices {
        if d % 2 == 0 {
            let _ = writeln!(out, "    d{d}: {{ tags: [\"tag:dev{d}\"] }},");
        } else {
            let _ = writeln!(out, "    d{d}: {{ user: \"user{d}@example.com\" }},");
        }
    }
    out.push_str("  },\n  operator: { tag: \"tag:k8s-operator\", proxyTag: \"tag:k8s\", owners: [\"autogroup:admin\"] },\n  services: {\n");
    for s in 0..services {
        let from: Vec<String> = (0..1 + rng.below(3))
            .map(|_| {
                if rng.below(4) == 0 {
                    format!("\"group:g{}\"", rng.below(groups))
                } else {
                    format!("\"d{}\"", rng.below(devices))
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "    s{s}: {{ ports: [{}], from: [{}] }},",
            1000 + rng.below(60000),
            from.join(", ")
        );
    }
    out.push_str("  },\n}\n");
    out
}

/// The tailnets `benches/commands.sh` times the commands on, shaped as issue 12 describes
/// them: a quarter as many users as devices, in groups of 50; a tag on 40 % of devices
/// (some with two); rules with one to four sources, of which 5 % are
/// `autogroup:member`; half grants, half ACLs, some to subnets behind routers. Strict
/// JSON (no comments), so that a plain `serde_json` program can read the same bytes as
/// the floor. Deterministic for a seed; different seeds give unrelated rules over the
/// same users, groups and tags.
pub fn command_tailnet(
    devices: usize,
    rules: usize,
    seed: u64,
) -> (String, tsacl::engine::Inventory) {
    use tsacl::engine::Inventory;
    // The inventory and the definitions come from a fixed seed, the rules from `seed`.
    let mut rng = Rng::new(0x007a_11e7);
    let users = (devices / 4).max(2);
    let tags = (devices / 100).clamp(4, 1000);
    let groups = (users / 50).clamp(2, 2000);
    let mut inv = Inventory {
        users: users_named(users),
        ..Inventory::default()
    };
    for i in 0..devices {
        let device_tags = if rng.below(10) < 4 {
            one_or_two_tags(&mut rng, tags)
        } else {
            Vec::new()
        };
        let owner = rng.below(users);
        inv.devices.push(device(i, device_tags, owner));
    }
    let mut out = String::from("{\n\t\"groups\": {\n");
    for g in 0..groups {
        let members: Vec<String> = (0..50)
            .map(|_| format!("\"user{}@example.com\"", rng.below(users)))
            .collect();
        let comma = if g + 1 < groups { "," } else { "" };
        let _ = writeln!(out, "\t\t\"group:g{g}\": [{}]{comma}", members.join(", "));
    }
    out.push_str("\t},\n\t\"tagOwners\": {\n");
    for t in 0..tags {
        let comma = if t + 1 < tags { "," } else { "" };
        let _ = writeln!(
            out,
            "\t\t\"tag:svc{t}\": [\"group:g{}\"]{comma}",
            t % groups
        );
    }
    let mut rng = Rng::new(seed);
    let src = |rng: &mut Rng| match rng.below(20) {
        0 => "autogroup:member".to_string(),
        1..=7 => format!("group:g{}", rng.below(groups)),
        8..=13 => format!("tag:svc{}", rng.below(tags)),
        _ => format!("user{}@example.com", rng.below(users)),
    };
    let sources = |rng: &mut Rng| {
        let n = 1 + rng.below(4);
        (0..n)
            .map(|_| format!("{:?}", src(rng)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str("\t},\n\t\"grants\": [\n");
    let grants = rules / 2;
    for i in 0..grants {
        let comma = if i + 1 < grants { "," } else { "" };
        let s = sources(&mut rng);
        let _ = writeln!(
            out,
            "\t\t{{\"src\": [{s}], \"dst\": [\"tag:svc{}\"], \"ip\": [\"tcp:{}\", \"udp:53\"]}}{comma}",
            rng.below(tags),
            1 + rng.below(65535)
        );
    }
    out.push_str("\t],\n\t\"acls\": [\n");
    for i in grants..rules {
        let comma = if i + 1 < rules { "," } else { "" };
        let s = sources(&mut rng);
        let _ = writeln!(
            out,
            "\t\t{{\"action\": \"accept\", \"src\": [{s}], \"dst\": [\"tag:svc{}:{}\", \"10.{}.0.0/16:22\"]}}{comma}",
            rng.below(tags),
            1000 + rng.below(9000),
            rng.below(20)
        );
    }
    out.push_str("\t]\n}\n");
    (out, inv)
}

/// `policy` (from [`command_tailnet`]) with one grant added at the front: the one-rule
/// edit whose access diff `benches/commands.sh` times.
pub fn with_one_more_grant(policy: &str) -> String {
    policy.replacen(
        "\"grants\": [\n",
        "\"grants\": [\n\t\t{\"src\": [\"group:g1\"], \"dst\": [\"tag:svc2\"], \"ip\": [\"tcp:4242\"]},\n",
        1,
    )
}

/// An inventory in the API's JSON shape (`{"devices": [...], "users": [...]}`), as
/// `--inventory` reads it.
pub fn inventory_json(inv: &tsacl::engine::Inventory) -> String {
    use serde_json::json;
    let devices: Vec<serde_json::Value> = inv
        .devices
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "hostname": d.hostname,
                "addresses": d.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "user": d.user,
                "tags": d.tags,
                "advertisedRoutes": d.advertised_routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "enabledRoutes": d.enabled_routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let users: Vec<serde_json::Value> = inv
        .users
        .iter()
        .map(|u| {
            json!({
                "loginName": u.login,
                "role": u.role.name(),
                "type": if u.shared { "shared" } else { "member" },
            })
        })
        .collect();
    serde_json::to_string(&json!({"devices": devices, "users": users})).expect("JSON")
}
