//! Parse + validate and format of a generated ~5 MB policy, against serde_json parsing the
//! same standardized bytes into a `Value` in the same run (the reference point the
//! foundation issue sets: parse + validate at no less than a third of its speed).

// The allocator the tsacl binary uses (src/main.rs), for both sides of the comparison.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use synth::{Shape, policy};
use tsacl::check::check_policy;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::syntax::hujson;

fn bench(c: &mut Criterion) {
    let text = policy(Shape::of_size(5_000_000), 42).into_bytes();
    let standard = hujson::standardize(&text).expect("generated policy is valid HuJSON");
    let mut sources = SourceMap::default();
    let file = sources.add(SourceFile::new(
        "bench.hujson",
        "bench.hujson",
        text.clone(),
    ));
    let options = tsacl::validate::Options::default();
    assert!(!check_policy(&sources, file, &options).has_errors());

    let mut group = c.benchmark_group("policy_5mb");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&standard)).unwrap())
        })
    });
    group.bench_function("hujson_parse", |b| {
        b.iter(|| black_box(hujson::parse(black_box(&text)).unwrap()))
    });
    // Parse + validate: the syntax tree, the model, and the control plane's rules.
    group.bench_function("parse_validate", |b| {
        b.iter(|| {
            let doc = hujson::parse(black_box(&text)).unwrap();
            let mut diags = Vec::new();
            let policy = tsacl::model::lower(doc.root, file, &mut diags);
            tsacl::validate::validate(&policy, file, &options, &mut diags);
            black_box((policy, diags))
        })
    });
    // The whole `tsacl check`: parse + validate, then the offline evaluation of the
    // policy's tests (stand-in devices for every user and tag, rules compiled).
    group.bench_function("check_with_tests", |b| {
        b.iter(|| black_box(check_policy(black_box(&sources), file, &options)))
    });
    group.bench_function("standardize", |b| {
        b.iter(|| black_box(hujson::standardize(black_box(&text)).unwrap()))
    });
    group.bench_function("format", |b| {
        b.iter(|| black_box(hujson::format(black_box(&text)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
