#!/usr/bin/env bash
# The logic of action.yml, runnable outside GitHub (tests/action.rs does): the inputs are
# INPUT_* environment variables, as action.yml passes them; GitHub's own variables
# (RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, GITHUB_STEP_SUMMARY, GITHUB_EVENT_NAME,
# GITHUB_BASE_REF, ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN) are read when present.
#
# Steps: check the inputs (as gitops-acl-action does); install tsacl (a released binary
# for this OS and architecture, verified against its SHA-256 and cached; else built from
# this action's own source with cargo); exchange a GitHub OIDC token for workload
# identity federation when `audience` is given; then `test` or `apply`.
#
# Exit codes are tsacl's: 0 clean, 1 findings (or a refused push), 2 a usage or input
# error, 3 a runtime failure (network, API).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" # the action's checkout: tsacl's source

# A GitHub annotation; the message is escaped as the toolkit escapes it.
annotate() {
    local level=$1 msg=$2
    msg=${msg//'%'/'%25'}
    msg=${msg//$'\r'/'%0D'}
    msg=${msg//$'\n'/'%0A'}
    echo "::$level title=tsacl::$msg"
}
fail() {
    annotate error "$1"
    exit "${2:-2}"
}
say() { echo "tsacl-action: $*" >&2; }

action=${INPUT_ACTION:-}
case "$action" in
test | apply) ;;
*) fail "the action input must be test or apply, not \"$action\"" ;;
esac

# ---- credentials, with gitops-acl-action's inputs and rules ----
api_key=${INPUT_API_KEY:-}
oauth_id=${INPUT_OAUTH_CLIENT_ID:-}
oauth_secret=${INPUT_OAUTH_SECRET:-}
audience=${INPUT_AUDIENCE:-}
kinds=0
[ -n "$api_key" ] && kinds=$((kinds + 1))
[ -n "$oauth_secret" ] && kinds=$((kinds + 1))
[ -n "$audience" ] && kinds=$((kinds + 1))
if [ "$kinds" -gt 1 ]; then
    fail "only one of api-key, oauth-secret or audience should be specified"
fi
if { [ -n "$oauth_secret" ] || [ -n "$audience" ]; } && [ -z "$oauth_id" ]; then
    fail "oauth-client-id must be specified with oauth-secret or audience"
fi
if [ "$action" = apply ] && [ "$kinds" -eq 0 ]; then
    fail "API key, OAuth secret or audience must be specified to apply. Maybe you need to populate it in the Secrets for your workflow, see https://docs.github.com/en/actions/security-guides/encrypted-secrets and https://tailscale.com/s/oauth-clients"
fi

# ---- install tsacl ----
version=${INPUT_VERSION:-}
if [ -z "$version" ]; then
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)
fi
version=${version#v}

runner_target() {
    local os=${RUNNER_OS:-$(uname -s)} arch=${RUNNER_ARCH:-$(uname -m)}
    case "$os/$arch" in
    Linux/X64 | Linux/x86_64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-musl ;;
    macOS/X64 | Darwin/x86_64) echo x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) echo "" ;;
    esac
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

target=$(runner_target)
exe=tsacl
[ "$target" = x86_64-pc-windows-msvc ] && exe=tsacl.exe
cache=${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/tsacl/$version/${target:-source}
tsacl=$cache/bin/$exe

install_release() {
    local base=${INPUT_RELEASE_URL:-https://github.com/${TSACL_ACTION_REPOSITORY:-tsacl/tsacl}/releases/download/v$version}
    # Named as release.yml has taiki-e/upload-rust-binary-action publish them: the archive
    # `tsacl-<target>.tar.gz` (`.zip` on Windows), holding tsacl, README.md and the licence
    # files with no leading directory, and the checksum beside it named after the archive's
    # base name, `tsacl-<target>.sha256` (its main.sh: `sha256sum "${assets[@]}"
    # >"${archive}.sha256"`), one `HASH  NAME` line per archive.
    local name=tsacl-$target
    local archive=$name.tar.gz
    [ "$target" = x86_64-pc-windows-msvc ] && archive=$name.zip
    local tmp
    tmp=$(mktemp -d)
    if ! curl -fsSL --retry 3 -o "$tmp/$archive" "$base/$archive" ||
        ! curl -fsSL --retry 3 -o "$tmp/$name.sha256" "$base/$name.sha256"; then
        say "no release archive for $target at $base"
        rm -rf "$tmp"
        return 1
    fi
    local want got
    # The line for this archive (sha256sum marks binary mode with a `*` before the name).
    want=$(tr -d '\r' <"$tmp/$name.sha256" | awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' | tr 'A-F' 'a-f')
    got=$(sha256_of "$tmp/$archive")
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        rm -rf "$tmp"
        # Never fall back to building: a mismatch may be tampering.
        fail "the checksum of $archive does not match (expected ${want:-nothing}, got $got): refusing to run it" 3
    fi
    mkdir -p "$cache/bin"
    case "$archive" in
    *.zip) (cd "$tmp" && unzip -q "$archive") ;;
    *) tar -xzf "$tmp/$archive" -C "$tmp" ;;
    esac
    local found
    found=$(find "$tmp" -type f -name "$exe" | head -n 1)
    [ -n "$found" ] || {
        rm -rf "$tmp"
        fail "$archive holds no $exe" 3
    }
    install -m 0755 "$found" "$tsacl"
    rm -rf "$tmp"
    say "installed tsacl $version ($target) from the release, checksum verified"
}

install_source() {
    command -v cargo >/dev/null 2>&1 ||
        fail "no release archive of tsacl $version for this runner, and no cargo to build it from source" 3
    say "building tsacl $version from source with cargo (a few minutes)"
    cargo install --locked --quiet --path "$here" --root "$cache" ||
        fail "cargo install of tsacl failed" 3
}

if ! [ -x "$tsacl" ] || ! "$tsacl" --version >/dev/null 2>&1; then
    if [ -z "$target" ] || ! install_release; then
        install_source
    fi
else
    say "using the cached tsacl $version"
fi
"$tsacl" --version >&2

# ---- credentials for tsacl ----
if [ -n "${INPUT_TAILNET:-}" ]; then
    export TS_TAILNET=$INPUT_TAILNET
fi
if [ -n "$api_key" ]; then
    export TS_API_KEY=$api_key
elif [ -n "$oauth_secret" ]; then
    export TS_OAUTH_CLIENT_ID=$oauth_id TS_OAUTH_CLIENT_SECRET=$oauth_secret
elif [ -n "$audience" ]; then
    # GitHub's OIDC token for this audience (needs `permissions: id-token: write`).
    if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
        fail "audience is set but no OIDC token can be requested: give the job \`permissions: id-token: write\`"
    fi
    encoded=$(printf '%s' "$audience" | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')
    answer=$(curl -fsS --retry 3 -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
        "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$encoded") ||
        fail "requesting GitHub's OIDC token failed" 3
    id_token=$(printf '%s' "$answer" | sed -n 's/.*"value" *: *"\([^"]*\)".*/\1/p')
    [ -n "$id_token" ] || fail "GitHub's OIDC answer holds no token" 3
    echo "::add-mask::$id_token"
    export TS_OAUTH_CLIENT_ID=$oauth_id TS_ID_TOKEN=$id_token
fi

# ---- what to check and push ----
policy=${INPUT_POLICY_FILE:-./policy.hujson}
intents=${INPUT_INTENTS:-}
target_args=()
if [ -n "$intents" ]; then
    [ "$intents" = auto ] || target_args+=(--intents "$intents")
    if [ "$policy" = ./policy.hujson ]; then
        # The compiled policy, beside the intents (the convention `tsacl compile` follows).
        if [ "$intents" = auto ]; then policy=policies/policy.hujson; else policy=$(dirname "$intents")/policy.hujson; fi
    fi
else
    [ -f "$policy" ] || fail "policy file $policy not found"
    target_args+=("$policy")
fi

format=${INPUT_FORMAT:-github}
fail_on=${INPUT_FAIL_ON:-error}
case "$fail_on" in error | warning) ;; *) fail "fail-on must be error or warning, not \"$fail_on\"" ;; esac

