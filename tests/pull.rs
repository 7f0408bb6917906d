//! `tsacl pull`, `tsacl diff --remote` and credential handling, end to end against the
//! local fake API (`tests/api_server/`). Every run is checked for leaked secrets.

mod api_server;

use api_server::*;

#[test]
fn pull_then_push_is_a_no_op_and_comments_survive() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let r = run(tsacl_key(&api.url, dir.path()).args(["pull", "-o", "policy.hujson"]));
    assert_eq!(r.code, 0, "{r}");
    let etag = api.state().etag();
    assert!(
        r.stderr.contains(&format!("ETag \"{etag}\"")),
        "the ETag is reported: {r}"
    );
    let pulled = std::fs::read_to_string(dir.path().join("policy.hujson")).unwrap();
    assert!(
        pulled.contains("// Engineers reach the web servers over HTTPS."),
        "{pulled}"
    );
    assert!(pulled.contains("// The tailnet policy."), "{pulled}");
    commit(dir.path(), "adopt the tailnet policy");
    let r = run(tsacl_key(&api.url, dir.path()).args(["push", "policy.hujson", "--yes"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("up to date"), "{r}");
    assert_eq!(api.writes(), 0);
    assert_eq!(api.state().count("POST", "/acl"), 0);
}

#[test]
fn pull_to_stdout_and_overwrite_atomically() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl_key(&api.url, dir.path()).arg("pull"));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout.as_bytes(), api.policy().as_slice());
    std::fs::write(dir.path().join("p.hujson"), "old").unwrap();
    let r = run(tsacl_key(&api.url, dir.path()).args(["pull", "--output", "p.hujson"]));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        std::fs::read(dir.path().join("p.hujson")).unwrap(),
        api.policy()
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn pull_inventory() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl_key(&api.url, dir.path()).args([
        "pull",
        "-o",
        "p.hujson",
        "--inventory",
        "inv.json",
    ]));
    assert_eq!(r.code, 0, "{r}");
    let inv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("inv.json")).unwrap()).unwrap();
    assert_eq!(inv["devices"][0]["hostname"], "web-1");
    assert_eq!(inv["users"][0]["loginName"], "alice@example.com");
    let s = api.state();
    assert!(
        s.requests
            .iter()
            .any(|r| r.path.ends_with("/devices?fields=all"))
    );
}

#[test]
fn pull_failure_writes_nothing() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    api.fault(
        "GET",
        "/users",
        1,
        Action::Status(403, r#"{"message": "forbidden"}"#.into(), vec![]),
    );
    let r = run(tsacl_key(&api.url, dir.path()).args([
        "pull",
        "-o",
        "p.hujson",
        "--inventory",
        "inv.json",
    ]));
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("`users:read` scope"), "{r}");
    assert!(!dir.path().join("p.hujson").exists());
    assert!(!dir.path().join("inv.json").exists());
}

#[test]
fn diff_remote() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = repo_with(V1.as_bytes());
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote", "policy.hujson"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    assert!(r.stderr.contains("as committed in"), "{r}");
    std::fs::write(dir.path().join("policy.hujson"), V2).unwrap();
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote", "policy.hujson"]));
    assert_eq!(r.code, 1, "{r}");
    // Who gains what first, then the text diff.
    assert!(
        r.stdout
            .starts_with("effective access changes:\n  + alice@example.com -> tag:web: any 80\n"),
        "{r}"
    );
    assert!(
        r.stdout.contains("\n--- server\n+++ policy.hujson\n"),
        "{r}"
    );
    assert!(
        r.stdout
            .contains("+\t\t\t\"dst\":    [\"tag:web:443\", \"tag:web:80\"],"),
        "{r}"
    );
    api.console_edit(CONSOLE.as_bytes());
    let r = run(tsacl_key(&api.url, dir.path()).args(["diff", "--remote", "policy.hujson"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("drift"), "{r}");
    assert_eq!(api.writes(), 0);
}

#[test]
fn diff_two_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.hujson"), V1).unwrap();
    std::fs::write(dir.path().join("b.hujson"), V2).unwrap();
    let r = run(tsacl("http://unused.invalid", dir.path()).args(["diff", "a.hujson", "b.hujson"]));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.contains("--- a.hujson\n+++ b.hujson\n"), "{r}");
    let r = run(tsacl("http://unused.invalid", dir.path()).args(["diff", "a.hujson", "a.hujson"]));
    assert_eq!(r.code, 0, "{r}");
}

