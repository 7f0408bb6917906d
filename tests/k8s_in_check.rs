//! The Kubernetes side in the same gate: intents that name their manifests
//! (`k8s: { manifests: "k8s/" }`) have `tsacl check` compare them as `tsacl k8s --check`
//! does; `tsacl k8s` prints the namespace the manifests use.

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

/// A copy of the repository's policies/ (with its k8s/ manifests) in a temporary directory.
fn copy_of_policies() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("policies");
    copy(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies"),
        &to,
    );
    (dir, to)
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_repository_names_its_manifests_and_they_agree() {
    let (dir, policies) = copy_of_policies();
    let intents = std::fs::read_to_string(policies.join("tailnet.json5")).unwrap();
    assert!(intents.contains("manifests: \"k8s/\""), "{intents}");
    let o = tsacl(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // `--check` without a path takes the intents' manifests.
    let o = tsacl(dir.path(), &["k8s", "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("7 exposed Services"), "{}", text(&o));
}

#[test]
fn a_service_added_to_the_intents_but_not_the_cluster_fails_check() {
    let (dir, policies) = copy_of_policies();
    let path = policies.join("tailnet.json5");
    let intents = std::fs::read_to_string(&path).unwrap();
    let added = intents.replacen(
        "  services: {\n",
        "  services: {\n    grafana: { ports: [3001], from: [\"group:admins\"] },\n",
        1,
    );
    assert_ne!(added, intents);
    std::fs::write(&path, added).unwrap();
    assert_eq!(tsacl(dir.path(), &["compile"]).status.code(), Some(0));
    let o = tsacl(dir.path(), &["check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("TSA121"), "{out}");
    assert!(out.contains("grafana"), "{out}");
    // Without the manifests named, check does not look at the cluster.
    let unnamed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("k8s: { manifests: \"k8s/\" },", "");
    std::fs::write(&path, unnamed).unwrap();
    let o = tsacl(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = tsacl(dir.path(), &["k8s", "--check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs a PATH"), "{}", text(&o));
}

#[test]
fn a_manifest_the_cluster_changed_fails_check_at_the_manifest() {
    let (dir, policies) = copy_of_policies();
    let yaml = policies.join("k8s/services.yaml");
    let text_before = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, text_before.replacen("port: 6379", "port: 6380", 1)).unwrap();
    let o = tsacl(dir.path(), &["check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("TSA130"), "{out}");
    assert!(out.contains("services.yaml:"), "{out}");
}

#[test]
fn missing_manifests_are_an_error_at_the_intents() {
    let (dir, policies) = copy_of_policies();
    std::fs::remove_dir_all(policies.join("k8s")).unwrap();
    let o = tsacl(dir.path(), &["check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("TSA138"), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    assert!(out.contains("tailnet.json5:"), "{out}");
}

#[test]
fn k8s_prints_the_namespace_the_manifests_use() {
    let (dir, _) = copy_of_policies();
    let o = tsacl(dir.path(), &["k8s"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        out.contains("  name: redis\n  namespace: joelclaw\n"),
        "{out}"
    );
}
