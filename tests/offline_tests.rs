//! `tsacl check` on policies whose `tests` depend on what a policy file does not say (roles,
//! membership, a Tailscale Service's address), through the real binary: offline such a
//! test is a warning (TSA102) naming what decides it, never an error; with an inventory
//! that makes it fail it is an error (exit 1), with one that makes it pass the check is
//! clean (exit 0).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A finding of `check --format json`: code, severity, message, help.
#[derive(Clone, Debug)]
struct Finding {
    code: String,
    severity: String,
    message: String,
    help: String,
}

/// `tsacl check --format json` on `policy`, with `--inventory` when given: exit code and
/// findings.
fn check(policy: &str, inventory: Option<&str>, extra: &[&str]) -> (i32, Vec<Finding>) {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = write(dir.path(), "policy.hujson", policy);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsacl"));
    cmd.args(["check", "--format", "json"]).args(extra);
    if let Some(inv) = inventory {
        cmd.arg("--inventory")
            .arg(write(dir.path(), "inventory.json", inv));
    }
    let out = cmd.arg(&policy_path).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let findings = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Finding {
            code: text(&d["code"]),
            severity: text(&d["severity"]),
            message: text(&d["message"]),
            help: text(&d["help"]),
        })
        .collect();
    (out.status.code().unwrap(), findings)
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

/// The test findings (TSA1xx) only.
fn tests_only(findings: Vec<Finding>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| f.code.starts_with("TSA1"))
        .collect()
}

