//! `tsacl paths` and `tsacl blast` through the real binary, on the crafted policy of
//! issue 21: CI may SSH as root into the bastion (tcp:22 open), the bastion reaches the
//! database, `group:devs` owns `tag:bastion`, and `group:ops` reaches only a printer.

#[path = "support/graphviz.rs"]
mod graphviz;
#[path = "support/mermaid.rs"]
mod mermaid;
use graphviz::valid_dot;
use mermaid::valid_mermaid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CRAFTED: &str = r#"{
	"groups": {
		"group:devs": ["dev@example.com"],
		"group:ops":  ["op@example.com"],
	},
	"tagOwners": {
		"tag:ci":      [],
		"tag:bastion": ["group:devs"],
		"tag:db":      [],
		"tag:printer": [],
	},
	"grants": [
		{"src": ["tag:ci"], "dst": ["tag:bastion"], "ip": ["tcp:22"]},
		{"src": ["tag:bastion"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
		{"src": ["group:ops"], "dst": ["tag:printer"], "ip": ["tcp:631"]},
	],
	"ssh": [
		{"action": "accept", "src": ["tag:ci"], "dst": ["tag:bastion"], "users": ["root"]},
	],
}
"#;

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .current_dir(dir)
        .env("COLUMNS", "100")
        .args(args)
        .output()
        .unwrap()
}

fn setup(name: &str, policy: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tsacl-paths-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.hujson"), policy).unwrap();
    dir
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> u64 {
    let at = text.find(needle).expect("in the text");
    text[..at].matches('\n').count() as u64 + 1
}

fn chain<'a>(doc: &'a Value, source: &str) -> Option<&'a Value> {
    doc["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == source)
}

/// The diagnostics of a `check --format json` document with this code.
fn with_code<'a>(doc: &'a Value, code: &str) -> Vec<&'a Value> {
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .collect()
}

