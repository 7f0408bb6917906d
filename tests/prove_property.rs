//! The intents proof agrees with brute force: for random base rules added to a fixed
//! intents project, the extra access the proof reports for each (rule, service) is
//! exactly what the concrete engine (`engine::rules::allowed`) lets each stand-in device
//! and address send to the service's device beyond the intent, flow by flow; and nothing
//! the intents allow goes missing (base rules only add access). Run without an inventory
//! (service devices outside every partly written tailnet range, where the proof cannot
//! see them) and with the same devices as the inventory, placed anywhere. The intents
//! come with or without sources that have ports of their own (`{ source, ports }`: one
//! in addition to a plain entry naming it, one through a group as well, one alone).

use proptest::prelude::*;
use std::net::IpAddr;
use tsacl::engine::inventory::{Device, Inventory, Role, User, with_auto_approvals};
use tsacl::engine::reach::{Access, Principal, admits};
use tsacl::engine::resolve::Resolver;
use tsacl::engine::rules::{Origin, allowed, compile};
use tsacl::intents::prove::{Proof, analyse};
use tsacl::model::Prefix;

const INTENTS: &str = r#"{
  output: "policy.hujson",
  base: "base.hujson",
  groups: { admins: ["alice@example.com", "bob@example.com"] },
  devices: {
    panda: { tags: ["tag:panda"] },
    clanker: { tags: ["tag:clanker"] },
    laptop: { user: "alice@example.com" },
    nas: { ip: "192.168.1.5" },
  },
  services: {
    redis: { ports: [6379], from: ["panda", "nas"] },
    livekit: { ports: ["tcp:7880", "udp:50000-60000"], from: ["group:admins", "panda"] },
    web: { ports: [443], from: ["autogroup:member"] },
    public: { ports: [80], from: ["autogroup:danger-all"] },
  },
}"#;

/// The intents with sources that have ports of their own.
fn intents_text(per_source: bool) -> String {
    if !per_source {
        return INTENTS.to_string();
    }
    INTENTS
        .replace(
            r#"from: ["panda", "nas"]"#,
            r#"from: ["panda", "nas", { source: "nas", ports: ["udp:5353"] }, { source: "clanker", ports: [6380, "udp:5353"] }]"#,
        )
        .replace(
            r#"from: ["group:admins", "panda"]"#,
            r#"from: ["group:admins", "panda", { source: "laptop", ports: [7881] }]"#,
        )
}

const SOURCES: &[&str] = &[
    "*",
    "tag:panda",
    "tag:clanker",
    "tag:redis",
    "tag:web",
    "alice@example.com",
    "bob@example.com",
    "eve@example.com",
    "group:admins",
    "autogroup:member",
    "autogroup:tagged",
    "autogroup:admin",
    "user:*@example.com",
    "100.64.0.0/10",
    "100.64.0.0/16",
    "192.168.1.0/24",
    "192.168.1.5",
    "nas",
];

const DESTINATIONS: &[&str] = &[
    "*",
    "tag:public",
    "tag:redis",
    "tag:livekit",
    "tag:web",
    "tag:panda",
    "autogroup:tagged",
    "autogroup:member",
    "100.64.0.0/10",
    "fd7a:115c:a1e0::/48",
    "100.64.0.0/16",
    "nas",
    "alice@example.com",
    "autogroup:self",
];

const PORTS: &[&str] = &[
    "*",
    "22",
    "80",
    "443",
    "6379",
    "6000-7000",
    "50000-50010",
    "7880",
    "7881",
    "6380",
    "5353",
];

/// Users a rule names or a stand-in stands for, with their role.
const USERS: &[(&str, Role)] = &[
    ("alice@example.com", Role::Member),
    ("bob@example.com", Role::Member),
    ("eve@example.com", Role::Member),
    // The proof's own stand-ins, which a fixed base rule makes it create.
    ("(any other member)", Role::Member),
    ("(any admin)", Role::Admin),
    ("(any other user)@example.com", Role::Member),
];

const TAGS: &[&str] = &[
    "tag:panda",
    "tag:clanker",
    "tag:redis",
    "tag:livekit",
    "tag:web",
    "tag:public",
];

/// A principal with ports of its own, and those ports.
type Own = (&'static str, &'static [(u8, u16, u16)]);

/// Service name, its tag, who may reach it (as principals), its ports, and (in the
/// intents with per-source ports) principals with ports of their own besides.
struct Intent {
    tag: &'static str,
    from: &'static [&'static str],
    ports: &'static [(u8, u16, u16)],
    own: &'static [Own],
}

