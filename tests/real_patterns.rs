//! Patterns found in public policies that the control plane accepts (pushed through
//! gitops-acl-action or Terraform), and in Tailscale's own documentation, written anew
//! here: `tsacl check` must pass each offline (exit 0), and the lints that misread them
//! must stay quiet. An error means the control plane would reject the file.

use std::path::Path;
use std::process::Command;

fn check(dir: &Path, policy: &str) -> (Option<i32>, Vec<(String, String, String)>) {
    let path = dir.join("policy.hujson");
    std::fs::write(&path, policy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--format", "json"])
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let found = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code(), found)
}

/// Passes with exit 0 and none of `quiet` among its findings.
#[track_caller]
fn passes(policy: &str, quiet: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (code, found) = check(dir.path(), policy);
    assert_eq!(code, Some(0), "{policy}\n{found:#?}");
    for q in quiet {
        assert!(
            !found.iter().any(|(c, _, _)| c == q),
            "{q} fired on\n{policy}\n{found:#?}"
        );
    }
}

/// The database connector's grant, as its README (tailscale's ts-db-connector) has users
/// write it in the tailnet policy: `tailscale.com/cap/databases` is a Tailscale app's own
/// capability, not a reserved name.
#[test]
fn the_database_connector_capability() {
    passes(
        r#"{
            "tagOwners": {"tag:ts-db-connectors": ["autogroup:admin"]},
            "grants": [{
                "src": ["*"],
                "dst": ["tag:ts-db-connectors"],
                "ip": ["tcp:5432", "tcp:26257"],
                "app": {"tailscale.com/cap/databases": [{"my-postgres-1": {"engine": "postgres", "access": [{"databases": ["testdb"], "roles": ["test"]}]}}]},
            }],
        }"#,
        &["TSA042"],
    );
}

#[test]
fn grant_ip_with_a_wildcard_protocol() {
    // Jellyfin on any protocol, as tailcfg.ParseProtoPortRanges reads it.
    passes(
        r#"{
            "tagOwners": {"tag:media": ["autogroup:admin"]},
            "grants": [
                {"src": ["autogroup:member"], "dst": ["tag:media"], "ip": ["*:8096", "tcp:443"]},
                {"src": ["autogroup:admin"], "dst": ["tag:media"], "ip": ["*:*"]},
            ],
        }"#,
        &[],
    );
}

#[test]
fn null_where_a_generator_writes_null() {
    // Generated policies (Terraform's jsonencode, scripts) write null for empty fields.
    passes(
        r#"{
            "groups": {"group:ops": ["ops@example.com", "alice@example.com"], "group:none": null},
            "tagOwners": {"tag:server": ["group:ops"], "tag:spare": null},
            "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:server:22"], "proto": null, "srcPosture": null}],
            "grants": null,
            "ssh": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:server"], "users": ["ubuntu"], "checkPeriod": null, "acceptEnv": null}],
            "nodeAttrs": [{"target": ["tag:server"], "attr": null, "app": null}],
            "tests": [{"src": "alice@example.com", "accept": ["tag:server:22"], "deny": null}],
            "hosts": null,
            "postures": null,
        }"#,
        &["TSA004"],
    );
}

#[test]
fn operator_proxy_tag_owned_by_admins() {
    // The control plane accepts it; the operator cannot create proxies with it, which is
    // worth a warning, not a failed commit.
    let dir = tempfile::tempdir().unwrap();
    let (code, found) = check(
        dir.path(),
        r#"{
            "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["autogroup:admin"]},
            "grants": [{"src": ["autogroup:admin"], "dst": ["tag:k8s-operator"], "ip": ["tcp:443"]}],
        }"#,
    );
    assert_eq!(code, Some(0), "{found:#?}");
    assert!(
        found
            .iter()
            .any(|(c, sev, _)| c == "TSA126" && sev == "warning"),
        "{found:#?}"
    );
}

#[test]
fn app_connector_tags_are_used() {
    // The app connector set-up of Tailscale's documentation (kb/1281).
    passes(
        r#"{
            "tagOwners": {"tag:connector": ["autogroup:admin"]},
            "autoApprovers": {"routes": {"0.0.0.0/0": ["tag:connector"], "::/0": ["tag:connector"]}},
            "nodeAttrs": [{
                "target": ["*"],
                "app": {"tailscale.com/app-connectors": [{"name": "github", "connectors": ["tag:connector"], "domains": ["github.com", "*.github.com"]}]},
            }],
            "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:internet:*"]}],
        }"#,
        &["TSA204"],
    );
}

