//! Time and peak memory of the redundancy audit on a generated tailnet
//! (`synth::audit_tailnet`), against the inventory and policy-only (structural):
//! `cargo run --release --example audit_scale -- 100000 10000`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use std::time::Instant;
use tsacl::engine::redundancy::{Audit, Kind};

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let devices = args.next().unwrap_or(100_000);
    let rules = args.next().unwrap_or(10_000);
    let (text, inv) = synth::audit_tailnet(devices, rules, 7);
    let parse = |text: &str| {
        let doc = tsacl::syntax::hujson::parse(text.as_bytes()).expect("valid");
        tsacl::model::lower(doc.root, Default::default(), &mut Vec::new())
    };
    let policy = parse(&text);
    println!(
        "policy: {} bytes, {devices} devices, {rules} rules",
        text.len()
    );
    let t = Instant::now();
    let mut audit = Audit::new(&policy, &inv);
    let elapsed = t.elapsed();
    let findings = audit.findings();
    let count = |f: fn(&Kind) -> bool| findings.iter().filter(|x| f(&x.kind)).count();
    println!(
        "full audit: {elapsed:?}: {} redundant ({} by one rule), {} allow nothing, {} selector findings",
        count(|k| matches!(k, Kind::Redundant { .. })),
        count(|k| matches!(k, Kind::Redundant { covering } if covering.len() == 1)),
        count(|k| matches!(k, Kind::NoSources | Kind::NoDestinations)),
        count(|k| !matches!(
            k,
            Kind::Redundant { .. } | Kind::NoSources | Kind::NoDestinations
        )),
    );
    let t = Instant::now();
    let representative = tsacl::engine::structural::representative(&policy);
    let structural = Audit::new(&policy, &representative).findings();
    println!(
        "structural audit: {:?} ({} representative devices, {} findings)",
        t.elapsed(),
        representative.devices.len(),
        structural.len()
    );
    let edited = text.replacen("\"tcp:443\"]}", "\"tcp:444\"]}", 1);
    let edited_policy = parse(&edited);
    let t = Instant::now();
    let redecided = audit.update(&edited_policy, &inv);
    println!(
        "one-rule edit: {:?} ({redecided} rules re-decided)",
        t.elapsed()
    );
    println!("peak memory: {} MiB", peak_rss_kib() / 1024);
}

fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}
