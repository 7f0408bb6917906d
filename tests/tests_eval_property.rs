//! Offline evaluation of `tests` and `sshTests` decides what depends on users' roles and
//! membership exactly: checked against every assignment of standings to the users of small
//! random policies (each assignment is an inventory listing the users).
//!
//! For every assertion (a test's accept or deny entry, an SSH test's user):
//! - an error offline is an error under every assignment;
//! - no finding offline means it passes under every assignment;
//! - no finding offline means it passes under every assignment that reads the policy as
//!   its author most likely means it (issue 19): the users the policy names are members
//!   (TSA104 says so), and a deny test's source named only in tests is outside the tailnet;
//! - a TSA102 warning offline means some assignment makes it fail and some makes it pass;
//! - with the users listed, nothing is left undecidable.

#[path = "support/offline_verdicts.rs"]
mod offline_verdicts;
#[path = "support/policy_text.rs"]
#[allow(dead_code)]
mod policy_text;
use policy_text::quoted;

use proptest::prelude::*;
use std::collections::BTreeMap;
use tsacl::engine::Inventory;

const USERS: [&str; 3] = ["ann@example.com", "bob@example.com", "cy@other.org"];
/// (API role, API type); a tailnet has one owner.
const STANDINGS: [(&str, &str); 5] = [
    ("member", "member"),
    ("owner", "member"),
    ("admin", "member"),
    ("it-admin", "member"),
    ("member", "shared"),
];

fn source(c: u8) -> &'static str {
    match c % 12 {
        0 => "*",
        1 => USERS[0],
        2 => USERS[1],
        3 => USERS[2],
        4 => "group:g0",
        5 => "group:g1",
        6 => "tag:web",
        7 => "tag:db",
        8 => "autogroup:member",
        9 => "autogroup:admin",
        10 => "autogroup:owner",
        _ => "autogroup:shared",
    }
}

fn destination(c: u8) -> &'static str {
    match c % 11 {
        0 => "*",
        1 => USERS[0],
        2 => USERS[1],
        3 => USERS[2],
        4 => "group:g0",
        5 => "tag:web",
        6 => "tag:db",
        7 => "autogroup:member",
        8 => "autogroup:admin",
        9 => "autogroup:it-admin",
        _ => "autogroup:self",
    }
}

/// A test's source or destination host: a user, a group or a tag.
fn principal(c: u8) -> &'static str {
    [
        USERS[0], USERS[1], USERS[2], "group:g0", "group:g1", "tag:web",
    ][(c % 6) as usize]
}

/// (sources, destinations, port choice).
type GrantSpec = (Vec<u8>, Vec<u8>, u8);
/// (source, destination, users: root or nonroot).
type SshSpec = (u8, bool, bool);
/// (source, accept?, destination, port choice).
type TestSpec = (u8, bool, u8, bool);

#[derive(Clone, Debug)]
struct Case {
    groups: [Vec<usize>; 2],
    grants: Vec<GrantSpec>,
    ssh: Vec<SshSpec>,
    tests: Vec<TestSpec>,
    /// (source, destination: tag:web or a user, accept?, root?).
    ssh_tests: Vec<(u8, bool, bool, bool)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(0usize..3, 0..3),
        proptest::collection::vec(0usize..3, 0..3),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 1..3),
                proptest::collection::vec(any::<u8>(), 1..3),
                0u8..3,
            ),
            1..4,
        ),
        proptest::collection::vec((any::<u8>(), any::<bool>(), any::<bool>()), 0..3),
        proptest::collection::vec(
            (any::<u8>(), any::<bool>(), any::<u8>(), any::<bool>()),
            1..5,
        ),
        proptest::collection::vec(
            (any::<u8>(), any::<bool>(), any::<bool>(), any::<bool>()),
            0..3,
        ),
    )
        .prop_map(|(g0, g1, grants, ssh, tests, ssh_tests)| Case {
            groups: [g0, g1],
            grants,
            ssh,
            tests,
            ssh_tests,
        })
}

