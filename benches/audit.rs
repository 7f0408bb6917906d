//! The exact redundancy audit at scale, on `synth::audit_tailnet` (100,000 devices,
//! 10,000 rules with the redundancy grown policies collect): the full audit against the
//! inventory, the policy-only (structural) audit of the same file, and re-deciding after a
//! one-rule edit.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/synth.rs"]
mod synth;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tsacl::engine::redundancy::Audit;
use tsacl::engine::structural::representative;
use tsacl::model::{Policy, lower};
use tsacl::syntax::hujson;

fn policy(text: &str) -> Policy {
    let doc = hujson::parse(text.as_bytes()).expect("valid");
    lower(doc.root, Default::default(), &mut Vec::new())
}

fn bench(c: &mut Criterion) {
    let (text, inv) = synth::audit_tailnet(100_000, 10_000, 7);
    let original = policy(&text);
    // One rule's port changes (the first rule that allows tcp:443 alone).
    let edited = policy(&text.replacen("\"tcp:443\"]}", "\"tcp:444\"]}", 1));
    let mut g = c.benchmark_group("audit_100k_devices_10k_rules");
    g.sample_size(10);
    g.bench_function("full_audit", |b| {
        b.iter(|| black_box(Audit::new(black_box(&original), &inv).findings().len()))
    });
    g.bench_function("structural_audit", |b| {
        b.iter(|| {
            black_box(
                Audit::new(black_box(&original), &representative(&original))
                    .findings()
                    .len(),
            )
        })
    });
    let mut audit = Audit::new(&original, &inv);
    let mut flip = false;
    g.bench_function("one_rule_edit", |b| {
        b.iter(|| {
            // Each iteration is one edit: to the new text, then back.
            flip = !flip;
            let next = if flip { &edited } else { &original };
            black_box(audit.update(next, &inv))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