#[test]
fn both_kinds_of_credentials_is_a_usage_error() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl_key(&api.url, dir.path())
        .env("TS_OAUTH_CLIENT_ID", OAUTH_ID)
        .env("TS_OAUTH_CLIENT_SECRET", OAUTH_SECRET)
        .arg("pull"));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("set only one kind"), "{r}");
    assert!(api.state().requests.is_empty());
}

#[test]
fn empty_variables_count_as_unset() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    // An empty OAuth pair (as CI exports for absent secrets) beside a key: the key.
    let r = run(tsacl_key(&api.url, dir.path())
        .env("TS_OAUTH_ID", "")
        .env("TS_OAUTH_SECRET", "")
        .env("TS_TAILNET", "")
        .arg("pull"));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(api.state().token_exchanges, 0);
    // An empty key beside an OAuth client: the client.
    let r = run(tsacl(&api.url, dir.path())
        .env("TS_API_KEY", "")
        .env("TS_OAUTH_CLIENT_ID", OAUTH_ID)
        .env("TS_OAUTH_CLIENT_SECRET", OAUTH_SECRET)
        .arg("pull"));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(api.state().token_exchanges, 1);
    // Nothing at all.
    let r = run(tsacl(&api.url, dir.path())
        .env("TS_API_KEY", "")
        .arg("pull"));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("no API credentials"), "{r}");
}

#[test]
fn api_key_from_a_file_never_from_a_flag_value() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{API_KEY}\n")).unwrap();
    let r = run(tsacl(&api.url, dir.path()).args(["pull", "--api-key-file", "key"]));
    assert_eq!(r.code, 0, "{r}");
    let r = run(tsacl(&api.url, dir.path()).args(["pull", "--api-key", API_KEY]));
    assert_eq!(r.code, 2, "{r}");
    assert!(api.state().requests.len() == 1);
}

#[test]
fn bad_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl_key("http://127.0.0.1:9", dir.path()).args(["pull", "--timeout", "soon"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("invalid timeout"), "{r}");
    let r = run(tsacl_key("ftp://x", dir.path()).arg("pull"));
    assert_eq!(r.code, 2, "{r}");
}

#[test]
fn help_documents_drift_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl("http://unused.invalid", dir.path()).args(["push", "--help"]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("git log --follow -- FILE"), "{r}");
    assert!(r.stdout.contains("TS_OAUTH_CLIENT_SECRET"), "{r}");
    assert!(r.stdout.contains("TSACL_RETRY_BASE_MS"), "{r}");
}

#[test]
fn library_client_ts_default_and_if_match() {
    use tsacl::api::{Client, Config, WriteOutcome};
    let api = FakeApi::start(V1.as_bytes());
    let url = api.url.clone();
    let env = move |k: &str| match k {
        "TS_API_URL" => Some(url.clone()),
        "TS_API_KEY" => Some(API_KEY.to_string()),
        "TSACL_RETRY_BASE_MS" => Some("5".to_string()),
        _ => None,
    };
    let config = Config::from_env(&env, None, None).unwrap();
    assert!(
        !format!("{config:?}").contains("TESTKEYSECRET"),
        "Debug redacts the key"
    );
    let mut client = Client::new(config);
    // `ts-default` succeeds only while the tailnet's policy was never written.
    assert_eq!(
        client.set_policy(V2.as_bytes(), "ts-default").unwrap(),
        WriteOutcome::Written {
            etag: Some(etag_of(V2.as_bytes())),
            tries: 1
        }
    );
    assert_eq!(
        client.set_policy(V1.as_bytes(), "ts-default").unwrap(),
        WriteOutcome::PreconditionFailed { tries: 1 }
    );
    let now = client.get_policy().unwrap();
    assert_eq!(now.etag.as_deref(), Some(etag_of(V2.as_bytes()).as_str()));
    assert_eq!(
        client.set_policy(V1.as_bytes(), "0000").unwrap(),
        WriteOutcome::PreconditionFailed { tries: 1 }
    );
    assert!(matches!(
        client
            .set_policy(V1.as_bytes(), now.etag.as_deref().unwrap())
            .unwrap(),
        WriteOutcome::Written { .. }
    ));
    assert_eq!(api.writes(), 2);
}