#[test]
fn a_tag_that_only_tags_devices_is_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let (code, found) = check(
        dir.path(),
        r#"{
            "tagOwners": {"tag:server": ["autogroup:admin"]},
            "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}],
        }"#,
    );
    assert_eq!(code, Some(0));
    let note = found.iter().find(|(c, _, _)| c == "TSA204").unwrap();
    assert_eq!(note.1, "info", "{note:?}");
    assert!(!note.2.contains("nothing refers"), "{note:?}");
}

#[test]
fn root_on_members_own_devices() {
    // Tailscale's default policy.
    passes(
        r#"{
            "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
            "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot", "root"]}],
        }"#,
        &["TSA213"],
    );
}

#[test]
fn accept_and_deny_tests_in_separate_entries() {
    passes(
        r#"{
            "tagOwners": {"tag:ci": ["autogroup:admin"], "tag:db": ["autogroup:admin"], "tag:web": ["autogroup:admin"]},
            "grants": [{"src": ["tag:ci"], "dst": ["tag:db"], "ip": ["tcp:5432"]}],
            "tests": [
                {"src": "tag:ci", "accept": ["tag:db:5432"]},
                {"src": "tag:ci", "deny": ["tag:web:22"]},
            ],
        }"#,
        &["TSA217"],
    );
}

#[test]
fn the_operator_documentation_setup() {
    // cmd/k8s-operator/e2e/acl.hujson, and the API server proxy grant of the operator docs.
    passes(
        r#"{
            "groups": {"group:admins": ["admin@example.com"]},
            "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:k8s-recorder": ["tag:k8s-operator"]},
            "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:k8s"]}, "services": {"tag:k8s": ["tag:k8s"]}},
            "grants": [
                {"src": ["tag:k8s"], "dst": ["tag:k8s", "tag:k8s-operator"], "ip": ["tcp:80", "tcp:443"],
                 "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["ts:e2e-test-proxy"]}}]}},
                {"src": ["group:admins"], "dst": ["tag:k8s-operator"], "ip": ["tcp:443"],
                 "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["system:masters"]}}]}},
            ],
        }"#,
        &["TSA125"],
    );
}

#[test]
fn the_shared_proxy_tag_opened_to_people_is_a_warning_that_says_what_it_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let (code, found) = check(
        dir.path(),
        r#"{
            "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]},
            "grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}],
        }"#,
    );
    assert_eq!(code, Some(0));
    let w = found.iter().find(|(c, _, _)| c == "TSA125").unwrap();
    assert_eq!(w.1, "warning");
    assert!(
        w.2.contains("autogroup:member") && w.2.contains("tcp:443"),
        "{w:?}"
    );
}

/// Findings of `check` as (code, message, help).
fn findings(policy: &str) -> (Option<i32>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let (code, found) = check(dir.path(), policy);
    (
        code,
        found
            .into_iter()
            .map(|(c, _, m)| (c, m))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn an_admin_group_reaching_every_operator_made_device_is_intended() {
    // The maintainer's comment says it: admins reach every proxy the operator makes.
    for src in ["group:k8s-admins", "autogroup:admin", "autogroup:it-admin"] {
        passes(
            &format!(
                r#"{{
                "groups": {{"group:k8s-admins": ["alice@example.com", "bob@example.com"]}},
                "tagOwners": {{"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}},
                "grants": [
                    // admins can reach everything the operator creates
                    {{"src": ["{src}"], "dst": ["tag:k8s"], "ip": ["*"]}},
                ],
            }}"#
            ),
            &["TSA125"],
        );
    }
}

#[test]
fn broad_sources_reaching_the_shared_proxy_tag_are_still_reported() {
    for src in [
        "*",
        "autogroup:tagged",
        "autogroup:shared",
        "autogroup:member",
    ] {
        let (code, found) = findings(&format!(
            r#"{{
                "tagOwners": {{"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}},
                "grants": [{{"src": ["{src}"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}}],
            }}"#
        ));
        assert_eq!(code, Some(0), "{found:#?}");
        assert!(
            found.iter().any(|(c, m)| c == "TSA125" && m.contains(src)),
            "{src}: {found:#?}"
        );
    }
}

#[test]
fn the_operators_own_tag_is_not_called_unused() {
    // Applied by whoever installs the operator (its OAuth client), not by a rule.
    let (code, found) = findings(
        r#"{
            "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:spare": []},
        }"#,
    );
    assert_eq!(code, Some(0), "{found:#?}");
    let unused: Vec<&str> = found
        .iter()
        .filter(|(c, _)| c == "TSA204")
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(unused.len(), 1, "{found:#?}");
    assert!(unused[0].starts_with("tag:spare"), "{unused:?}");
}

#[test]
fn a_template_placeholder_is_named_as_such() {
    let (code, found) = findings(
        r#"{
            "groups": {"group:admins": ["${ADMIN_EMAIL}"]},
            "grants": [{"src": ["group:admins"], "dst": ["*"], "ip": ["tcp:22"]}],
        }"#,
    );
    assert_eq!(code, Some(0), "{found:#?}");
    assert!(
        found
            .iter()
            .any(|(c, m)| c == "TSA014" && m.contains("template placeholder")),
        "{found:#?}"
    );
}

