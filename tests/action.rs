//! The GitHub Action (`action.yml`), run outside GitHub: `action/run.sh` with its inputs as
//! environment variables, against the local fake API. A directory stands in for the
//! release download: an archive of the tsacl under test with its SHA-256 beside it.

mod api_server;

use api_server::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-musl";

/// A release directory holding `tsacl-<target>.tar.gz` (the binary under test) and its
/// checksum, as the release workflow publishes them.
fn release_dir(root: &Path) -> PathBuf {
    let dir = root.join("release");
    let stage = root.join("stage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_tsacl"), stage.join("tsacl")).unwrap();
    let archive = dir.join(format!("tsacl-{TARGET}.tar.gz"));
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .arg("tsacl")
        .status()
        .unwrap();
    assert!(ok.success());
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let hash = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        dir.join(format!("tsacl-{TARGET}.tar.gz.sha256")),
        format!("{hash}  tsacl-{TARGET}.tar.gz\n"),
    )
    .unwrap();
    dir
}

struct Action {
    cmd: Command,
    summary: PathBuf,
}

/// `action/run.sh` in `repo`, as GitHub would run it on an x86_64 Linux runner, with a
/// tool cache in `root` and releases from `release`.
fn action(
    api: &FakeApi,
    repo: &Path,
    root: &Path,
    release: &Path,
    inputs: &[(&str, &str)],
) -> Action {
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
        {
            cmd.env_remove(&k);
        }
    }
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("action/run.sh"))
        .current_dir(repo)
        .env("TS_API_URL", &api.url)
        .env("TSACL_RETRY_BASE_MS", "5")
        .env("NO_COLOR", "1")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TOOL_CACHE", root.join("toolcache"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_RELEASE_URL", format!("file://{}", release.display()))
        .env("INPUT_VERSION", env!("CARGO_PKG_VERSION"))
        .stdin(std::process::Stdio::null());
    for (k, v) in inputs {
        cmd.env(
            format!("INPUT_{}", k.to_ascii_uppercase().replace('-', "_")),
            v,
        );
    }
    Action { cmd, summary }
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
    let repo = repo_with(V1.as_bytes());
    std::fs::write(repo.path().join("policy.hujson"), V2).unwrap();
    commit(repo.path(), "open port 80");

    // No credentials: the offline check alone; the pull request's access diff goes to
    // the job summary.
    let mut a = action(
        &api,
        repo.path(),
        root.path(),
        &release,
        &[("action", "test"), ("policy-file", "policy.hujson")],
    );
    a.cmd
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("TSACL_BASE_REV", "HEAD~1");
    let r = run(&mut a.cmd);
    assert_eq!(r.code, 0, "{r}");
    let summary = std::fs::read_to_string(&a.summary).unwrap();
    assert!(
        summary.contains("tag:web") && summary.contains("80"),
        "{summary}"
    );
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
    let installed = root.path().join(format!(
        "toolcache/tsacl/{}/{TARGET}/bin/tsacl",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(!installed.exists(), "nothing installed");
}
