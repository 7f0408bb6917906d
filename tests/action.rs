//! The GitHub Action (`action.yml`), run outside GitHub as a runner runs it: the file is
//! parsed and checked against GitHub's schema for action metadata; its composite step runs
//! with the `${{ inputs.* }}` of `action.yml` evaluated into the step's `env:`, against the
//! local fake API, with no cargo on `PATH`. A directory, served as `release-url: file://…`,
//! stands in for the GitHub release: laid out as `.github/workflows/release.yml` has
//! taiki-e/upload-rust-binary-action write it (its `main.sh`), from the inputs that
//! workflow gives it.

mod api_server;

use api_server::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const TARGET: &str = "x86_64-unknown-linux-musl";
/// What `${{ github.action_repository }}` is when the action is used as `tsacl/tsacl@v0`.
const ACTION_REPOSITORY: &str = "tsacl/tsacl";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load_yaml(name: &str) -> Yaml {
    let text = std::fs::read_to_string(repository().join(name)).unwrap();
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not YAML, so GitHub cannot load it: {e}"));
    assert_eq!(docs.len(), 1, "{name} holds one document");
    docs.remove(0)
}

fn string(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        _ => None,
    }
}

/// `action.yml` is YAML and valid against GitHub's schema for action metadata
/// (`check-jsonschema --builtin-schema vendor.github-actions`, from PyPI; `.ci/run`
/// installs it). Without check-jsonschema only the YAML part runs, saying so, except
/// under `CI=true`, where it fails.
#[test]
fn action_yml_is_yaml_and_valid_against_githubs_schema() {
    let action = load_yaml("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let found = Command::new("check-jsonschema")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !ci(),
            "check-jsonschema is not installed (CI=true: it must be; .ci/run installs it with pip)"
        );
        eprintln!(
            "SKIPPED: check-jsonschema is not installed (`python3 -m pip install check-jsonschema`); action.yml was parsed but not checked against GitHub's schema"
        );
        return;
    }
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-actions", "action.yml"])
        .current_dir(repository())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "action.yml does not match GitHub's schema for actions:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every input reaches the step, and the step reads no input that is not declared.
#[test]
fn every_input_reaches_the_step() {
    let action = load_yaml("action.yml");
    let inputs: Vec<String> = action["inputs"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let step = run_step(&action);
    let env: Vec<String> = step["env"]
        .as_hash()
        .unwrap()
        .values()
        .filter_map(string)
        .collect();
    for input in &inputs {
        let expression = format!("${{{{ inputs.{input} }}}}");
        assert!(
            env.contains(&expression),
            "the input {input} is never passed to the step"
        );
    }
    for value in &env {
        if let Some(name) = value
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.strip_suffix(" }}"))
        {
            assert!(inputs.iter().any(|i| i == name), "undeclared input {name}");
        }
    }
}

/// The composite step that runs a script (the other one is the cache).
fn run_step(action: &Yaml) -> &Yaml {
    action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| s["run"].as_str().is_some())
        .expect("a run step")
}

/// The contexts of the expressions `action.yml` uses.
struct Contexts {
    inputs: BTreeMap<String, String>,
    github: BTreeMap<&'static str, String>,
    runner: BTreeMap<&'static str, String>,
}

impl Contexts {
    fn value(&self, reference: &str) -> String {
        let (context, name) = reference
            .split_once('.')
            .unwrap_or_else(|| panic!("an expression this test cannot evaluate: {reference}"));
        let map_value = match context {
            "inputs" => self.inputs.get(name).cloned(),
            "github" => self.github.get(name).cloned(),
            "runner" => self.runner.get(name).cloned(),
            _ => panic!("an expression this test cannot evaluate: {reference}"),
        };
        map_value.unwrap_or_default()
    }