const SERVICES: &[Intent] = &[
    Intent {
        tag: "tag:redis",
        from: &["tag:panda", "192.168.1.5"],
        ports: &[(6, 6379, 6379)],
        own: &[
            ("192.168.1.5", &[(17, 5353, 5353)]),
            ("tag:clanker", &[(6, 6380, 6380), (17, 5353, 5353)]),
        ],
    },
    Intent {
        tag: "tag:livekit",
        from: &["alice@example.com", "bob@example.com", "tag:panda"],
        ports: &[(6, 7880, 7880), (17, 50000, 60000)],
        own: &[("alice@example.com", &[(6, 7881, 7881)])],
    },
    Intent {
        tag: "tag:web",
        from: &[
            "alice@example.com",
            "bob@example.com",
            "eve@example.com",
            "(any other member)",
            "(any admin)",
            "(any other user)@example.com",
        ],
        ports: &[(6, 443, 443)],
        own: &[],
    },
    // Every device and every address.
    Intent {
        tag: "tag:public",
        from: &["autogroup:danger-all"],
        ports: &[(6, 80, 80)],
        own: &[],
    },
];

/// Sources that are no device: the intents' `nas`, another address behind the route,
/// a tailnet address no device holds. That last one is a device the proof knows only as
/// one of its stand-ins when a rule's sources take in the whole tailnet (`*`,
/// 100.64.0.0/10): it is compared only for the other rules, where the proof names the
/// partial range it lies in.
const LOOSE_SOURCES: &[&str] = &["192.168.1.5", "192.168.1.77", "100.64.3.3"];

/// (grant?, sources, destinations, ports, protocol: none, tcp, udp, icmp)
type RuleSpec = (bool, Vec<usize>, Vec<usize>, usize, u8);

fn rule_text(spec: &RuleSpec) -> Option<(bool, String)> {
    let (grant, src, dst, port, proto) = spec;
    let mut src: Vec<&str> = src.iter().map(|i| SOURCES[i % SOURCES.len()]).collect();
    let dst: Vec<&str> = dst
        .iter()
        .map(|i| DESTINATIONS[i % DESTINATIONS.len()])
        .collect();
    if dst.contains(&"autogroup:self") {
        src.retain(|s| {
            s.contains('@') && !s.starts_with("autogroup")
                || *s == "group:admins"
                || *s == "autogroup:member"
        });
        if src.is_empty() {
            src.push("autogroup:member");
        }
    }
    let proto = ["", "tcp", "udp", "icmp"][*proto as usize % 4];
    let ports = if proto == "icmp" {
        "*"
    } else {
        PORTS[port % PORTS.len()]
    };
    let q = |v: &[&str]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(if *grant {
        let ip = if proto.is_empty() {
            ports.to_string()
        } else {
            format!("{proto}:{ports}")
        };
        (
            true,
            format!(
                "{{\"src\": [{}], \"dst\": [{}], \"ip\": [{ip:?}]}}",
                q(&src),
                q(&dst)
            ),
        )
    } else {
        let dst: Vec<String> = dst.iter().map(|d| format!("{d}:{ports}")).collect();
        let dst: Vec<&str> = dst.iter().map(String::as_str).collect();
        let proto = if proto.is_empty() {
            String::new()
        } else {
            format!(", \"proto\": {proto:?}")
        };
        (
            false,
            format!(
                "{{\"action\": \"accept\", \"src\": [{}], \"dst\": [{}]{proto}}}",
                q(&src),
                q(&dst)
            ),
        )
    })
}

fn base_text(rules: &[RuleSpec]) -> String {
    let (mut grants, mut acls) = (Vec::new(), Vec::new());
    // Names eve, and the roles and domains the stand-ins are for, reaching no service.
    grants.push(
        r#"{"src": ["autogroup:admin", "user:*@example.com", "eve@example.com"], "dst": ["tag:panda"], "ip": ["tcp:22"]}"#
            .to_string(),
    );
    for r in rules {
        if let Some((grant, text)) = rule_text(r) {
            if grant {
                grants.push(text);
            } else {
                acls.push(text);
            }
        }
    }
    format!(
        "{{\"autoApprovers\": {{\"routes\": {{\"192.168.1.0/24\": [\"tag:panda\"]}}}},\n\"grants\": [{}],\n\"acls\": [{}]}}",
        grants.join(",\n"),
        acls.join(",\n")
    )
}

