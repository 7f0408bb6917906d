//! The intents proof end to end, on a project written here: every way a base rule can
//! open a service beyond its intent fails `tsacl check` (exit 1) naming the service, the
//! principal and the base-file line; the same project without such a rule passes.

use std::path::Path;
use std::process::{Command, Output};

const INTENTS: &str = r#"{
  output: "policy.hujson",
  base: "base.hujson",
  groups: { ops: ["ann@example.com"] },
  devices: {
    gateway: { tags: ["tag:gateway"] },
    builder: { tags: ["tag:builder"] },
    desk: { user: "ann@example.com" },
  },
  services: {
    postgres: { ports: [5432], from: ["gateway"] },
    metrics: { ports: ["tcp:9090", "udp:8125"], from: ["group:ops", "gateway"] },
  },
}
"#;

/// The devices, postgres's at 100.90.0.5.
const INVENTORY: &str = r#"{"devices": [
  {"hostname": "gateway", "addresses": ["100.90.0.1", "fd7a:115c:a1e0::1"], "tags": ["tag:gateway"]},
  {"hostname": "builder", "addresses": ["100.90.0.2", "fd7a:115c:a1e0::2"], "tags": ["tag:builder"]},
  {"hostname": "desk", "addresses": ["100.90.0.3", "fd7a:115c:a1e0::3"], "user": "ann@example.com", "tags": []},
  {"hostname": "postgres", "addresses": ["100.90.0.5", "fd7a:115c:a1e0::5"], "tags": ["tag:postgres"]},
  {"hostname": "metrics", "addresses": ["100.90.0.6", "fd7a:115c:a1e0::6"], "tags": ["tag:metrics"]}
], "users": [{"loginName": "ann@example.com", "role": "member"}]}"#;

/// A rule nobody minds: ops may SSH to the builder, which is no service.
const HARMLESS: &str = r#"{"src": ["group:ops"], "dst": ["tag:builder"], "ip": ["tcp:22"]}"#;

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project whose base has the harmless rule and `grant` (a grant) or `acl` (an ACL)
/// on lines of their own, compiled. Returns the directory and the line of the extra rule.
fn project(grant: Option<&str>, acl: Option<&str>) -> (tempfile::TempDir, usize) {
    project_with("", grant, acl)
}

