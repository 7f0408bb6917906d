//! The intents workflow end to end, on a copy of the repository's own `policies/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temporary copy of `policies/`, as a repository would have it.
fn copy_of_policies() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for f in [
        "tailnet.json5",
        "base.hujson",
        "policy.hujson",
        "inventory.json",
    ] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policies")
                .join(f),
            policies.join(f),
        )
        .unwrap();
    }
    // Without the cluster's manifests (tests/k8s_in_check.rs has them): these tests edit
    // the intents alone.
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let line = "  k8s: { manifests: \"k8s/\" },\n";
    assert!(text.contains(line));
    std::fs::write(&intents, text.replace(line, "")).unwrap();
    (dir, policies)
}

#[test]
fn the_repository_intents_check_clean_from_the_root() {
    let out = tsacl(Path::new(env!("CARGO_MANIFEST_DIR")), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 errors"), "{}", stderr(&out));
}

#[test]
fn a_base_rule_that_lets_the_laptop_reach_redis_fails_the_check() {
    let (dir, policies) = copy_of_policies();
    let base = policies.join("base.hujson");
    let text = std::fs::read_to_string(&base).unwrap();
    let edited = text.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"joel@example.com\"], \"dst\": [\"*\"], \"ip\": [\"tcp:6379\"]},\n",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&base, &edited).unwrap();
    let line = edited.lines().position(|l| l.contains("tcp:6379")).unwrap() + 1;
    // `compile` refuses it as `check` does, and leaves the compiled policy as it was.
    let compiled = std::fs::read(policies.join("policy.hujson")).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("TSA113"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(policies.join("policy.hujson")).unwrap(),
        compiled
    );
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TSA113"), "{err}");
    assert!(
        err.contains("laptop (joel@example.com) can reach redis on tcp:6379"),
        "{err}"
    );
    assert!(
        err.contains(&format!("policies/base.hujson:{line}:")),
        "{err}"
    );
}

#[test]
fn changing_an_intent_without_compiling_is_stale_and_compile_is_deterministic() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace("redis:     { ports: [6379]", "redis:     { ports: [6380]"),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("TSA112") && stderr(&out).contains("tsacl compile"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        tsacl(dir.path(), &["compile", "--check"]).status.code(),
        Some(1)
    );
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    let first = std::fs::read(policies.join("policy.hujson")).unwrap();
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    assert_eq!(
        std::fs::read(policies.join("policy.hujson")).unwrap(),
        first
    );
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&first).contains("tag:redis:6380"));
}

#[test]
fn bad_intents_point_into_the_intents_file() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let bad = text
        .replace(
            "from: [\"panda\"] },\n    qdrant",
            "from: [\"pandaa\"] },\n    qdrant",
        )
        .replace("ports: [3000]", "ports: [70000]")
        .replace(
            "panda: { tags: [\"tag:panda\"],",
            "panda: { tags: [\"panda\"],",
        );
    std::fs::write(&intents, bad).unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("\"pandaa\" is not a device or group")
            && err.contains("did you mean \"panda\""),
        "{err}"
    );
    assert!(err.contains("port \"70000\""), "{err}");
    assert!(
        err.contains("\"panda\": tags must start with 'tag:'"),
        "{err}"
    );
    assert!(err.contains("policies/tailnet.json5:"), "{err}");
    // A service defined twice, and one nobody may reach (a warning).
    let twice = text.replace(
        "    typesense:",
        "    redis: { ports: [6380], from: [\"panda\"] },\n    orphan: { ports: [1], from: [] },\n    typesense:",
    );
    std::fs::write(&intents, twice).unwrap();
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TSA002") && err.contains("duplicate key \"redis\" in services"),
        "{err}"
    );
    assert!(
        err.contains("TSA111")
            && err.contains("`from` of service \"orphan\" is empty: nobody may reach it"),
        "{err}"
    );
    // An unreadable base is a usage error.
    std::fs::write(
        &intents,
        text.replace("base: \"base.hujson\"", "base: \"missing.hujson\""),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.hujson"));
}

