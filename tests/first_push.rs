//! The first push to a tailnet nobody ever edited (Tailscale's default policy), from an
//! intents project: the drift explanation and the policy diff appear once, and the end of
//! the default allow-all is one summary line, not a lockout warning per tag.

mod api_server;

use api_server::*;
use std::path::Path;

/// Tailscale's default policy, as a new tailnet has it.
const DEFAULT_POLICY: &str = r#"// Example/default ACLs for unrestricted connections.
{
	// Define access control lists for users, groups, autogroups, tags,
	// Tailscale IP addresses, and subnet ranges.
	"acls": [
		// Allow all connections.
		{"action": "accept", "src": ["*"], "dst": ["*:*"]},
	],

	// Define users and devices that can use Tailscale SSH.
	"ssh": [
		// Allow all users to SSH into their own devices in check mode.
		{
			"action": "check",
			"src":    ["autogroup:member"],
			"dst":    ["autogroup:self"],
			"users":  ["autogroup:nonroot", "root"],
		},
	],
}
"#;

/// A git repository holding a copy of the repository's policies/, committed.
fn repository_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    copy(&from, &dir.path().join("policies"));
    commit(dir.path(), "policies");
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn first_push_against_the_default_policy_is_readable() {
    let api = FakeApi::start(DEFAULT_POLICY.as_bytes());
    let dir = repository_project();
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--dry-run"]));
    assert_eq!(r.code, 1, "{r}");
    let err = &r.stderr;
    // The whole policy diff and the access changes once, not once per direction.
    assert_eq!(err.matches("effective access changes:").count(), 1, "{r}");
    assert_eq!(err.matches("@@ -1,").count(), 1, "{r}");
    assert_eq!(err.matches("drift:").count(), 1, "{r}");
    assert!(
        err.contains("a push undoes the changes made on the server"),
        "{r}"
    );
    // The end of the default allow-all: one line, not a lockout warning per tag.
    assert_eq!(err.matches("the allow-all ends").count(), 1, "{r}");
    assert!(!err.contains("loses all the access"), "{r}");
    // The intents' names, with their tags.
    assert!(err.contains("redis (tag:redis)"), "{r}");
    assert!(err.contains("panda (tag:panda)"), "{r}");
    assert_eq!(api.writes(), 0);

    // And the push itself goes through, conditional on the never-edited policy.
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--yes"]));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(api.writes(), 1);
    assert_eq!(
        api.state().requests.last().unwrap().header("if-match"),
        Some("\"ts-default\"")
    );
}

#[test]
fn a_person_who_loses_everything_is_still_a_lockout_warning() {
    // The default policy, then a policy that lets only tags reach each other: the admin
    // is left with nothing, which stays a warning of its own.
    let api = FakeApi::start(DEFAULT_POLICY.as_bytes());
    let dir = repo_with(
        br#"{"groups": {"group:admins": ["joel@example.com"]}, "tagOwners": {"tag:a": ["group:admins"], "tag:b": ["group:admins"]},
        "grants": [{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:80"]}]}"#,
    );
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "--dry-run", "policy.hujson"]));
    assert!(
        r.stderr
            .contains("warning: joel@example.com loses all the access it had"),
        "{r}"
    );
    assert_eq!(r.stderr.matches("the allow-all ends").count(), 1, "{r}");
}

#[test]
fn diff_remote_names_the_intents_services_and_devices() {
    let api = FakeApi::start(DEFAULT_POLICY.as_bytes());
    let dir = repository_project();
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote"]));
    assert_eq!(r.code, 1, "{r}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("worker (tag:worker)"), "{r}");
    assert!(all.contains("clanker-001 (tag:clanker)"), "{r}");
}
