//! The repository's pre-commit hooks (`.pre-commit-hooks.yaml`), run by pre-commit itself
//! on a copy of the repository's `policies/` in a scratch git repository: they pass, and
//! fail, naming the problem, once the policy is broken. And the README's snippet, as
//! written (but for `repo` and `rev`), on a repository holding only `policy.hujson`.
//!
//! pre-commit runs them with `pre-commit try-repo <this repository> HOOK --all-files`,
//! which writes a `.pre-commit-config.yaml` for this repository at its `HEAD` (plus any
//! uncommitted changes to tracked files) and runs `pre-commit run` with it. The `-system`
//! hooks find the tsacl just built first on `PATH`. The `language: rust` hooks make
//! pre-commit `cargo install` the crate, minutes on two cores: they run only with
//! `TSACL_PRECOMMIT_RUST=1`. pre-commit's cache stays in the test's temporary directory
//! (`PRE_COMMIT_HOME`).
//!
//! Without pre-commit (`pip install pre-commit`) the tests skip, saying so, except under
//! `CI=true`, where they fail: `.ci/run` installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// How to run pre-commit here: `pre-commit`, else `python3 -m pre_commit`.
fn pre_commit() -> Option<Vec<String>> {
    for cmd in [&["pre-commit"][..], &["python3", "-m", "pre_commit"]] {
        let found = Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return Some(cmd.iter().map(|s| s.to_string()).collect());
        }
    }
    if ci() {
        panic!("pre-commit is not installed (CI=true: it must be; .ci/run installs it with pip)");
    }
    eprintln!(
        "SKIPPED: pre-commit is not installed (`python3 -m pip install pre-commit` to run these tests)"
    );
    None
}

/// The commit this repository is at.
fn head() -> String {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repository())
        .output()
        .unwrap();
    assert!(head.status.success(), "this repository has no HEAD");
    String::from_utf8(head.stdout).unwrap().trim().to_string()
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "tsacl tests")
        .env("GIT_AUTHOR_EMAIL", "tests@example.com")
        .env("GIT_COMMITTER_NAME", "tsacl tests")
        .env("GIT_COMMITTER_EMAIL", "tests@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How the hooks run: pre-commit's command, its cache (`PRE_COMMIT_HOME`, shared by the
/// scratch repositories of one test so a built environment is reused), and the revision
/// of this repository to take the hooks from (`None`: `HEAD` plus uncommitted changes).
struct Runner {
    pre_commit: Vec<String>,
    home: tempfile::TempDir,
    rev: Option<String>,
    /// More environment for pre-commit (where pip finds packages).
    env: Vec<(String, String)>,
}

impl Runner {
    fn new() -> Option<Runner> {
        Some(Runner {
            pre_commit: pre_commit()?,
            home: tempfile::tempdir().unwrap(),
            rev: None,
            env: Vec::new(),
        })
    }
}

/// A scratch git repository holding a copy of `policies/` (all `tsacl check` reads: the
/// intents, the base policy and the compiled policy), committed.
struct Scratch<'a> {
    _dir: tempfile::TempDir,
    project: PathBuf,
    runner: &'a Runner,
}