    /// A string with `${{ … }}` in it, as the runner evaluates it. Only what `action.yml`
    /// uses is understood (context references and `||`); anything else fails the test,
    /// so that a new kind of expression is noticed here.
    fn evaluate(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("a closed expression") + start;
            let expression = rest[start + 3..end].trim();
            let value = expression
                .split("||")
                .map(|alternative| self.value(alternative.trim()))
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// A release directory as `.github/workflows/release.yml` publishes it for `TARGET`:
/// taiki-e/upload-rust-binary-action's layout (its main.sh), from the `with:` of that
/// workflow's step: the archive `<archive>.tar.gz` holding the binary and the `include`
/// files (under a directory named after the archive only with `leading-dir: true`), and
/// `<archive>.sha256`, the output of `sha256sum <archive>.tar.gz`. The binary is the
/// tsacl under test.
fn release_dir(root: &Path) -> PathBuf {
    let workflow = load_yaml(".github/workflows/release.yml");
    let with = workflow["jobs"]["binaries"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("taiki-e/upload-rust-binary-action@"))
        })
        .expect("release.yml uploads with taiki-e/upload-rust-binary-action")["with"]
        .clone();
    let input = |name: &str| string(&with[name]).unwrap_or_default();
    let bin = input("bin");
    let archive = {
        let a = input("archive");
        let a = if a.is_empty() {
            "$bin-$target".into()
        } else {
            a
        };
        a.replace("$bin", &bin).replace("$target", TARGET)
    };
    assert_eq!(input("checksum"), "sha256");
    assert!(
        ["unix", "all"].contains(&input("tar").as_str()),
        "Linux gets a .tar.gz"
    );
    let includes: Vec<String> = input("include")
        .split([',', ' ', '\n'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(
            includes.iter().any(|i| i == licence),
            "the archives include {licence}"
        );
    }
    let leading_dir = input("leading-dir") == "true";

    let dir = root.join("release");
    let stage = root.join("stage");
    let content = stage.join(&archive);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&content).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_tsacl"), content.join(&bin)).unwrap();
    let mut names = vec![bin.clone()];
    for include in &includes {
        std::fs::copy(repository().join(include), content.join(include)).unwrap();
        names.push(include.clone());
    }
    let tarball = dir.join(format!("{archive}.tar.gz"));
    let mut tar = Command::new("tar");
    tar.arg("-czf").arg(&tarball);
    if leading_dir {
        tar.current_dir(&stage).arg(&archive);
    } else {
        tar.current_dir(&content).args(&names);
    }
    assert!(tar.status().unwrap().success());
    let sum = Command::new("sha256sum")
        .arg(format!("{archive}.tar.gz"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(sum.status.success());
    std::fs::write(dir.join(format!("{archive}.sha256")), sum.stdout).unwrap();
    dir
}

/// `PATH` without cargo (nor rustc, rustup): a directory holding them is replaced by one
/// holding links to everything else in it.
fn path_without_cargo(root: &Path) -> OsString {
    let hidden = ["cargo", "rustc", "rustup"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = Vec::new();
    for (i, dir) in std::env::split_paths(&path).enumerate() {
        if !hidden.iter().any(|h| dir.join(h).exists()) {
            dirs.push(dir);
            continue;
        }
        let links = root.join(format!("path-{i}"));
        std::fs::create_dir_all(&links).unwrap();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if !hidden.iter().any(|h| name == *h) {
                let _ = std::os::unix::fs::symlink(entry.path(), links.join(&name));
            }
        }
        dirs.push(links);
    }
    std::env::join_paths(dirs).unwrap()
}

struct Action {
    cmd: Command,
    summary: PathBuf,
    /// Where the cache step of `action.yml` caches (`${{ runner.tool_cache }}/tsacl`).
    cached: PathBuf,
}

/// The composite step of `action.yml` in `repo`, as GitHub runs it on an x86_64 Linux
/// runner: the step's `env:` with the expressions evaluated (the inputs given, else their
/// defaults), its `run:` written to a file and run by `bash --noprofile --norc -eo
/// pipefail` (the runner's `shell: bash`), `GITHUB_ACTION_PATH` the action's checkout,
/// a tool cache in `root`, releases from `release`, and no cargo on `PATH`.
fn action(
    api: &FakeApi,
    repo: &Path,
    root: &Path,
    release: &Path,
    inputs: &[(&str, &str)],
) -> Action {
    let yml = load_yaml("action.yml");
    let tool_cache = root.join("toolcache");
    let mut given: BTreeMap<String, String> = BTreeMap::new();
    given.insert(
        "release-url".into(),
        format!("file://{}", release.display()),
    );
    for (k, v) in inputs {
        given.insert(k.to_string(), v.to_string());
    }
    let mut contexts = Contexts {
        inputs: BTreeMap::new(),
        github: BTreeMap::from([
            ("action_repository", ACTION_REPOSITORY.to_string()),
            ("action_ref", "v0".to_string()),
        ]),
        runner: BTreeMap::from([
            ("os", "Linux".to_string()),
            ("arch", "X64".to_string()),
            ("tool_cache", tool_cache.display().to_string()),
        ]),
    };
    for (name, spec) in yml["inputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap().to_string();
        let value = match given.remove(&name) {
            Some(v) => v,
            None => {
                assert!(
                    spec["required"].as_bool() != Some(true),
                    "the required input {name} is missing"
                );
                string(&spec["default"]).unwrap_or_default()
            }
        };
        contexts.inputs.insert(name, value);
    }
    assert!(
        given.is_empty(),
        "inputs action.yml does not declare: {given:?}"
    );

    let steps = yml["runs"]["steps"].as_vec().unwrap();
    let cache = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache@"))
        })
        .expect("a cache step");
    let cached = PathBuf::from(contexts.evaluate(cache["with"]["path"].as_str().unwrap()));
    assert!(
        !contexts
            .evaluate(cache["with"]["key"].as_str().unwrap())
            .contains("--"),
        "the cache key has every part"
    );