/// A tailnet of 50,000 devices (about 30 MB of JSON): more than the official Go client's
/// 10 MiB answer limit, read to disk and copied one device at a time.
#[test]
fn pull_inventory_of_fifty_thousand_devices() {
    let api = FakeApi::start(V1.as_bytes());
    let devices: Vec<serde_json::Value> = (0..50_000u32)
        .map(|i| {
            serde_json::json!({
                "id": format!("n{i}"),
                "hostname": format!("host-{i}"),
                "name": format!("host-{i}.tail1234.ts.net"),
                "addresses": [format!("100.{}.{}.{}", 64 + i / 65536, (i / 256) % 256, i % 256), format!("fd7a:115c:a1e0::{:x}", i + 1)],
                "user": "alice@example.com",
                "tags": if i % 3 == 0 { serde_json::json!(["tag:server"]) } else { serde_json::json!([]) },
                "os": "linux",
                "clientVersion": "1.90.0",
                "advertisedRoutes": [],
                "enabledRoutes": [],
                "keyExpiryDisabled": i % 3 == 0,
                "lastSeen": "2026-11-29T10:00:00Z",
                "postureIdentity": {"serialNumbers": [format!("SERIAL{i:08}")]},
            })
        })
        .collect();
    api.state().devices = serde_json::Value::Array(devices);
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl_key(&api.url, dir.path()).args([
        "pull",
        "-o",
        "p.hujson",
        "--inventory",
        "inv.json",
    ]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("saved 50000 devices and 1 users"), "{r}");
    let text = std::fs::read(dir.path().join("inv.json")).unwrap();
    assert!(text.len() > 10 << 20, "{} bytes", text.len());
    let inv: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(inv["devices"].as_array().unwrap().len(), 50_000);
    assert_eq!(inv["devices"][49_999]["hostname"], "host-49999");
    // The saved file is an inventory tsacl reads.
    let read = tsacl::engine::inventory::Inventory::from_json(&text).unwrap();
    assert_eq!(read.devices.len(), 50_000);
}

/// Workload identity federation, as gitops-pusher takes it: the federated client's ID in
/// TS_OAUTH_ID and the CI's OIDC token in TS_ID_TOKEN, exchanged for an access token.
#[test]
fn workload_identity_federation() {
    let api = FakeApi::start(V1.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let r = run(tsacl(&api.url, dir.path())
        .env("TS_OAUTH_ID", FEDERATED_ID)
        .env("TS_ID_TOKEN", ID_TOKEN)
        .args(["pull"]));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout.as_bytes(), api.policy().as_slice());
    assert_eq!(api.state().count("POST", "/oauth/token-exchange"), 1);
    // A token the server refuses is named as such, without echoing it.
    let r = run(tsacl(&api.url, dir.path())
        .env("TS_OAUTH_ID", FEDERATED_ID)
        .env("TS_ID_TOKEN", "eyJ.eyJ.IDTOKENSIGNATURESECRET-wrong")
        .args(["pull"]));
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stderr.contains("OAuth") || r.stderr.contains("token"),
        "{r}"
    );
    // A secret and an ID token at once is a configuration error.
    let r = run(tsacl(&api.url, dir.path())
        .env("TS_OAUTH_ID", FEDERATED_ID)
        .env("TS_OAUTH_SECRET", OAUTH_SECRET)
        .env("TS_ID_TOKEN", ID_TOKEN)
        .args(["pull"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("TS_ID_TOKEN"), "{r}");
}
