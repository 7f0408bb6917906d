//! The semantic engine at scale, on synthetic tailnets (`tsacl::synth::tailnet`):
//! building the model for 100,000 devices and 10,000 rules, one `explain` query on it,
//! one device's filter and peers (`filter --node`),
//! every device's filter for 10,000 devices and 2,000 rules, and offline test evaluation.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tsacl::engine::explain::{inbound, resolve_name};
use tsacl::engine::filter::{all_filters, device_filter_and_peers};
use tsacl::engine::reach::Roles;
use tsacl::engine::resolve::Resolver;
use tsacl::engine::rules::compile;
use tsacl::model::{Policy, lower};
use tsacl::syntax::hujson;

fn policy(text: &str) -> Policy {
    let doc = hujson::parse(text.as_bytes()).expect("valid");
    lower(doc.root, Default::default(), &mut Vec::new())
}

fn bench(c: &mut Criterion) {
    let (text, inv) = tsacl::synth::tailnet(100_000, 10_000, 7);
    let mut g = c.benchmark_group("engine_100k_devices_10k_rules");
    g.sample_size(10);
    g.bench_function("build_model", |b| {
        b.iter(|| {
            let p = policy(black_box(&text));
            let resolver = Resolver::new(&p, &inv);
            black_box(compile(&resolver).len())
        })
    });
    let p = policy(&text);
    let target = resolve_name(&p, None, "tag:svc42").expect("tag exists");
    g.bench_function("explain_query", |b| {
        b.iter(|| black_box(inbound(&p, &Roles(None), black_box(&target))))
    });
    // What `tsacl filter --node` computes: one device's filter and peers.
    let resolver = Resolver::new(&p, &inv);
    g.bench_function("device_filter_and_peers", |b| {
        b.iter(|| black_box(device_filter_and_peers(&resolver, black_box(77)).1.len()))
    });
    g.finish();

    let (text, inv) = tsacl::synth::tailnet(10_000, 2_000, 11);
    let p = policy(&text);
    let resolver = Resolver::new(&p, &inv);
    let rules = compile(&resolver);
    let mut g = c.benchmark_group("engine_10k_devices_2k_rules");
    g.sample_size(10);
    g.bench_function("all_filters", |b| {
        b.iter(|| black_box(all_filters(&resolver, &rules, &inv).len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
