//! The intents workflow at scale: compile 1,000 services over 200 devices and check the
//! result (validation, the generated tests, and the reachability proof), in one go.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tailnet.json5");
    std::fs::write(&path, synth::intents(1000, 200, 3)).expect("write");
    let project = tsacl::intents::project::load(&path).expect("loads");
    assert!(
        !project.diagnostics.iter().any(|d| d.is_error()),
        "the generated intents are valid"
    );
    std::fs::write(&project.output_path, &project.compiled.text).expect("write output");
    let mut g = c.benchmark_group("intents_1000_services_200_devices");
    g.sample_size(10);
    g.bench_function("compile", |b| {
        b.iter(|| {
            black_box(
                tsacl::intents::project::load(&path)
                    .expect("loads")
                    .compiled
                    .text
                    .len(),
            )
        })
    });
    g.bench_function("compile_and_check", |b| {
        b.iter(|| {
            let mut p = tsacl::intents::project::load(&path).expect("loads");
            p.check(&Default::default());
            assert!(!p.diagnostics.iter().any(|d| d.is_error()));
            black_box(p.diagnostics.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
