//! Without the conformance data the conformance suites pass by skipping, and `cargo test`
//! must show it: the harness captures what a passing test prints with `eprintln!`, so
//! the skip line goes to the process's stderr itself. Checked by running this test binary
//! again on the helper below, with output captured as `cargo test` captures it.

mod common;

#[test]
#[ignore = "run by skipping_the_conformance_suites_is_visible, with the data made absent"]
fn conformance_data_absent() {
    assert!(common::conformance_dir().is_none());
}

#[test]
fn skipping_the_conformance_suites_is_visible() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["conformance_data_absent", "--exact", "--ignored"])
        .env("TSACL_CONFORMANCE_DIR", "/nonexistent/tsacl-conformance")
        .env_remove("CI")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stderr.contains(
            "SKIPPED: conformance data not found at /nonexistent/tsacl-conformance (set TSACL_CONFORMANCE_DIR to run these tests)"
        ),
        "the skip is not shown by a passing test:\n{stdout}{stderr}"
    );
}
