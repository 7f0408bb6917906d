//! Write a synthetic policy of about N bytes to standard output:
//! `cargo run --release --example gen_policy -- 5000000 > big.hujson`.

#[path = "../tests/support/synth.rs"]
mod synth;

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(42);
    print!("{}", synth::policy(synth::Shape::of_size(size), seed));
}
