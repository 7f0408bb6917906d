//! `push`, `diff --remote` and `pull` in an intents project, against the local fake API:
//! with no FILE they work on the project's compiled policy; `push` runs `tsacl check`
//! first and sends nothing at all (no read, no validate, no write) when it fails.

mod api_server;

use api_server::*;
use std::path::Path;

const INTENTS: &str = r#"{
  output: "policy.hujson",
  base: "base.hujson",
  devices: {
    gateway: { tags: ["tag:gateway"] },
    builder: { tags: ["tag:builder"] },
  },
  services: {
    postgres: { ports: [5432], from: ["gateway"] },
  },
}
"#;

const BASE: &str = "// Hand-written rules.\n{\n\t\"grants\": [\n\t\t{\"src\": [\"tag:gateway\"], \"dst\": [\"tag:builder\"], \"ip\": [\"tcp:22\"]},\n\t],\n}\n";

/// A rule that opens postgres to the builder, which its intent does not allow.
const OPENS_POSTGRES: &str =
    "\t\t{\"src\": [\"tag:builder\"], \"dst\": [\"tag:postgres\"], \"ip\": [\"tcp:5432\"]},\n";

fn tsacl_in(dir: &Path, args: &[&str]) -> Run {
    run(tsacl("http://unused.invalid", dir).args(args))
}

/// A repository with the project compiled and committed, and the fake API holding that
/// policy (pushed from it).
fn project() -> (FakeApi, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("tailnet.json5"), INTENTS).unwrap();
    std::fs::write(policies.join("base.hujson"), BASE).unwrap();
    let r = tsacl_in(dir.path(), &["compile"]);
    assert_eq!(r.code, 0, "{r}");
    commit(dir.path(), "intents");
    let api = FakeApi::start(&std::fs::read(policies.join("policy.hujson")).unwrap());
    (api, dir)
}

/// Change the intents (postgres on a second port), compile, and commit.
fn new_version(dir: &Path) {
    let intents = dir.join("policies/tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace("ports: [5432]", "ports: [5432, 5433]"),
    )
    .unwrap();
    let r = tsacl_in(dir, &["compile"]);
    assert_eq!(r.code, 0, "{r}");
    commit(dir, "postgres on 5433 too");
}

fn in_base(dir: &Path, rule: &str) {
    let base = dir.join("policies/base.hujson");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replacen("\t],\n", &format!("{rule}\t],\n"), 1)).unwrap();
}

#[test]
fn push_and_diff_work_from_the_project_root_without_a_file() {
    let (api, dir) = project();
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr
            .contains("the server's policy is policies/policy.hujson as committed in"),
        "{r}"
    );
    new_version(dir.path());
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.contains("+++ policies/policy.hujson"), "{r}");
    assert!(r.stdout.contains("tcp:5433"), "{r}");
    // From a subdirectory too, as `check` finds the project.
    let sub = dir.path().join("docs");
    std::fs::create_dir(&sub).unwrap();
    let r = run(tsacl_key(&api.url, &sub).args(["push", "--yes"]));
    assert_eq!(r.code, 0, "{r}");
    // The check ran first, on the whole project.
    assert!(r.stderr.contains("tsacl: checked 3 files: 0 errors"), "{r}");
    assert!(r.stderr.contains("pushed"), "{r}");
    assert_eq!(api.writes(), 1);
    assert_eq!(
        api.policy(),
        tsacl::syntax::hujson::format(
            &std::fs::read(dir.path().join("policies/policy.hujson")).unwrap()
        )
        .unwrap()
    );
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("up to date"), "{r}");
    assert_eq!(api.writes(), 1);
}

#[test]
fn a_failing_check_sends_nothing() {
    let (api, dir) = project();
    in_base(dir.path(), OPENS_POSTGRES);
    // `compile` refuses it (the proof fails) and writes nothing; committed anyway.
    let r = tsacl_in(dir.path(), &["compile"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("TSA113"), "{r}");
    commit(dir.path(), "open postgres");
    // `check` fails on its own...
    let check = tsacl_in(dir.path(), &["check"]);
    assert_eq!(check.code, 1, "{check}");
    // ...so push fails the same way, with or without the file named, and nothing at
    // all reaches the server: no read, no validate, no write.
    for args in [
        &["push", "--yes", "--force"][..],
        &["push", "policies/policy.hujson", "--yes", "--force"],
    ] {
        let r = run(tsacl_key(&api.url, dir.path()).args(args));
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stderr.contains("TSA113"), "{r}");
        assert!(
            r.stderr
                .contains("builder (tag:builder) can reach postgres on tcp:5432"),
            "{r}"
        );
        assert!(
            r.stderr
                .contains("the check of policies/policy.hujson failed; nothing was sent"),
            "{r}"
        );
        assert!(
            api.state().requests.is_empty(),
            "{:?}",
            api.state().requests
        );
    }
    assert_eq!(api.writes(), 0);
}

