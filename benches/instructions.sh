#!/usr/bin/env bash
# The performance gate CI runs: instructions executed (valgrind callgrind's "Ir") by the
# release binary for `check`, `explain`, `paths` and `diff` on fixed inputs, compared with
# the committed counts in benches/instructions.baseline. An instruction count does not
# depend on how busy the machine is, so a regression shows however noisy CI's timing is.
#
#   benches/instructions.sh             measure and print the table (never fails on a regression)
#   benches/instructions.sh --check     the same, and exit 1 when a command is more than the
#                                       threshold above its baseline (what .ci/run runs)
#   benches/instructions.sh --update    measure and rewrite benches/instructions.baseline
#   benches/instructions.sh --compare BASELINE MEASURED
#                                       only the comparison, on two files of counts
#                                       (tests/instructions_gate.rs tests the gate with it)
#   benches/instructions.sh --list      the names of the measured commands
#
# TSACL_INSTRUCTIONS_THRESHOLD (percent, default 10): --check fails when a command executes
# more than this much above its baseline, and warns when it executes more than this much
# below it (the baseline is then stale and hides regressions: update it).
#
# Exit codes: 0 within the threshold, 1 a regression (or a command with no baseline),
# 2 usage error, bad baseline file, or valgrind missing, 3 a measured command failed.
#
# Needs valgrind (apt install valgrind) and python3. The counts are stable to about
# 0.01 % run to run and across checkout paths (BENCHMARKS.md, "Instruction-count gate");
# they change with the compiler, so update the baseline after a toolchain upgrade too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
baseline="$root/benches/instructions.baseline"
threshold="${TSACL_INSTRUCTIONS_THRESHOLD:-10}"

# Each measured command: NAME|WHERE|ARGUMENTS. WHERE is `inputs` (the generated files, in
# a directory outside any intents project) or `repo` (the repository's root, where
# `check` finds the repository's own intents project in policies/).
commands=(
    "check|inputs|check policy.json --format json"
    "check --inventory|inputs|check policy.json --inventory inventory.json --format json"
    "check, gen_policy 250 KB|inputs|check generated.hujson --format json"
    "check, the repository's intents (policies/)|repo|check --format json"
    "explain tag:svc7|inputs|explain tag:svc7 policy.json"
    "explain tag:svc7 --from user5 --port 443|inputs|explain tag:svc7 --from user5@example.com --port 443 policy.json"
    "paths tag:svc7|inputs|paths tag:svc7 policy.json"
    "diff, one rule added|inputs|diff policy.json policy-edit.json"
)
# The generated inputs: gen_tailnet DEVICES RULES, gen_policy BYTES (seed 42).
devices=2000
rules=1000
policy_bytes=250000

usage() {
    cat <<'EOF_USAGE'
usage: benches/instructions.sh [--check | --update | --list | --compare BASELINE MEASURED]
  (none)      measure and print the table
  --check     measure; exit 1 when a command is more than TSACL_INSTRUCTIONS_THRESHOLD %
              (default 10) above benches/instructions.baseline
  --update    measure and rewrite benches/instructions.baseline
  --list      the names of the measured commands
  --compare   compare two files of NAME<TAB>INSTRUCTIONS lines as --check does
EOF_USAGE
}

