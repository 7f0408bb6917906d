//! Write the tailnet `benches/commands.sh` times into a directory:
//! `cargo run --release --example gen_tailnet -- DIR DEVICES RULES`.
//!
//! DIR/policy.json (the policy), DIR/policy-edit.json (the same with one grant more),
//! DIR/policy-other.json (as many rules, all different) and DIR/inventory.json.

#[path = "../tests/support/synth.rs"]
mod synth;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: gen_tailnet DIR DEVICES RULES"));
    let mut number = || -> usize {
        args.next()
            .and_then(|a| a.parse().ok())
            .expect("usage: gen_tailnet DIR DEVICES RULES")
    };
    let (devices, rules) = (number(), number());
    std::fs::create_dir_all(&dir).expect("the output directory");
    let (policy, inventory) = synth::command_tailnet(devices, rules, 1);
    let (other, _) = synth::command_tailnet(devices, rules, 2);
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    write("policy-edit.json", &synth::with_one_more_grant(&policy));
    write("policy.json", &policy);
    write("policy-other.json", &other);
    write("inventory.json", &synth::inventory_json(&inventory));
}
