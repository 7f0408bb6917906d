//! The semantic engine at scale, on synthetic tailnets (`synth::tailnet`):
//! building the model for 100,000 devices and 10,000 rules, one `explain` query on it,
//! one device's filter and peers (`filter --node`), every device's filter for 10,000
//! devices and 2,000 rules; and the functions `explain` and `diff` call on
//! `synth::command_tailnet` (what `benches/commands.sh` times whole).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tsacl::engine::diff::diff;
use tsacl::engine::explain::{self, Held, cannot_reach, inbound, inbound_by_address, resolve_name};
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
    let (text, inv) = synth::tailnet(100_000, 10_000, 7);
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
    // What `tsacl explain TARGET` computes after reading the policy: the access model,
    // the rules that reach the target, and who cannot reach it.
    g.bench_function("explain_query", |b| {
        b.iter(|| {
            let roles = Roles::none();
            let held = Held::of(None);
            let model = explain::model(&p, &roles, &[black_box(&target)]);
            let by_address = inbound_by_address(&model, &target, &held);
            let cannot = cannot_reach(&model, &target, &held, &by_address);
            black_box((inbound(&model, &target), by_address.undecided, cannot))
        })
    });
    // What `tsacl filter --node` computes: one device's filter and peers.
    let resolver = Resolver::new(&p, &inv);
    g.bench_function("device_filter_and_peers", |b| {
        b.iter(|| black_box(device_filter_and_peers(&resolver, black_box(77)).1.len()))
    });
    g.finish();

    // The functions `tsacl explain` and `tsacl diff` call, on the tailnets
    // `benches/commands.sh` times the commands on (10,000 rules, 50,000 devices).
    let (text, _) = synth::command_tailnet(50_000, 10_000, 1);
    let (other, _) = synth::command_tailnet(50_000, 10_000, 2);
    let (p, edited, other) = (
        policy(&text),
        policy(&synth::with_one_more_grant(&text)),
        policy(&other),
    );
    let target = resolve_name(&p, None, "tag:svc7").expect("tag exists");
    let from = resolve_name(&p, None, "user5@example.com").expect("a user");
    let mut g = c.benchmark_group("commands_10k_rules_50k_devices");
    g.sample_size(10);
    g.bench_function("explain_target", |b| {
        b.iter(|| {
            let roles = Roles::none();
            let held = Held::of(None);
            let model = explain::model(&p, &roles, &[black_box(&target)]);
            let by_address = inbound_by_address(&model, &target, &held);
            let cannot = cannot_reach(&model, &target, &held, &by_address);
            black_box((inbound(&model, &target), by_address.undecided, cannot))
        })
    });
    g.bench_function("explain_from_port", |b| {
        b.iter(|| {
            let roles = Roles::none();
            let model = explain::model(&p, &roles, &[&target, &from]);
            black_box(explain::why(
                &model,
                &roles,
                &from,
                &target,
                &Held::of(None),
                6,
                443,
            ))
        })
    });
    g.bench_function("diff_one_rule_added", |b| {
        b.iter(|| black_box(diff(&p, black_box(&edited)).changes.len()))
    });
    g.bench_function("diff_all_rules_different", |b| {
        b.iter(|| black_box(diff(&p, black_box(&other)).changes.len()))
    });
    g.finish();

    let (text, inv) = synth::tailnet(10_000, 2_000, 11);
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