#[test]
fn a_group_defined_differently_in_the_base_is_a_conflict() {
    let (dir, policies) = copy_of_policies();
    let base = policies.join("base.hujson");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(
        &base,
        text.replacen(
            "{\n",
            "{\n\t\"groups\": {\"group:admins\": [\"eve@example.com\"]},\n",
            1,
        ),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA115") && err.contains("group:admins"),
        "{err}"
    );
    assert!(err.contains("policies/base.hujson:"), "{err}");
}

#[test]
fn k8s_annotations_and_manifest_check() {
    let (dir, policies) = copy_of_policies();
    let out = tsacl(dir.path(), &["k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        yaml.contains("tailscale.com/expose: \"true\"")
            && yaml.contains("tailscale.com/tags: \"tag:redis\""),
        "{yaml}"
    );
    assert_eq!(yaml.matches("kind: Service").count(), 7);

    let k8s = policies.join("k8s");
    std::fs::create_dir(&k8s).unwrap();
    let manifests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/k8s/services.yaml"),
    )
    .unwrap();
    std::fs::write(k8s.join("services.yaml"), &manifests).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A deliberately wrong tag: the shared proxy tag instead of the service's own.
    let bad = manifests.replace(
        "tailscale.com/tags: \"tag:redis\"",
        "tailscale.com/tags: \"tag:k8s\"",
    );
    std::fs::write(k8s.join("services.yaml"), &bad).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA123") && err.contains("joelclaw/redis gets tags \"tag:k8s\""),
        "{err}"
    );
    assert!(err.contains("services.yaml:"), "{err}");

    // A Service without an intent, and an intent without a Service.
    let extra = format!(
        "{}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: grafana\n  annotations:\n    tailscale.com/expose: \"true\"\n",
        manifests
            .replace("name: typesense", "name: typesense-old")
            .replace("\"typesense\"", "\"typesense-old\"")
            .replace(
                "tailscale.com/tags: \"tag:redis\"",
                "tailscale.com/tags: \"tag:redis,tag:cache\""
            )
    );
    std::fs::write(k8s.join("services.yaml"), extra).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    let err = stderr(&out);
    assert!(
        err.contains("TSA120") && err.contains("default/grafana"),
        "{err}"
    );
    assert!(
        err.contains("TSA121") && err.contains("\"typesense\""),
        "{err}"
    );
    // tag:cache is in no tagOwners entry: the operator cannot create the proxy with it.
    assert!(
        err.contains("TSA124") && err.contains("does not own tag:cache"),
        "{err}"
    );
}

#[test]
fn every_example_passes_its_own_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let intents = entry.unwrap().path().join("tailnet.json5");
        if !intents.is_file() {
            continue;
        }
        let path = intents.to_str().unwrap();
        let out = tsacl(root, &["check", "--intents", path]);
        assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
        let out = tsacl(root, &["compile", "--intents", path, "--check"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path} is stale: run tsacl compile --intents {path}"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected at least three examples, found {checked}"
    );
}