/// `check` of `policy` (with `inventory` when given) exits 0, and its only test finding is
/// one TSA102 warning: that finding.
fn one_undecided(policy: &str, inventory: Option<&str>) -> Finding {
    let (code, found) = check(policy, inventory, &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    found.into_iter().next().expect("one finding")
}

/// `check` of `policy` exits 1 and its only test finding is one failed test (TSA100):
/// that finding.
fn one_failed(policy: &str) -> Finding {
    let (code, found) = check(policy, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    found.into_iter().next().expect("one finding")
}

/// `check` of `policy` exits 0 with no test finding: every test holds.
fn all_hold(policy: &str) {
    let (code, found) = check(policy, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
}

/// An inventory of users only (no devices), each `(login, role, type)`.
fn users(list: &[(&str, &str, &str)]) -> String {
    let users: Vec<String> = list
        .iter()
        .map(|(login, role, kind)| {
            format!(r#"{{"loginName": "{login}", "role": "{role}", "type": "{kind}"}}"#)
        })
        .collect();
    format!(r#"{{"devices": [], "users": [{}]}}"#, users.join(", "))
}

const OWNER: &str = r#"{
    "grants": [{"src": ["autogroup:owner"], "dst": ["autogroup:owner"], "ip": ["tcp:22"]}],
    "tests": [{"src": "owner@example.com", "accept": ["owner@example.com:22"]}],
}"#;

#[test]
fn a_test_that_depends_on_who_owns_the_tailnet() {
    let (code, found) = check(OWNER, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert_eq!(found[0].severity, "warning");
    assert_eq!(
        found[0].message,
        "cannot decide offline: the test expects owner@example.com -> owner@example.com:22 \
         (tcp or udp) to be accepted, which holds unless owner@example.com is a member without the owner role"
    );
    assert!(found[0].help.contains("--inventory"), "{}", found[0].help);

    let is_owner = users(&[("owner@example.com", "owner", "member")]);
    let (code, found) = check(OWNER, Some(&is_owner), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());

    // An inventory that does not list the user leaves it open, and says so.
    let other = users(&[("alice@example.com", "member", "member")]);
    let (code, found) = check(OWNER, Some(&other), &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert!(found[0].message.starts_with("cannot decide: "), "{found:?}");
    assert!(
        found[0].help.starts_with("the inventory does not list"),
        "{found:?}"
    );

    let is_admin = users(&[("owner@example.com", "admin", "member")]);
    let (code, found) = check(OWNER, Some(&is_admin), &[]);
    assert_eq!(code, 1);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert_eq!(found[0].severity, "error");
}

#[test]
fn a_test_that_fails_whoever_holds_the_roles_is_an_error_offline() {
    // Two different users cannot both be the owner.
    let policy = OWNER.replace(
        r#""src": "owner@example.com""#,
        r#""src": "other@example.com""#,
    );
    let (code, found) = check(&policy, None, &[]);
    assert_eq!(code, 1);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert!(
        found[0].help.contains("whatever roles and membership"),
        "{}",
        found[0].help
    );
}

const MEMBERS: &str = r#"{
    "tagOwners": {"tag:server": []},
    "grants": [
        {"src": ["autogroup:member"], "dst": ["tag:server"], "ip": ["tcp:22"]},
        {"src": ["autogroup:admin"], "dst": ["tag:server"], "ip": ["tcp:443"]},
    ],
    "tests": [
        {"src": "autogroup:member", "accept": ["tag:server:22"]},
        {"src": "autogroup:admin", "accept": ["tag:server:22", "tag:server:443"]},
        {"src": "autogroup:member", "accept": ["tag:server:443"]},
    ],
}"#;

#[test]
fn tests_from_autogroups_when_the_policy_names_no_user() {
    let (code, found) = check(MEMBERS, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    // Every member reaches port 22 and every admin port 443, whoever they are; whether
    // every member is an admin is for the tailnet to say.
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert!(
        found[0].message.contains("tag:server:443")
            && found[0].message.contains(
                "unless some user the policy does not name is a member without the admin role"
            ),
        "{}",
        found[0].message
    );

    let devices = |role: &str| {
        format!(
            r#"{{"devices": [{{"hostname": "s", "addresses": ["100.64.0.9"], "tags": ["tag:server"]}},
                             {{"hostname": "o", "addresses": ["100.64.0.1"], "user": "o@example.com", "tags": []}},
                             {{"hostname": "m", "addresses": ["100.64.0.2"], "user": "m@example.com", "tags": []}}],
                "users": [{{"loginName": "o@example.com", "role": "owner", "type": "member"}},
                          {{"loginName": "m@example.com", "role": "{role}", "type": "member"}}]}}"#
        )
    };
    let (code, found) = check(MEMBERS, Some(&devices("admin")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    let (code, found) = check(MEMBERS, Some(&devices("member")), &[]);
    assert_eq!(code, 1);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert!(found[0].message.contains("tag:server:443"), "{found:?}");
}

const SHARED: &str = r#"{
    "tagOwners": {"tag:server": []},
    "grants": [{"src": ["autogroup:member"], "dst": ["tag:server"], "ip": ["tcp:22"]}],
    "tests": [
        {"src": "alice@example.com", "accept": ["tag:server:22"]},
        {"src": "friend@gmail.com", "deny": ["tag:server:22"]},
    ],
}"#;

#[test]
fn a_named_user_may_be_shared_in_rather_than_a_member() {
    // Issue 19: the users a policy names count as members, said once (TSA104) rather
    // than per test; the deny test of friend@gmail.com, named nowhere else, holds for
    // everyone outside the tailnet, so it is no finding.
    let (code, found) = check(SHARED, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&found), ["TSA104"], "{found:?}");
    assert_eq!(found[0].severity, "info");
    assert!(
        found[0].message.contains("alice@example.com is a member"),
        "{}",
        found[0].message
    );
    assert!(
        found[0].help.contains("--tailnet-domain"),
        "{}",
        found[0].help
    );

    // The tailnet's own domain makes alice a member, with nothing assumed.
    let (code, found) = check(SHARED, None, &["--tailnet-domain", "example.com"]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found.clone()).is_empty(), "{found:?}");

    let friend = |kind: &str| {
        users(&[
            ("alice@example.com", "member", "member"),
            ("friend@gmail.com", "member", kind),
        ])
    };
    let (code, found) = check(SHARED, Some(&friend("shared")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    let (code, found) = check(SHARED, Some(&friend("member")), &[]);
    assert_eq!(code, 1);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert!(found[0].message.contains("friend@gmail.com"), "{found:?}");
}

const SSH: &str = r#"{
    "tagOwners": {"tag:server": []},
    "ssh": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:server"], "users": ["root"]}],
    "sshTests": [{"src": "alice@example.com", "dst": ["tag:server"], "accept": ["root"]}],
}"#;

#[test]
fn an_ssh_test_that_depends_on_a_role() {
    let found = one_undecided(SSH, None);
    assert!(
        found
            .message
            .ends_with("which holds unless alice@example.com is a member without the admin role"),
        "{}",
        found.message
    );
    let role = |r: &str| users(&[("alice@example.com", r, "member")]);
    let (code, found) = check(SSH, Some(&role("admin")), &[]);
    assert_eq!(code, 0, "{found:?}");
    let (code, found) = check(SSH, Some(&role("auditor")), &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA101"]);
}

const SERVICE: &str = r#"{
    "tagOwners": {"tag:web": []},
    "grants": [{"src": ["tag:web"], "dst": ["svc:web"], "ip": ["tcp:8080"]}],
    "tests": [{"src": "tag:web", "accept": ["svc:web:8080"], "deny": ["svc:web:22"]}],
}"#;

#[test]
fn tests_of_a_tailscale_service_follow_the_grants_that_name_it() {
    let (code, found) = check(SERVICE, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());

    // A rule that opens port 22 of the service fails the deny test.
    let opened = SERVICE.replace(r#""ip": ["tcp:8080"]"#, r#""ip": ["tcp:8080", "tcp:22"]"#);
    let (code, found) = check(&opened, None, &[]);
    assert_eq!(code, 1);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert!(found[0].message.contains("svc:web:22"), "{found:?}");
    assert_eq!(found[0].help, "allowed by grants[0]");

    // A grant to another service opens nothing of this one.
    let other = SERVICE.replace(r#""dst": ["svc:web"]"#, r#""dst": ["svc:api"]"#);
    let (code, found) = check(&other, None, &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);

    // A range of tailnet addresses may or may not hold the service's address.
    let range = SERVICE.replace(
        r#""grants": ["#,
        r#""grants": [{"src": ["tag:web"], "dst": ["100.64.0.0/10"], "ip": ["tcp:22"]},"#,
    );
    let found = one_undecided(&range, None);
    assert!(
        found.message.ends_with(
            "which holds only if the address of svc:web (not in the policy) is outside 100.64.0.0/10 (opened by grants[0])"
        ),
        "{}",
        found.message
    );
}

const FRIEND: &str = r#"{
    "grants": [
        {"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]},
        {"src": ["friend@gmail.com"], "dst": ["autogroup:internet"], "ip": ["*"]},
    ],
}"#;

#[test]
fn an_exit_node_for_a_friend_is_not_called_redundant_offline() {
    let (code, found) = check(FRIEND, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(found.is_empty(), "{found:?}");
    let friend = |kind: &str| {
        format!(
            r#"{{"devices": [{{"hostname": "f", "addresses": ["100.64.0.1"], "user": "friend@gmail.com", "tags": []}},
                             {{"hostname": "m", "addresses": ["100.64.0.2"], "user": "me@example.com", "tags": []}},
                             {{"hostname": "x", "addresses": ["100.64.0.3"], "tags": ["tag:exit"],
                               "enabledRoutes": ["0.0.0.0/0", "::/0"]}}],
                "users": [{{"loginName": "friend@gmail.com", "role": "member", "type": "{kind}"}},
                          {{"loginName": "me@example.com", "role": "owner", "type": "member"}}]}}"#
        )
    };
    let (code, found) = check(FRIEND, Some(&friend("shared")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(!codes(&found).contains(&"TSA230"), "{found:?}");
    // Where the friend is a member, the inventory shows the grant adds nothing today.
    let (code, found) = check(FRIEND, Some(&friend("member")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&found), ["TSA230"], "{found:?}");
    assert!(
        found[0]
            .message
            .ends_with("(for the inventory's devices and users)"),
        "{}",
        found[0].message
    );
}

/// tag:db's device is a stand-in offline; a rule opens an IP set of most of the tailnet.
const MOST: &str = r#"{
    "tagOwners": {"tag:web": [], "tag:db": []},
    "ipsets": {"ipset:most": ["add 100.64.0.0/10", "remove 100.100.0.0/16"]},
    "grants": [{"src": ["tag:web"], "dst": ["ipset:most"], "ip": ["tcp:5432"]}],
    "tests": [{"src": "tag:web", "deny": ["tag:db:5432"]}],
}"#;

/// The web and db devices, db at `db`.
fn web_and_db(db: &str) -> String {
    format!(
        r#"{{"devices": [{{"hostname": "web", "addresses": ["100.90.0.1"], "tags": ["tag:web"]}},
                         {{"hostname": "db", "addresses": ["{db}"], "tags": ["tag:db"]}}],
            "users": []}}"#
    )
}

#[test]
fn an_address_rule_over_part_of_the_tailnet_leaves_a_test_of_a_tag_to_the_inventory() {
    // Offline, tag:db's address is unknown: inside the set the test fails, outside it
    // holds. The stand-in's placeholder address (inside the set) decides nothing.
    let found = one_undecided(MOST, None);
    assert!(
        found.message.ends_with(
            "which holds only if the addresses of tag:db's devices are outside ipset:most (opened by grants[0])"
        ),
        "{}",
        found.message
    );
    assert!(found.help.contains("--inventory"), "{}", found.help);
    // The devices' real addresses decide.
    let (code, found) = check(MOST, Some(&web_and_db("100.90.0.5")), &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    let (code, found) = check(MOST, Some(&web_and_db("100.100.0.5")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    // A range that misses the placeholder but may hold the real address is open too; an
    // accept test that only such a range could pass is not failed offline.
    let part = MOST.replace(r#""dst": ["ipset:most"]"#, r#""dst": ["100.100.0.0/16"]"#);
    let (code, found) = check(&part, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA102"]);
    let accept = part.replace(r#""deny""#, r#""accept""#);
    let found = one_undecided(&accept, None);
    assert!(
        found
            .message
            .ends_with("are inside 100.100.0.0/16 (opened by grants[0])"),
        "{}",
        found.message
    );
    // The same written as ACLs, whose destinations carry their ports (`host:ports`).
    for host in ["100.100.0.0/16", "ipset:most"] {
        let acl = MOST.replace(
            r#""grants": [{"src": ["tag:web"], "dst": ["ipset:most"], "ip": ["tcp:5432"]}]"#,
            &format!(
                r#""acls": [{{"action": "accept", "src": ["tag:web"], "dst": ["{host}:5432"]}}]"#
            ),
        );
        assert_ne!(acl, MOST);
        let (code, found) = check(&acl, None, &[]);
        assert_eq!(code, 0, "{host}: {found:?}");
        assert_eq!(codes(&tests_only(found)), ["TSA102"], "{host}");
    }
    // A set covering the tailnet's IPv4 range takes in every device: decided.
    let covering = MOST.replace(r#""dst": ["ipset:most"]"#, r#""dst": ["100.64.0.0/10"]"#);
    let (code, found) = check(&covering, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    // Covering only the IPv6 range opens the devices' IPv6 flow, not their IPv4 one, and
    // no recorded answer shows which the control plane's test run counts: open, with or
    // without the devices' real addresses.
    let v6 = MOST.replace(
        r#""dst": ["ipset:most"]"#,
        r#""dst": ["fd7a:115c:a1e0::/48"]"#,
    );
    for inventory in [None, Some(web_and_db_dual_stack())] {
        let found = one_undecided(&v6, inventory.as_deref());
        assert!(
            found
                .message
                .ends_with("which holds only if the control plane's test run counts only IPv4 flows (opened by grants[0])"),
            "{}",
            found.message
        );
    }
}

/// The web and db devices, each with an address in both families.
fn web_and_db_dual_stack() -> String {
    r#"{"devices": [{"hostname": "web", "addresses": ["100.90.0.1", "fd7a:115c:a1e0::1"], "tags": ["tag:web"]},
                    {"hostname": "db", "addresses": ["100.90.0.2", "fd7a:115c:a1e0::2"], "tags": ["tag:db"]}],
        "users": []}"#
        .to_string()
}

/// Offline, an address a test names that no known device holds may be any device's: a
/// deny test is open when a rule naming devices by who they are would take it in.
#[test]
fn an_address_no_known_device_holds_may_be_any_devices() {
    let policy = r#"{
        "grants": [{"src": ["bob@example.com"], "dst": ["ann@example.com"], "ip": ["*"]}],
        "tests": [{"src": "bob@example.com", "deny": ["100.100.0.5:80"]}],
    }"#;
    let found = one_undecided(policy, None);
    assert!(
        found.message.ends_with(
            "which holds only if 100.100.0.5 is the address of no device of ann@example.com (opened by grants[0])"
        ),
        "{}",
        found.message
    );
    assert!(found.help.contains("--inventory"), "{}", found.help);
    // The inventory decides: ann's device there fails the test; nobody's passes it.
    let devices = |ann: &str| {
        format!(
            r#"{{"devices": [{{"hostname": "a", "addresses": ["{ann}"], "user": "ann@example.com", "tags": []}},
                             {{"hostname": "b", "addresses": ["100.100.0.7"], "user": "bob@example.com", "tags": []}}],
                "users": [{{"loginName": "ann@example.com", "role": "member", "type": "member"}},
                          {{"loginName": "bob@example.com", "role": "member", "type": "member"}}]}}"#
        )
    };
    let (code, found) = check(policy, Some(&devices("100.100.0.5")), &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    let (code, found) = check(policy, Some(&devices("100.100.0.9")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    // The same from the source's side: the test's source address may be ann's device.
    let from = r#"{
        "tagOwners": {"tag:db": []},
        "grants": [{"src": ["ann@example.com"], "dst": ["tag:db"], "ip": ["*"]}],
        "tests": [{"src": "100.100.0.5", "deny": ["tag:db:80"]}],
    }"#;
    let found = one_undecided(from, None);
    assert!(
        found
            .message
            .contains("100.100.0.5 is the address of no device of ann@example.com"),
        "{}",
        found.message
    );
    // A `via` rule reaches such an address only if a router routes it.
    let via = r#"{
        "tagOwners": {"tag:router": []},
        "grants": [{"src": ["ann@example.com"], "dst": ["100.100.0.5"], "ip": ["*"], "via": ["tag:router"]}],
        "tests": [{"src": "ann@example.com", "accept": ["100.100.0.5:80"]}],
    }"#;
    let found = one_undecided(via, None);
    assert!(
        found
            .message
            .contains("100.100.0.5 is routed by a device tagged tag:router"),
        "{}",
        found.message
    );
}

/// A rule from an address range over part of the tailnet to tag:web, and a test from tag:db.
const FROM_PART: &str = r#"{
    "tagOwners": {"tag:web": [], "tag:db": []},
    "grants": [{"src": ["100.64.0.0/11"], "dst": ["tag:web"], "ip": ["tcp:80"]}],
    "tests": [{"src": "tag:db", "accept": ["tag:web:80"]}],
}"#;

#[test]
fn an_address_source_over_part_of_the_tailnet_leaves_a_test_from_a_tag_to_the_inventory() {
    // Offline, tag:db's address is unknown: the stand-in's placeholder decides nothing,
    // whether it lies inside the range or not.
    for (policy, inside) in [
        (FROM_PART.to_string(), "inside"),
        (FROM_PART.replace(r#""accept""#, r#""deny""#), "outside"),
        (
            FROM_PART.replace("100.64.0.0/11", "100.96.0.0/11"),
            "inside",
        ),
    ] {
        let (code, found) = check(&policy, None, &[]);
        assert_eq!(code, 0, "{policy}: {found:?}");
        let found = tests_only(found);
        assert_eq!(codes(&found), ["TSA102"], "{policy}: {found:?}");
        assert!(
            found[0].message.contains(&format!(
                "which holds only if the addresses of tag:db's devices are {inside} 100."
            )),
            "{}",
            found[0].message
        );
        assert!(
            found[0].help.contains("tests of tag:db"),
            "{}",
            found[0].help
        );
    }
    // The same written as an ACL.
    let acl = FROM_PART.replace(
        r#""grants": [{"src": ["100.64.0.0/11"], "dst": ["tag:web"], "ip": ["tcp:80"]}]"#,
        r#""acls": [{"action": "accept", "src": ["100.64.0.0/11"], "dst": ["tag:web:80"]}]"#,
    );
    assert_ne!(acl, FROM_PART);
    let (code, found) = check(&acl, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA102"]);
    // The devices' real addresses decide.
    let (code, found) = check(FROM_PART, Some(&web_and_db("100.70.0.5")), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    let (code, found) = check(FROM_PART, Some(&web_and_db("100.100.0.5")), &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    // A range covering the tailnet's range takes in every device; a tag rule decides.
    let whole = FROM_PART.replace("100.64.0.0/11", "100.64.0.0/10");
    let (code, found) = check(&whole.replace(r#""accept""#, r#""deny""#), None, &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    let (code, found) = check(&whole, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    let both = FROM_PART.replace(r#"["100.64.0.0/11"]"#, r#"["100.64.0.0/11", "tag:db"]"#);
    let (code, found) = check(&both, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
}

/// A via grant to tag:db through tag:db itself, and a via grant to a subnet.
const VIA: &str = r#"{
    "tagOwners": {"tag:web": [], "tag:db": [], "tag:router": []},
    "grants": [
        {"src": ["tag:web"], "dst": ["tag:db"], "via": ["tag:db"], "ip": ["*"]},
        {"src": ["tag:web"], "dst": ["10.33.0.0/16"], "via": ["tag:router"], "ip": ["tcp:80"]},
    ],
    "tests": [{"src": "tag:web", "accept": ["10.33.1.1:80"], "deny": ["tag:db:5432"]}],
}"#;

#[test]
fn a_via_grant_opens_routes_never_a_devices_own_address() {
    // The control plane sends a via rule only to devices with a via tag, for their
    // approved routes (captures via-grant-v47, grant-v11): tag:db's own address is no
    // route, so the deny test holds; the subnet behind the router stays reachable.
    let (code, found) = check(VIA, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    let inventory = r#"{"devices": [
        {"hostname": "web", "addresses": ["100.90.0.1"], "tags": ["tag:web"]},
        {"hostname": "db", "addresses": ["100.90.0.5"], "tags": ["tag:db"]},
        {"hostname": "r", "addresses": ["100.90.0.9"], "tags": ["tag:router"],
         "advertisedRoutes": ["10.33.0.0/16"], "enabledRoutes": ["10.33.0.0/16"]}],
        "users": []}"#;
    let (code, found) = check(VIA, Some(inventory), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
    // An accept test that only the via grant could pass fails, and says why.
    let accept = VIA.replace(r#""deny": ["tag:db:5432"]"#, r#""accept": ["tag:db:5432"]"#);
    let accept = accept.replace(r#""accept": ["10.33.1.1:80"], "#, "");
    let (code, found) = check(&accept, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert!(
        found[0].help.contains("it is a `via` rule"),
        "{}",
        found[0].help
    );
    // Without the via, the grant opens tag:db itself.
    let direct = VIA.replace(r#", "via": ["tag:db"]"#, "");
    let (code, found) = check(&direct, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
}

/// A test that hundreds of rules would decide names a few of them, and how many more.
#[test]
fn an_undecidable_test_names_a_few_of_many_deciding_rules() {
    let tags: Vec<String> = (0..300).map(|i| format!(r#""tag:t{i}": []"#)).collect();
    let grants: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"src": ["tag:t{i}"], "dst": ["tag:x"], "ip": ["tcp:80"]}}"#))
        .collect();
    let policy = format!(
        r#"{{"tagOwners": {{{}, "tag:x": []}}, "grants": [{}],
            "tests": [{{"src": "100.100.0.5", "deny": ["tag:x:80"]}}]}}"#,
        tags.join(", "),
        grants.join(", ")
    );
    let found = one_undecided(&policy, None);
    let message = &found.message;
    assert!(message.contains("tag:t101 or 295 more"), "{message}");
    assert!(message.contains("grants[103] and 295 more)"), "{message}");
    assert!(message.len() < 400, "{message}");
}

/// One test whose destinations are undecided alike says them together, and its help
/// names each address and device once, in one sentence per kind of advice, rather than
/// repeating a sentence per destination (USA-RedDragon/tailscale-acls has tests like it).
#[test]
fn an_undecided_test_says_alike_destinations_and_its_advice_once() {
    let policy = r#"{
      "tagOwners": {"tag:a": [], "tag:dns": [], "tag:ntp": [], "tag:open": []},
      "acls": [
        {"action": "accept", "src": ["tag:a"], "dst": ["100.84.20.102:*"]},
        {"action": "accept", "src": ["tag:a"], "dst": ["tag:open:80"]},
        {"action": "accept", "src": ["tag:dns", "tag:ntp"], "dst": ["tag:a:22"]}
      ],
      "tests": [
        {"src": "tag:a", "proto": "tcp",
         "deny": ["100.126.56.39:80", "tag:dns:5353", "tag:ntp:123"]}
      ]
    }"#;
    let (code, findings) = check(policy, None, &[]);
    let findings = tests_only(findings);
    assert_eq!(code, 0, "{findings:?}");
    assert_eq!(codes(&findings), ["TSA102"], "{findings:?}");
    let f = &findings[0];
    assert!(
        f.message.contains(
            "tag:dns:5353 and tag:ntp:123 to be denied, which holds only if the addresses of \
             their devices are outside 100.84.20.102"
        ),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("100.126.56.39:80 to be denied, which holds only if 100.126.56.39 is"),
        "{}",
        f.message
    );
    assert!(
        f.help
            .contains("to decide tests of tag:dns and tag:ntp, or name them in the rule"),
        "{}",
        f.help
    );
    assert!(
        f.help
            .contains("to decide tests of 100.126.56.39, or name the device in the test"),
        "{}",
        f.help
    );
    assert_eq!(f.help.matches("pass --inventory").count(), 2, "{}", f.help);
}

/// An SSH test of an address no device holds. Offline it may be any device's: open. With
/// an inventory that lists no device there, expecting someone to log in is wrong whatever
/// the control plane answers (it fails the test, or the test asserts nothing), an error;
/// a test that only denies holds unless the control plane fails a destination that is no
/// device, which no recorded answer shows: a warning, never an error.
#[test]
fn an_ssh_test_of_an_address_no_device_holds() {
    let policy = |want: &str| {
        format!(
            r#"{{
            "tagOwners": {{"tag:srv": []}},
            "ssh": [{{"action": "accept", "src": ["ann@example.com"], "dst": ["tag:srv"], "users": ["root"]}}],
            "sshTests": [{{"src": "ann@example.com", "dst": ["100.100.0.9"], "{want}": ["root"]}}],
        }}"#
        )
    };
    let inventory = r#"{"devices": [
            {"hostname": "srv", "addresses": ["100.90.0.1"], "tags": ["tag:srv"]},
            {"hostname": "laptop", "addresses": ["100.90.0.2"], "user": "ann@example.com"}],
        "users": [{"loginName": "ann@example.com", "role": "member", "type": "member"}]}"#;
    for want in ["accept", "deny"] {
        let (code, found) = check(&policy(want), None, &[]);
        let found = tests_only(found);
        assert_eq!(code, 0, "{want}: {found:?}");
        assert_eq!(codes(&found), ["TSA102"], "{want}: {found:?}");
        assert!(
            found[0].message.contains(
                "the SSH test's destination \"100.100.0.9\" is the address of no device tsacl knows"
            ),
            "{}",
            found[0].message
        );
    }
    let (code, found) = check(&policy("accept"), Some(inventory), &[]);
    let found = tests_only(found);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&found), ["TSA101"], "{found:?}");
    let (code, found) = check(&policy("deny"), Some(inventory), &[]);
    let found = tests_only(found);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert_eq!(found[0].severity, "warning");
    assert!(
        found[0]
            .message
            .contains("no device in the inventory holds"),
        "{}",
        found[0].message
    );
}

/// `autogroup:internet` in the control plane's test run. Live policies the control plane
/// tests on every push count it for a public address (nlopez/tailnet accepts
/// `tag:work -> 1.1.1.1:53` through it) and expect it not to for a public address a
/// subnet route carries (regulad/tailscale-acls denies tags a routed public IPv6 address
/// that only `autogroup:internet` opens): no capture says which, so the routed case is
/// undecided (TSA102), never failed. A rule naming the address, or `*` (which takes in
/// approved routes), still decides.
#[test]
fn exit_node_access_to_a_routed_public_address_is_undecided_in_tests() {
    let policy = |grants: &str, test: &str| {
        format!(
            r#"{{
    "tagOwners": {{"tag:a": [], "tag:r": []}},
    "hosts": {{"dns": "8.8.8.8", "office": "203.0.113.5"}},
    "autoApprovers": {{"routes": {{"203.0.113.0/24": ["tag:r"]}}}},
    "grants": [{grants}],
    "tests": [{test}],
}}"#
        )
    };
    let internet = r#"{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"]}"#;
    // A public address no subnet route carries: the exit-node rule counts.
    all_hold(&policy(
        internet,
        r#"{"src": "tag:a", "accept": ["dns:53"]}"#,
    ));
    one_failed(&policy(internet, r#"{"src": "tag:a", "deny": ["dns:53"]}"#));
    // One a subnet route the policy approves may carry: open, either way.
    let deny = one_undecided(
        &policy(internet, r#"{"src": "tag:a", "deny": ["office:443"]}"#),
        None,
    );
    assert!(
        deny.message.contains(
            "to be denied, which holds only if the control plane's test run leaves out exit-node access to an address a subnet route carries (opened by grants[0])"
        ),
        "{}",
        deny.message
    );
    assert!(
        deny.help
            .contains("office lies in a subnet route the tailnet approves"),
        "{}",
        deny.help
    );
    let accept = one_undecided(
        &policy(internet, r#"{"src": "tag:a", "accept": ["office:443"]}"#),
        None,
    );
    assert!(
        accept.message.contains(
            "which holds only if the control plane's test run counts exit-node access to an address a subnet route carries"
        ),
        "{}",
        accept.message
    );
    // `*` takes in approved routes: it decides.
    let everything = r#"{"src": ["tag:a"], "dst": ["*"], "ip": ["*"]}"#;
    one_failed(&policy(
        everything,
        r#"{"src": "tag:a", "deny": ["office:443"]}"#,
    ));
    // So does a rule that names the address, beside the exit-node rule.
    let named =
        format!(r#"{internet}, {{"src": ["tag:a"], "dst": ["office"], "ip": ["tcp:443"]}}"#);
    one_failed(&policy(
        &named,
        r#"{"src": "tag:a", "deny": ["office:443"], "proto": "tcp"}"#,
    ));
    // With the tailnet's devices, only the routes they have approved count (as in the
    // intents proof): a router that advertises none leaves the exit-node rule deciding.
    let inventory = r#"{"devices": [
        {"hostname": "a", "addresses": ["100.90.0.1"], "tags": ["tag:a"]},
        {"hostname": "r", "addresses": ["100.90.0.9"], "tags": ["tag:r"]}],
        "users": []}"#;
    let (code, found) = check(
        &policy(internet, r#"{"src": "tag:a", "deny": ["office:443"]}"#),
        Some(inventory),
        &[],
    );
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA100"]);
    let routed = inventory.replace(
        r#""tags": ["tag:r"]}"#,
        r#""tags": ["tag:r"], "advertisedRoutes": ["203.0.113.0/24"], "enabledRoutes": ["203.0.113.0/24"]}"#,
    );
    let (code, found) = check(
        &policy(internet, r#"{"src": "tag:a", "deny": ["office:443"]}"#),
        Some(&routed),
        &[],
    );
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA102"]);
}

/// A test from a group that lists no user, only members tsacl warns are not users
/// (TSA014, `autogroup:admin`): its source is empty unless the control plane takes those
/// in, which no recorded answer shows; from a group with no member at all it fails.
#[test]
fn a_test_from_a_group_of_non_users_is_undecided_and_from_an_empty_group_fails() {
    let policy = |members: &str| {
        format!(
            r#"{{
    "groups": {{"group:admin": [{members}]}},
    "tagOwners": {{"tag:db": []}},
    "grants": [{{"src": ["autogroup:admin"], "dst": ["tag:db"], "ip": ["tcp:22"]}}],
    "tests": [{{"src": "group:admin", "accept": ["tag:db:22"]}}],
}}"#
        )
    };
    let undecided = one_undecided(&policy(r#""autogroup:admin""#), None);
    assert!(
        undecided.message.contains(
            "group:admin holds no user, only autogroup:admin, which is not a user: the test's source resolves to no address unless the control plane takes it in"
        ),
        "{}",
        undecided.message
    );
    let failed = one_failed(&policy(""));
    assert!(
        failed
            .message
            .contains("source \"group:admin\" resolved to no addresses"),
        "{}",
        failed.message
    );
}

/// A policy whose rules name devices by host alias (as fredrir/infra and
/// abl030/nixosconfig do), with `n` tests from `bob@example.com` to the alias, each
/// undecided offline for the same reason: whose device the alias is.
fn tests_of_an_alias(n: usize, suppress_second: bool) -> String {
    let tests: Vec<String> = (0..n)
        .map(|i| {
            let comment = if suppress_second && i == 1 {
                "// tsacl-ignore: TSA102\n"
            } else {
                ""
            };
            format!(
                r#"{comment}{{"src": "bob@example.com", "deny": ["nas:{}"]}}"#,
                80 + i
            )
        })
        .collect();
    format!(
        r#"{{
        "hosts": {{"nas": "100.100.0.5"}},
        "grants": [{{"src": ["bob@example.com"], "dst": ["ann@example.com"], "ip": ["*"]}}],
        "tests": [
{}
        ],
    }}"#,
        tests.join(",\n")
    )
}

#[test]
fn folded_tests_that_turn_on_membership_too_say_what_tailnet_domain_decides() {
    // One of the four tests also turns on whether bob is a member (autogroup:member
    // reaches tag:x): the finding for the four says so, and what `--tailnet-domain` does.
    let policy = r#"{
        "hosts": {"nas": "100.100.0.5"},
        "tagOwners": {"tag:x": ["bob@example.com"]},
        "grants": [
            {"src": ["bob@example.com"], "dst": ["ann@example.com"], "ip": ["*"]},
            {"src": ["autogroup:member"], "dst": ["tag:x"], "ip": ["22"]}
        ],
        "tests": [
            {"src": "bob@example.com", "deny": ["nas:80", "tag:x:22"]},
            {"src": "bob@example.com", "deny": ["nas:81"]},
            {"src": "bob@example.com", "deny": ["nas:82"]},
            {"src": "bob@example.com", "deny": ["nas:83"]}
        ]
    }"#;
    let found = one_undecided(policy, None);
    assert_eq!(
        found.message,
        "cannot decide 4 tests offline: they turn on whose device an address is and users' roles or membership, which only the tailnet's inventory says"
    );
    assert!(
        found
            .help
            .ends_with("; --tailnet-domain DOMAIN counts users of DOMAIN as members"),
        "{}",
        found.help
    );
    // Given the domain, bob is a member: the deny test of tag:x fails, the addresses are
    // left undecided, and the help no longer offers the flag.
    let (code, found) = check(policy, None, &["--tailnet-domain", "example.com"]);
    assert_eq!(code, 1, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102", "TSA100"], "{found:?}");
    assert!(
        found[0]
            .message
            .contains("they turn on whose device an address is,"),
        "{}",
        found[0].message
    );
    assert!(
        !found[0].help.contains("--tailnet-domain"),
        "{}",
        found[0].help
    );
}

#[test]
fn many_tests_undecided_for_device_addresses_are_one_finding() {
    // Three such tests are three findings, each with its own condition.
    let (code, found) = check(&tests_of_an_alias(3, false), None, &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"; 3], "{found:?}");
    assert!(
        found.iter().all(|f| f
            .message
            .contains("holds only if nas is the address of no device of ann@example.com")),
        "{found:?}"
    );
    // From four on, one finding says what decides them all, once.
    let (code, found) = check(&tests_of_an_alias(4, false), None, &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert_eq!(
        found[0].message,
        "cannot decide 4 tests offline: they turn on whose device an address is, which only the tailnet's inventory says"
    );
    assert!(
        found[0].help.starts_with("pass --inventory"),
        "{}",
        found[0].help
    );
    assert!(
        found[0]
            .help
            .contains("name the device at nas by tag or user"),
        "{}",
        found[0].help
    );
    // The text marks every test.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "policy.hujson", &tests_of_an_alias(4, false));
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.matches("undecided").count(), 4, "{text}");
    // A test silenced on its own line is not counted: three left, said one by one.
    let (code, found) = check(&tests_of_an_alias(4, true), None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(codes(&tests_only(found)), ["TSA102"; 3]);
    // With an inventory nothing is folded: each test is decided (here, all hold).
    let inventory = r#"{"devices": [{"hostname": "a", "addresses": ["100.100.0.9"], "user": "ann@example.com", "tags": []},
                                     {"hostname": "b", "addresses": ["100.100.0.7"], "user": "bob@example.com", "tags": []}],
        "users": [{"loginName": "ann@example.com", "role": "member", "type": "member"},
                  {"loginName": "bob@example.com", "role": "member", "type": "member"}]}"#;
    let (code, found) = check(&tests_of_an_alias(4, false), Some(inventory), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
}

/// Five tests of the owner's access (each undecided for the owner's role alone), one
/// test of alice's (undecided for hers), each test on its own line, the first silenced
/// when `silence_first`.
fn tests_of_two_roles(silence_first: bool) -> String {
    let tests: Vec<String> = (0..5)
        .map(|i| {
            let comment = if i == 0 && silence_first {
                "// tsacl-ignore: TSA102\n"
            } else {
                ""
            };
            format!(
                r#"{comment}{{"src": "owner@example.com", "accept": ["owner@example.com:{}"]}}"#,
                22 + i
            )
        })
        .collect();
    format!(
        r#"{{
        "grants": [{{"src": ["autogroup:owner"], "dst": ["autogroup:owner"], "ip": ["tcp:22-26"]}},
                   {{"src": ["autogroup:admin"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}],
        "tagOwners": {{"tag:db": []}},
        "tests": [
{},
{{"src": "alice@example.com", "accept": ["tag:db:5432"]}}
        ],
    }}"#,
        tests.join(",\n")
    )
}

#[test]
fn tests_undecided_for_one_role_condition_are_one_finding() {
    // Five tests that hold unless the owner lacks the owner role are one unknown fact,
    // said once; alice's test, under its own condition, keeps its own finding.
    let (code, found) = check(&tests_of_two_roles(false), None, &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"; 2], "{found:?}");
    assert_eq!(
        found[0].message,
        "cannot decide 5 tests offline: each holds unless owner@example.com is not the tailnet's owner"
    );
    assert!(found[0].help.contains("--inventory"), "{}", found[0].help);
    assert_eq!(
        found[1].message,
        "cannot decide offline: the test expects alice@example.com -> tag:db:5432 (tcp or udp) \
         to be accepted, which holds unless alice@example.com is a member without the owner or admin role"
    );
    // The text marks each of the five.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "policy.hujson", &tests_of_two_roles(false));
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--color", "never"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.matches("undecided").count(), 5, "{text}");
    assert!(text.contains("to decide them"), "{text}");
    // A test silenced on its own line is not counted.
    let (_, found) = check(&tests_of_two_roles(true), None, &[]);
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"; 2], "{found:?}");
    assert!(
        found[0]
            .message
            .starts_with("cannot decide 4 tests offline: each holds unless owner@example.com"),
        "{found:?}"
    );
    // An inventory that does not list the owner leaves it open, said the same way.
    let alice = users(&[("alice@example.com", "admin", "member")]);
    let (code, found) = check(&tests_of_two_roles(false), Some(&alice), &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert_eq!(
        found[0].message,
        "cannot decide 5 tests: each holds unless owner@example.com is not the tailnet's owner"
    );
    // One that lists both decides every test.
    let both = users(&[
        ("alice@example.com", "admin", "member"),
        ("owner@example.com", "owner", "member"),
    ]);
    let (code, found) = check(&tests_of_two_roles(false), Some(&both), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());
}

#[test]
fn one_role_condition_folds_network_and_ssh_tests_alike() {
    let policy = r#"{
        "tagOwners": {"tag:server": []},
        "grants": [{"src": ["autogroup:admin"], "dst": ["tag:server"], "ip": ["tcp:22"]}],
        "ssh": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:server"], "users": ["root"]}],
        "tests": [{"src": "alice@example.com", "accept": ["tag:server:22"]}],
        "sshTests": [{"src": "alice@example.com", "dst": ["tag:server"], "accept": ["root"]}],
    }"#;
    let found = one_undecided(policy, None);
    assert_eq!(
        found.message,
        "cannot decide 2 tests offline: each holds unless alice@example.com is a member without the admin role"
    );
}

/// A test from a group is read as the control plane's test run appears to read it: from
/// one user of the group alone, not from each member (cedi/dotfiles and madsbv/nix, both
/// applied by gitops-acl-action, deny a group what one of its members reaches through
/// another group or a role). A failure is an error only when each member's reading fails
/// too; when only the group-alone reading fails, the test is undecided.
#[test]
fn a_test_from_a_group_is_from_a_user_of_that_group_alone() {
    // cedi/dotfiles' pattern: the one admin is also in group:vpn; group:vpn is denied
    // what group:admins reaches everywhere.
    let policy = r#"{
        "groups": {"group:admins": ["ann@example.com"], "group:vpn": ["ann@example.com", "bob@example.com"]},
        "tagOwners": {"tag:homelab": ["group:admins"]},
        "grants": [{"src": ["group:admins"], "dst": ["*"], "ip": ["*"]},
                   {"src": ["group:vpn"], "dst": ["autogroup:internet"], "ip": ["*"]}],
        "tests": [{"src": "group:vpn", "deny": ["tag:homelab:443"]}],
    }"#;
    all_hold(policy);
    // madsbv/nix's pattern: a user reaches what the group of that user alone is denied.
    let policy = r#"{
        "groups": {"group:consumers": ["ann@example.com"]},
        "tagOwners": {"tag:db": []},
        "grants": [{"src": ["ann@example.com"], "dst": ["tag:db"], "ip": ["tcp:22"]},
                   {"src": ["group:consumers"], "dst": ["tag:db"], "ip": ["tcp:80"]}],
        "tests": [{"src": "ann@example.com", "accept": ["tag:db:22"]},
                  {"src": "group:consumers", "accept": ["tag:db:80"], "deny": ["tag:db:22"]}],
    }"#;
    all_hold(policy);
    // Access given to each member by name, not to the group: undecided, saying why.
    let policy = r#"{
        "groups": {"group:ops": ["ann@example.com", "bob@example.com"]},
        "tagOwners": {"tag:db": []},
        "grants": [{"src": ["ann@example.com", "bob@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]}],
        "tests": [{"src": "group:ops", "accept": ["tag:db:5432"]}],
    }"#;
    let found = one_undecided(policy, None);
    assert!(
        found.message.starts_with(
            "cannot decide: the test holds for each member of group:ops, but not for a user in group:ops and no other group"
        ),
        "{}",
        found.message
    );
    assert!(
        found.help.contains("name group:ops in the rule"),
        "{}",
        found.help
    );
    // Nobody reaches it: an error, whichever the reading.
    let failed = one_failed(&policy.replace("tcp:5432\"]}]", "tcp:5433\"]}]"));
    assert!(
        failed.message.contains("group:ops -> tag:db:5432"),
        "{}",
        failed.message
    );
    // The group itself is named: a deny test fails, whichever the reading (as capture
    // policytest-deny-fail-group-src-cidr-dst records).
    let failed = one_failed(
        r#"{
        "groups": {"group:ops": ["ann@example.com"]},
        "tagOwners": {"tag:db": []},
        "grants": [{"src": ["group:ops"], "dst": ["tag:db"], "ip": ["tcp:5432"]}],
        "tests": [{"src": "group:ops", "deny": ["tag:db:5432"]}],
    }"#,
    );
    assert!(failed.message.contains("is accepted"), "{}", failed.message);
}

/// The shape of a real policy (rgomeztinoco/money-assistant): a grant that needs a posture
/// and tests that give the source's posture attributes.
const POSTURED: &str = r#"{
    "tagOwners": {"tag:app": [], "tag:laptop": []},
    "postures": {"posture:ok": ["node:tsStateEncrypted == true", "node:tsReleaseTrack == 'stable'", "node:tsVersion >= '1.98.0'"]},
    "acls": [{"action": "accept", "src": ["tag:laptop"], "srcPosture": ["posture:ok"], "dst": ["tag:app:443"]}],
    "tests": [
        {"src": "tag:laptop", "srcPostureAttrs": {"node:tsStateEncrypted": true, "node:tsReleaseTrack": "stable", "node:tsVersion": "1.98.0"},
         "accept": ["tag:app:443"], "deny": ["tag:app:22"]},
        {"src": "tag:laptop", "srcPostureAttrs": {"node:tsStateEncrypted": false, "node:tsReleaseTrack": "stable", "node:tsVersion": "1.98.0"},
         "deny": ["tag:app:443"]},
    ],
}"#;

#[test]
fn a_test_meets_a_rule_posture_through_its_src_posture_attrs() {
    let (code, found) = check(POSTURED, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    assert!(tests_only(found).is_empty());

    // An older client than the posture asks for: the accept test fails, and says why.
    let old = POSTURED.replacen(
        r#""node:tsVersion": "1.98.0"}"#,
        r#""node:tsVersion": "1.97.9"}"#,
        1,
    );
    let (code, found) = check(&old, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert_eq!(
        found[0].help,
        "acls[0] allows it only from a device that meets its posture, and the test's srcPostureAttrs do not (posture:ok: node:tsVersion is '1.97.9', not >= '1.98.0')"
    );

    // Attributes that meet the posture fail the deny test.
    let met = POSTURED.replace(
        r#""node:tsStateEncrypted": false"#,
        r#""node:tsStateEncrypted": true"#,
    );
    let (code, found) = check(&met, None, &[]);
    assert_eq!(code, 1, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA100"], "{found:?}");
    assert_eq!(found[0].help, "allowed by acls[0]");

    // Without attributes, how the test run reads the posture is not recorded: a warning.
    let none = POSTURED.replace(
        r#""srcPostureAttrs": {"node:tsStateEncrypted": false, "node:tsReleaseTrack": "stable", "node:tsVersion": "1.98.0"},"#,
        "",
    );
    let (code, found) = check(&none, None, &[]);
    assert_eq!(code, 0, "{found:?}");
    let found = tests_only(found);
    assert_eq!(codes(&found), ["TSA102"], "{found:?}");
    assert_eq!(found[0].severity, "warning");
}
