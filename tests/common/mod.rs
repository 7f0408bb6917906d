//! Shared helpers for integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The conformance data folder: `$TSACL_CONFORMANCE_DIR`, else `../shared/conformance`
/// beside the checkout. `None` (after printing why) when it is absent on a user's
/// machine; a panic when it is absent under `CI=true`, so CI can never pass by skipping.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("TSACL_CONFORMANCE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false);
    if ci {
        panic!(
            "conformance data not found at {} (CI=true: it must be present; set TSACL_CONFORMANCE_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: conformance data not found at {} (set TSACL_CONFORMANCE_DIR to run these tests)",
        dir.display()
    );
    None
}
