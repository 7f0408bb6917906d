//! Tailscale SSH through the real binary: TSA219 for an `ssh` rule with no network path to
//! port 22, the intents' `ssh` (both halves compiled, tested, proven), `explain` naming the
//! SSH rules, and the repository's own tailnet.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const NO_PORT_22: &str = r#"{
  "groups": {"group:admins": ["joel@example.com"]},
  "tagOwners": {"tag:panda": [], "tag:redis": []},
  "grants": [{"src": ["tag:panda"], "dst": ["tag:redis"], "ip": ["tcp:6379"]}],
  "ssh": [{"action": "check", "src": ["group:admins"], "dst": ["tag:panda"], "users": ["root"]}],
}
"#;

#[test]
fn an_ssh_rule_without_port_22_is_a_warning_naming_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.hujson"), NO_PORT_22).unwrap();
    let o = tsacl(dir.path(), &["check", "policy.hujson"]);
    let out = text(&o);
    assert!(out.contains("TSA219"), "{out}");
    assert!(out.contains("SSH"), "{out}");
    assert!(out.contains("port 22"), "{out}");
    assert!(out.contains("joel@example.com → tag:panda"), "{out}");
    // A warning: exit 0 unless warnings are errors.
    assert_eq!(o.status.code(), Some(0), "{out}");

    let fixed = NO_PORT_22.replace(
        r#""ip": ["tcp:6379"]}]"#,
        r#""ip": ["tcp:6379"]}, {"src": ["group:admins"], "dst": ["tag:panda"], "ip": ["tcp:22"]}]"#,
    );
    std::fs::write(dir.path().join("policy.hujson"), fixed).unwrap();
    let out = text(&tsacl(dir.path(), &["check", "policy.hujson"]));
    assert!(!out.contains("TSA219"), "{out}");
}

#[test]
fn explain_port_22_names_the_ssh_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.hujson"), NO_PORT_22).unwrap();
    let o = tsacl(
        dir.path(),
        &[
            "explain",
            "tag:panda",
            "policy.hujson",
            "--from",
            "joel@example.com",
            "--port",
            "22",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("SSH login allowed by ssh[0]"), "{out}");
    assert!(out.contains("needs network access to tcp port 22"), "{out}");
    let o = tsacl(dir.path(), &["explain", "tag:panda", "policy.hujson"]);
    assert!(text(&o).contains("SSH into it: ssh[0]"), "{}", text(&o));
}

const INTENTS: &str = r#"{
  output: "policy.hujson",
  base: "base.hujson",
  groups: { admins: ["joel@example.com"] },
  devices: {
    box: { tags: ["tag:box"], ssh: [{ from: ["group:admins"], users: ["root"] }] },
    laptop: { user: "joel@example.com" },
  },
  services: { redis: { ports: [6379], from: ["box"] } },
}
"#;

fn project(base_grants: &str) -> tempfile::TempDir {
    let (dir, o) = compiled(base_grants);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    dir
}

/// The project with these base grants, and what `tsacl compile` said.
fn compiled(base_grants: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(p.join("tailnet.json5"), INTENTS).unwrap();
    std::fs::write(
        p.join("base.hujson"),
        format!("{{\n\"grants\": [\n{base_grants}\n],\n}}\n"),
    )
    .unwrap();
    let o = tsacl(dir.path(), &["compile"]);
    (dir, o)
}