/// The stand-in devices: one per user, one per tag (services included); `inside` puts a
/// device's address in 100.64.0.0/16, which some rules write, instead of 100.100.0.0/16.
fn devices(inside: &[bool]) -> Inventory {
    let mut inv = Inventory::default();
    let mut n = 0u8;
    let mut address = |i: usize| -> Vec<IpAddr> {
        n += 1;
        let third = if inside.get(i).copied().unwrap_or(false) {
            "100.64.9"
        } else {
            "100.100.0"
        };
        vec![
            format!("{third}.{n}").parse().unwrap(),
            format!("fd7a:115c:a1e0::100:{n}").parse().unwrap(),
        ]
    };
    for (i, (login, role)) in USERS.iter().enumerate() {
        inv.users.push(User {
            login: login.to_string(),
            role: *role,
            shared: false,
        });
        inv.devices.push(Device {
            name: format!("user{i}"),
            hostname: format!("user{i}"),
            addresses: address(i),
            user: Some(login.to_string()),
            tags: vec![],
            advertised_routes: vec![],
            enabled_routes: vec![],
        });
    }
    for (i, tag) in TAGS.iter().enumerate() {
        inv.devices.push(Device {
            name: tag.trim_start_matches("tag:").to_string(),
            hostname: tag.trim_start_matches("tag:").to_string(),
            addresses: address(USERS.len() + i),
            user: Some("alice@example.com".into()),
            tags: vec![tag.to_string()],
            // panda routes the subnet the nas lives in (auto-approved by the base).
            advertised_routes: if *tag == "tag:panda" {
                vec![Prefix::parse("192.168.1.0/24").unwrap()]
            } else {
                vec![]
            },
            enabled_routes: vec![],
        });
    }
    inv
}

fn principal(d: &Device) -> Principal {
    match d.owner() {
        Some(o) => Principal::User(o.to_string()),
        None => Principal::Tags(d.tags.clone()),
    }
}

/// Sample flows: each protocol on ports at and around every boundary the rules and
/// intents write.
fn flows() -> Vec<(u8, u16)> {
    let ports = [
        1, 22, 23, 79, 80, 81, 442, 443, 444, 5352, 5353, 5354, 5999, 6000, 6378, 6379, 6380, 6381,
        7000, 7001, 7879, 7880, 7881, 7882, 49999, 50000, 50010, 50011, 60000, 60001, 65535,
    ];
    let mut out: Vec<(u8, u16)> = ports.iter().flat_map(|p| [(6, *p), (17, *p)]).collect();
    out.extend([(1, 0), (58, 0)]);
    out
}

fn intended(svc: &Intent, per_source: bool, who: &str, proto: u8, port: u16) -> bool {
    let within = |ports: &[(u8, u16, u16)]| {
        ports
            .iter()
            .any(|&(p, a, b)| p == proto && a <= port && port <= b)
    };
    let plain = svc.from.contains(&who) || svc.from == ["autogroup:danger-all"];
    let own: Vec<&[(u8, u16, u16)]> = svc
        .own
        .iter()
        .filter(|(w, _)| per_source && *w == who)
        .map(|(_, ports)| *ports)
        .collect();
    // ICMP comes with any access; each entry naming it adds its ports.
    (plain || !own.is_empty())
        && (proto == 1
            || proto == 58
            || (plain && within(svc.ports))
            || own.iter().any(|ports| within(ports)))
}

/// What the proof says `source` gets from `rule` to service `k` beyond the intent.
fn reported(proof: &Proof, k: usize, rule: Origin, source: &Source) -> Access {
    let mut out = Access::new();
    for x in proof
        .extra
        .iter()
        .filter(|x| x.service == k && x.rule == rule)
    {
        for p in &x.principals {
            let matches = match (source, &p.principal) {
                (Source::Device(d), q) => principal(d) == *q,
                (Source::Address(ip), Principal::Address(set)) => set.contains(*ip),
                _ => false,
            };
            if matches {
                for (proto, ranges) in &p.access {
                    for &(a, b) in ranges {
                        tsacl::engine::reach::add(
                            &mut out,
                            *proto,
                            tsacl::model::PortRange { first: a, last: b },
                        );
                    }
                }
            }
        }
    }
    out
}

enum Source<'a> {
    Device(&'a Device),
    Address(IpAddr),
}

