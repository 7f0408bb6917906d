//! "Only" where the policy lives: the compiled `tests` deny every principal the intents
//! name a service not meant for it, so the control plane's own test run fails an edit
//! that opens one; sources with ports of their own (`{ source, ports }`); hand edits of
//! the compiled policy reported as what they open.

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A project of its own: every kind of principal the intents can name (devices by tag,
/// by owner and by address, a group, a user, a tag) and services meant for some of them.
const INTENTS: &str = r#"{
  output: "policy.hujson",
  groups: { ops: ["ann@example.com"] },
  devices: {
    gateway: { tags: ["tag:gateway"] },
    builder: { tags: ["tag:builder"] },
    desk: { user: "bob@example.com" },
    printer: { ip: "192.168.1.40" },
  },
  services: {
    postgres: { ports: [5432], from: ["gateway"] },
    metrics: { ports: ["tcp:9090", "udp:8125"], from: ["group:ops", "gateway"] },
    wiki: { ports: ["tcp:8000-8002"], from: ["carol@example.com", "tag:builder"] },
    minio: { ports: [9000], from: ["builder", { source: "printer", ports: [9001] }] },
  },
}
"#;

fn project(intents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("tailnet.json5"), intents).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 errors, 0 warnings"),
        "{}",
        stderr(&out)
    );
    (dir, policies)
}

/// The compiled policy without its two header lines, as the control plane runs it, with
/// `rule` as its first grant.
fn headerless_with(policies: &Path, rule: &str) -> String {
    let text = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    let body: String = text.split_inclusive('\n').skip(2).collect();
    assert!(body.starts_with('{'), "{body}");
    let edited = body.replacen(
        "\"grants\": [\n",
        &format!("\"grants\": [\n\t\t{rule},\n"),
        1,
    );
    assert_ne!(edited, body);
    edited
}

/// Check a plain policy file (no project around it).
fn check_plain(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.hujson"), text).unwrap();
    tsacl(dir.path(), &["check", "plain.hujson"])
}