/// Devices pinned by address in `hosts` (the tailnet IP a device keeps while its key
/// does), named in grants beside tags, and named in tests by those aliases. The server
/// knows which device holds each address; offline, a test whose verdict would change if
/// an alias were one of the devices a rule names by tag stays a warning (TSA102), never an
/// error and never a silent pass.
#[test]
fn hosts_pinned_to_devices_named_in_tests() {
    let policy = r#"{
        "tagOwners": {"tag:server": ["autogroup:admin"], "tag:client": ["autogroup:admin"], "tag:edge": ["autogroup:admin"]},
        "hosts": {"bastion": "100.89.160.60", "resolver": "100.123.61.111", "nas": "100.100.237.21", "proxy": "100.96.32.96"},
        "grants": [
            {"src": ["tag:server"], "dst": ["tag:server"], "ip": ["*"]},
            {"src": ["bastion"], "dst": ["*"], "ip": ["*"]},
            {"src": ["tag:client"], "dst": ["tag:server", "tag:client", "tag:edge"], "ip": ["*"]},
            {"src": ["proxy"], "dst": ["nas"], "ip": ["tcp:5000"]},
        ],
        "tests": [
            {"src": "tag:client", "accept": ["resolver:53"]},
            {"src": "proxy", "accept": ["nas:5000"], "deny": ["nas:22"]},
            {"src": "bastion", "accept": ["tag:edge:22"]},
        ],
    }"#;
    passes(policy, &["TSA100"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, found) = check(dir.path(), policy);
    let open: Vec<&str> = found
        .iter()
        .filter(|(code, _, _)| code == "TSA102")
        .map(|(_, _, message)| message.as_str())
        .collect();
    // resolver may be a tag:server device; proxy and nas both tag:server devices, which
    // the server mesh opens on port 22.
    assert_eq!(open.len(), 2, "{found:#?}");
    assert!(
        open.iter()
            .any(|m| m.contains("resolver is the address of a device of")),
        "{open:#?}"
    );
    assert!(
        open.iter().any(|m| m.contains("nas:22 to be denied")
            || (m.contains("proxy -> nas:22") && m.contains("denied"))),
        "{open:#?}"
    );
}

/// Tailscale's default policy keeps an allow-all grant, which a flat tailnet may keep on
/// purpose: TSA210 stays (teams forbid allow-all with `--severity TSA210=error`), its help
/// says how a flat tailnet says so, and the comment it suggests quiets it.
#[test]
fn the_default_policys_allow_all_says_how_to_keep_it() {
    let default = "{\n\t\"grants\": [\n\t\t// Allow all connections.\n\t\t{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"]},\n\t],\n\t\"ssh\": [{\"action\": \"check\", \"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self\"], \"users\": [\"autogroup:nonroot\", \"root\"]}],\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.hujson");
    let run = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
            .args(["check", "--format", "json"])
            .arg(&path)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            out.status.code(),
            doc["diagnostics"].as_array().unwrap().clone(),
        )
    };
    let (code, found) = run(default);
    assert_eq!(code, Some(0));
    let codes: Vec<&str> = found.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["TSA210"], "{found:#?}");
    let help = found[0]["help"].as_str().unwrap();
    assert!(
        help.contains("`// tsacl-ignore: TSA210` on the line before"),
        "{help}"
    );
    let kept = default.replace(
        "\t\t{\"src\": [\"*\"]",
        "\t\t// tsacl-ignore: TSA210\n\t\t{\"src\": [\"*\"]",
    );
    let (code, found) = run(&kept);
    assert_eq!(code, Some(0));
    assert!(found.is_empty(), "{found:#?}");
    // Beside other rules, the allow-all undoes them: no such advice.
    let undone = default.replace(
        "\t\t// Allow all connections.\n",
        "\t\t{\"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self\"], \"ip\": [\"*\"]},\n",
    );
    let (_, found) = run(&undone);
    let allow_all = found.iter().find(|d| d["code"] == "TSA210").unwrap();
    assert!(
        !allow_all["help"].as_str().unwrap().contains("tsacl-ignore"),
        "{allow_all:#?}"
    );
}