#[test]
fn ssh_intents_compile_both_halves_and_check_clean() {
    let dir = project("");
    let policy = std::fs::read_to_string(dir.path().join("policies/policy.hujson")).unwrap();
    assert!(
        policy.contains(r#"{"src": ["group:admins"], "dst": ["tag:box"], "ip": ["tcp:22"]}"#),
        "{policy}"
    );
    assert!(policy.contains(r#""users":  ["root"]"#), "{policy}");
    assert!(policy.contains(r#""action": "check""#), "{policy}");
    assert!(
        policy.contains(r#"{"src": "group:admins", "accept": ["tag:box:22"]}"#),
        "{policy}"
    );
    // The server itself checks who may log in, as whom.
    assert!(
        policy.contains(r#"{"src": "joel@example.com", "dst": ["tag:box"], "check": ["root"]}"#),
        "{policy}"
    );
    let o = tsacl(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("TSA219"), "{}", text(&o));
    let o = tsacl(
        dir.path(),
        &["explain", "box", "--from", "laptop", "--port", "22"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("ssh intent of box"), "{out}");
    assert!(out.contains("SSH login through ssh[0]"), "{out}");
}

#[test]
fn the_proof_covers_port_22_of_a_device_with_ssh_intents() {
    // A base rule that opens the box's SSH port to every member: the proof refuses it,
    // so `compile` writes nothing (it refuses what `check` refuses).
    let (dir, o) =
        compiled(r#"{"src": ["autogroup:member"], "dst": ["tag:box"], "ip": ["tcp:22"]},"#);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!dir.path().join("policies/policy.hujson").exists(), "{out}");
    assert!(out.contains("TSA113"), "{out}");
    assert!(out.contains("can reach box on tcp:22"), "{out}");
    assert!(out.contains("base.hujson:3"), "{out}");
    // Other ports of the device are not the ssh intents' business.
    let dir = project(r#"{"src": ["autogroup:member"], "dst": ["tag:box"], "ip": ["tcp:443"]},"#);
    let o = tsacl(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn generated_ssh_tests_catch_root_given_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(
        p.join("tailnet.json5"),
        INTENTS.replace(
            r#"ssh: [{ from: ["group:admins"], users: ["root"] }]"#,
            r#"ssh: [{ from: ["group:admins"], users: ["ubuntu"], action: "accept" }]"#,
        ),
    )
    .unwrap();
    std::fs::write(p.join("base.hujson"), "{}\n").unwrap();
    let o = tsacl(dir.path(), &["compile"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let policy = std::fs::read_to_string(p.join("policy.hujson")).unwrap();
    let flat: String = policy.split_whitespace().collect();
    assert!(
        flat.contains(
            r#"{"src":"joel@example.com","dst":["tag:box"],"accept":["ubuntu"],"deny":["root"],}"#
        ),
        "{policy}"
    );
    // The base lets the admins in as root too: the generated test fails, at the intent.
    std::fs::write(
        p.join("base.hujson"),
        r#"{"ssh": [{"action": "accept", "src": ["group:admins"], "dst": ["tag:box"], "users": ["root"]}]}"#,
    )
    .unwrap();
    let o = tsacl(dir.path(), &["compile"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("TSA101"), "{out}");
    assert!(out.contains("as \"root\": want deny, got accept"), "{out}");
    assert!(out.contains("tailnet.json5:"), "{out}");
}

#[test]
fn malformed_ssh_intents_are_errors_at_the_intent() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir(&p).unwrap();
    for (intents, expect) in [
        (
            r#"{ devices: { box: { tags: ["tag:box"], ssh: [{ from: ["group:admins"] }] } }, groups: { admins: ["a@example.com"] } }"#,
            "needs `users`",
        ),
        (
            r#"{ devices: { box: { tags: ["tag:box"], ssh: [{ from: ["admins"], users: ["root"], action: "deny" }] } } }"#,
            "must be \"accept\" or \"check\"",
        ),
        (
            r#"{ devices: { box: { user: "a@example.com", ssh: [{ from: ["a@example.com"], users: ["root"] }] } } }"#,
            "needs the device to be tagged",
        ),
        (
            r#"{ devices: { box: { tags: ["tag:box"], ssh: [{ from: ["boxx"], users: ["root"] }] } } }"#,
            "did you mean \"box\"?",
        ),
        (
            r#"{ devices: { box: { tags: ["tag:box"], ssh: [{ form: ["box"], users: ["root"] }] } } }"#,
            "did you mean \"from\"?",
        ),
    ] {
        std::fs::write(p.join("tailnet.json5"), intents).unwrap();
        let o = tsacl(dir.path(), &["check"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{intents}: {out}");
        assert!(out.contains(expect), "{intents}: {out}");
        assert!(out.contains("tailnet.json5:1:"), "{intents}: {out}");
    }
}

#[test]
fn the_repository_tailnet_lets_admins_ssh_into_panda() {
    let o = tsacl(&repo(), &["check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("TSA219"), "{out}");
    let o = tsacl(
        &repo(),
        &[
            "filter",
            "policies/policy.hujson",
            "--inventory",
            "policies/inventory.json",
            "--node",
            "panda",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let panda = &v["panda"];
    let inventory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("policies/inventory.json")).unwrap(),
    )
    .unwrap();
    // The admins' devices: those of joel@example.com.
    let admin_ips: Vec<String> = inventory["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["user"] == "joel@example.com" && d["tags"].as_array().is_none_or(|t| t.is_empty())
        })
        .flat_map(|d| d["addresses"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(!admin_ips.is_empty());
    let ssh = panda["ssh_rules"].to_string();
    let filter = &panda["packet_filter_rules"];
    for ip in &admin_ips {
        assert!(ssh.contains(ip), "{ip} has no SSH principal: {ssh}");
        let opened = filter.as_array().unwrap().iter().any(|r| {
            r["IPProto"]
                .as_array()
                .is_some_and(|p| p.contains(&6.into()))
                && r["DstPorts"].as_array().unwrap().iter().any(|d| {
                    d["Ports"]["First"].as_u64() <= Some(22)
                        && d["Ports"]["Last"].as_u64() >= Some(22)
                })
                && r["SrcIPs"].as_array().unwrap().iter().any(|s| {
                    let s = s.as_str().unwrap();
                    covers(s, ip)
                })
        });
        assert!(opened, "{ip} cannot reach panda's port 22: {filter}");
    }
}

/// Whether a filter source (`a`, `a-b` or a CIDR, as the control plane writes them) holds `ip`.
fn covers(src: &str, ip: &str) -> bool {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    if let Some((a, b)) = src.split_once('-') {
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
        return a <= ip && ip <= b;
    }
    if src == "*" {
        return true;
    }
    src.split('/')
        .next()
        .unwrap()
        .parse::<std::net::IpAddr>()
        .ok()
        == Some(ip)
}
