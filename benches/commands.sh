#!/usr/bin/env bash
# Time the commands people run, whole process, beside the floor: a minimal serde_json
# program (examples/floor.rs) reading the same files, timed in the same run. Inputs are
# the project's own generated tailnets (examples/gen_tailnet.rs, tests/support/synth.rs
# `command_tailnet`). Writes a Markdown table per size (time, ratio to the floor, peak
# memory) to stdout and the raw hyperfine JSON beside the inputs.
#
#   benches/commands.sh                 every size (1k/10k rules x 10k/50k/100k devices)
#   benches/commands.sh 10000:50000     one size, RULES:DEVICES
#
# Needs hyperfine (apt install hyperfine) and GNU time (/usr/bin/time) for peak memory.
# Timings are never asserted anywhere; BENCHMARKS.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { echo "benches/commands.sh: needs hyperfine (apt install hyperfine)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "benches/commands.sh: needs GNU time at /usr/bin/time" >&2; exit 2; }

cargo build --release --quiet --bin tsacl --example gen_tailnet --example floor
root=$(pwd)
tsacl="$root/target/release/tsacl"
floor="$root/target/release/examples/floor"
gen="$root/target/release/examples/gen_tailnet"
work="${TSACL_BENCH_DIR:-$root/target/bench-commands}"
runs="${TSACL_BENCH_RUNS:-5}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000:10000 1000:50000 1000:100000 10000:10000 10000:50000 10000:100000)

# Peak resident memory of one run, in MiB.
peak() {
    /usr/bin/time -f "%M" -o "$work/peak" "$@" >/dev/null 2>&1 || true
    echo $(($(tail -1 "$work/peak") / 1024))
}

# One table row per command: name, mean ± sd, ratio to its floor, peak memory.
table() {
    python3 - "$1" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
# The floor each command is compared with: the one reading the same files.
floors = {r["command"].rsplit(" [", 1)[1]: r for r in results if r["command"].startswith("floor")}
print("| command | mean | ± | × floor | peak MiB |")
print("|---|---|---|---|---|")
for r in results:
    name = r["command"]
    floor = floors.get(name.rsplit(" [", 1)[1])
    ratio = ""
    if floor and not name.startswith("floor"):
        ratio = "%.1f" % (r["mean"] / floor["mean"])
    peak = open(sys.argv[1].replace(".json", ".peak")).read().split("\n")
    mib = next((p.split("\t")[1] for p in peak if p.startswith(name + "\t")), "")
    print("| %s | %.3f s | %.3f | %s | %s |" % (name.rsplit(" [", 1)[0], r["mean"], r["stddev"] or 0, ratio, mib))
EOF
}

mkdir -p "$work"
for size in "${sizes[@]}"; do
    rules=${size%%:*}
    devices=${size##*:}
    dir="$work/$rules-$devices"
    [ -f "$dir/inventory.json" ] || "$gen" "$dir" "$devices" "$rules"
    cd "$dir"
    # name [floor it is compared with] = command
    commands=(
        "floor: policy [policy]=$floor policy.json"
        "floor: policy + inventory [both]=$floor policy.json inventory.json"
        "floor: two policies [two]=$floor policy.json policy-edit.json"
        "check [policy]=$tsacl check policy.json --format json"
        "check --inventory [both]=$tsacl check policy.json --inventory inventory.json --format json"
        "explain tag:svc7 [policy]=$tsacl explain tag:svc7 policy.json"
        "explain tag:svc7 --inventory [both]=$tsacl explain tag:svc7 policy.json --inventory inventory.json"
        "explain tag:svc7 --from user5 --port 443 [policy]=$tsacl explain tag:svc7 --from user5@example.com --port 443 policy.json"
        "paths tag:svc7 [policy]=$tsacl paths tag:svc7 policy.json"
        "paths tag:svc7 --inventory [both]=$tsacl paths tag:svc7 policy.json --inventory inventory.json"
        "blast user5 [policy]=$tsacl blast user5@example.com policy.json"
        "filter --node d77 [both]=$tsacl filter policy.json --inventory inventory.json --node d77"
        "diff, one rule added [two]=$tsacl diff policy.json policy-edit.json"
        "diff, all rules different (markdown) [two]=$tsacl diff policy.json policy-other.json --format markdown"
    )
    args=()
    : >"$dir/results.peak"
    for c in "${commands[@]}"; do
        name=${c%%=*}
        cmd=${c#*=}
        args+=(-n "$name" "$cmd")
        # shellcheck disable=SC2086 # the command is split into words on purpose
        printf '%s\t%s\n' "$name" "$(peak $cmd)" >>"$dir/results.peak"
    done
    hyperfine --style none --warmup 1 --runs "$runs" -i --export-json "$dir/results.json" "${args[@]}" >/dev/null
    echo
    echo "### $rules rules, $devices devices ($(du -h policy.json | cut -f1) policy, $(du -h inventory.json | cut -f1) inventory)"
    echo
    table "$dir/results.json"
    cd "$root"
done