/// The same, with `sections` (whole lines) at the top of the base.
fn project_with(
    sections: &str,
    grant: Option<&str>,
    acl: Option<&str>,
) -> (tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("tailnet.json5"), INTENTS).unwrap();
    std::fs::write(policies.join("inventory.json"), INVENTORY).unwrap();
    let mut base = format!("// Hand-written rules.\n{{\n{sections}\t\"grants\": [\n");
    base.push_str(&format!("\t\t{HARMLESS},\n"));
    let mut line = 0;
    if let Some(g) = grant {
        line = base.lines().count() + 1;
        base.push_str(&format!("\t\t{g},\n"));
    }
    base.push_str("\t],\n");
    if let Some(a) = acl {
        base.push_str("\t\"acls\": [\n");
        line = base.lines().count() + 1;
        base.push_str(&format!("\t\t{a},\n"));
        base.push_str("\t],\n");
    }
    base.push_str("}\n");
    std::fs::write(policies.join("base.hujson"), &base).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    if out.status.code() == Some(1) {
        // `compile` refuses what `check` refuses: the proof (TSA113), or a test the
        // intents generate (TSA100), and writes nothing. Compile without the rule, as
        // if it had been added after the last compile.
        let err = stderr(&out);
        assert!(err.contains("TSA113") || err.contains("TSA100"), "{err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert!(!policies.join("policy.hujson").exists(), "{err}");
        std::fs::write(
            policies.join("base.hujson"),
            format!("{{\n{sections}\t\"grants\": [\n\t\t{HARMLESS},\n\t],\n}}\n"),
        )
        .unwrap();
        let out = tsacl(dir.path(), &["compile"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        std::fs::write(policies.join("base.hujson"), &base).unwrap();
    } else {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    (dir, line)
}

/// The proof finds nothing, and the offline evaluation of the tests the intents generate
/// agrees: `compile` took the rule (the output is not stale, TSA112) and `check` finds no
/// error (warnings are what only an inventory can decide).
fn nothing_objects(dir: &Path, rule: &str) {
    let out = tsacl(dir, &["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(errors.is_empty(), "{rule}: {v:#}");
    assert_eq!(out.status.code(), Some(0), "{rule}");
}

/// `check` fails with TSA113 at the rule's line, saying each of `expected`.
fn fails_at_the_rule(dir: &Path, line: usize, args: &[&str], expected: &[&str]) {
    let mut all = vec!["check"];
    all.extend(args);
    let out = tsacl(dir, &all);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA113"), "{err}");
    assert!(
        err.contains(&format!("policies/base.hujson:{line}:")),
        "line {line}: {err}"
    );
    for e in expected {
        assert!(err.contains(e), "{e:?} missing from:\n{err}");
    }
}

#[test]
fn the_project_without_extra_rules_passes() {
    let (dir, _) = project(None, None);
    for args in [
        &["check"][..],
        &["check", "--inventory", "policies/inventory.json"],
    ] {
        let out = tsacl(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("0 errors, 0 warnings"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn another_port() {
    let rule = r#"{"src": ["tag:gateway"], "dst": ["tag:postgres"], "ip": ["tcp:22"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &[
            "gateway (tag:gateway) can reach postgres on tcp:22, which the intents do not allow",
            "postgres is only for gateway, on tcp:5432",
            "narrow this base rule to postgres's ports",
        ],
    );
}

#[test]
fn a_range_overlapping_the_intent_reports_only_the_rest() {
    let rule = r#"{"src": ["tag:gateway"], "dst": ["tag:postgres"], "ip": ["tcp:5000-6000"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &["gateway (tag:gateway) can reach postgres on tcp:5000-5431, tcp:5433-6000,"],
    );
}

#[test]
fn another_protocol() {
    let rule = r#"{"src": ["tag:gateway"], "dst": ["tag:postgres"], "ip": ["udp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &["gateway (tag:gateway) can reach postgres on udp:5432,"],
    );
}

#[test]
fn an_acl_without_proto_opens_every_protocol() {
    let acl = r#"{"action": "accept", "src": ["tag:builder"], "dst": ["tag:metrics:*"]}"#;
    let (dir, line) = project(None, Some(acl));
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &["builder (tag:builder) can reach metrics on tcp:*, udp:*, icmp, ipv6-icmp,"],
    );
}

#[test]
fn star_as_destination() {
    let rule = r#"{"src": ["tag:builder"], "dst": ["*"], "ip": ["tcp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &[
            "builder (tag:builder) can reach postgres on tcp:5432",
            "builder (tag:builder) can reach metrics on tcp:5432",
            "`*` takes in postgres's devices (tag:postgres)",
        ],
    );
}

#[test]
fn autogroup_member_as_source() {
    let rule = r#"{"src": ["autogroup:member"], "dst": ["tag:postgres"], "ip": ["tcp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &["desk (ann@example.com) and (any other member) can reach postgres on tcp:5432"],
    );
}

#[test]
fn the_tailnet_range_as_destination() {
    let rule = r#"{"src": ["tag:builder"], "dst": ["100.64.0.0/10"], "ip": ["tcp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &[
            "builder (tag:builder) can reach postgres on tcp:5432",
            "`100.64.0.0/10` covers the tailnet's addresses, postgres's among them",
        ],
    );
}

