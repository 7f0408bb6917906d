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
    // Compiled, so only the access problem remains.
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
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
            "panda: { tags: [\"tag:panda\"] }",
            "panda: { tags: [\"panda\"] }",
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
        err.contains("TSA111") && err.contains("nobody may reach service \"orphan\""),
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

    // Proxies with the operator's own tag.
    let same = text.replace("proxyTag: \"tag:k8s\"", "proxyTag: \"tag:k8s-operator\"");
    compile(&same);
    let (code, found) = check_json(dir.path());
    assert_eq!(code, Some(1), "{found:?}");
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

#[test]
fn funnel_on_an_ingress_needs_the_attribute() {
    let (dir, policies) = copy_of_policies();
    let k8s = policies.join("k8s");
    std::fs::create_dir(&k8s).unwrap();
    let manifests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/k8s/services.yaml"),
    )
    .unwrap();
    let ingress = |tags: &str| {
        format!(
            "{manifests}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: hooks\n  namespace: joelclaw\n  annotations:\n    tailscale.com/funnel: \"true\"\n{tags}spec:\n  ingressClassName: tailscale\n"
        )
    };
    // tag:worker gets the funnel attribute (its intent has funnel: true).
    std::fs::write(
        k8s.join("services.yaml"),
        ingress("    tailscale.com/tags: \"tag:worker\"\n"),
    )
    .unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Without tags the proxy carries tag:k8s, which has no funnel attribute.
    std::fs::write(k8s.join("services.yaml"), ingress("")).unwrap();
    let out = tsacl(dir.path(), &["k8s", "--check", "policies/k8s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TSA129")
            && err.contains("Ingress hooks asks for Funnel")
            && err.contains("tag:k8s"),
        "{err}"
    );
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
