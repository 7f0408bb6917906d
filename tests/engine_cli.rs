//! `tsacl filter`, `explain` and `graph` on the repository's own policy, end to end.

#[path = "support/graphviz.rs"]
mod graphviz;
#[path = "support/mermaid.rs"]
mod mermaid;
use graphviz::valid_dot;
use mermaid::valid_mermaid;
use std::process::{Command, Output};

fn tsacl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const POLICY: &str = "policies/policy.hujson";
const INVENTORY: &str = "policies/inventory.json";

#[test]
fn filter_prints_what_each_device_receives() {
    let out = tsacl(&[
        "filter",
        POLICY,
        "--inventory",
        INVENTORY,
        "--node",
        "redis",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = v["redis"]["packet_filter_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["SrcIPs"],
        serde_json::json!(["100.101.1.1", "fd7a:115c:a1e0::101:101"])
    );
    assert_eq!(rules[0]["IPProto"], serde_json::json!([6]));
    assert_eq!(rules[0]["DstPorts"][0]["Ports"]["First"], 6379);
    assert_eq!(v["redis"]["peers"], serde_json::json!(["panda"]));
    let worker = tsacl(&[
        "filter",
        POLICY,
        "--inventory",
        INVENTORY,
        "--node",
        "worker",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&worker.stdout).unwrap();
    // Funnel runs on panda, which forwards to the worker (the intents' `funnel: { via:
    // "panda" }`): the attribute is panda's, not the worker's.
    assert!(v["worker"]["cap_map"].get("funnel").is_none(), "{v}");
    let panda = tsacl(&[
        "filter",
        POLICY,
        "--inventory",
        INVENTORY,
        "--node",
        "panda",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&panda.stdout).unwrap();
    assert!(v["panda"]["cap_map"].get("funnel").is_some(), "{v}");
    let all = tsacl(&["filter", POLICY, "--inventory", INVENTORY]);
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 12);
    // panda may SSH only after a check, from the admins' devices.
    assert!(v["panda"]["ssh_rules"][0]["action"]["holdAndDelegate"].is_string());
}

#[test]
fn filter_rejects_bad_names_and_files() {
    let out = tsacl(&[
        "filter",
        POLICY,
        "--inventory",
        INVENTORY,
        "--node",
        "redsi",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"redis\""),
        "{}",
        stderr(&out)
    );
    let out = tsacl(&["filter", POLICY, "--inventory", "nope.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.json"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("inv.json");
    std::fs::write(&bad, r#"{"devices": [{"hostname": "x", "tags": []}]}"#).unwrap();
    let out = tsacl(&["filter", POLICY, "--inventory", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("device \"x\": missing \"addresses\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_says_who_reaches_a_target_and_through_which_rule() {
    let out = tsacl(&["explain", "tag:redis"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("tcp 6379"), "{text}");
    assert!(text.contains("tag:panda"), "{text}");
    // The rule is cited where it was written: the intent, not the compiled file.
    let intents = std::fs::read_to_string(format!(
        "{}/policies/tailnet.json5",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let line = intents
        .lines()
        .position(|l| l.trim_start().starts_with("redis:"))
        .unwrap()
        + 1;
    assert!(
        text.contains("intent redis") && text.contains(&format!("policies/tailnet.json5:{line}:5")),
        "{text}"
    );
    assert!(!text.contains("policy.hujson"), "{text}");
    assert!(
        text.contains("cannot reach it:") && text.contains("tag:clanker"),
        "{text}"
    );

    let out = tsacl(&["explain", "tag:redis", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rules"][0]["sources"], serde_json::json!(["tag:panda"]));
    assert_eq!(v["rules"][0]["ports"], "6379");
}

#[test]
fn explain_from_answers_why_and_why_not() {
    let out = tsacl(&[
        "explain",
        "tag:redis",
        "--from",
        "tag:panda",
        "--port",
        "6379",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("ALLOWED"));
    let out = tsacl(&["explain", "tag:redis", "--from", "tag:clanker"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("DENIED"), "{text}");
    assert!(
        text.contains("intent redis (policies/tailnet.json5:")
            && text.contains("its sources (tag:panda) do not include tag:clanker"),
        "{text}"
    );
    // Only the rule that opens redis is near: those that take clanker elsewhere are not.
    assert_eq!(text.matches("nearest:").count(), 1, "{text}");
    let out = tsacl(&[
        "explain",
        "tag:livekit",
        "--from",
        "joel@example.com",
        "--port",
        "7881",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Another protocol on the same rule: one nearest rule, naming the protocol.
    let out = tsacl(&[
        "explain",
        "livekit",
        "--from",
        "joel@example.com",
        "--port",
        "7881",
        "--proto",
        "udp",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("nearest: intent livekit") && text.contains("allows protocol tcp, not udp"),
        "{text}"
    );
    assert_eq!(text.matches("nearest:").count(), 1, "{text}");
}

#[test]
fn explain_by_device_and_outbound() {
    let out = tsacl(&["explain", "laptop", "--inventory", INVENTORY, "--outbound"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("tag:pds") && text.contains("tag:livekit"),
        "{text}"
    );
    assert!(!text.contains("tag:redis"), "{text}");
}

#[test]
fn explain_rejects_unknown_names_with_a_suggestion() {
    let out = tsacl(&["explain", "tag:rediss"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"tag:redis\""),
        "{}",
        stderr(&out)
    );
    let out = tsacl(&["explain", "tag:redis", "--from", "group:admin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("group:admins"), "{}", stderr(&out));
}

#[test]
fn graph_in_three_formats() {
    let dot = stdout(&tsacl(&["graph", "--format", "dot"]));
    assert!(
        dot.starts_with("digraph tailnet {") && dot.contains("tcp 6379"),
        "{dot}"
    );
    valid_dot(&dot);
    let mermaid = stdout(&tsacl(&["graph", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart LR"));
    valid_mermaid(&mermaid);
    let json: serde_json::Value =
        serde_json::from_slice(&tsacl(&["graph", "--format", "json"]).stdout).unwrap();
    let edges = json["edges"].as_array().unwrap();
    // The repository's policy is its intents' output: nodes by the intents' names.
    assert!(edges.iter().any(|e| e["from"] == "panda (tag:panda)"
        && e["to"] == "redis (tag:redis)"
        && e["ports"] == serde_json::json!(["tcp 6379"])));
    assert_eq!(tsacl(&["graph", "missing.hujson"]).status.code(), Some(2));
}

/// At scale the text stays a screenful: the first 20 rules and 10 principals that cannot
/// reach the target, then counts; `--all` and `--format json` give everything.
#[test]
fn explain_text_is_a_screenful_at_scale() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let owners: Vec<String> = (0..n)
        .map(|i| format!("\"tag:t{i}\": [\"autogroup:admin\"]"))
        .chain(["\"tag:db\": [\"autogroup:admin\"]".to_string()])
        .collect();
    let grants: Vec<String> = (0..n / 2)
        .map(|i| {
            format!(
                "{{\"src\": [\"tag:t{i}\"], \"dst\": [\"tag:db\"], \"ip\": [\"tcp:{}\"]}}",
                1000 + i
            )
        })
        .collect();
    let policy = format!(
        "{{\"tagOwners\": {{{}}}, \"grants\": [{}]}}",
        owners.join(", "),
        grants.join(", ")
    );
    let path = dir.path().join("p.hujson");
    std::fs::write(&path, policy).unwrap();
    let explain = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsacl"))
            .args(["explain", "tag:db"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = explain(&[]);
    assert!(text.lines().count() <= 25, "{text}");
    assert!(
        text.contains("... and 130 more rules (--all shows every one)"),
        "{text}"
    );
    assert!(
        text.contains("and 140 more tags (--all shows every one)"),
        "{text}"
    );
    let all = explain(&["--all"]);
    assert!(all.lines().count() > n / 2, "{}", all.lines().count());
    assert!(all.contains("tag:t149") && all.contains("tag:t299"));
    let json: serde_json::Value = serde_json::from_str(&explain(&["--format", "json"])).unwrap();
    assert_eq!(json["cannot_reach"].as_array().unwrap().len(), n - n / 2);
}

#[test]
fn the_access_diff_at_scale_is_a_readable_summary_and_json_lists_every_cell() {
    // 300 tags; a group of 40 users gains a port on every one of them.
    let dir = tempfile::tempdir().unwrap();
    let (tags, users) = (300, 40);
    let owners: Vec<String> = (0..tags)
        .map(|i| format!("\"tag:t{i}\": [\"autogroup:admin\"]"))
        .collect();
    let members: Vec<String> = (0..users)
        .map(|i| format!("\"u{i}@example.com\""))
        .collect();
    let policy = |grants: &str| {
        format!(
            "{{\"groups\": {{\"group:eng\": [{}]}}, \"tagOwners\": {{{}}}, \"grants\": [{grants}]}}",
            members.join(", "),
            owners.join(", ")
        )
    };
    let old = dir.path().join("old.hujson");
    let new = dir.path().join("new.hujson");
    std::fs::write(
        &old,
        policy(r#"{"src": ["group:eng"], "dst": ["tag:t0"], "ip": ["tcp:22"]}"#),
    )
    .unwrap();
    let every: Vec<String> = (0..tags).map(|i| format!("\"tag:t{i}\"")).collect();
    std::fs::write(
        &new,
        policy(&format!(
            r#"{{"src": ["group:eng"], "dst": ["tag:t0"], "ip": ["tcp:22"]}}, {{"src": ["group:eng"], "dst": [{}], "ip": ["tcp:443"]}}"#,
            every.join(", ")
        )),
    )
    .unwrap();
    let diff = |format: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
            .arg("diff")
            .args([&old, &new])
            .args(format)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        stdout(&out)
    };
    // The text: a line per destination naming 8 of the 40 sources (in the principals'
    // order: sorted names), then at most 200 lines.
    let text = diff(&[]);
    let access = text.split("\n\n").next().unwrap();
    assert!(
        access.contains(
            "  + u0@example.com, u10@example.com, u11@example.com, u12@example.com, u13@example.com, u14@example.com, u15@example.com, u16@example.com and 32 more -> tag:t0: tcp 443\n"
        ),
        "{access}"
    );
    assert_eq!(access.lines().count(), 1 + 200 + 1, "{access}");
    assert!(
        access.ends_with("  ... and 100 more changes (tsacl diff --format json lists every one)"),
        "{access}"
    );
    // JSON: every (source, destination) cell.
    let json: serde_json::Value = serde_json::from_str(&diff(&["--format", "json"])).unwrap();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), tags * users);
    assert_eq!(
        changes[0],
        serde_json::json!({"src": "u0@example.com", "dst": "tag:t0", "gained": {"tcp": ["443"]}, "lost": {}})
    );
    assert_eq!(json["locked_out"], serde_json::json!([]));
}

/// A rule written with addresses in part of the tailnet's range (a host alias of a
/// device's address, a CIDR) reaches a tag's devices only if they hold those addresses:
/// without an inventory `explain` says it is undecided instead of "cannot reach" or
/// DENIED, and with one it decides, device by device.
#[test]
fn explain_says_what_addresses_decide_and_decides_it_with_an_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.hujson");
    std::fs::write(
        &policy,
        r#"{
  "tagOwners": {"tag:redis": [], "tag:ci": [], "tag:web": []},
  "hosts": {"redis-host": "100.64.1.5"},
  "grants": [
    {"src": ["tag:ci"], "dst": ["redis-host"], "ip": ["tcp:6379"]},
    {"src": ["100.65.0.0/16"], "dst": ["tag:web"], "ip": ["tcp:443"]}
  ]
}"#,
    )
    .unwrap();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        r#"{"devices": [
  {"name": "redis-1.example.ts.net", "hostname": "redis-1", "addresses": ["100.64.1.5"], "tags": ["tag:redis"]},
  {"name": "redis-2.example.ts.net", "hostname": "redis-2", "addresses": ["100.100.1.5"], "tags": ["tag:redis"]},
  {"name": "ci-1.example.ts.net", "hostname": "ci-1", "addresses": ["100.65.0.9"], "tags": ["tag:ci"]}
]}"#,
    )
    .unwrap();
    let (p, inv) = (policy.to_str().unwrap(), inventory.to_str().unwrap());

    // Offline: the rule to redis-host may reach tag:redis; tag:ci may reach it.
    let out = tsacl(&["explain", "tag:redis", p]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("nothing for certain"), "{text}");
    assert!(
        text.contains("undecided: rules written with addresses")
            && text.contains("pass --inventory"),
        "{text}"
    );
    assert!(
        text.contains("    tag:ci ") && text.contains("grants[0]"),
        "{text}"
    );
    assert!(
        text.contains("may reach it, as addresses decide: tag:ci"),
        "{text}"
    );
    assert!(text.contains("cannot reach it: tag:web"), "{text}");
    assert!(!text.contains("cannot reach it: tag:ci"), "{text}");
    let json = tsacl(&["explain", "tag:redis", p, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["rules"], serde_json::json!([]));
    assert_eq!(v["undecided_rules"][0]["rule"], "grants[0]");
    assert_eq!(v["undecided_rules"][0]["destination"], "redis-host");
    assert_eq!(v["undecided_sources"], serde_json::json!(["tag:ci"]));
    assert_eq!(v["cannot_reach"], serde_json::json!(["tag:web"]));

    // Why: UNDECIDED on the rule's port, with what decides it; exit 1 (not allowed).
    let out = tsacl(&["explain", "tag:redis", "--from", "tag:ci", p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("tag:ci -> tag:redis tcp/6379: UNDECIDED"),
        "{text}"
    );
    assert!(
        text.contains("may allow: grants[0]")
            && text.contains("whether tag:redis's devices hold an address of redis-host"),
        "{text}"
    );
    assert!(!text.contains("DENIED"), "{text}");
    // On the source side too: tag:ci's devices may be in 100.65.0.0/16.
    let out = tsacl(&["explain", "tag:web", "--from", "tag:ci", "--port", "443", p]);
    let text = stdout(&out);
    assert!(
        text.contains("UNDECIDED")
            && text.contains(
                "whether tag:ci's devices hold an address of its sources (100.65.0.0/16)"
            ),
        "{text}"
    );
    let json = tsacl(&[
        "explain", "tag:web", "--from", "tag:ci", "--port", "443", p, "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["answers"][0]["allowed"], false);
    assert_eq!(v["answers"][0]["undecided"][0]["rule"], "grants[1]");
    assert!(
        v["answers"][0]["undecided"][0]["location"]
            .as_str()
            .unwrap()
            .ends_with(":6:5")
    );

    // With the inventory: redis-1 holds 100.64.1.5, redis-2 does not; ci-1 is in
    // 100.65.0.0/16.
    let out = tsacl(&["explain", "tag:redis", p, "--inventory", inv]);
    let text = stdout(&out);
    assert!(
        !text.contains("undecided") && !text.contains("may reach"),
        "{text}"
    );
    assert!(
        text.contains("  tag:ci ") && text.contains("grants[0]"),
        "{text}"
    );
    let out = tsacl(&["explain", "redis-2", p, "--inventory", inv]);
    let text = stdout(&out);
    assert!(
        text.contains("nothing: no rule has it as a destination"),
        "{text}"
    );
    assert!(text.contains("cannot reach it: tag:ci, tag:web"), "{text}");
    let out = tsacl(&[
        "explain",
        "redis-1",
        "--from",
        "tag:ci",
        "--port",
        "6379",
        p,
        "--inventory",
        inv,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("ALLOWED"), "{}", stdout(&out));
    let out = tsacl(&[
        "explain",
        "redis-2",
        "--from",
        "tag:ci",
        "--port",
        "6379",
        p,
        "--inventory",
        inv,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("DENIED"), "{}", stdout(&out));
    let out = tsacl(&[
        "explain",
        "tag:web",
        "--from",
        "ci-1",
        "--port",
        "443",
        p,
        "--inventory",
        inv,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = tsacl(&["explain", "tag:ci", "--outbound", p]);
    let text = stdout(&out);
    assert!(
        text.contains("undecided") && text.contains("tag:web"),
        "{text}"
    );
    let out = tsacl(&["explain", "tag:ci", "--outbound", p, "--inventory", inv]);
    let text = stdout(&out);
    assert!(
        !text.contains("undecided") && text.contains("  tag:web "),
        "{text}"
    );

    // An address of the tailnet's range named on the command line: whose device it is
    // decides, which the policy does not say; an inventory does.
    let out = tsacl(&["explain", "100.64.1.5", p]);
    let text = stdout(&out);
    assert!(
        text.contains("note: 100.64.1.5 is in the tailnet's address range"),
        "{text}"
    );
    assert!(
        text.contains("may reach it, as addresses decide: tag:redis, tag:web"),
        "{text}"
    );
    let out = tsacl(&["explain", "100.64.1.5", p, "--inventory", inv]);
    let text = stdout(&out);
    assert!(!text.contains("note:"), "{text}");
    assert!(text.contains("cannot reach it: tag:web"), "{text}");
    // Outside the range nothing is left open.
    let out = tsacl(&["explain", "192.0.2.1", p]);
    let text = stdout(&out);
    assert!(
        !text.contains("note:") && text.contains("cannot reach it: tag:redis, tag:ci, tag:web"),
        "{text}"
    );
}

/// A rule to a subnet, to the internet or to part of the tailnet's range, and a rule from
/// addresses, change effective access: the diff (and so `push`) says so instead of
/// "unchanged".
#[test]
fn the_access_diff_shows_rules_written_with_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let before = r#"{"tagOwners": {"tag:redis": [], "tag:ci": []},
  "grants": [{"src": ["tag:ci"], "dst": ["tag:redis"], "ip": ["tcp:80"]}]}"#;
    let after = r#"{"tagOwners": {"tag:redis": [], "tag:ci": []},
  "ipsets": {"ipset:lab": ["add 192.168.10.0/24"]},
  "hosts": {"redis-host": "100.64.1.9"},
  "grants": [
    {"src": ["tag:ci"], "dst": ["tag:redis"], "ip": ["tcp:80"]},
    {"src": ["tag:ci"], "dst": ["10.0.0.0/8", "autogroup:internet", "ipset:lab"], "ip": ["tcp:443"]},
    {"src": ["tag:ci"], "dst": ["redis-host"], "ip": ["tcp:6380"]},
    {"src": ["tag:ci"], "dst": ["100.64.0.0/12"], "ip": ["tcp:6379"]},
    {"src": ["192.168.1.0/24"], "dst": ["tag:redis"], "ip": ["tcp:22"]}
  ]}"#;
    std::fs::write(dir.path().join("a.json"), before).unwrap();
    std::fs::write(dir.path().join("b.json"), after).unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let out = tsacl(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("unchanged"), "{text}");
    for line in [
        "+ tag:ci -> 10.0.0.0/8: tcp 443",
        "+ tag:ci -> autogroup:internet: tcp 443",
        // Addresses a host alias or an ipset names, by that name.
        "+ tag:ci -> ipset:lab (192.168.10.0/24): tcp 443",
        "+ tag:ci -> redis-host (100.64.1.9): tcp 6379-6380",
        "+ tag:ci -> 100.64.0.0/12: tcp 6379",
        "+ 192.168.1.0/24 -> tag:redis: tcp 22",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    // Reversed: each is lost, and nobody is locked out (addresses are not principals
    // that log in).
    let out = tsacl(&[
        "diff",
        b.to_str().unwrap(),
        a.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("192.168.1.0/24") && text.contains("autogroup:internet"),
        "{v:#}"
    );
}