    let step = run_step(&yml);
    assert_eq!(step["shell"].as_str(), Some("bash"));
    let script = root.join("step.sh");
    std::fs::write(&script, contexts.evaluate(step["run"].as_str().unwrap())).unwrap();

    let summary = root.join("summary.md");
    let mut cmd = Command::new("bash");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("TS_")
            || upper.starts_with("TSACL_")
            || upper.starts_with("INPUT_")
            || upper.starts_with("GITHUB_")
            || upper.starts_with("RUNNER_")
            || upper.starts_with("ACTIONS_")
            || upper.starts_with("CARGO")
            || upper.starts_with("RUSTUP")
        {
            cmd.env_remove(&k);
        }
    }
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(repo)
        .env("PATH", path_without_cargo(root))
        .env("GITHUB_ACTION_PATH", repository())
        .env("GITHUB_ACTIONS", "true")
        .env("TS_API_URL", &api.url)
        .env("TSACL_RETRY_BASE_MS", "5")
        .env("NO_COLOR", "1")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TOOL_CACHE", &tool_cache)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .stdin(std::process::Stdio::null());
    for (name, value) in step["env"].as_hash().unwrap() {
        let value = string(value).unwrap_or_default();
        cmd.env(name.as_str().unwrap(), contexts.evaluate(&value));
    }
    Action {
        cmd,
        summary,
        cached,
    }
}

/// Like `api_server::run`, except that `::add-mask::` lines may hold a secret: that is
/// how a step asks GitHub to mask it in every log.
fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    let stdout: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .map(|l| format!("{l}\n"))
        .collect();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: std::time::Duration::ZERO,
    };
    for secret in SECRETS {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret ({secret}) appears in the output:\n{run}"
        );
    }
    run
}

fn tools_present() -> bool {
    ["tar", "sha256sum", "curl", "git"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

macro_rules! skip_without_tools {
    () => {
        if !tools_present() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "tar, sha256sum, curl and git are needed under CI=true"
            );
            eprintln!("SKIPPED: tar, sha256sum, curl or git missing");
            return;
        }
    };
}

#[test]
fn gitops_acl_action_inputs_test_and_apply() {
    skip_without_tools!();
    let root = tempfile::tempdir().unwrap();
    let release = release_dir(root.path());
    let api = FakeApi::start(V1.as_bytes());
    let repo = repo_with(V1.as_bytes());
    std::fs::write(repo.path().join("policy.hujson"), V2).unwrap();
    commit(repo.path(), "open port 80");
    let gitops = |action_: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("api-key", API_KEY),
            ("tailnet", "example.com"),
            ("policy-file", "./policy.hujson"),
            ("action", action_),
        ]
    };

    // test: the offline check, then the server's validation; nothing is written.
    let mut a = action(&api, repo.path(), root.path(), &release, &gitops("test"));
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("checksum verified"), "{r}");
    assert!(!r.stderr.contains("cargo"), "installed without cargo: {r}");
    let installed = a
        .cached
        .join(format!("{}/{TARGET}/bin/tsacl", env!("CARGO_PKG_VERSION")));
    assert!(
        installed.is_file(),
        "installed where the cache step caches: {r}"
    );
    assert!(
        r.stdout
            .contains("tsacl: checked policy.hujson (validation, the policy's tests and lints): nothing at or above error"),
        "a clean run says what it checked: {r}"
    );
    assert_eq!(api.state().count("POST", "/acl/validate"), 1);
    assert_eq!(api.state().writes, 0);

    // apply: pushed, with the changes in the job summary.
    let mut a = action(&api, repo.path(), root.path(), &release, &gitops("apply"));
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("using the cached tsacl"), "{r}");
    assert_eq!(api.state().writes, 1);
    assert_eq!(
        hujson_of(&api.policy()),
        hujson_of(V2.as_bytes()),
        "the server holds the pushed policy"
    );
    let summary = std::fs::read_to_string(&a.summary).unwrap();
    assert!(summary.contains("### tsacl push"), "{summary}");

    // Both kinds of credentials, as gitops-acl-action refuses them.
    let mut inputs = gitops("test");
    inputs.push(("oauth-client-id", OAUTH_ID));
    inputs.push(("oauth-secret", OAUTH_SECRET));
    let mut a = action(&api, repo.path(), root.path(), &release, &inputs);
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stdout.contains("::error title=tsacl::only one of"), "{r}");
}

