//! Where a command's time goes, for whoever tunes it: with `TSACL_TIMINGS=1` in the
//! environment, each stage of the check prints its wall time to stderr
//! (`tsacl: timing  audit  182.4 ms`). Off by default; reading the variable is done once.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TSACL_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Run `f`, and when timings are on, print how long it took under `stage`.
pub fn stage<T>(stage: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    eprintln!(
        "tsacl: timing  {stage:<28} {:>9.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    out
}