fn cited_lines(chain: &Value) -> Vec<u64> {
    chain["hops"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["rules"].as_array().unwrap().clone())
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn paths_to_the_database_go_through_ssh_and_tag_ownership() {
    let dir = setup("crafted", CRAFTED);
    let doc = json(&tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--format", "json"],
    ));
    let ssh_grant = line_of(CRAFTED, r#"{"src": ["tag:ci"], "dst""#);
    let db_grant = line_of(CRAFTED, r#"{"src": ["tag:bastion"]"#);
    let ssh_rule = line_of(CRAFTED, r#"{"action": "accept""#);
    let owners = line_of(CRAFTED, r#""tag:bastion": ["group:devs"]"#);

    let ci = chain(&doc, "tag:ci").expect("tag:ci reaches the database");
    let kinds: Vec<&str> = ci["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ssh", "network"], "{ci:#}");
    assert_eq!(ci["hops"][0]["to"], "tag:bastion");
    assert_eq!(ci["certain"], true);
    let mut lines = cited_lines(ci);
    lines.sort();
    assert_eq!(lines, [ssh_grant, db_grant, ssh_rule]);

    let devs = chain(&doc, "group:devs").expect("group:devs reaches the database");
    assert_eq!(devs["hops"][0]["kind"], "tag-owner");
    assert_eq!(devs["principals"], serde_json::json!(["dev@example.com"]));
    let mut lines = cited_lines(devs);
    lines.sort();
    assert_eq!(lines, [owners, db_grant]);
    for h in devs["hops"].as_array().unwrap() {
        for r in h["rules"].as_array().unwrap() {
            assert_eq!(r["file"], "policy.hujson");
            assert!(r["column"].as_u64().unwrap() > 0);
        }
    }

    let text = doc.to_string();
    assert!(!text.contains("group:ops") && !text.contains("op@example.com"));
    assert!(!text.contains("tag:printer"));
}

#[test]
fn blast_from_ci_reaches_the_database_not_the_printer() {
    let dir = setup("blast", CRAFTED);
    let doc = json(&tsacl(
        &dir,
        &["blast", "tag:ci", "policy.hujson", "--format", "json"],
    ));
    let reached: Vec<&str> = doc["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["hops"].as_array().unwrap().last().unwrap()["to"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(reached.contains(&"tag:db"), "{reached:?}");
    assert!(reached.contains(&"tag:bastion"), "{reached:?}");
    assert!(!reached.contains(&"tag:printer"), "{reached:?}");

    // The text says the same, each hop with its rule.
    let out = tsacl(&dir, &["blast", "tag:ci", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tag:ci =ssh=> tag:bastion =network=> tag:db"),
        "{text}"
    );
    assert!(!text.contains("tag:printer"), "{text}");
}

#[test]
fn one_hop_less_finds_only_direct_sources() {
    let dir = setup("hops", CRAFTED);
    let doc = json(&tsacl(
        &dir,
        &[
            "paths",
            "tag:db",
            "policy.hujson",
            "--format",
            "json",
            "--max-hops",
            "1",
        ],
    ));
    let sources: Vec<&str> = doc["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["tag:bastion"]);
    // --from picks one source; a port no rule opens finds nobody.
    let doc = json(&tsacl(
        &dir,
        &[
            "paths",
            "tag:db",
            "policy.hujson",
            "--format",
            "json",
            "--from",
            "tag:ci",
        ],
    ));
    assert_eq!(doc["chains"].as_array().unwrap().len(), 1);
    let doc = json(&tsacl(
        &dir,
        &[
            "paths",
            "tag:db",
            "policy.hujson",
            "--format",
            "json",
            "--port",
            "80",
        ],
    ));
    assert!(doc["chains"].as_array().unwrap().is_empty());
}

#[test]
fn without_port_22_an_ssh_rule_is_no_path_and_the_output_says_so() {
    let policy = CRAFTED.replace(r#""ip": ["tcp:22"]"#, r#""ip": ["tcp:80"]"#);
    let dir = setup("no22", &policy);
    let doc = json(&tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--format", "json"],
    ));
    assert!(chain(&doc, "tag:ci").is_none(), "{doc:#}");
    assert_eq!(doc["ssh_rules_without_port_22"][0]["rule"], "ssh[0]");
    let out = tsacl(&dir, &["paths", "tag:db", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no rule opens tcp:22"), "{text}");
}

#[test]
fn admin_ports_may_become_and_the_list_can_be_changed() {
    let policy = CRAFTED
        .replace(r#""ip": ["tcp:22"]"#, r#""ip": ["tcp:3389"]"#)
        .replace(r#""ssh": ["#, r#""ssh": [], "_": ["#);
    let policy = policy.replace(
        r#""_": [
		{"action": "accept", "src": ["tag:ci"], "dst": ["tag:bastion"], "users": ["root"]},
	],"#,
        "",
    );
    let dir = setup("admin", &policy);
    let doc = json(&tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--format", "json"],
    ));
    let ci = chain(&doc, "tag:ci").expect("RDP may make CI into the bastion");
    assert_eq!(ci["hops"][0]["kind"], "admin-port");
    assert_eq!(ci["certain"], false);
    let doc = json(&tsacl(
        &dir,
        &[
            "paths",
            "tag:db",
            "policy.hujson",
            "--format",
            "json",
            "--admin-ports",
            "22",
        ],
    ));
    assert!(chain(&doc, "tag:ci").is_none());
    let bad = tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--admin-ports", "x"],
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn approvers_and_funnel_are_links() {
    let policy = r#"{
	"groups": {"group:net": ["net@example.com"]},
	"tagOwners": {"tag:web": [], "tag:router": ["group:net"]},
	"grants": [
		{"src": ["tag:web"], "dst": ["10.0.0.0/8"], "ip": ["*"]},
	],
	"autoApprovers": {"routes": {"10.0.0.0/8": ["tag:router"]}, "exitNode": ["group:net"]},
	"nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}],
}"#;
    let dir = setup("approvers", policy);
    let doc = json(&tsacl(
        &dir,
        &["paths", "10.0.0.0/8", "policy.hujson", "--format", "json"],
    ));
    let router = chain(&doc, "tag:router").expect("the approved router intercepts");
    assert_eq!(router["hops"][0]["kind"], "route-approval");
    let net = chain(&doc, "group:net").expect("through owning tag:router");
    assert_eq!(net["length"], 2);
    let doc = json(&tsacl(
        &dir,
        &["blast", "group:net", "policy.hujson", "--format", "json"],
    ));
    assert!(doc.to_string().contains("exit-node-approval"));
    let doc = json(&tsacl(
        &dir,
        &["paths", "tag:web", "policy.hujson", "--format", "json"],
    ));
    let internet = chain(&doc, "the internet").expect("Funnel");
    assert_eq!(internet["hops"][0]["kind"], "funnel");
}

#[test]
fn pictures_and_unknown_names() {
    let dir = setup("pictures", CRAFTED);
    let out = tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--format", "dot"],
    );
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph paths {") && dot.contains("ssh (ssh[0], grants[0])"));
    valid_dot(&dot);
    let out = tsacl(
        &dir,
        &["paths", "tag:db", "policy.hujson", "--format", "mermaid"],
    );
    let mermaid = String::from_utf8_lossy(&out.stdout);
    assert!(
        mermaid.starts_with("flowchart LR") && mermaid.contains("ssh (ssh[0], grants[0])"),
        "{mermaid}"
    );
    valid_mermaid(&mermaid);
    let out = tsacl(
        &dir,
        &["blast", "tag:ci", "policy.hujson", "--format", "mermaid"],
    );
    let mermaid = String::from_utf8_lossy(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("-->"));
    valid_mermaid(&mermaid);
    let out = tsacl(&dir, &["paths", "tag:dbb", "policy.hujson"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"tag:db\""));
}

const INTENTS: &str = r#"{
  output: "policy.hujson",
  base: "base.hujson",
  groups: { dba: ["dana@example.com"] },
  devices: { "ci-runner": { tags: ["tag:ci"] } },
  services: {
    postgres: { ports: [5432], from: ["ci-runner", "group:dba"] },
  },
}
"#;

const BASE: &str = r#"{
	"groups": {"group:oncall": ["olga@example.com"]},
	"grants": [
		{"src": ["group:oncall"], "dst": ["tag:ci"], "ip": ["tcp:22"]},
	],
	"ssh": [
		{"action": "accept", "src": ["group:oncall"], "dst": ["tag:ci"], "users": ["root"]},
	],
}
"#;

fn project(name: &str, base: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tsacl-paths-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/tailnet.json5"), INTENTS).unwrap();
    std::fs::write(dir.join("policies/base.hujson"), base).unwrap();
    let out = tsacl(&dir, &["compile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn check_warns_when_someone_outside_from_can_become_a_source() {
    let dir = project("promise", BASE);
    let out = tsacl(&dir, &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "a warning by default");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = with_code(&doc, "TSA150");
    assert_eq!(found.len(), 1, "{doc:#}");
    let d = found[0];
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("group:oncall"), "{message}");
    assert!(message.contains("`postgres`"), "{message}");
    assert!(message.contains("ssh[0]"), "{message}");
    // At the SSH rule, where it was written.
    assert_eq!(d["file"], "policies/base.hujson");
    assert_eq!(d["line"].as_u64(), Some(line_of(BASE, r#"{"action""#)));
    assert!(d["help"].as_str().unwrap().contains("narrow the SSH rule"));
    // Raised to an error, it fails the check.
    let out = tsacl(&dir, &["check", "--severity", "TSA150=error"]);
    assert_eq!(out.status.code(), Some(1));
    // explain of the service says so in one line.
    let out = tsacl(&dir, &["explain", "postgres"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("transitively")
            && text.contains("group:oncall")
            && text.contains("tsacl paths postgres"),
        "{text}"
    );
}

/// A group the identity provider syncs (`group:name@domain`, members in no file) that may
/// SSH into a source becomes that source like any group: the warning and the chain name
/// it. (Its rules used to take in nobody, so this passed unsaid.)
#[test]
fn a_synced_group_that_can_become_a_source_is_warned_about() {
    let base = BASE
        .replace(r#""groups": {"group:oncall": ["olga@example.com"]},"#, "")
        .replace("group:oncall", "group:oncall@example.com");
    let dir = project("promise-synced", &base);
    let out = tsacl(&dir, &["check", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = with_code(&doc, "TSA150");
    assert_eq!(found.len(), 1, "{doc:#}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("group:oncall@example.com"), "{message}");
    assert!(message.contains("`postgres`"), "{message}");
    let out = tsacl(&dir, &["paths", "postgres"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("group:oncall@example.com =ssh=> ci-runner"),
        "{text}"
    );
    // explain takes the group by name, as it takes a group the policy defines.
    let out = tsacl(
        &dir,
        &["explain", "ci-runner", "--from", "group:oncall@example.com"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALLOWED"), "{text}");
    let out = tsacl(
        &dir,
        &["explain", "ci-runner", "--from", "group:other@example.com"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a synced group the policy never names"
    );
}

#[test]
fn without_port_22_or_with_the_group_in_from_there_is_no_warning() {
    let dir = project("promise-no22", &BASE.replace("tcp:22", "tcp:80"));
    let out = tsacl(&dir, &["check", "--format", "json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("TSA150"));
    // Once the intents name the group, the chain is intended.
    let dir = project("promise-from", BASE);
    let base = BASE.replace(r#"{"groups": {"group:oncall": ["olga@example.com"]},"#, "{");
    std::fs::write(dir.join("policies/base.hujson"), &base).unwrap();
    let intents = INTENTS
        .replace(
            r#"groups: { dba: ["dana@example.com"] },"#,
            r#"groups: { dba: ["dana@example.com"], oncall: ["olga@example.com"] },"#,
        )
        .replace(
            r#"from: ["ci-runner", "group:dba"]"#,
            r#"from: ["ci-runner", "group:dba", "group:oncall"]"#,
        );
    std::fs::write(dir.join("policies/tailnet.json5"), intents).unwrap();
    let out = tsacl(&dir, &["compile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tsacl(&dir, &["check", "--format", "json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("TSA150"), "{text}");
}

/// A shortest chain that needs a weakness does not hide a longer one that needs none: in
/// the repository's tailnet the admins may become redis through the Kubernetes proxy in
/// one hop, and do become panda, its source, by SSH: both chains are listed, and
/// `explain` names the admins among those who reach redis transitively.
#[test]
fn a_chain_needing_no_weakness_is_shown_beside_a_shorter_one_that_does() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = json(&tsacl(repo, &["paths", "redis", "--format", "json"]));
    let kinds: Vec<Vec<&str>> = doc["chains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "group:admins")
        .map(|c| {
            c["hops"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["kind"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert!(kinds.contains(&vec!["kubernetes"]), "{kinds:?}");
    assert!(kinds.contains(&vec!["ssh", "network"]), "{kinds:?}");
    let out = tsacl(repo, &["explain", "redis"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("transitively"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("): group:admins;"), "{line}");
    assert!(
        line.contains("may (given a weakness or credential): the internet"),
        "{line}"
    );
}

/// An ipset names addresses as a host alias or a CIDR does: the host it holds reaches what
/// the ipset reaches (`explain --outbound`), and is a hop of `paths` and `blast` (it took in
/// nobody, so `explain office --outbound` answered "nothing" while `explain tag:redis`
/// listed `ipset:office`).
#[test]
fn ipsets_take_in_the_addresses_they_hold() {
    let policy = r#"{
  "tagOwners": {"tag:redis": ["autogroup:admin"], "tag:panda": ["autogroup:admin"]},
  "hosts": {"office": "100.100.5.0/24"},
  "ipsets": {"ipset:office": ["add 100.100.0.0/16", "remove 100.100.9.0/24"], "ipset:lab": ["add host:office"]},
  "grants": [
    {"src": ["ipset:office"], "dst": ["tag:redis"], "ip": ["tcp:6379"]},
    {"src": ["tag:panda"], "dst": ["ipset:lab"], "ip": ["tcp:22"]},
  ],
}"#;
    let dir = setup("ipsets", policy);
    let out = tsacl(&dir, &["explain", "office", "--outbound", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tag:redis") && text.contains("6379"),
        "{text}"
    );
    let out = tsacl(&dir, &["paths", "tag:redis", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("100.100.5.0/24 =network=> tag:redis")
            && text.contains("tag:panda ~admin-port~> 100.100.5.0/24"),
        "{text}"
    );
    let out = tsacl(&dir, &["blast", "tag:panda", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("=network=> tag:redis"), "{text}");
}

/// Every device has an address in the tailnet's range, so a rule whose destination spans
/// it (`100.64.0.0/10`) reaches every device: `explain --from` said DENIED ("no rule
/// allows it") and `paths` missed the source, while the control plane lets it through.
#[test]
fn the_tailnets_whole_range_takes_in_every_device() {
    let policy = r#"{
  "tagOwners": {"tag:redis": ["autogroup:admin"], "tag:panda": ["autogroup:admin"], "tag:ci": ["autogroup:admin"]},
  "grants": [
    {"src": ["tag:panda"], "dst": ["tag:redis"], "ip": ["tcp:6379"]},
    {"src": ["tag:ci"], "dst": ["100.64.0.0/10"], "ip": ["tcp:6379"]},
    {"src": ["fd7a:115c:a1e0::/48"], "dst": ["tag:ci"], "ip": ["tcp:22"]},
  ],
}"#;
    let dir = setup("tailnet-range", policy);
    let out = tsacl(
        &dir,
        &["explain", "tag:redis", "--from", "tag:ci", "policy.hujson"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ALLOWED") && text.contains("grants[1]"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let out = tsacl(&dir, &["explain", "tag:redis", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("cannot reach it: tag:ci"), "{text}");
    // As a source too: every device may SSH into ci, and so become it and reach redis.
    let out = tsacl(&dir, &["paths", "tag:redis", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tag:ci =network=> tag:redis")
            && text.contains("~admin-port~> tag:ci =network=> tag:redis"),
        "{text}"
    );
}

/// A rule written with a device's address (a host alias) is followed through the device
/// an inventory says holds it: whoever can SSH into that device reaches what the address
/// reaches, and so does its own principal; a tag's owner, who can only tag *another*
/// device (with another address), does not. Without an inventory the address is named
/// as not followed.
#[test]
fn an_address_rule_is_followed_through_the_device_holding_it() {
    const POLICY: &str = r#"{
	"groups": {"group:ops": ["ann@example.com"]},
	"tagOwners": {"tag:redis": [], "tag:panda": ["group:ops"], "tag:ci": []},
	"hosts": {"panda-host": "100.64.1.5", "redis-host": "100.64.1.9"},
	"grants": [
		{"src": ["panda-host"], "dst": ["redis-host"], "ip": ["tcp:6379"]},
		{"src": ["tag:ci"], "dst": ["tag:panda"], "ip": ["tcp:22"]},
	],
	"ssh": [
		{"action": "accept", "src": ["tag:ci"], "dst": ["tag:panda"], "users": ["root"]},
	],
}
"#;
    let dir = setup("held-address", POLICY);
    std::fs::write(
        dir.join("inventory.json"),
        r#"{"devices": [
  {"name": "panda.example.ts.net", "hostname": "panda", "addresses": ["100.64.1.5"], "tags": ["tag:panda"]},
  {"name": "redis-1.example.ts.net", "hostname": "redis-1", "addresses": ["100.64.1.9"], "tags": ["tag:redis"]},
  {"name": "ci-1.example.ts.net", "hostname": "ci-1", "addresses": ["100.65.0.9"], "tags": ["tag:ci"]}
], "users": [{"loginName": "ann@example.com", "role": "member"}]}"#,
    )
    .unwrap();
    let redis_with_inventory = |format: &str| {
        tsacl(
            &dir,
            &[
                "paths",
                "tag:redis",
                "policy.hujson",
                "--inventory",
                "inventory.json",
                "--format",
                format,
            ],
        )
    };
    let doc = json(&redis_with_inventory("json"));
    let ci = chain(&doc, "tag:ci").expect("tag:ci SSHs into panda, which reaches redis");
    let kinds: Vec<&str> = ci["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ssh", "network"], "{doc:#}");
    assert_eq!(ci["hops"][0]["to"], "panda (100.64.1.5)");
    assert_eq!(ci["hops"][1]["to"], "tag:redis");
    let direct = chain(&doc, "panda (100.64.1.5)").expect("the address itself");
    assert!(
        direct["principals"]
            .as_array()
            .unwrap()
            .contains(&Value::from("tag:panda")),
        "tag:panda's own device is panda-host: {doc:#}"
    );
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        !text.contains("group:ops") && !text.contains("ann@example.com"),
        "owning tag:panda tags another device, not the one at panda-host: {doc:#}"
    );
    // Blast from tag:ci reaches redis through panda.
    let out = tsacl(
        &dir,
        &[
            "blast",
            "tag:ci",
            "policy.hujson",
            "--inventory",
            "inventory.json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tag:ci =ssh=> panda (100.64.1.5) =network=> tag:redis"),
        "{text}"
    );
    // Offline: nothing reaches tag:redis for certain; what reaches the addresses its
    // devices may hold is undecided, never "nothing".
    let doc = json(&tsacl(
        &dir,
        &["paths", "tag:redis", "policy.hujson", "--format", "json"],
    ));
    assert!(chain(&doc, "tag:ci").is_none(), "{doc:#}");
    assert_eq!(doc["chains"], serde_json::json!([]), "{doc:#}");
    let undecided = doc["undecided_chains"].as_array().unwrap();
    let last_hops: Vec<String> = undecided
        .iter()
        .map(|c| {
            let hops = c["hops"].as_array().unwrap();
            let last = &hops[hops.len() - 1];
            format!("{} -> {}", last["from"], last["to"])
        })
        .collect();
    assert!(
        last_hops
            .iter()
            .any(|h| h == "\"panda-host (100.64.1.5)\" -> \"redis-host (100.64.1.9)\""),
        "{doc:#}"
    );
    let out = tsacl(&dir, &["paths", "tag:redis", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("nothing for certain")
            && text.contains("undecided: these reach addresses in the tailnet's range; they reach tag:redis too if its devices hold those addresses")
            && text.contains(
                "panda-host (100.64.1.5) =network=> redis-host (100.64.1.9): may connect on tcp:6379 (grants[0] policy.hujson:6:35)"
            ),
        "{text}"
    );
    assert!(!text.contains("  nothing\n"), "{text}");
    // The inventory decides it: no undecided chains.
    let doc = json(&redis_with_inventory("json"));
    assert_eq!(doc["undecided_chains"], serde_json::json!([]), "{doc:#}");
    // Blast from tag:panda: the rule from panda-host counts if tag:panda's devices hold it.
    let out = tsacl(&dir, &["blast", "tag:panda", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("undecided: addresses in the tailnet's range reach these; so does tag:panda if its devices hold those addresses")
            && text.contains("panda-host (100.64.1.5) =network=> redis-host (100.64.1.9)"),
        "{text}"
    );
    let out = tsacl(&dir, &["paths", "redis-host", "policy.hujson"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("panda-host (100.64.1.5) =network=> redis-host (100.64.1.9)"),
        "{text}"
    );
    assert!(
        text.contains("note: panda-host (100.64.1.5) is in the tailnet's address range")
            && text.contains("note: redis-host is in the tailnet's address range: rules naming users, tags or autogroups reach it too if it is one of their devices")
            && text.contains("pass --inventory"),
        "{text}"
    );
    let doc = json(&tsacl(
        &dir,
        &["paths", "redis-host", "policy.hujson", "--format", "json"],
    ));
    assert_eq!(
        doc["addresses_not_followed"],
        serde_json::json!(["panda-host (100.64.1.5)"])
    );
    assert!(
        doc["address_note"]
            .as_str()
            .unwrap()
            .starts_with("redis-host is in")
    );
    // The pictures show the undecided chains too, the open step as a dotted edge of its own.
    let out = tsacl(
        &dir,
        &["paths", "tag:redis", "policy.hujson", "--format", "dot"],
    );
    let dot = String::from_utf8_lossy(&out.stdout);
    let node = |name: &str| {
        let line = dot
            .lines()
            .find(|l| l.contains(&format!("[label=\"{name}\"]")))
            .unwrap_or_else(|| panic!("no node {name}: {dot}"));
        line.trim().split(' ').next().unwrap().to_string()
    };
    let (panda, redis_host, redis) = (
        node("panda-host (100.64.1.5)"),
        node("redis-host (100.64.1.9)"),
        node("tag:redis"),
    );
    assert!(
        dot.contains(&format!(
            "{panda} -> {redis_host} [label=\"network (grants[0])\"];"
        )) && dot.contains(&format!(
            "{redis_host} -> {redis} [label=\"if tag:redis's devices hold it\", style=dotted"
        )),
        "{dot}"
    );
    valid_dot(&dot);
    let out = tsacl(
        &dir,
        &["blast", "tag:panda", "policy.hujson", "--format", "mermaid"],
    );
    let mermaid = String::from_utf8_lossy(&out.stdout);
    assert!(
        mermaid.contains("-.->|\"undecided: if tag:panda's devices hold it\"|")
            && mermaid.contains("-->|\"network (grants[0])\"|"),
        "{mermaid}"
    );
    valid_mermaid(&mermaid);
    // With the inventory nothing is open.
    let out = redis_with_inventory("dot");
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(!dot.contains("dotted") && dot.contains("tag:ci"), "{dot}");
    valid_dot(&dot);
}
