//! The floor `benches/commands.sh` compares the commands with: a minimal program that
//! reads the same files with `serde_json` (to a `Value`, as a tool must before it can
//! look at them) and does nothing else. A HuJSON file (comments, trailing commas) is
//! first made standard JSON, as Tailscale's own reader does before decoding.
//! `cargo run --release --example floor -- FILE...`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut values = 0usize;
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable");
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(_) => {
                let standard = tsacl::syntax::hujson::standardize(&bytes).expect("HuJSON");
                serde_json::from_slice(&standard).expect("JSON")
            }
        };
        values += value.as_object().map_or(0, |o| o.len());
    }
    println!("{values}");
}