#[test]
fn a_stale_output_sends_nothing() {
    let (api, dir) = project();
    // The intents change, nobody compiles.
    let intents = dir.path().join("policies/tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(&intents, text.replace("ports: [5432]", "ports: [5433]")).unwrap();
    commit(dir.path(), "edit without compiling");
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes", "--force"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("TSA112"), "{r}");
    assert!(r.stderr.contains("nothing was sent"), "{r}");
    assert!(api.state().requests.is_empty());
}

#[test]
fn the_intents_lint_settings_apply_to_the_check_push_runs() {
    let (api, dir) = project();
    // A warning raised to an error in the intents' `lint` section fails the push too.
    in_base(
        dir.path(),
        "\t\t{\"src\": [\"tag:gateway\"], \"dst\": [\"tag:builder\"], \"ip\": [\"tcp:22\"]},\n",
    );
    let intents = dir.path().join("policies/tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replacen(
            "output:",
            "lint: { severity: { \"redundant-rule\": \"error\" } },\n  output:",
            1,
        ),
    )
    .unwrap();
    let r = tsacl_in(dir.path(), &["compile"]);
    assert_eq!(r.code, 0, "{r}");
    commit(dir.path(), "a duplicate rule");
    assert_eq!(tsacl_in(dir.path(), &["check"]).code, 1);
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("TSA230"), "{r}");
    assert!(api.state().requests.is_empty());
}

#[test]
fn uncommitted_output_warns_and_drift_advice_points_at_the_intents() {
    let (api, dir) = project();
    let intents = dir.path().join("policies/tailnet.json5");
    let text = std::fs::read_to_string(&intents).unwrap();
    std::fs::write(
        &intents,
        text.replace("ports: [5432]", "ports: [5432, 5433]"),
    )
    .unwrap();
    let r = tsacl_in(dir.path(), &["compile"]);
    assert_eq!(r.code, 0, "{r}");
    // Not committed: the push goes through, with a warning.
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr.contains(
            "warning: policies/policy.hujson has changes that are not committed; commit them after pushing, \
             or the next push will take the server's policy for drift"
        ),
        "{r}"
    );
    assert_eq!(api.writes(), 1);
    // Which is what happens: the server now holds a version git never saw.
    std::fs::write(
        &intents,
        text.replace("ports: [5432]", "ports: [5432, 5434]"),
    )
    .unwrap();
    let r = tsacl_in(dir.path(), &["compile"]);
    assert_eq!(r.code, 0, "{r}");
    commit(dir.path(), "5434");
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("drift"), "{r}");
    assert!(
        r.stderr.contains(
            "Write them into policies/tailnet.json5 or policies/base.hujson (the changes are shown above), \
             run `tsacl compile`"
        ),
        "{r}"
    );
    assert!(
        !r.stderr.contains("pull -o"),
        "never overwrite the generated file: {r}"
    );
    assert_eq!(api.writes(), 1);
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains(
            "write them into policies/tailnet.json5 or policies/base.hujson and run `tsacl compile`"
        ),
        "{r}"
    );
}

#[test]
fn pull_says_where_changes_belong() {
    let (api, dir) = project();
    let r = run(tsacl_key(&api.url, dir.path()).arg("pull"));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr
            .contains("note: this repository's policy is generated from policies/tailnet.json5"),
        "{r}"
    );
    let r = run(tsacl_key(&api.url, dir.path()).args(["pull", "-o", "policies/policy.hujson"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr.contains(
            "warning: policies/policy.hujson is generated from policies/tailnet.json5: `tsacl check` will find it stale"
        ),
        "{r}"
    );
}

#[test]
fn a_generated_file_away_from_its_intents_is_refused() {
    let (api, dir) = project();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("policies/policy.hujson"),
        elsewhere.path().join("policy.hujson"),
    )
    .unwrap();
    let r = run(tsacl_key(&api.url, elsewhere.path()).args(["push", "policy.hujson", "--yes"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains(
            "policy.hujson is generated by tsacl from tailnet.json5, which was not found"
        ),
        "{r}"
    );
    // --intents names the project; another project's file is a usage error.
    let r = run(tsacl_key(&api.url, elsewhere.path()).args([
        "push",
        "policy.hujson",
        "--intents",
        dir.path().join("policies/tailnet.json5").to_str().unwrap(),
        "--yes",
    ]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("compiles to"), "{r}");
    // Outside any project, without FILE: say how to call it.
    let r = run(tsacl_key(&api.url, elsewhere.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("no FILE given and no policies/tailnet.json5 here or in a parent directory"),
        "{r}"
    );
    assert!(api.state().requests.is_empty());
}
