//! `tsacl filter`, `explain` and `graph` on the repository's own policy, end to end.

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
    let mermaid = stdout(&tsacl(&["graph", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart LR"));
    let json: serde_json::Value =
        serde_json::from_slice(&tsacl(&["graph", "--format", "json"]).stdout).unwrap();
    let edges = json["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["from"] == "tag:panda"
        && e["to"] == "tag:redis"
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