fn hujson_of(bytes: &[u8]) -> Vec<u8> {
    tsacl::syntax::hujson::format(bytes).unwrap()
}

#[test]
fn tsacl_extras_annotations_sarif_summary_and_workload_identity() {
    skip_without_tools!();
    let root = tempfile::tempdir().unwrap();
    let release = release_dir(root.path());
    let api = FakeApi::start(V1.as_bytes());
    // A pull request from `feature` into `main`, checked out as actions/checkout does:
    // the base branch is on the remote, not fetched.
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q", "--bare"]);
    let repo = repo_with(V1.as_bytes());
    git(repo.path(), &["branch", "-M", "main"]);
    git(
        repo.path(),
        &[
            "remote",
            "add",
            "origin",
            &origin.path().display().to_string(),
        ],
    );
    git(repo.path(), &["push", "-q", "origin", "main"]);
    git(repo.path(), &["checkout", "-q", "-b", "feature"]);
    std::fs::write(repo.path().join("policy.hujson"), V2).unwrap();
    commit(repo.path(), "open port 80");
    git(
        repo.path(),
        &["update-ref", "-d", "refs/remotes/origin/main"],
    );

    // No credentials: the offline check alone; the pull request's access diff against
    // the base branch goes to the job summary, naming that branch.
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[("action", "test"), ("policy-file", "policy.hujson")],
    );
    a.cmd
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_BASE_REF", "main")
        .env("GITHUB_HEAD_REF", "feature");
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 0, "{r}");
    let summary = std::fs::read_to_string(&a.summary).unwrap();
    assert!(
        summary.contains("tag:web") && summary.contains("80"),
        "{summary}"
    );
    assert!(
        summary.contains("git:origin/main:policy.hujson"),
        "{summary}"
    );
    assert!(!summary.contains("FETCH_HEAD"), "{summary}");
    assert_eq!(api.state().requests.len(), 0, "no credentials, no request");

    // A broken policy: annotations on stdout, exit 1; SARIF to a file on request.
    std::fs::write(
        repo.path().join("policy.hujson"),
        V2.replace("tag:web:80", "tag:webb:80"),
    )
    .unwrap();
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[("action", "test"), ("policy-file", "policy.hujson")],
    );
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout.contains("::error file=policy.hujson,line=8"),
        "{r}"
    );
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[
            ("action", "test"),
            ("policy-file", "policy.hujson"),
            ("format", "sarif"),
            ("sarif-file", "out.sarif"),
        ],
    );
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 1, "{r}");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("out.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    std::fs::write(repo.path().join("policy.hujson"), V2).unwrap();

    // Workload identity federation: GitHub's OIDC token for the audience, exchanged.
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[
            ("action", "test"),
            ("policy-file", "policy.hujson"),
            ("oauth-client-id", FEDERATED_ID),
            ("audience", "api.tailscale.com/k456"),
        ],
    );
    a.cmd
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/github-oidc?api-version=2.0", api.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB-REQUEST-TOKEN");
    let out = a.cmd.output().unwrap();
    // The token is masked before anything could print it.
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("::add-mask::{ID_TOKEN}\n")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(api.state().count("POST", "/oauth/token-exchange"), 2);
    assert_eq!(api.state().count("POST", "/acl/validate"), 2);
}

#[test]
fn a_corrupted_archive_is_refused_by_its_checksum() {
    skip_without_tools!();
    let root = tempfile::tempdir().unwrap();
    let release = release_dir(root.path());
    let archive = release.join(format!("tsacl-{TARGET}.tar.gz"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let api = FakeApi::start(V1.as_bytes());
    let repo = repo_with(V1.as_bytes());
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[("action", "test"), ("policy-file", "policy.hujson")],
    );
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stdout.contains("does not match"), "{r}");
    assert!(r.stdout.contains("refusing to run it"), "{r}");
    let installed = a
        .cached
        .join(format!("{}/{TARGET}/bin/tsacl", env!("CARGO_PKG_VERSION")));
    assert!(!installed.exists(), "nothing installed");
}