#[test]
fn host_aliases_and_ipsets_covering_the_tailnet_reach_every_service() {
    let sections = "\t\"hosts\": {\"everyone\": \"100.64.0.0/10\", \"v6\": \"fd7a:115c:a1e0::/48\"},\n\
                    \t\"ipsets\": {\"ipset:wide\": [\"add 100.0.0.0/8\"], \"ipset:most\": [\"add 100.64.0.0/10\", \"remove 100.100.0.0/16\"]},\n";
    for dst in ["everyone", "v6", "ipset:wide"] {
        let rule = format!(r#"{{"src": ["tag:builder"], "dst": [{dst:?}], "ip": ["tcp:5432"]}}"#);
        let (dir, line) = project_with(sections, Some(&rule), None);
        fails_at_the_rule(
            dir.path(),
            line,
            &[],
            &[
                "builder (tag:builder) can reach postgres on tcp:5432",
                &format!("`{dst}` covers the tailnet's addresses, postgres's among them"),
            ],
        );
    }
    // Most of the range is not all of it: only an inventory can tell, to the proof (TSA103)
    // and to the generated test that builder cannot reach postgres (TSA102) alike.
    let rule = r#"{"src": ["tag:builder"], "dst": ["ipset:most"], "ip": ["tcp:5432"]}"#;
    let (dir, line) = project_with(sections, Some(rule), None);
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    assert!(err.contains("TSA103"), "{err}");
    assert!(
        err.contains(
            "which holds only if the addresses of tag:postgres's devices are outside ipset:most"
        ),
        "{err}"
    );
    nothing_objects(dir.path(), rule);
    // postgres's address (100.90.0.5) is in the set: both fail.
    fails_at_the_rule(
        dir.path(),
        line,
        &["--inventory", "policies/inventory.json"],
        &[
            "builder (tag:builder) can reach postgres on tcp:5432",
            "TSA100",
        ],
    );
}

#[test]
fn the_service_devices_own_address_needs_the_inventory_to_tell() {
    let rule = r#"{"src": ["tag:builder"], "dst": ["100.90.0.5"], "ip": ["tcp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &["--inventory", "policies/inventory.json"],
        &[
            "builder (tag:builder) can reach postgres on tcp:5432",
            "`100.90.0.5` is the address of postgres, a device of postgres",
        ],
    );
    // Without the inventory the address may be anyone's: a warning that says what decides.
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("TSA103"), "{err}");
    assert!(
        err.contains("`100.90.0.5` may be the address of a device of postgres and metrics"),
        "{err}"
    );
    assert!(
        err.contains(&format!("policies/base.hujson:{line}:")),
        "{err}"
    );
    assert!(err.contains("pass --inventory"), "{err}");
}

#[test]
fn sources_by_address_role_and_domain_are_principals_too() {
    for (src, who) in [
        ("100.64.0.0/16", "100.64.0.0/16 can reach postgres"),
        ("autogroup:admin", "(any admin) can reach postgres"),
        (
            "user:*@example.com",
            "desk (ann@example.com) and (any other user @example.com) can reach postgres",
        ),
        (
            "ann@example.com",
            "desk (ann@example.com) can reach postgres",
        ),
        ("zed@example.com", "zed@example.com can reach postgres"),
        ("autogroup:tagged", "builder (tag:builder)"),
        // A group the identity provider syncs: its members are in no file, so one stands
        // for them (this passed as "reachability equals the intents").
        (
            "group:eng@example.com",
            "(any user of group:eng@example.com) can reach postgres",
        ),
    ] {
        let rule = format!(r#"{{"src": [{src:?}], "dst": ["tag:postgres"], "ip": ["tcp:5432"]}}"#);
        let (dir, line) = project(Some(&rule), None);
        fails_at_the_rule(dir.path(), line, &[], &[who]);
    }
}

#[test]
fn what_gives_no_network_access_to_a_service_passes() {
    // autogroup:self never takes in a tagged device; app capabilities alone carry no
    // ports; `via` rules apply to the routes of the devices with the tag, never to their
    // own addresses; ICMP is implied for who may reach a service already.
    for rule in [
        r#"{"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]}"#,
        r#"{"src": ["tag:builder"], "dst": ["tag:postgres"], "app": {"example.com/cap/db": [{}]}}"#,
        r#"{"src": ["tag:builder"], "dst": ["tag:postgres"], "via": ["tag:postgres"], "ip": ["*"]}"#,
        r#"{"src": ["tag:gateway"], "dst": ["tag:postgres"], "ip": ["icmp:*"]}"#,
    ] {
        let (dir, _) = project(Some(rule), None);
        nothing_objects(dir.path(), rule);
    }
    // ICMP for someone the intent does not name is extra.
    let rule = r#"{"src": ["tag:builder"], "dst": ["tag:postgres"], "ip": ["icmp:*"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &[],
        &["builder (tag:builder) can reach postgres on icmp,"],
    );
}

#[test]
fn one_finding_per_rule_and_service_lists_every_principal() {
    let rule = r#"{"src": ["tag:builder", "tag:gateway", "ann@example.com"], "dst": ["tag:postgres"], "ip": ["tcp:22", "tcp:5432"]}"#;
    let (dir, line) = project(Some(rule), None);
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "TSA113")
        .collect();
    assert_eq!(found.len(), 1, "{v:#}");
    let message = found[0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "builder (tag:builder) and desk (ann@example.com) can reach postgres on tcp:22, tcp:5432; \
         gateway (tag:gateway) on tcp:22, which the intents do not allow"
    );
    assert_eq!(found[0]["line"].as_u64(), Some(line as u64), "{v:#}");
}