# Compare a file of measured counts with a baseline; print the table; exit 0, 1 or 2.
# MODE is `check` (a regression fails) or `report` (it is only shown).
compare() {
    python3 - "$1" "$2" "$threshold" "$3" <<'EOF'
import re, sys

baseline_path, measured_path, threshold_text, mode = sys.argv[1:5]

def fail_usage(message):
    print("benches/instructions.sh: " + message, file=sys.stderr)
    sys.exit(2)

try:
    threshold = float(threshold_text)
except ValueError:
    threshold = -1.0
if not 0 < threshold < float("inf"):
    fail_usage("TSACL_INSTRUCTIONS_THRESHOLD must be a positive number of percent, not %r" % threshold_text)

def read_counts(path):
    """NAME<TAB>INSTRUCTIONS lines, in order; `#` comments and blank lines ignored."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        fail_usage("cannot read %s: %s" % (path, e.strerror))
    counts = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not re.fullmatch(r"[0-9]+", fields[1]) or int(fields[1]) == 0:
            fail_usage("%s:%d:1: expected NAME<TAB>INSTRUCTIONS (a positive integer), found %r" % (path, number, line))
        if fields[0] in counts:
            fail_usage("%s:%d:1: %r is listed twice" % (path, number, fields[0]))
        counts[fields[0]] = int(fields[1])
    return counts

base = read_counts(baseline_path)
now = read_counts(measured_path)
if not now:
    fail_usage("%s holds no counts" % measured_path)

rows, regressions, missing, stale = [], [], [], []
for name, count in now.items():
    if name not in base:
        missing.append(name)
        rows.append((name, "-", "{:,}".format(count), "-", "NO BASELINE"))
        continue
    change = (count - base[name]) * 100.0 / base[name]
    verdict = ""
    if change > threshold:
        verdict = "REGRESSION"
        regressions.append((name, change))
    elif change < -threshold:
        verdict = "faster: update the baseline"
        stale.append((name, change))
    rows.append((name, "{:,}".format(base[name]), "{:,}".format(count), "%+.2f %%" % change, verdict))
unmeasured = [name for name in base if name not in now]

header = ("command", "baseline Ir", "now Ir", "change", "")
widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
def line(r):
    return "  ".join([r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in (1, 2, 3)] + [r[4]]).rstrip()
print(line(header))
for r in rows:
    print(line(r))
print()

for name, change in stale:
    print("warning: %s executes %.1f %% fewer instructions than its baseline; update the baseline "
          "(benches/instructions.sh --update) so that a later regression cannot hide in the difference"
          % (name, -change))
for name in unmeasured:
    print("warning: the baseline lists %r, which is no longer measured; update the baseline" % name)
for name in missing:
    print("%s: %r has no baseline; run benches/instructions.sh --update and commit %s"
          % ("error" if mode == "check" else "warning", name, baseline_path))
for name, change in regressions:
    print("%s: %s executes %.1f %% more instructions than its baseline (threshold %g %%)"
          % ("error" if mode == "check" else "warning", name, change, threshold))
if mode == "check" and (regressions or missing):
    print("If the increase is deliberate (a new check, a compiler upgrade), run "
          "benches/instructions.sh --update and commit benches/instructions.baseline with the change.")
    sys.exit(1)
if not regressions and not missing:
    print("every command within %g %% of its baseline" % threshold
          if not stale else "no command more than %g %% above its baseline" % threshold)
EOF
}

mode=report
case "${1:-}" in
"") ;;
--check) mode=check ;;
--update) mode=update ;;
--list)
    [ $# -eq 1 ] || { usage >&2; exit 2; }
    for c in "${commands[@]}"; do echo "${c%%|*}"; done
    exit 0
    ;;
--compare)
    [ $# -eq 3 ] || { usage >&2; exit 2; }
    command -v python3 >/dev/null || { echo "benches/instructions.sh: needs python3" >&2; exit 2; }
    compare "$2" "$3" check
    exit $?
    ;;
-h | --help)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac
[ $# -le 1 ] || { usage >&2; exit 2; }

command -v python3 >/dev/null || { echo "benches/instructions.sh: needs python3" >&2; exit 2; }
# No skipping: a gate that passes where it cannot measure guards nothing.
command -v valgrind >/dev/null || { echo "benches/instructions.sh: needs valgrind (apt install valgrind)" >&2; exit 2; }
if [ "$mode" = check ] && [ ! -f "$baseline" ]; then
    echo "benches/instructions.sh: $baseline is missing; create it with benches/instructions.sh --update" >&2
    exit 2
fi
# Validate the threshold before spending minutes on a build.
python3 -c 'import sys; t = float(sys.argv[1]); sys.exit(0 if 0 < t < float("inf") else 1)' "$threshold" 2>/dev/null || {
    echo "benches/instructions.sh: TSACL_INSTRUCTIONS_THRESHOLD must be a positive number of percent, not '$threshold'" >&2
    exit 2
}

echo "building the release binary and the input generators (cargo build --release)" >&2
cargo build --release --quiet --bin tsacl --example gen_tailnet --example gen_policy
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tsacl="$target/release/tsacl"

# Outside the checkout on purpose: the commands look for an intents project upward from a
# policy's directory, and inside the checkout they would load the repository's own
# policies/ in every command (measured separately, by its own line).
work=$(mktemp -d "${TMPDIR:-/tmp}/tsacl-instructions.XXXXXX")
trap 'rm -rf "$work" "$baseline.new"' EXIT
mkdir "$work/inputs"
"$target/release/examples/gen_tailnet" "$work/inputs" "$devices" "$rules"
"$target/release/examples/gen_policy" "$policy_bytes" 42 >"$work/inputs/generated.hujson"

# One CPU: the redundancy audit runs on as many threads as the process may use, and each
# thread costs a little; pinned, the count is the same on a 2-core and a 64-core machine.
# A clean environment: the commands read NO_COLOR and COLUMNS, valgrind VALGRIND_OPTS.
pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c "$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')")
fi
measured="$work/measured"
: >"$measured"
i=0
for c in "${commands[@]}"; do
    name=${c%%|*}
    rest=${c#*|}
    where=${rest%%|*}
    args=${rest#*|}
    i=$((i + 1))
    dir="$work/inputs"
    [ "$where" = repo ] && dir="$root"
    out="$work/callgrind.$i"
    status=0
    # shellcheck disable=SC2086 # the arguments are split into words on purpose
    (cd "$dir" && env -i PATH="$PATH" HOME="$work" LC_ALL=C COLUMNS=100 "${pin[@]}" \
        valgrind --tool=callgrind --callgrind-out-file="$out.out" --log-file="$out.log" \
        "$tsacl" $args >"$out.stdout" 2>"$out.stderr") || status=$?
    # 0 clean and 1 findings (a denied `explain --from`, a `diff` with changes) are the
    # commands' answers; anything else means the command did not do the work measured.
    if [ "$status" -gt 1 ] || ! grep -q '^summary: [0-9]' "$out.out" 2>/dev/null; then
        echo "benches/instructions.sh: '$name' (tsacl $args, in $dir) failed with exit code $status:" >&2
        tail -n 20 "$out.stderr" "$out.log" >&2 2>/dev/null || true
        exit 3
    fi
    printf '%s\t%s\n' "$name" "$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out.out")" >>"$measured"
done

machine="$(uname -m), $(rustc --version), $(valgrind --version)"
echo "Instructions executed (callgrind Ir), $machine"
echo "inputs: gen_tailnet $devices devices x $rules rules, gen_policy $policy_bytes bytes; threshold $threshold %"
echo
if [ -f "$baseline" ]; then
    recorded=$(sed -n 's/^# Measured with: //p' "$baseline")
    if [ -n "$recorded" ] && [ "$recorded" != "$machine" ]; then
        echo "note: the baseline was measured with $recorded; another compiler or valgrind changes the counts"
        echo
    fi
fi

if [ "$mode" = check ]; then
    status=0
    compare "$baseline" "$measured" check || status=$?
    exit "$status"
fi
if [ ! -f "$baseline" ]; then
    cat "$measured"
elif [ "$mode" = report ]; then
    compare "$baseline" "$measured" report
else
    # An unreadable old baseline is no reason not to write a good one.
    compare "$baseline" "$measured" report || echo "(the old baseline is replaced)"
fi

if [ "$mode" = update ]; then
    {
        echo "# Instructions executed (valgrind callgrind's Ir) by tsacl's release binary, one line"
        echo "# per command of benches/instructions.sh: NAME<TAB>INSTRUCTIONS. \`benches/instructions.sh"
        echo "# --check\` (CI) fails when a command executes more than TSACL_INSTRUCTIONS_THRESHOLD %"
        echo "# (default 10) more than its line here. After a deliberate change (or a toolchain"
        echo "# upgrade) run \`benches/instructions.sh --update\` and commit this file."
        echo "# Measured on $(date -u +%Y-%m-%d)."
        echo "# Measured with: $machine"
        cat "$measured"
    } >"$baseline.new"
    mv "$baseline.new" "$baseline"
    echo
    echo "wrote $baseline"
fi