#[test]
fn diff_shows_exactly_the_flows_that_changed() {
    let (dir, policies) = copy_of_policies();
    let text = std::fs::read_to_string(policies.join("tailnet.json5")).unwrap();
    let changed = text
        .replace(
            "redis:     { ports: [6379], from: [\"panda\"] }",
            "redis:     { ports: [6379], from: [\"panda\", \"laptop\"] }",
        )
        .replace(
            "inngest:   { ports: [8288, 8289], from: [\"panda\", \"clanker-001\"] }",
            "inngest:   { ports: [8288, 8289], from: [\"panda\"] }",
        );
    assert_ne!(changed, text);
    let new_dir = dir.path().join("new");
    std::fs::create_dir(&new_dir).unwrap();
    std::fs::copy(policies.join("base.hujson"), new_dir.join("base.hujson")).unwrap();
    std::fs::write(new_dir.join("tailnet.json5"), changed).unwrap();

    let out = tsacl(dir.path(), &["diff", "policies", "new"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text_out = String::from_utf8_lossy(&out.stdout).into_owned();
    let access: Vec<&str> = text_out
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  "))
        .collect();
    assert_eq!(
        access,
        vec![
            "  + joel@example.com -> tag:redis: tcp 6379",
            "  - tag:clanker -> tag:inngest: tcp 8288-8289",
        ],
        "{text_out}"
    );
    let md = tsacl(
        dir.path(),
        &["diff", "--format", "markdown", "policies", "new"],
    );
    assert!(
        String::from_utf8_lossy(&md.stdout)
            .contains("| ➕ gains | `joel@example.com` | `tag:redis` | tcp 6379 |")
    );
    let json = tsacl(dir.path(), &["diff", "--format", "json", "policies", "new"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 2);
    // The same on both sides: no access change, exit 0.
    let same = tsacl(
        dir.path(),
        &["diff", "policies/tailnet.json5", "policies/policy.hujson"],
    );
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    // A bad git revision is a usage error.
    let bad = tsacl(
        dir.path(),
        &[
            "diff",
            "git:nope:policies/policy.hujson",
            "policies/policy.hujson",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
}

/// (code, file name, line) of every finding of `tsacl check --format json`.
fn check_json(dir: &Path) -> (Option<i32>, Vec<(String, String, u64)>) {
    let out = tsacl(dir, &["check", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let found = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !admins_ssh_chain(d))
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect();
    (out.status.code(), found)
}

/// The repository's tailnet lets its admins SSH into panda and clanker-001, so they can
/// become those services' sources: two TSA150 warnings, which
/// `tests/github_annotations.rs` checks. The tests here are about other findings.
fn admins_ssh_chain(d: &serde_json::Value) -> bool {
    d["code"] == "TSA150"
        && d["message"].as_str().is_some_and(|m| {
            m.starts_with("group:admins can become panda (tag:panda)")
                || m.starts_with("group:admins can become clanker-001 (tag:clanker)")
        })
}

#[test]
fn operator_lints_use_the_intents_names_and_point_into_the_intents() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let line =
        |needle: &str, t: &str| t.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let compile = |t: &str| {
        std::fs::write(&intents, t).unwrap();
        let out = tsacl(dir.path(), &["compile"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };

    // Every member may apply the operator's tag: TSA127 at the intents' owners, and not
    // also broad-tag-owner (TSA212) in the compiled policy.
    let members = text.replace(
        "owners: [\"autogroup:admin\"]",
        "owners: [\"autogroup:member\"]",
    );
    compile(&members);
    let (code, found) = check_json(dir.path());
    assert_eq!(code, Some(0), "{found:?}");
    let operator_line = line("operator: {", &members);
    assert_eq!(
        found,
        vec![(
            "TSA127".to_string(),
            "policies/tailnet.json5".to_string(),
            operator_line
        )]
    );

    // Proxies with the operator's own tag: a warning (the control plane accepts it).
    let same = text.replace("proxyTag: \"tag:k8s\"", "proxyTag: \"tag:k8s-operator\"");
    compile(&same);
    let (code, found) = check_json(dir.path());
    assert_eq!(code, Some(0), "{found:?}");
    assert!(
        found.contains(&(
            "TSA126".to_string(),
            "policies/tailnet.json5".to_string(),
            operator_line
        )),
        "{found:?}"
    );

    // Other names: the configured proxy tag counts as used (no TSA204), nothing else fires.
    let base = policies.join("base.hujson");
    let base_text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, base_text.replace("tag:k8s-operator", "tag:op")).unwrap();
    compile(
        &text
            .replace("tag: \"tag:k8s-operator\"", "tag: \"tag:op\"")
            .replace("proxyTag: \"tag:k8s\"", "proxyTag: \"tag:proxy\""),
    );
    let (code, found) = check_json(dir.path());
    assert_eq!((code, found), (Some(0), vec![]));
}

/// The repository's manifests with `extra` documents appended, in `policies/k8s`.
fn write_manifests(policies: &Path, extra: &str) {
    let k8s = policies.join("k8s");
    std::fs::create_dir_all(&k8s).unwrap();
    let manifests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/k8s/services.yaml"),
    )
    .unwrap();
    std::fs::write(k8s.join("services.yaml"), format!("{manifests}{extra}")).unwrap();
}

const HOOKS_INGRESS: &str = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: hooks\n  namespace: joelclaw\n  annotations:\n    tailscale.com/funnel: \"true\"\n    tailscale.com/tags: \"tag:worker\"\nspec:\n  ingressClassName: tailscale\n  defaultBackend:\n    service:\n      name: worker\n      port:\n        number: 3111\n";

#[test]
fn the_repository_runs_funnel_on_panda_as_its_design_record_says() {
    // ADR-0083: public internet → Funnel on panda → Caddy → worker.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy = std::fs::read_to_string(root.join("policies/policy.hujson")).unwrap();
    let funnel: Vec<&str> = policy
        .lines()
        .filter(|l| l.contains("\"attr\": [\"funnel\"]"))
        .collect();
    assert_eq!(funnel.len(), 1, "{policy}");
    assert!(
        funnel[0].contains("\"target\": [\"tag:panda\"]") && !funnel[0].contains("tag:worker"),
        "{}",
        funnel[0]
    );
    // Its manifests agree with its intents, Funnel included (no Ingress: panda serves it).
    let out = tsacl(root, &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tsacl(root, &["k8s"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kind: Ingress"));
    // An Ingress serving Funnel for the worker contradicts the intent.
    let (dir, policies) = copy_of_policies();
    write_manifests(&policies, HOOKS_INGRESS);
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA131")
            && err.contains("Ingress hooks serves Funnel to \"worker\", whose intent says Funnel goes through panda"),
        "{err}"
    );
}

#[test]
fn funnel_through_an_operator_ingress() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let edited = text.replace("funnel: { via: \"panda\" }", "funnel: \"ingress\"");
    assert_ne!(edited, text);
    std::fs::write(&intents, edited).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The Ingress's proxy carries the service's tag, which gets the attribute.
    let policy = std::fs::read_to_string(policies.join("policy.hujson")).unwrap();
    assert!(
        policy.contains("{\"target\": [\"tag:worker\"], \"attr\": [\"funnel\"]}"),
        "{policy}"
    );
    assert_eq!(tsacl(dir.path(), &["check"]).status.code(), Some(0));

    // `tsacl k8s` prints the Ingress the operator needs.
    let out = tsacl(dir.path(), &["k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    let ingress = yaml
        .split("---\n")
        .find(|d| d.contains("kind: Ingress"))
        .unwrap_or_else(|| panic!("no Ingress in:\n{yaml}"));
    for line in [
        "ingressClassName: tailscale",
        "tailscale.com/funnel: \"true\"",
        "tailscale.com/tags: \"tag:worker\"",
        "name: worker",
        "number: 3111",
    ] {
        assert!(ingress.contains(line), "{line} not in:\n{ingress}");
    }

    // Without it, the check says the intent's Funnel has no Ingress.
    write_manifests(&policies, "");
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA131") && err.contains("no Ingress under policies/k8s does"),
        "{err}"
    );
    assert!(err.contains("policies/tailnet.json5:"), "{err}");
    // With the printed Ingress, the manifests agree.
    write_manifests(&policies, &format!("---\n{ingress}"));
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // An Ingress without tags gets the proxy tag, which has no funnel attribute.
    write_manifests(
        &policies,
        &HOOKS_INGRESS.replace("    tailscale.com/tags: \"tag:worker\"\n", ""),
    );
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA129")
            && err.contains("Ingress hooks asks for Funnel")
            && err.contains("tag:k8s"),
        "{err}"
    );
    assert!(!err.contains("TSA131"), "{err}");
}

#[test]
fn funnel_true_with_the_operator_says_which_path_to_write() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace("funnel: { via: \"panda\" }", "funnel: true"),
    )
    .unwrap();
    let before = std::fs::read(policies.join("policy.hujson")).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA117")
            && err.contains("funnel: { via: \"DEVICE\" }")
            && err.contains("funnel: \"ingress\""),
        "{err}"
    );
    assert_eq!(
        std::fs::read(policies.join("policy.hujson")).unwrap(),
        before
    );
}

#[test]
fn k8s_check_compares_ports_and_protocols_and_reads_a_file_or_a_directory() {
    let (dir, policies) = copy_of_policies();
    write_manifests(&policies, "");
    let file = policies.join("k8s/services.yaml");
    let manifests = std::fs::read_to_string(&file).unwrap();
    // A single file works as well as the directory.
    let out = tsacl(
        dir.path(),
        &["k8s", "--check", "policies/k8s/services.yaml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // As the repository had it: qdrant's Service without the gRPC port of its intent.
    let missing = manifests.replace("    - name: grpc\n      port: 6334\n", "");
    assert_ne!(missing, manifests);
    std::fs::write(&file, &missing).unwrap();
    let out = tsacl(
        dir.path(),
        &["k8s", "--check", "policies/k8s/services.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA130")
            && err.contains("Service joelclaw/qdrant does not expose tcp:6334, which the intent \"qdrant\" grants"),
        "{err}"
    );
    let line = missing
        .lines()
        .position(|l| l.contains("app: qdrant"))
        .unwrap()
        + 2;
    assert!(err.contains(&format!("services.yaml:{line}:3")), "{err}");

    // Another protocol on the intent's port, and a port the intent does not grant.
    let other = manifests
        .replace(
            "    - port: 6379\n",
            "    - port: 6379\n      protocol: UDP\n",
        )
        .replace(
            "    - port: 3000\n",
            "    - name: http\n      port: 3000\n    - name: debug\n      port: 9229\n",
        );
    std::fs::write(&file, &other).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Service joelclaw/redis exposes port 6379 over UDP, but the intent \"redis\" grants tcp:6379")
            && err.contains("protocol: TCP"),
        "{err}"
    );
    assert!(
        err.contains(
            "Service joelclaw/pds exposes tcp:9229, which the intent \"pds\" does not grant"
        ),
        "{err}"
    );
    assert_eq!(err.matches("TSA130").count(), 2, "{err}");
}

#[test]
fn k8s_check_shows_bad_yaml_where_it_is_and_checks_the_other_files() {
    let (dir, policies) = copy_of_policies();
    write_manifests(&policies, "");
    std::fs::write(
        policies.join("k8s/broken.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n",
    )
    .unwrap();
    std::fs::write(
        policies.join("k8s/extra.yml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: grafana\n  annotations:\n    tailscale.com/expose: \"true\"\n",
    )
    .unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA132") && err.contains("not valid YAML"),
        "{err}"
    );
    assert!(err.contains("policies/k8s/broken.yaml:5:1"), "{err}");
    assert!(err.contains("[unclosed"), "a snippet of the file: {err}");
    // The other files were read.
    assert!(
        err.contains("TSA120") && err.contains("default/grafana"),
        "{err}"
    );
    // A missing path is a usage error.
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("policies/nope"), "{}", stderr(&out));
}

#[test]
fn mistyped_keys_are_errors_and_compile_writes_nothing() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let policy = policies.join("policy.hujson");
    let before = std::fs::read(&policy).unwrap();
    for (from, to, key, meant) in [
        (
            "redis:     { ports: [6379], from:",
            "redis:     { ports: [6379], form:",
            "\"form\" in services.redis",
            "\"from\"",
        ),
        (
            "panda: { tags: [",
            "panda: { tag: [",
            "\"tag\" in devices.panda",
            "\"tags\"",
        ),
        (
            "  services: {",
            "  servces: {",
            "\"servces\" in the intents",
            "\"services\"",
        ),
    ] {
        let edited = text.replacen(from, to, 1);
        assert_ne!(edited, text, "{from}");
        std::fs::write(&intents, &edited).unwrap();
        let line = edited.lines().position(|l| l.contains(to.trim())).unwrap() + 1;
        let out = tsacl(dir.path(), &["compile"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("TSA116")
                && err.contains(&format!("unknown key {key}"))
                && err.contains(&format!("did you mean {meant}?")),
            "{err}"
        );
        assert!(
            err.contains(&format!("policies/tailnet.json5:{line}:")),
            "{err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
        assert!(!err.contains("wrote"), "{err}");
        assert_eq!(std::fs::read(&policy).unwrap(), before, "{key}");
        // And the check fails on it too, without a stale-output knock-on.
        let out = tsacl(dir.path(), &["check"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(!stderr(&out).contains("TSA112"), "{}", stderr(&out));
    }
}

#[test]
fn findings_about_compiled_names_point_where_they_were_written() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    let edited = text.replace(
        "redis:     { ports: [6379], from: [\"panda\"] }",
        "redis:     { ports: [6379], from: [\"tag:pandaa\"] }",
    );
    std::fs::write(&intents, &edited).unwrap();
    let line = edited
        .lines()
        .position(|l| l.contains("tag:pandaa"))
        .unwrap()
        + 1;
    let col = edited
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("\"tag:pandaa\"")
        .unwrap()
        + 1;
    for command in [&["compile"][..], &["check"]] {
        let out = tsacl(dir.path(), command);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("policies/tailnet.json5:{line}:{col}"))
                && err.contains("src=tag not found: \"tag:pandaa\""),
            "{command:?}: {err}"
        );
        // One error, not one more for the generated test that names the same tag.
        assert_eq!(
            err.matches("× ").count(),
            1 + usize::from(command == ["check"]),
            "{err}"
        );
        assert!(!err.contains("TSA070"), "{err}");
    }

    // A mistake in a base rule is shown in the base file.
    std::fs::write(&intents, &text).unwrap();
    let base = policies.join("base.hujson");
    let base_text = std::fs::read_to_string(&base).unwrap();
    let edited = base_text.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"tag:nobody\"], \"dst\": [\"tag:pds\"], \"ip\": [\"tcp:3000\"]},\n",
        1,
    );
    std::fs::write(&base, &edited).unwrap();
    let line = edited
        .lines()
        .position(|l| l.contains("tag:nobody"))
        .unwrap()
        + 1;
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("policies/base.hujson:{line}:12")) && err.contains("tag:nobody"),
        "{err}"
    );
}