fn policy_text(c: &Case) -> String {
    let groups: Vec<String> = c
        .groups
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let members: Vec<&str> = m.iter().map(|u| USERS[*u]).collect();
            format!("\"group:g{i}\": [{}]", quoted(&members))
        })
        .collect();
    let mut grants = Vec::new();
    for (src, dst, port) in &c.grants {
        let mut src: Vec<&str> = src.iter().map(|s| source(*s)).collect();
        let dst: Vec<&str> = dst.iter().map(|d| destination(*d)).collect();
        if dst.contains(&"autogroup:self") {
            // autogroup:self takes users, groups and autogroup:member as sources.
            src.retain(|s| s.contains('@') || s.starts_with("group:") || *s == "autogroup:member");
            if src.is_empty() {
                src.push("autogroup:member");
            }
        }
        let ip = ["tcp:22", "tcp:80", "*"][*port as usize];
        grants.push(format!(
            "{{\"src\": [{}], \"dst\": [{}], \"ip\": [\"{ip}\"]}}",
            quoted(&src),
            quoted(&dst)
        ));
    }
    let mut ssh = Vec::new();
    for (src, to_self, root) in &c.ssh {
        let src = match src % 5 {
            0 => USERS[0],
            1 => "group:g0",
            2 => "autogroup:member",
            3 => "autogroup:admin",
            _ => USERS[2],
        };
        let (src, dst) = if *to_self {
            // autogroup:self takes users, groups and autogroup:member as sources.
            let src = if src == "autogroup:admin" {
                "autogroup:member"
            } else {
                src
            };
            (src, "autogroup:self")
        } else {
            (src, "tag:web")
        };
        let users = if *root { "root" } else { "autogroup:nonroot" };
        ssh.push(format!(
            "{{\"action\": \"accept\", \"src\": [\"{src}\"], \"dst\": [\"{dst}\"], \"users\": [\"{users}\"]}}"
        ));
    }
    let mut tests = Vec::new();
    for (src, accept, dst, port) in &c.tests {
        let port = if *port { 22 } else { 80 };
        let list = if *accept { "accept" } else { "deny" };
        tests.push(format!(
            "{{\"src\": \"{}\", \"{list}\": [\"{}:{port}\"]}}",
            principal(*src),
            principal(*dst)
        ));
    }
    let mut ssh_tests = Vec::new();
    for (src, to_tag, accept, root) in &c.ssh_tests {
        let src = USERS[(src % 3) as usize];
        let dst = if *to_tag { "tag:web" } else { src };
        let list = if *accept { "accept" } else { "deny" };
        let user = if *root { "root" } else { "ubuntu" };
        ssh_tests.push(format!(
            "{{\"src\": \"{src}\", \"dst\": [\"{dst}\"], \"{list}\": [\"{user}\"]}}"
        ));
    }
    // One element per line, so each assertion has its own span.
    format!(
        "{{\"groups\": {{{}}},\n\"tagOwners\": {{\"tag:web\": [], \"tag:db\": []}},\n\"grants\": [\n{}],\n\"ssh\": [\n{}],\n\"tests\": [\n{}],\n\"sshTests\": [\n{}]}}",
        groups.join(", "),
        grants.join(",\n"),
        ssh.join(",\n"),
        tests.join(",\n"),
        ssh_tests.join(",\n"),
    )
}

/// What the check says about each assertion, by the start of its span: `true` for an
/// error, `false` for an undecidable warning, with the message. `None` when the policy is
/// invalid.
fn verdicts(text: &str, inventory: Option<Inventory>) -> Option<BTreeMap<u32, (bool, String)>> {
    offline_verdicts::verdicts(text, inventory)
}