/// Naming the compiled policy does not skip the proof: it is checked as its project.
#[test]
fn checking_the_compiled_file_by_name_runs_the_proof() {
    let rule = r#"{"src": ["tag:gateway"], "dst": ["tag:postgres"], "ip": ["tcp:22"]}"#;
    let (dir, line) = project(Some(rule), None);
    fails_at_the_rule(
        dir.path(),
        line,
        &["policies/policy.hujson"],
        &["gateway (tag:gateway) can reach postgres on tcp:22"],
    );
}

/// `compile` refuses what the proof refuses: a base rule opening a service to a principal
/// its `from` does not name is an error at the base line, and the compiled file is left
/// byte for byte as it was.
#[test]
fn compile_refuses_what_the_proof_refuses_and_writes_nothing() {
    let (dir, _) = project(None, None);
    let policies = dir.path().join("policies");
    let before = std::fs::read(policies.join("policy.hujson")).unwrap();
    let rule = r#"{"src": ["tag:builder"], "dst": ["tag:postgres"], "ip": ["tcp:5432"]}"#;
    let base = std::fs::read_to_string(policies.join("base.hujson")).unwrap();
    let edited = base.replacen(HARMLESS, &format!("{HARMLESS},\n\t\t{rule}"), 1);
    assert_ne!(base, edited);
    std::fs::write(policies.join("base.hujson"), &edited).unwrap();
    let line = edited.lines().position(|l| l.contains(rule)).unwrap() + 1;
    let out = tsacl(dir.path(), &["compile"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA113"), "{err}");
    assert!(
        err.contains(&format!("policies/base.hujson:{line}:")),
        "line {line}: {err}"
    );
    assert!(
        err.contains("builder (tag:builder) can reach postgres on tcp:5432"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!err.contains("wrote "), "{err}");
    assert_eq!(
        std::fs::read(policies.join("policy.hujson")).unwrap(),
        before
    );
    // `--stdout` and `--check` refuse the same way.
    for flag in ["--stdout", "--check"] {
        let out = tsacl(dir.path(), &["compile", flag]);
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{flag}");
    }
}

/// A `funnel` node attribute on a service's devices opens it to the internet whatever its
/// `from` says (TSA133): written in the base, `compile` refuses it; edited into the output
/// (a console edit pulled back), `check` reports it there; `explain` shows the path.
#[test]
fn funnel_on_a_service_the_intents_keep_off_the_internet() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("tailnet.json5"), INTENTS).unwrap();
    let base =
        "{\n\t\"nodeAttrs\": [\n\t\t{\"target\": [\"*\"], \"attr\": [\"funnel\"]},\n\t],\n}\n";
    std::fs::write(policies.join("base.hujson"), base).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TSA133") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(
        err.contains("the internet may reach postgres and metrics through Funnel"),
        "{err}"
    );
    assert!(err.contains("policies/base.hujson:3:15"), "{err}");

    // Funnel on users' devices only: autogroup:member takes in no service's device.
    std::fs::write(
        policies.join("base.hujson"),
        base.replace("\"*\"", "\"autogroup:member\""),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let output = policies.join("policy.hujson");
    let text = std::fs::read_to_string(&output).unwrap();
    let edited = text.replace(
        "[\"autogroup:member\"], \"attr\": [\"funnel\"]",
        "[\"autogroup:member\", \"tag:postgres\"], \"attr\": [\"funnel\"]",
    );
    assert_ne!(text, edited, "{text}");
    std::fs::write(&output, edited).unwrap();
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the internet may reach postgres through Funnel")
            && err.contains("in the committed file"),
        "{err}"
    );
    assert!(!err.contains("may reach postgres and metrics"), "{err}");
    assert!(
        err.contains("reachability is not what the intents say"),
        "{err}"
    );
    let out = tsacl(dir.path(), &["explain", "postgres"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("public: the internet -> Funnel on its own devices (tag:postgres)")
            && text.contains("TSA133"),
        "{text}"
    );
}
