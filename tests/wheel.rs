//! The Python wheel (`python/pyproject.toml`, maturin's binary bindings): built, installed into a
//! fresh virtual environment, and run as `tsacl check` on the repository's own tailnet.
//! Skips with a message where maturin is absent; fails under `CI=true` then (`.ci/run`
//! installs it).

mod common;

use std::path::Path;
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_wheel_installs_and_checks_the_repository_policy() {
    let maturin_ok = Command::new("python3")
        .args(["-m", "maturin", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !maturin_ok {
        assert!(
            !ci(),
            "maturin is needed under CI=true (pip install maturin)"
        );
        eprintln!("SKIPPED: maturin not found (pip install maturin)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    // A debug build is enough to show the packaging works, and reuses the test build.
    run(Command::new("python3")
        .args(["-m", "maturin", "build", "--profile", "dev", "--out"])
        // A target directory of its own: maturin's build would otherwise replace
        // target/debug/tsacl, which other tests run, while they run it.
        .env("CARGO_TARGET_DIR", root.join("target/wheel"))
        .arg(&wheels)
        .current_dir(root.join("python")));
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("tsacl-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    // What PyPI shows: the README as the long description, the project's links, the
    // licence (expression and files) and the classifiers.
    let listing = run(Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist(): print(n)\nm = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')][0]\nsys.stdout.write(z.read(m).decode())",
        ])
        .arg(&wheel));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    for expected in [
        ".dist-info/licenses/LICENSE-MIT\n",
        ".dist-info/licenses/LICENSE-APACHE\n",
        "\nLicense-Expression: MIT OR Apache-2.0\n",
        "\nLicense-File: LICENSE-MIT\n",
        "\nLicense-File: LICENSE-APACHE\n",
        "\nDescription-Content-Type: text/markdown",
        "\nProject-URL: Homepage, https://github.com/tsacl/tsacl\n",
        "\nProject-URL: Repository, https://github.com/tsacl/tsacl\n",
        "\nProject-URL: Issues, https://github.com/tsacl/tsacl/issues\n",
        "\nClassifier: Programming Language :: Rust\n",
        "\nClassifier: Environment :: Console\n",
        "\n\n# tsacl\n\ntsacl checks Tailscale tailnet policy files",
    ] {
        assert!(
            listing.contains(expected),
            "the wheel's metadata lacks {expected:?}:\n{listing}"
        );
    }

    let venv = dir.path().join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    let bin = venv.join(if cfg!(windows) { "Scripts" } else { "bin" });
    run(Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(&wheel));
    let tsacl = bin.join(if cfg!(windows) { "tsacl.exe" } else { "tsacl" });

    let version = run(Command::new(&tsacl).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tsacl "));

    let project = dir.path().join("project");
    common::copy_dir(&root.join("policies"), &project.join("policies"));
    let out = Command::new(&tsacl)
        .args(["check", "--color", "never"])
        .current_dir(&project)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("0 errors"), "{err}");
}

/// The pre-commit package at the root pins the wheel of tsacl's own version.
#[test]
fn the_pre_commit_package_pins_this_version() {
    let root =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pyproject.toml"))
            .unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(root.contains(&format!("version = \"{version}\"")), "{root}");
    assert!(root.contains(&format!("\"tsacl=={version}\"")), "{root}");
}

/// `license-files` cannot reach outside `python/`, so it holds copies of the licences:
/// they must be the root's.
#[test]
fn the_wheel_licences_are_the_repository_licences() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let ours = std::fs::read(root.join(name)).unwrap();
        let wheel = std::fs::read(root.join("python").join(name)).unwrap();
        assert!(ours == wheel, "python/{name} differs from {name}: copy it");
    }
}