/// Does `assignment` go against what tsacl assumes offline for the assertion at `span`:
/// a user the policy names shared in rather than a member, or the source of a deny test,
/// named only in tests, a member rather than someone outside the tailnet?
fn against_assumptions(text: &str, span: u32, assignment: &[usize; 3]) -> bool {
    let rules = &text[..text.find("\n\"tests\"").unwrap_or(text.len())];
    let line_start = text[..span as usize].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    USERS.iter().zip(assignment).any(|(user, s)| {
        let shared = STANDINGS[*s].1 == "shared";
        // Named as a selector or as a test destination's host (`ann@example.com:22`).
        let named_in_rules = rules.contains(user);
        let deny_source =
            line.contains(&format!("\"src\": \"{user}\"")) && line.contains("\"deny\"");
        let named = text.contains(user);
        // A deny test's source named only in tests is read as outside the tailnet; every
        // other user named anywhere as a member.
        let outsider = deny_source && !named_in_rules;
        if outsider { !shared } else { shared && named }
    })
}

/// Every assignment of standings to the users, at most one of them the owner.
fn assignments() -> Vec<[usize; 3]> {
    let mut out = Vec::new();
    for a in 0..STANDINGS.len() {
        for b in 0..STANDINGS.len() {
            for c in 0..STANDINGS.len() {
                let owners = [a, b, c]
                    .iter()
                    .filter(|s| STANDINGS[**s].0 == "owner")
                    .count();
                if owners <= 1 {
                    out.push([a, b, c]);
                }
            }
        }
    }
    out
}

fn inventory(assignment: &[usize; 3]) -> Inventory {
    let users: Vec<String> = USERS
        .iter()
        .zip(assignment)
        .map(|(u, s)| {
            let (role, kind) = STANDINGS[*s];
            format!("{{\"loginName\": \"{u}\", \"role\": \"{role}\", \"type\": \"{kind}\"}}")
        })
        .collect();
    Inventory::from_json(format!("{{\"users\": [{}]}}", users.join(", ")).as_bytes()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn offline_verdicts_hold_for_every_assignment_of_roles_and_membership(c in case()) {
        let text = policy_text(&c);
        let Some(offline) = verdicts(&text, None) else {
            return Ok(());
        };
        let concrete: Vec<BTreeMap<u32, (bool, String)>> = assignments()
            .iter()
            .map(|a| verdicts(&text, Some(inventory(a))).expect("valid offline, valid with users"))
            .collect();
        // A test from a group read two ways that disagree is no question of roles: left to
        // `tests/offline_tests.rs`.
        let group_reading = offline_verdicts::group_reading_spans(std::iter::once(&offline).chain(&concrete));
        for (a, v) in assignments().iter().zip(&concrete) {
            prop_assert!(v.iter().all(|(span, (error, _))| *error || group_reading.contains(span)), "undecidable with every user listed ({a:?})\n{text}");
        }
        let mut spans: Vec<u32> = offline.keys().copied().collect();
        spans.extend(concrete.iter().flat_map(|v| v.keys().copied()));
        spans.sort_unstable();
        spans.dedup();
        spans.retain(|span| !group_reading.contains(span));
        for span in spans {
            let failing = concrete.iter().filter(|v| v.contains_key(&span)).count();
            match offline.get(&span).map(|(error, _)| error) {
                Some(true) => prop_assert_eq!(failing, concrete.len(), "an error offline at {} passes for some assignment\n{}", span, text),
                None => {
                    let all = assignments();
                    let unassumed: Vec<&[usize; 3]> = all
                        .iter()
                        .zip(&concrete)
                        .filter(|(a, v)| v.contains_key(&span) && !against_assumptions(&text, span, a))
                        .map(|(a, _)| a)
                        .collect();
                    prop_assert!(unassumed.is_empty(), "passes offline at {} but fails for {:?}\n{}", span, unassumed, text);
                }
                Some(false) => prop_assert!(
                    failing > 0 && failing < concrete.len(),
                    "undecidable offline at {} but {} of {} assignments fail\n{}", span, failing, concrete.len(), text
                ),
            }
        }
    }
}
