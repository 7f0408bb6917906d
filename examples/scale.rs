//! Time and peak memory of the engine on a generated tailnet, in one process:
//! `cargo run --release --example scale -- 100000 10000`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use std::time::Instant;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let devices = args.next().unwrap_or(100_000);
    let rules = args.next().unwrap_or(10_000);
    let (text, inv) = synth::tailnet(devices, rules, 7);
    println!(
        "policy: {} bytes, {devices} devices, {rules} rules",
        text.len()
    );
    let t = Instant::now();
    let doc = tsacl::syntax::hujson::parse(text.as_bytes()).expect("valid");
    let policy = tsacl::model::lower(doc.root, Default::default(), &mut Vec::new());
    let resolver = tsacl::engine::resolve::Resolver::new(&policy, &inv);
    let compiled = tsacl::engine::rules::compile(&resolver);
    println!("build model: {:?} ({} rules)", t.elapsed(), compiled.len());
    let target = tsacl::engine::explain::resolve_name(&policy, None, "tag:svc42").expect("tag");
    let t = Instant::now();
    let n = 100;
    for _ in 0..n {
        let roles = tsacl::engine::reach::Roles::none();
        let model = tsacl::engine::explain::model(&policy, &roles, &[&target]);
        std::hint::black_box(tsacl::engine::explain::inbound(&model, &target));
    }
    println!("explain query: {:?} each", t.elapsed() / n);
    println!(
        "peak memory so far (model + explain): {} MiB",
        peak_rss_kib() / 1024
    );
    let t = Instant::now();
    let filters = tsacl::engine::filter::all_filters(&resolver, &compiled, &inv);
    println!("all filters: {:?} ({} devices)", t.elapsed(), filters.len());
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