#[test]
fn the_compiled_tests_deny_every_principal_a_service_is_not_for() {
    let (_dir, policies) = project(INTENTS);
    // Each principal the intents name, and a service (port) its `from` does not.
    let cases = [
        ("tag:builder", "tag:postgres", "tcp:5432"),
        ("tag:gateway", "tag:minio", "tcp:9000"),
        ("tag:gateway", "tag:wiki", "tcp:8000"),
        ("tag:builder", "tag:metrics", "udp:8125"),
        ("bob@example.com", "tag:postgres", "tcp:5432"),
        ("bob@example.com", "tag:minio", "tcp:9001"),
        ("group:ops", "tag:postgres", "tcp:5432"),
        ("ann@example.com", "tag:wiki", "tcp:8002"),
        ("carol@example.com", "tag:metrics", "tcp:9090"),
        ("printer", "tag:postgres", "tcp:5432"),
        ("printer", "tag:metrics", "udp:8125"),
    ];
    for (src, dst, ip) in cases {
        let rule = format!(r#"{{"src": ["{src}"], "dst": ["{dst}"], "ip": ["{ip}"]}}"#);
        let out = check_plain(&headerless_with(&policies, &rule));
        let err = stderr(&out);
        // The printer is an address outside the tailnet, no device tsacl knows: the rule
        // names that address, so whoever holds it, the test fails.
        assert_eq!(out.status.code(), Some(1), "{rule}: {err}");
        assert!(err.contains("TSA100"), "{rule}: {err}");
    }
    // The same copy without an extra rule passes its tests: the denials hold.
    let out = check_plain(&headerless_with(
        &policies,
        r#"{"src": ["tag:gateway"], "dst": ["tag:builder"], "ip": ["tcp:22"]}"#,
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_denials_are_one_test_per_principal_and_protocol() {
    let (_dir, policies) = project(INTENTS);
    let text = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    let plain = tsacl::syntax::hujson::standardize(text.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let tests = v["tests"].as_array().unwrap();
    let deny_only: Vec<&serde_json::Value> =
        tests.iter().filter(|t| t.get("accept").is_none()).collect();
    let mut keys: Vec<(String, String)> = deny_only
        .iter()
        .map(|t| {
            (
                t["src"].as_str().unwrap().to_string(),
                t["proto"].as_str().unwrap_or("tcp").to_string(),
            )
        })
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "one test per source and protocol: {keys:?}");
    // A principal a service is meant for is never denied it: the group's member reaches
    // metrics through the group.
    let ann: Vec<&str> = deny_only
        .iter()
        .filter(|t| t["src"] == "ann@example.com" || t["src"] == "group:ops")
        .flat_map(|t| t["deny"].as_array().unwrap())
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(!ann.is_empty());
    assert!(ann.iter().all(|d| !d.starts_with("tag:metrics")), "{ann:?}");
    // A range is denied at both ends.
    let gateway: Vec<&str> = deny_only
        .iter()
        .filter(|t| t["src"] == "tag:gateway")
        .flat_map(|t| t["deny"].as_array().unwrap())
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        gateway.contains(&"tag:wiki:8000") && gateway.contains(&"tag:wiki:8002"),
        "{gateway:?}"
    );
}

/// Broad sources are not denied what they may reach: `autogroup:member` takes in every
/// user and group, `autogroup:tagged` every tag; the tests stay passing on any tailnet.
#[test]
fn broad_sources_are_never_denied() {
    let (_dir, policies) = project(
        r#"{
  output: "policy.hujson",
  groups: { ops: ["ann@example.com"] },
  devices: { gateway: { tags: ["tag:gateway"] }, desk: { user: "bob@example.com" } },
  services: {
    web: { ports: [443], from: ["autogroup:member"] },
    dns: { ports: ["udp:53"], from: ["autogroup:tagged"] },
    db: { ports: [5432], from: ["gateway"] },
  },
}"#,
    );
    let text = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    let plain = tsacl::syntax::hujson::standardize(text.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    for t in v["tests"].as_array().unwrap() {
        let denied: Vec<&str> = t["deny"]
            .as_array()
            .map(|d| d.iter().filter_map(|d| d.as_str()).collect())
            .unwrap_or_default();
        let src = t["src"].as_str().unwrap();
        if src.starts_with("tag:") {
            assert!(!denied.iter().any(|d| d.starts_with("tag:dns:")), "{t}");
        }
        if src.contains('@') || src.starts_with("group:") {
            assert!(!denied.iter().any(|d| d.starts_with("tag:web:")), "{t}");
        }
    }
    // The gateway (a tag) is denied web, which only users may reach, and the users db
    // and dns.
    assert!(text.contains("tag:web:443"), "{text}");
    let rule = r#"{"src": ["group:ops"], "dst": ["tag:dns"], "ip": ["udp:53"]}"#;
    let out = check_plain(&headerless_with(&policies, rule));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rule = r#"{"src": ["tag:gateway"], "dst": ["tag:web"], "ip": ["tcp:443"]}"#;
    let out = check_plain(&headerless_with(&policies, rule));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rule = r#"{"src": ["bob@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#;
    let out = check_plain(&headerless_with(&policies, rule));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

const MINIO: &str = r#"{
  output: "policy.hujson",
  devices: { backup: { tags: ["tag:backup"] }, "ci-runner": { tags: ["tag:ci"] } },
  services: {
    minio: { ports: [9000], from: ['backup', { source: 'ci-runner', ports: [9001] }] },
  },
}"#;

#[test]
fn a_source_with_ports_of_its_own_gets_only_those() {
    let (dir, policies) = project(MINIO);
    let text = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    assert!(
        text.contains(r#"{"src": ["tag:backup"], "dst": ["tag:minio"], "ip": ["tcp:9000"]}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"src": ["tag:ci"], "dst": ["tag:minio"], "ip": ["tcp:9001"]}"#),
        "{text}"
    );
    let out = tsacl(
        dir.path(),
        &["explain", "minio", "--from", "ci-runner", "--port", "9001"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("intended for backup on tcp:9000; ci-runner on tcp:9001"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("ALLOWED"), "{}", stdout(&out));
    let out = tsacl(
        dir.path(),
        &["explain", "minio", "--from", "ci-runner", "--port", "9000"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("DENIED"), "{}", stdout(&out));
    let out = tsacl(
        dir.path(),
        &["explain", "minio", "--from", "backup", "--port", "9001"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = tsacl(dir.path(), &["explain", "minio", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    // The server-side tests accept ci-runner on 9001 and deny it the service's 9000.
    let plain = tsacl::syntax::hujson::standardize(text.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let ci = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["src"] == "tag:ci" && t.get("accept").is_some())
        .unwrap();
    assert_eq!(ci["accept"], serde_json::json!(["tag:minio:9001"]));
    assert!(
        ci["deny"]
            .as_array()
            .unwrap()
            .contains(&"tag:minio:9000".into()),
        "{ci}"
    );
    // So opening 9000 to ci-runner fails the control plane's own test run ...
    let rule = r#"{"src": ["tag:ci"], "dst": ["tag:minio"], "ip": ["tcp:9000"]}"#;
    let out = check_plain(&headerless_with(&policies, rule));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("TSA100"), "{}", stderr(&out));
}

#[test]
fn a_base_rule_giving_one_source_more_suggests_ports_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("tailnet.json5"),
        MINIO.replace(
            "output: \"policy.hujson\",",
            "output: \"policy.hujson\", base: \"base.hujson\",",
        ),
    )
    .unwrap();
    std::fs::write(
        policies.join("base.hujson"),
        "{\n\t\"grants\": [\n\t\t{\"src\": [\"tag:ci\"], \"dst\": [\"tag:minio\"], \"ip\": [\"tcp:9002\"]},\n\t],\n}\n",
    )
    .unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA113"), "{err}");
    let unwrapped = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        unwrapped.contains(r#"write it in `from` as { source: "ci-runner", ports: [9001, 9002] }"#),
        "{err}"
    );
    assert!(
        err.contains("minio is only for backup on tcp:9000; ci-runner on tcp:9001"),
        "{err}"
    );
    // Doing what it says passes.
    std::fs::write(
        policies.join("tailnet.json5"),
        MINIO
            .replace(
                "output: \"policy.hujson\",",
                "output: \"policy.hujson\", base: \"base.hujson\",",
            )
            .replace("ports: [9001] }", "ports: [9001, 9002] }"),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The issue's case: a source outside `from` given a port that is not the service's.
#[test]
fn tsa113_suggests_a_source_entry_for_a_principal_outside_from() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("tailnet.json5"),
        r#"{
  output: "policy.hujson",
  base: "base.hujson",
  devices: { panda: { tags: ["tag:panda"] }, "clanker-001": { tags: ["tag:clanker"] } },
  services: { redis: { ports: [6379], from: ["panda"] } },
}"#,
    )
    .unwrap();
    std::fs::write(
        policies.join("base.hujson"),
        "{\n\t\"grants\": [\n\t\t{\"src\": [\"tag:clanker\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6380\"]},\n\t],\n}\n",
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let help = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "TSA113")
        .and_then(|d| d["help"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        help.contains(r#"write it in `from` as { source: "clanker-001", ports: [6380] }"#),
        "{v:#}"
    );
}

#[test]
fn source_entries_that_are_wrong_are_errors_with_the_key_meant() {
    for (entry, code, said) in [
        (
            "{ source: 'ci-runner', port: [9001] }",
            "TSA116",
            "did you mean \"ports\"?",
        ),
        (
            "{ sorce: 'ci-runner', ports: [9001] }",
            "TSA116",
            "did you mean \"source\"?",
        ),
        ("{ ports: [9001] }", "TSA", "needs `source`"),
        ("{ source: 'ci-runner' }", "TSA", "needs `ports`"),
        (
            "{ source: 'ci-runner', ports: ['tpc:9001'] }",
            "TSA",
            "tcp:9001",
        ),
        (
            "{ source: 'ci-runnr', ports: [9001] }",
            "TSA",
            "did you mean \"ci-runner\"?",
        ),
        ("9001", "TSA", "a name or { source, ports }"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        let intents = MINIO.replace("{ source: 'ci-runner', ports: [9001] }", entry);
        assert_ne!(intents, MINIO);
        std::fs::write(policies.join("tailnet.json5"), &intents).unwrap();
        let out = tsacl(dir.path(), &["compile"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{entry}: {err}");
        assert!(err.contains(code) && err.contains(said), "{entry}: {err}");
        assert!(err.contains("policies/tailnet.json5:5:"), "{entry}: {err}");
        assert!(!policies.join("policy.hujson").exists());
    }
}

/// A temporary copy of the repository's `policies/`.
fn copy_of_policies() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for f in ["tailnet.json5", "base.hujson", "policy.hujson"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policies")
                .join(f),
            policies.join(f),
        )
        .unwrap();
    }
    // The cluster's manifests, which the intents name (`k8s.manifests`).
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/k8s");
    std::fs::create_dir(policies.join("k8s")).unwrap();
    for entry in std::fs::read_dir(&manifests).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), policies.join("k8s").join(entry.file_name())).unwrap();
    }
    (dir, policies)
}

/// A hand edit of the compiled policy, `from` → `to` on one line; returns that line.
fn hand_edit(policies: &Path, from: &str, to: &str) -> usize {
    let path = policies.join("policy.hujson");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{from:?} not in the compiled policy");
    std::fs::write(&path, &edited).unwrap();
    edited.lines().position(|l| l.contains(to)).unwrap() + 1
}

#[test]
fn a_hand_edit_opening_a_service_is_reported_as_what_it_opens() {
    let (dir, policies) = copy_of_policies();
    let line = hand_edit(
        &policies,
        r#"{"src": ["tag:panda"], "dst": ["tag:redis"]"#,
        r#"{"src": ["*"], "dst": ["tag:redis"]"#,
    );
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["diagnostics"].as_array().unwrap();
    assert!(found.iter().any(|d| d["code"] == "TSA112"), "{v:#}");
    let opened: Vec<&serde_json::Value> = found.iter().filter(|d| d["code"] == "TSA113").collect();
    assert_eq!(opened.len(), 1, "{v:#}");
    let d = opened[0];
    assert!(
        d["file"]
            .as_str()
            .unwrap()
            .ends_with("policies/policy.hujson"),
        "{d}"
    );
    assert_eq!(d["line"].as_u64(), Some(line as u64), "{d}");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("clanker-001 (tag:clanker)")
            && message.contains("can reach redis on tcp:6379")
            && message.contains("in the committed file (not what the intents compile to"),
        "{message}"
    );
    // The text names the same line of the file on disk.
    let out = tsacl(dir.path(), &["check"]);
    assert!(
        stderr(&out).contains(&format!("policies/policy.hujson:{line}:")),
        "{}",
        stderr(&out)
    );
    // `explain` answers for the file as it is, and says that answer is not the intents'.
    let out = tsacl(dir.path(), &["explain", "redis"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("this answer differs from what the intents compile to")
            && err.contains("only in the file: * -> tag:redis tcp 6379")
            && err.contains("only by the intents: tag:panda -> tag:redis tcp 6379"),
        "{err}"
    );
    let out = tsacl(dir.path(), &["explain", "redis", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["differs_from_intents"]["only_in_file"],
        serde_json::json!(["* -> tag:redis tcp 6379"])
    );
    let out = tsacl(
        dir.path(),
        &[
            "explain",
            "redis",
            "--from",
            "clanker-001",
            "--port",
            "6379",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "allowed in the file");
    assert!(
        stderr(&out).contains("tcp/6379 is allowed in the file, denied by the intents"),
        "{}",
        stderr(&out)
    );
    // Once compiled, nothing is left to say.
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    let out = tsacl(dir.path(), &["explain", "redis"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("differs"), "{}", stderr(&out));
}

/// A stale file that is only behind the intents, and opens nothing they do not, is only
/// stale.
#[test]
fn an_output_behind_its_intents_is_only_stale() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace(
            r#"from: ["panda"] }"#,
            r#"from: ["panda", "clanker-001"] }"#,
        ),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA112"), "{err}");
    assert!(!err.contains("TSA113") && !err.contains("TSA114"), "{err}");
}

#[test]
fn the_check_summary_names_the_files_and_the_proof() {
    let (dir, policies) = copy_of_policies();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "tsacl: checked 3 files: 0 errors, 2 warnings (policies/tailnet.json5, policies/base.hujson and policies/policy.hujson; the proof ran: reachability equals the intents)"
        ),
        "{}",
        stderr(&out)
    );
    // A plain file (no project's) names itself, and says nothing of a proof.
    std::fs::write(
        dir.path().join("lone.hujson"),
        "{\"tagOwners\": {\"tag:web\": []}, \"grants\": [{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:web\"], \"ip\": [\"443\"]}]}\n",
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check", "lone.hujson"]);
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(last.ends_with("(lone.hujson)"), "{last}");
    // A proof that finds something, and one that cannot run.
    hand_edit(
        &policies,
        r#""src": ["tag:panda"], "dst": ["tag:redis"]"#,
        r#""src": ["*"], "dst": ["tag:redis"]"#,
    );
    let out = tsacl(dir.path(), &["check"]);
    assert!(
        stderr(&out).contains("; the proof ran: reachability is not what the intents say)"),
        "{}",
        stderr(&out)
    );
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace("from: [\"panda\"] }", "form: [\"panda\"] }"),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert!(
        stderr(&out).contains("; the proof did not run: fix the errors first)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn removing_the_operator_section_is_explained_as_the_operator() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.trim_start().starts_with("operator:"))
        .collect();
    assert_ne!(kept, text);
    std::fs::write(&intents, kept).unwrap();
    for command in ["check", "compile"] {
        let out = tsacl(dir.path(), &[command]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("TSA010"), "{err}");
        assert!(
            err.contains("the Kubernetes operator's tag, and the intents have no `operator` section to define it"),
            "{err}"
        );
        assert!(err.contains("add it back"), "{err}");
        assert!(!err.contains("did you mean \"tag:worker\""), "{err}");
    }
}

/// A port one source alone may reach is still a port the Kubernetes Service must expose.
#[test]
fn k8s_check_wants_the_ports_of_sources_with_their_own() {
    let (dir, policies) = copy_of_policies();
    let k8s = policies.join("k8s");
    std::fs::create_dir_all(&k8s).unwrap();
    let manifests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/k8s/services.yaml"),
    )
    .unwrap();
    std::fs::write(k8s.join("services.yaml"), &manifests).unwrap();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let edited = text.replace(
        r#"redis:     { ports: [6379], from: ["panda"] }"#,
        r#"redis:     { ports: [6379], from: ["panda", { source: "clanker-001", ports: [6380] }] }"#,
    );
    assert_ne!(edited, text);
    std::fs::write(&intents, edited).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA130") && err.contains("tcp:6380"), "{err}");
    std::fs::write(
        k8s.join("services.yaml"),
        manifests.replacen(
            "    - port: 6379\n",
            "    - port: 6379\n      name: redis\n    - port: 6380\n      name: replica\n",
            1,
        ),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Port 22 of a device with SSH intents is guarded on every save like a service's ports:
/// whoever else reaches it may log in there and become the device (a source of the
/// services meant for it), so an edit opening it to another name the intents use fails
/// the control plane's own test run; the names the SSH intents take in stay open.
#[test]
fn the_compiled_tests_deny_port_22_to_whoever_the_ssh_intents_do_not_name() {
    let intents = r#"{
  output: "policy.hujson",
  groups: { ops: ["ann@example.com"] },
  devices: {
    gateway: { tags: ["tag:gateway"], ssh: [{ from: ["group:ops"], users: ["root"] }] },
    builder: { tags: ["tag:builder"], ssh: [{ from: ["gateway"], users: ["ci"], action: "accept" }] },
    desk: { user: "bob@example.com" },
    spare: { tags: ["tag:spare"], ssh: [{ from: ["group:ops"], users: ["root"] }] },
  },
  services: {
    postgres: { ports: [5432], from: ["gateway", "group:ops"] },
    cache: { ports: [6379], from: ["builder", "gateway", "group:ops"] },
  },
}
"#;
    let (_dir, policies) = project(intents);
    let compiled = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    assert!(
        compiled
            .contains(r#"{"src": "tag:builder", "deny": ["tag:postgres:5432", "tag:gateway:22"]}"#),
        "{compiled}"
    );
    // No service trusts `spare`: its port 22 is the proof's alone (only its own
    // source's accept test names it).
    assert_eq!(compiled.matches("tag:spare:22").count(), 1, "{compiled}");
    for (src, dst) in [
        ("tag:builder", "tag:gateway"),
        ("bob@example.com", "tag:gateway"),
        ("bob@example.com", "tag:builder"),
        ("group:ops", "tag:builder"),
    ] {
        let rule = format!(r#"{{"src": ["{src}"], "dst": ["{dst}"], "ip": ["tcp:22"]}}"#);
        let out = check_plain(&headerless_with(&policies, &rule));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{rule}: {err}");
        assert!(err.contains("TSA100"), "{rule}: {err}");
        assert!(err.contains(&format!("{dst}:22")), "{rule}: {err}");
    }
    // What the SSH intents name stays open: the tests hold with these rules.
    for (src, dst) in [
        ("ann@example.com", "tag:gateway"),
        ("tag:gateway", "tag:builder"),
    ] {
        let rule = format!(r#"{{"src": ["{src}"], "dst": ["{dst}"], "ip": ["tcp:22"]}}"#);
        let out = check_plain(&headerless_with(&policies, &rule));
        assert_eq!(out.status.code(), Some(0), "{rule}: {}", stderr(&out));
    }
}