#[test]
fn intents_that_do_not_parse_are_reported_not_stale_output() {
    let (dir, policies) = copy_of_policies();
    std::fs::write(policies.join("tailnet.json5"), "{ services: { redis: ").unwrap();
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("TSA001") && err.contains("json5"), "{err}");
    assert!(err.contains("the intents file is JSON5"), "{err}");
    assert!(!err.contains("TSA112"), "{err}");
}

#[test]
fn a_hand_edit_of_the_compiled_policy_shows_what_compile_discards() {
    let (dir, policies) = copy_of_policies();
    let policy = policies.join("policy.hujson");
    let text = std::fs::read_to_string(&policy).unwrap();
    let edited = text.replacen(
        "{\"src\": [\"tag:panda\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6379\"]}",
        "{\"src\": [\"tag:panda\", \"tag:clanker\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6379\"]}",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&policy, &edited).unwrap();
    let line = edited
        .lines()
        .position(|l| l.contains("tag:clanker\"], \"dst\": [\"tag:redis"))
        .unwrap()
        + 1;
    let out = tsacl(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("TSA112"), "{err}");
    assert!(
        err.contains(&format!(
            "policies/policy.hujson:{line}:3: `tsacl compile` would discard this line"
        )),
        "{err}"
    );
    assert!(
        err.contains("-    {\"src\": [\"tag:panda\", \"tag:clanker\"]")
            && err.contains("+    {\"src\": [\"tag:panda\"]"),
        "{err}"
    );
}