summary() {
    [ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat >>"$GITHUB_STEP_SUMMARY" || cat >/dev/null
}

run_check() {
    case "$format" in
    github | text) "$tsacl" check --format "$format" --fail-on "$fail_on" "${target_args[@]}" ;;
    sarif) "$tsacl" check --format sarif --fail-on "$fail_on" "${target_args[@]}" >"${INPUT_SARIF_FILE:-tsacl.sarif}" ;;
    *) fail "format must be github, sarif or text, not \"$format\"" ;;
    esac
}

# The effective-access diff of a pull request: the base branch's policy → this one.
access_summary() {
    [ "${INPUT_SUMMARY:-true}" = true ] || return 0
    [ "${GITHUB_EVENT_NAME:-}" = pull_request ] || return 0
    [ -f "$policy" ] || return 0
    local base=${GITHUB_BASE_REF:-}
    [ -n "$base" ] || return 0
    # Fetched into its remote-tracking name, so the summary names the branch.
    local rev=origin/$base
    if ! git rev-parse -q --verify "$rev" >/dev/null &&
        ! git fetch -q --depth=1 origin "+refs/heads/$base:refs/remotes/origin/$base" 2>/dev/null; then
        say "cannot fetch the base branch $base: no access summary"
        return 0
    fi
    local path
    path=$(git ls-files --full-name -- "$policy" 2>/dev/null | head -n 1)
    [ -n "$path" ] || path=${policy#./}
    local status=0 out
    out=$("$tsacl" diff --format markdown "git:$rev:$path" "$policy" 2>/dev/null) || status=$?
    if [ "$status" -le 1 ]; then
        printf '%s\n' "$out" | summary
    else
        say "the access diff against $rev failed (exit $status)"
    fi
}

# What `tsacl check` covers here, for the line a clean run prints.
checked() {
    if [ -n "$intents" ]; then
        local file=$intents
        [ "$file" = auto ] && file=policies/tailnet.json5
        echo "$file (compiled to $policy: validation, the policy's tests, lints and the intents proof)"
    else
        echo "${policy#./} (validation, the policy's tests and lints)"
    fi
}

case "$action" in
test)
    status=0
    run_check || status=$?
    if [ "$status" -eq 0 ]; then
        echo "tsacl: checked $(checked): nothing at or above $fail_on"
    fi
    access_summary
    if [ "$kinds" -gt 0 ] && [ "$status" -le 1 ]; then
        # The server's own validation and tests, after the same local check.
        "$tsacl" push --validate-only "${target_args[@]}" || {
            rc=$?
            [ "$rc" -gt "$status" ] && status=$rc
        }
    fi
    exit "$status"
    ;;
apply)
    # Drift detection reads the file's history: a shallow checkout has none.
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
        git fetch -q --unshallow 2>/dev/null || say "could not unshallow the checkout"
    fi
    status=0
    log=$(mktemp)
    "$tsacl" push --yes --color never "${target_args[@]}" 2>"$log" || status=$?
    cat "$log" >&2
    {
        echo '### tsacl push'
        echo
        echo '```text'
        cat "$log"
        echo '```'
    } | summary
    rm -f "$log"
    exit "$status"
    ;;
esac