/// Groups synced from an identity provider by SCIM are written `group:name@domain`
/// (jforrer/TinyCo-Infra, Tailscale's user and group provisioning docs); their members are
/// in no policy file nor in the API's user answers. Rules from them are not "allowing
/// nothing", and tests from them are evaluated, not failed for an empty source.
#[test]
fn groups_synced_from_an_identity_provider_have_members() {
    let policy = r#"{
        "tagOwners": {"tag:ssh-enabled": ["group:team-itops@example.onmicrosoft.com"]},
        "acls": [
            {"action": "accept", "src": ["group:team-itops@example.onmicrosoft.com"], "dst": ["*:*"]},
            {"action": "accept", "src": ["group:team-sre@example.onmicrosoft.com"], "dst": ["tag:ssh-enabled:22"]},
        ],
        "tests": [{"src": "group:team-sre@example.onmicrosoft.com", "accept": ["tag:ssh-enabled:22"], "deny": ["tag:ssh-enabled:80"]}],
    }"#;
    passes(policy, &["TSA232", "TSA230", "TSA100"]);
    // The same with an inventory, which lists no group members either.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.hujson"), policy).unwrap();
    std::fs::write(
        dir.path().join("inventory.json"),
        r#"{"devices": [{"hostname": "a", "addresses": ["100.64.0.1"], "user": "ann@example.com", "tags": []},
                        {"hostname": "b", "addresses": ["100.64.0.2"], "tags": ["tag:ssh-enabled"]}],
            "users": [{"loginName": "ann@example.com", "role": "admin", "type": "member"}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args([
            "check",
            "--format",
            "json",
            "--inventory",
            "inventory.json",
            "policy.hujson",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        !codes.contains(&"TSA232") && !codes.contains(&"TSA100"),
        "{doc}"
    );
}

/// Policies kept as plain JSON write comments as keys, one per rule
/// (jasondashaer/kube-world 21 `"//-rule"`, aahmed954/AgenticDosNode 14 `"comment"`,
/// exe-blue/doai-me-app `"// Rule 1"`): each is worded as what it is, and three or more in
/// a file are one warning with a label at each, not a page of them. A misspelt field is
/// still its own warning with a suggestion.
#[test]
fn comments_written_as_keys_are_one_warning() {
    let policy = r#"{
        "// About": "the office tailnet",
        "tagOwners": {"tag:web": ["autogroup:admin"]},
        "grants": [
            {"//-rule": "everyone to the web", "src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]},
            {"comment": "admins everywhere", "src": ["autogroup:admin"], "dst": ["tag:web"], "ip": ["*"]},
        ],
        "ssh": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:web"], "users": ["root"], "note": "break glass"}],
    }"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.hujson");
    std::fs::write(&path, policy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unknown: Vec<&serde_json::Value> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "TSA003")
        .collect();
    assert_eq!(unknown.len(), 1, "{doc:#}");
    let d = unknown[0];
    assert_eq!(
        d["message"],
        r#"4 comments are written as keys ("// About", "//-rule", "comment" and 1 more)"#
    );
    assert_eq!(d["line"], 2);
    assert_eq!(d["labels"].as_array().unwrap().len(), 3, "{d:#}");
    assert!(
        d["help"]
            .as_str()
            .unwrap()
            .contains("HuJSON, which has comments")
    );

    // Two are two findings, each saying what it is; a misspelt key is not a comment.
    let policy = r#"{
        "tagOwners": {"tag:web": ["autogroup:admin"]},
        "grants": [
            {"comment": "everyone to the web", "src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]},
            {"_comment": "admins", "src": ["autogroup:admin"], "dts": ["tag:web"], "ip": ["*"]},
        ],
    }"#;
    let (_, found) = findings(policy);
    let unknown: Vec<&String> = found
        .iter()
        .filter(|(c, _)| c == "TSA003")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        unknown,
        [
            r#""comment" in a grant is a comment written as a key"#,
            r#""_comment" in a grant is a comment written as a key"#,
            r#"unknown field "dts" in a grant"#,
        ],
        "{found:#?}"
    );
}

/// A personal tailnet's pattern (harivansh-afk/nix, cryan1988/tailscale-infra): network
/// access for the owner or the admins by role, Tailscale SSH for the owner by login. Whose
/// role that login holds a policy file does not say; TSA219 ("cannot be used") must not
/// claim it.
#[test]
fn ssh_by_login_with_network_access_by_role() {
    passes(
        r#"{
            "tagOwners": {"tag:shared": ["autogroup:owner"]},
            "acls": [
                {"action": "accept", "src": ["autogroup:owner"], "dst": ["*:*"]},
                {"action": "accept", "src": ["tag:shared"], "dst": ["autogroup:owner:*"]},
            ],
            "grants": [{"src": ["autogroup:admin"], "dst": ["autogroup:self"], "ip": ["*"]}],
            "ssh": [
                {"action": "accept", "src": ["owner@example.com"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot", "root"]},
                {"action": "accept", "src": ["owner@example.com"], "dst": ["tag:shared"], "users": ["root"]},
                {"action": "check", "src": ["autogroup:admin"], "dst": ["tag:shared"], "users": ["root"]},
            ],
        }"#,
        &["TSA219"],
    );
}