impl<'a> Scratch<'a> {
    fn new(runner: &'a Runner) -> Scratch<'a> {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        git(&project, &["init", "--quiet"]);
        common::copy_dir(&repository().join("policies"), &project.join("policies"));
        git(&project, &["add", "--all"]);
        git(&project, &["commit", "--quiet", "--message", "policies"]);
        Scratch {
            _dir: dir,
            project,
            runner,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.project.join(name)
    }

    /// Change a file of the scratch repository and stage the change.
    fn edit(&self, name: &str, change: impl FnOnce(String) -> String) {
        let path = self.path(name);
        let before = std::fs::read_to_string(&path).unwrap();
        let after = change(before.clone());
        assert_ne!(before, after, "the edit of {name} changed nothing");
        std::fs::write(&path, after).unwrap();
        git(&self.project, &["add", "--all"]);
    }

    /// `pre-commit try-repo <this repository> HOOK --all-files`; with `tsacl_on_path`,
    /// the freshly built tsacl comes first on `PATH`. The output is stdout and stderr.
    fn run(&self, hook: &str, tsacl_on_path: bool) -> (bool, String) {
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        if tsacl_on_path {
            let bin = Path::new(env!("CARGO_BIN_EXE_tsacl")).parent().unwrap();
            let mut dirs = vec![bin.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            path = std::env::join_paths(dirs).unwrap();
        }
        let pre_commit = &self.runner.pre_commit;
        let mut cmd = Command::new(&pre_commit[0]);
        cmd.args(&pre_commit[1..])
            .args(["try-repo", "--color", "never", "--all-files"]);
        if let Some(rev) = &self.runner.rev {
            cmd.args(["--ref", rev]);
        }
        let out: Output = cmd
            .arg(repository())
            .arg(hook)
            .current_dir(&self.project)
            .env("PATH", path)
            .env("PRE_COMMIT_HOME", self.runner.home.path())
            .env("NO_COLOR", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("SKIP")
            .envs(self.runner.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn assert_passes(s: &Scratch, hook: &str, tsacl_on_path: bool) {
    let (ok, out) = s.run(hook, tsacl_on_path);
    assert!(ok, "{hook} failed on the repository's policies:\n{out}");
    assert!(out.contains("Passed"), "{hook}:\n{out}");
}

fn assert_fails(s: &Scratch, hook: &str, tsacl_on_path: bool, names: &[&str]) -> String {
    let (ok, out) = s.run(hook, tsacl_on_path);
    assert!(!ok, "{hook} passed on a broken policy:\n{out}");
    assert!(out.contains("Failed"), "{hook}:\n{out}");
    for name in names {
        assert!(
            out.contains(name),
            "{hook}'s output does not name {name:?}:\n{out}"
        );
    }
    out
}

/// The base policy lets the agent box reach Redis, which the intents give to panda
/// alone.
fn open_redis_to_clanker(base: String) -> String {
    base.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"tag:clanker\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6379\"]},\n",
        1,
    )
}

fn check_hook(runner: &Runner, hook: &str, tsacl_on_path: bool) {
    let s = Scratch::new(runner);
    assert_passes(&s, hook, tsacl_on_path);

    // A device outside the intent reaches Redis.
    s.edit("policies/base.hujson", open_redis_to_clanker);
    assert_fails(
        &s,
        hook,
        tsacl_on_path,
        &["TSA113", "extra-access", "tag:clanker", "tag:redis"],
    );

    // The cluster's manifests, which the intents name, no longer agree with them.
    let s = Scratch::new(runner);
    s.edit("policies/k8s/services.yaml", |t| {
        t.replacen("port: 6379", "port: 6380", 1)
    });
    assert_fails(&s, hook, tsacl_on_path, &["TSA130", "services.yaml"]);

    // A syntax error in the intents.
    let s = Scratch::new(runner);
    s.edit("policies/tailnet.json5", |t| {
        t.replacen("services: {", "services: {{", 1)
    });
    assert_fails(
        &s,
        hook,
        tsacl_on_path,
        &["TSA001", "policies/tailnet.json5"],
    );
}

fn fmt_hook(runner: &Runner, hook: &str, tsacl_on_path: bool) {
    let s = Scratch::new(runner);
    assert_passes(&s, hook, tsacl_on_path);

    // Indented by hand with spaces: the hook reformats the file, so pre-commit fails.
    let formatted = std::fs::read_to_string(s.path("policies/base.hujson")).unwrap();
    s.edit("policies/base.hujson", |t| {
        t.replacen("\t\"grants\": [", "    \"grants\":   [", 1)
    });
    assert_fails(
        &s,
        hook,
        tsacl_on_path,
        &["policies/base.hujson", "files were modified by this hook"],
    );
    assert_eq!(
        std::fs::read_to_string(s.path("policies/base.hujson")).unwrap(),
        formatted,
        "the hook should have restored tsacl's formatting"
    );
    git(&s.project, &["add", "--all"]);
    assert_passes(&s, hook, tsacl_on_path);
}

#[test]
fn tsacl_check_system_passes_then_fails_on_a_broken_policy() {
    let Some(runner) = Runner::new() else { return };
    check_hook(&runner, "tsacl-check-system", true);
}

#[test]
fn tsacl_fmt_system_passes_then_fails_on_a_misformatted_policy() {
    let Some(runner) = Runner::new() else { return };
    fmt_hook(&runner, "tsacl-fmt-system", true);
}

/// The `language: rust` hooks: pre-commit builds and installs tsacl from this
/// repository (minutes), so only with `TSACL_PRECOMMIT_RUST=1`. They are taken from the
/// committed `HEAD`, so that one build serves every run; without the freshly built
/// tsacl on `PATH`, so the hooks must use the one pre-commit installed.
#[test]
fn rust_hooks_build_tsacl_and_behave_the_same() {
    if std::env::var_os("TSACL_PRECOMMIT_RUST").is_none_or(|v| v != "1") {
        eprintln!(
            "SKIPPED: the language: rust hooks make pre-commit cargo install tsacl (minutes); set TSACL_PRECOMMIT_RUST=1 to run them"
        );
        return;
    }
    let Some(mut runner) = Runner::new() else {
        return;
    };
    runner.rev = Some(head());
    check_hook(&runner, "tsacl-check", false);
    fmt_hook(&runner, "tsacl-fmt", false);
}

/// The `language: python` hooks install the prebuilt wheel (the root `pyproject.toml`
/// depends on it), never compiling: here pip finds the wheel built from `python/` (and
/// setuptools, to build the root package) in a local directory, with no index, and
/// the freshly built tsacl is not on `PATH`.
#[test]
fn python_hooks_install_the_prebuilt_wheel() {
    let Some(mut runner) = Runner::new() else {
        return;
    };
    let Some(_wheels) = prebuilt_wheel(&mut runner) else {
        return;
    };
    // The hooks of the committed HEAD, so that one environment serves every run (with
    // uncommitted changes pre-commit would make a new one each time).
    runner.rev = Some(head());
    check_hook(&runner, "tsacl-check-python", false);
    fmt_hook(&runner, "tsacl-fmt-python", false);
}

/// Build the wheel from `python/` into a local directory, with setuptools (to build the
/// root package) beside it, and point pip at that directory alone: what the
/// `language: python` hooks install. `None` (after saying why) when that cannot be done
/// here.
fn prebuilt_wheel(runner: &mut Runner) -> Option<tempfile::TempDir> {
    // Two maturin builds in one target directory at once trip over each other's staging.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let maturin = Command::new("python3")
        .args(["-m", "maturin", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !maturin {
        assert!(
            !ci(),
            "maturin is needed under CI=true (pip install maturin)"
        );
        eprintln!("SKIPPED: maturin not found (pip install maturin)");
        return None;
    }
    let wheels = tempfile::tempdir().unwrap();
    let built = Command::new("python3")
        .args(["-m", "maturin", "build", "--profile", "dev", "--out"])
        // A target directory of its own: maturin's build would otherwise replace
        // target/debug/tsacl, which other tests run, while they run it.
        .env("CARGO_TARGET_DIR", repository().join("target/wheel"))
        .arg(wheels.path())
        .current_dir(repository().join("python"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let setuptools = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--dest",
        ])
        .arg(wheels.path())
        .arg("setuptools>=61")
        .output()
        .unwrap();
    if !setuptools.status.success() {
        assert!(
            !ci(),
            "pip could not download setuptools: {}",
            String::from_utf8_lossy(&setuptools.stderr)
        );
        eprintln!("SKIPPED: pip cannot download setuptools (offline?)");
        return None;
    }
    runner.env = vec![
        ("PIP_FIND_LINKS".into(), wheels.path().display().to_string()),
        ("PIP_NO_INDEX".into(), "1".into()),
    ];
    Some(wheels)
}

/// The README's pre-commit snippet, as written but for `repo` (this repository, a local
/// path) and `rev` (its committed `HEAD`).
fn readme_snippet() -> String {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let at = readme
        .find("<!-- pre-commit snippet")
        .expect("the README marks its pre-commit snippet");
    let block = &readme[at..];
    let start = block.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = block[start..].find("```").unwrap() + start;
    let snippet = &block[start..end];
    assert!(
        snippet.contains("  - repo: https://github.com/tsacl/tsacl\n"),
        "{snippet}"
    );
    snippet
        .lines()
        .map(|line| match line.trim_start() {
            l if l.starts_with("- repo:") => {
                format!("  - repo: {}", repository().display())
            }
            l if l.starts_with("rev:") => format!("    rev: {}", head()),
            _ => line.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

const LONE_POLICY: &str = "// The tailnet policy.\n{\n\t\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"]},\n\t\"grants\": [\n\t\t{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:web\"], \"ip\": [\"443\"]},\n\t],\n}\n";

/// The README's snippet on a repository holding only `policy.hujson` (no intents): it
/// passes, then fails on an undefined tag, through `pre-commit run` with the
/// prebuilt-wheel hooks it recommends.
#[test]
fn the_readme_snippet_checks_a_repository_holding_only_policy_hujson() {
    let Some(mut runner) = Runner::new() else {
        return;
    };
    let Some(_wheels) = prebuilt_wheel(&mut runner) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    git(&project, &["init", "--quiet"]);
    std::fs::write(project.join(".pre-commit-config.yaml"), readme_snippet()).unwrap();
    std::fs::write(project.join("policy.hujson"), LONE_POLICY).unwrap();
    git(&project, &["add", "--all"]);
    git(&project, &["commit", "--quiet", "--message", "policy"]);
    let run = || {
        let pre_commit = &runner.pre_commit;
        let out = Command::new(&pre_commit[0])
            .args(&pre_commit[1..])
            .args(["run", "--color", "never", "--all-files"])
            .current_dir(&project)
            .env("PRE_COMMIT_HOME", runner.home.path())
            .env("NO_COLOR", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("SKIP")
            .envs(runner.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, out) = run();
    assert!(
        ok,
        "the README's snippet fails on a valid policy.hujson:\n{out}"
    );
    assert!(
        out.contains("tsacl check (prebuilt wheel)") && out.contains("Passed"),
        "{out}"
    );
    assert!(!out.contains("Failed"), "{out}");

    std::fs::write(
        project.join("policy.hujson"),
        LONE_POLICY.replace("\"dst\": [\"tag:web\"]", "\"dst\": [\"tag:wbe\"]"),
    )
    .unwrap();
    git(&project, &["add", "--all"]);
    let (ok, out) = run();
    assert!(!ok, "the README's snippet passes an undefined tag:\n{out}");
    for expected in ["Failed", "policy.hujson", "tag:wbe", "TSA0"] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
}