#[test]
fn explain_speaks_the_intents_names_for_every_kind_of_device() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    // The homelab names devices by tags, by their owner and by address.
    let policy = "examples/homelab/policy.hujson";
    for (from, allowed, through) in [
        ("living-room-tv", "jellyfin", "tag:tv"),
        ("alex-laptop", "jellyfin", "group:family"),
        ("printer", "nas", "printer"),
    ] {
        let out = tsacl(root, &["explain", allowed, policy, "--from", from]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{from}: {text}{}", stderr(&out));
        assert!(
            text.contains(&format!("{from} -> {allowed} tcp/")) && text.contains("ALLOWED"),
            "{text}"
        );
        assert!(
            text.contains(&format!("via intent {allowed}"))
                && text.contains("examples/homelab/tailnet.json5:")
                && text.contains(&format!("sources: {through}")),
            "{text}"
        );
        assert!(text.contains(&format!("device {from}: ")), "{text}");
    }
    let out = tsacl(
        root,
        &["explain", "homeassistant", policy, "--from", "printer"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("printer -> homeassistant tcp/8123: DENIED"));
    // A device as the target, and what a device may reach.
    let out = tsacl(root, &["explain", "printer", policy, "--outbound"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("tag:nas"), "{}", stdout(&out));

    // The repository's own tailnet from its root, with no policy given.
    let out = tsacl(root, &["explain", "redis", "--from", "clanker-001"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("clanker-001 -> redis tcp/6379: DENIED"),
        "{text}"
    );
    assert!(
        text.contains("service redis (tag:redis): intended for panda"),
        "{text}"
    );
    let out = tsacl(root, &["explain", "redis", "--from", "pandaa"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"panda\"?"),
        "{}",
        stderr(&out)
    );
    // Base rules are cited in the base file.
    let out = tsacl(root, &["explain", "laptop", "--outbound"]);
    let text = stdout(&out);
    assert!(
        text.contains("tag:k8s-operator")
            && text.contains("base rule")
            && text.contains("policies/base.hujson:"),
        "{text}"
    );
}

#[test]
fn explain_warns_when_the_compiled_policy_is_stale() {
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace(
            "redis:     { ports: [6379], from: [\"panda\"] }",
            "redis:     { ports: [6379], from: [\"panda\", \"clanker-001\"] }",
        ),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["explain", "redis", "--from", "clanker-001"]);
    // The answer is for what is compiled: clanker may not reach redis yet.
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("warning: policies/policy.hujson is not what the intents compile to"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("policies/policy.hujson:"),
        "rules are cited in the file explained"
    );
}

#[test]
fn small_things_fmt_and_filter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // fmt says plainly that it formats HuJSON only, and changes nothing.
    let (dir, policies) = copy_of_policies();
    let intents = policies.join("tailnet.json5");
    let before = std::fs::read(&intents).unwrap();
    let out = tsacl(dir.path(), &["fmt", "policies/tailnet.json5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("formats only HuJSON policy files"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&intents).unwrap(), before);
    // filter finds the policy as explain does.
    let out = tsacl(
        root,
        &[
            "filter",
            "--inventory",
            "policies/inventory.json",
            "--node",
            "redis",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["redis"]["packet_filter_rules"].is_array(), "{v}");
}

#[test]
fn a_base_rule_an_intent_already_covers_is_reported_where_it_is_written() {
    let (dir, policies) = copy_of_policies();
    let base = policies.join("base.hujson");
    let text = std::fs::read_to_string(&base).unwrap();
    let edited = text.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"tag:panda\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6379\"]},\n",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&base, &edited).unwrap();
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    let (code, found) = check_json(dir.path());
    // A warning: the check still passes.
    assert_eq!(code, Some(0), "{found:?}");
    let line = edited.lines().position(|l| l.contains("tcp:6379")).unwrap() as u64 + 1;
    assert_eq!(
        found,
        [(
            "TSA230".to_string(),
            "policies/base.hujson".to_string(),
            line
        )]
    );
    // The covering rule is the redis intent.
    let out = tsacl(dir.path(), &["check"]);
    let err = stderr(&out);
    let intents = std::fs::read_to_string(policies.join("tailnet.json5")).unwrap();
    let redis = intents
        .lines()
        .position(|l| l.trim_start().starts_with("redis:"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("policies/tailnet.json5:{redis}:")),
        "{err}"
    );
    assert!(err.contains("in the compiled policy"), "{err}");
    assert!(
        err.contains(&format!(
            "the base rule at policies/base.hujson:{line} allows nothing that the `redis` intent"
        )),
        "{err}"
    );
    // Without the duplicate, nothing is redundant.
    std::fs::write(&base, &text).unwrap();
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    assert_eq!(check_json(dir.path()), (Some(0), vec![]));
}
