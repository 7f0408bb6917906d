//! The floor `benches/commands.sh` compares the commands with: a minimal program that
//! reads the same files with `serde_json` (to a `Value`, as a tool must before it can
//! look at them) and does nothing else. `cargo run --release --example floor -- FILE...`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut values = 0usize;
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        values += value.as_object().map_or(0, |o| o.len());
    }
    println!("{values}");
}