fn check(
    rules: &[RuleSpec],
    inside: &[bool],
    with_inventory: bool,
    per_source: bool,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tailnet.json5"), intents_text(per_source)).unwrap();
    let base = base_text(rules);
    std::fs::write(dir.path().join("base.hujson"), &base).unwrap();
    let project = tsacl::intents::project::load(&dir.path().join("tailnet.json5")).unwrap();
    let errors: Vec<&str> = project
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    prop_assert!(errors.is_empty(), "{errors:?} in {base}");
    let checked =
        tsacl::check::check_policy(&project.sources, project.output_file, &Default::default());
    let invalid: Vec<&str> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && !d.code.id().starts_with("TSA10"))
        .map(|d| d.message.as_str())
        .collect();
    prop_assert!(
        invalid.is_empty(),
        "generated an invalid policy: {invalid:?} in {base}"
    );
    let policy = checked.policy.unwrap();

    let inv = devices(if with_inventory { inside } else { &[] });
    let proof = analyse(&project.intents, &policy, with_inventory.then_some(&inv));
    prop_assert!(proof.missing.is_empty(), "{:?} in {base}", proof.missing);

    let approved = with_auto_approvals(&inv, &policy);
    let resolver = Resolver::new(&policy, &approved);
    let compiled = compile(&resolver);
    let owner_of = |ip: IpAddr| {
        inv.devices
            .iter()
            .find(|d| d.addresses.contains(&ip))
            .and_then(|d| d.owner())
    };
    let mut sources: Vec<(Source, String)> = inv
        .devices
        .iter()
        .map(|d| (Source::Device(d), principal(d).to_string()))
        .collect();
    for ip in LOOSE_SOURCES {
        sources.push((Source::Address(ip.parse().unwrap()), ip.to_string()));
    }
    let flows = flows();
    for (k, svc) in SERVICES.iter().enumerate() {
        let target = inv.devices.iter().find(|d| d.tags == [svc.tag]).unwrap();
        for rule in &compiled {
            let only = std::slice::from_ref(rule);
            let written_sources = match rule.origin {
                Origin::Grant(i) => &policy.grants.as_ref().unwrap()[i].src,
                Origin::Acl(i) => &policy.acls.as_ref().unwrap()[i].src,
                Origin::Default => unreachable!("the compiled policy has grants"),
            };
            let whole_tailnet = written_sources
                .iter()
                .any(|s| ["*", "100.64.0.0/10"].contains(&s.raw.trim()));
            for (source, who) in &sources {
                // A device sends over IPv4 and IPv6; a loose address in its own family.
                let pairs: Vec<(IpAddr, IpAddr)> = match source {
                    Source::Device(d) if d.tags == [svc.tag] => continue, // itself
                    Source::Device(d) => d
                        .addresses
                        .iter()
                        .copied()
                        .zip(target.addresses.iter().copied())
                        .collect(),
                    Source::Address(ip) if whole_tailnet && ip.to_string().starts_with("100.") => {
                        continue;
                    }
                    Source::Address(ip) => vec![(*ip, target.addresses[0])],
                };
                let said = reported(&proof, k, rule.origin, source);
                for &(proto, port) in &flows {
                    let extra = pairs
                        .iter()
                        .any(|&(from, to)| allowed(only, owner_of, from, to, proto, port))
                        && !intended(svc, per_source, who, proto, port);
                    prop_assert_eq!(
                        extra,
                        admits(&said, proto, port),
                        "{} -> {} proto {} port {} by {} (inventory: {})\n{}",
                        who,
                        svc.tag,
                        proto,
                        port,
                        rule.origin,
                        with_inventory,
                        base
                    );
                }
            }
        }
    }
    Ok(())
}

fn rules() -> impl Strategy<Value = Vec<RuleSpec>> {
    proptest::collection::vec(
        (
            any::<bool>(),
            proptest::collection::vec(0usize..SOURCES.len(), 1..3),
            proptest::collection::vec(0usize..DESTINATIONS.len(), 1..3),
            0usize..PORTS.len(),
            0u8..4,
        ),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn proof_equals_brute_force_without_an_inventory(rules in rules(), per_source: bool) {
        check(&rules, &[], false, per_source)?;
    }

    #[test]
    fn proof_equals_brute_force_with_the_inventory(
        rules in rules(),
        inside in proptest::collection::vec(any::<bool>(), USERS.len() + TAGS.len()),
        per_source: bool,
    ) {
        check(&rules, &inside, true, per_source)?;
    }
}
