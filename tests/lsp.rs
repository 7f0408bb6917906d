//! `tsacl lsp`, end to end: the real binary over stdio, driven as an editor drives it
//! (initialize → didOpen → publishDiagnostics → hover → definition → references → rename
//! → completion → codeAction → formatting → didChange → shutdown/exit), on a policy and on
//! a copy of the repository's intents project; the fuzz corpora replayed through it; and
//! the VS Code extension built with npm.

#[path = "support/synth.rs"]
mod synth;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);

/// An LSP client speaking to `tsacl lsp` over its standard input and output.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications read while waiting for something else.
    notifications: Vec<Value>,
    next_id: i64,
}

impl Client {
    fn start(dir: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsacl"))
            .args(["lsp", "--stdio"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tsacl lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // the server exited
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                reader.read_exact(&mut body).expect("a whole message");
                let message: Value = serde_json::from_slice(&body).expect("JSON");
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            messages: rx,
            notifications: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn next(&mut self, what: &str) -> Value {
        match self.messages.recv_timeout(TIMEOUT) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!("no answer in time while waiting for {what}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the server exited while we waited for {what}")
            }
        }
    }

    /// Send a request and wait for its response: `Ok(result)` or `Err(error)`.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.next(method);
            if m.get("id") == Some(&json!(id)) && m.get("method").is_none() {
                return match m.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(m["result"].clone()),
                };
            }
            self.notifications.push(m);
        }
    }

    /// A request that must succeed.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// The next diagnostics published for `uri` (skipping earlier ones).
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_for = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        };
        if let Some(i) = self.notifications.iter().position(is_for) {
            let m = self.notifications.remove(i);
            return m["params"]["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            let m = self.next(&format!("diagnostics for {uri}"));
            if is_for(&m) {
                return m["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.notifications.push(m);
        }
    }

    /// Diagnostics for `uri` as they are published, until `done` holds for them. (A policy
    /// gets two publications per version: what is quick to find, then the full check.)
    fn diagnostics_until(&mut self, uri: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let found = self.diagnostics(uri);
            if done(&found) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "never published as expected: {found:?}"
            );
        }
    }

    fn initialize(&mut self, root: &Path, capabilities: Value, options: Value) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "capabilities": capabilities,
                "initializationOptions": options,
            }),
        );
        self.notify("initialized", json!({}));
        result
    }

    fn open(&mut self, path: &Path, text: &str) {
        let language = match path.extension().and_then(|e| e.to_str()) {
            Some("json5") => "json5",
            _ => "jsonc",
        };
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(path), "languageId": language, "version": 1, "text": text}}),
        );
    }

    /// shutdown, exit, and the process ends with status 0.
    fn finish(mut self) {
        let result = self.request("shutdown", json!(null));
        assert_eq!(result, Value::Null);
        self.notify("exit", json!(null));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "tsacl lsp exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "tsacl lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The LSP position (UTF-16 columns) of byte `offset` in `text`.
fn position16(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": text[line_start..offset].encode_utf16().count()})
}

/// The UTF-16 position `delta` bytes into the `nth` occurrence of `needle`.
fn at(text: &str, needle: &str, nth: usize, delta: usize) -> Value {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in the text"))
        .0;
    position16(text, offset + delta)
}

fn text_position(p: &Value) -> (u64, u64) {
    (
        p["line"].as_u64().unwrap(),
        p["character"].as_u64().unwrap(),
    )
}

/// Apply LSP text edits (UTF-16 ranges) to `text`.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| -> usize {
        let (line, character) = text_position(p);
        let line_start: usize = text
            .split_inclusive('\n')
            .take(line as usize)
            .map(str::len)
            .sum();
        let mut units = 0;
        for (i, ch) in text[line_start..].char_indices() {
            if units >= character as usize || ch == '\n' {
                return line_start + i;
            }
            units += ch.len_utf16();
        }
        text.len()
    };
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (start, end, new) in spans {
        out.replace_range(start..end, new);
    }
    out
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_string())
        .collect()
}

fn hover_text(result: &Value) -> String {
    result["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

const POLICY: &str = r#"// Café network: ünïcode before the rules, so UTF-16 columns differ from bytes 😀.
{
	"groups": {
		"group:eng":    ["alice@example.com", "bob@example.com"],
		"group:unused": ["carol@example.com"],
	},
	"tagOwners": {
		"tag:web": ["group:eng"],
		"tag:db":  ["group:eng"],
	},
	"hosts": {
		"büro":"10.0.0.1",
	},
	"grants": [
		{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
		{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
		{"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["tcp:443"]},
		{"src": ["tag:web"], "dst": ["tag:wbe"], "ip": ["tcp:80"]},
	],
	"ssh": [
		{"action": "check", "src": ["group:eng"], "dst": ["tag:web"], "users": ["autogroup:nonroot"]},
	],
	"nodeAttrs": [
		{"target": ["tag:web"], "attr": ["funnel"]},
	],
	"tests": [
		{"src": "bob@example.com", "accept": ["tag:web:443"]},
	],
}
"#;

#[test]
fn a_policy_session() {
    let dir = temp_dir();
    let path = dir.path().join("policy.hujson");
    std::fs::write(&path, POLICY).unwrap();
    let doc = uri(&path);
    let mut c = Client::start(dir.path());
    // A client that only speaks UTF-16 gets UTF-16 positions.
    let init = c.initialize(dir.path(), json!({}), json!({}));
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(init["serverInfo"]["name"], "tsacl");
    c.open(&path, POLICY);

    // Diagnostics: what `tsacl check --format json` says, converted.
    let expected = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--format", "json", "policy.hujson"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let expected: Value = serde_json::from_slice(&expected.stdout).unwrap();
    let expected: Vec<String> = expected["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    let diagnostics = c.diagnostics_until(&doc, |d| codes(d) == expected);
    assert_eq!(codes(&diagnostics), expected);
    let undefined = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("tag:wbe"))
        .expect("the undefined tag is reported");
    assert_eq!(undefined["severity"], 1);
    assert_eq!(undefined["source"], "tsacl");
    assert!(
        undefined["message"]
            .as_str()
            .unwrap()
            .contains("help: did you mean \"tag:web\"?"),
        "{undefined}"
    );
    // Its range, in UTF-16 columns (the line has no non-ASCII text before it, the file
    // does: lines count the same either way).
    assert_eq!(undefined["range"]["start"], at(POLICY, "\"tag:wbe\"", 0, 0));
    let unused = diagnostics
        .iter()
        .find(|d| d["code"] == "TSA200")
        .expect("the unused group is reported");
    assert_eq!(unused["severity"], 2);

    // Hover on a tag: its owners and who can reach it, through which rule.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:db", 1, 3)}),
    );
    let text = hover_text(&h);
    assert!(text.contains("**tag:db** (tag)"), "{text}");
    assert!(
        text.contains("Owners (who may apply it): `group:eng`"),
        "{text}"
    );
    assert!(text.contains("**Who can reach tag:db**"), "{text}");
    assert!(
        text.contains("`tag:web` → `tag:db` on tcp:5432 (grants[1], policy.hujson line 16)"),
        "{text}"
    );
    // Hover on a rule: what it allows.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "\"ip\": [\"tcp:5432\"]", 0, 1)}),
    );
    assert!(
        hover_text(&h).contains("**grants[1]** allows `tag:web` to reach `tag:db` on `tcp:5432`."),
        "{h}"
    );
    // Hover on a finding: its rule's explanation, as `tsacl rule`.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:wbe", 0, 2)}),
    );
    let text = hover_text(&h);
    assert!(
        text.contains("**TSA010**") || text.contains("`undefined-tag`"),
        "{text}"
    );
    // Hover on a host with a non-ASCII name, by its UTF-16 position.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "büro", 0, 3)}),
    );
    assert!(hover_text(&h).contains("Address: `10.0.0.1`"), "{h}");

    // Definition: from a use of tag:db to its tagOwners key.
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:db", 1, 1)}),
    );
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d[0]["uri"], doc);
    assert_eq!(d[0]["range"]["start"], at(POLICY, "tag:db", 0, 0));
    assert_eq!(d[0]["range"]["end"], at(POLICY, "tag:db", 0, 6));

    // References of tag:web: the definition and every use.
    let r = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:web", 0, 1),
               "context": {"includeDeclaration": true}}),
    );
    let starts: Vec<Value> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["range"]["start"].clone())
        .collect();
    // tagOwners, four grants, SSH, nodeAttrs, tests.
    let uses = POLICY.matches("tag:web").count();
    assert_eq!(uses, 8);
    let expected: Vec<Value> = (0..uses).map(|n| at(POLICY, "tag:web", n, 0)).collect();
    assert_eq!(starts.len(), uses, "{r}");
    for e in &expected {
        assert!(starts.contains(e), "{e} missing from {r}");
    }

    // Rename tag:web to tag:api everywhere in the file.
    let prep = c.request(
        "textDocument/prepareRename",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:web", 1, 2)}),
    );
    assert_eq!(prep["placeholder"], "tag:web");
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:web", 1, 2), "newName": "api"}),
    );
    let renamed = apply(POLICY, edit["changes"][&doc].as_array().unwrap());
    assert_eq!(renamed, POLICY.replace("tag:web", "tag:api"));
    let taken = c.call(
        "textDocument/rename",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "tag:web", 1, 2), "newName": "tag:db"}),
    );
    assert!(
        taken.unwrap_err()["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    // Completion in a destination list: defined names and autogroups.
    let list = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "\"tag:db\"], \"ip\"", 0, 1)}),
    );
    let labels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in [
        "tag:web",
        "tag:db",
        "group:eng",
        "büro",
        "autogroup:member",
        "*",
    ] {
        assert!(labels.contains(&want), "{want} not in {labels:?}");
    }
    // Field names of a grant.
    let list = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": doc}, "position": at(POLICY, "\"src\": [\"tag:web\"], \"dst\": [\"tag:db\"]", 0, 1)}),
    );
    assert!(
        list.as_array().unwrap().iter().any(|i| i["label"] == "via"),
        "{list}"
    );

    // Code actions: the "did you mean", removing the unused group and the redundant rule.
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": doc}, "range": undefined["range"],
               "context": {"diagnostics": [undefined]}}),
    );
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Change to \"tag:web\"")
        .unwrap_or_else(|| panic!("no did-you-mean fix in {actions}"));
    assert_eq!(fix["isPreferred"], true);
    let fixed = apply(POLICY, fix["edit"]["changes"][&doc].as_array().unwrap());
    assert_eq!(fixed, POLICY.replace("\"tag:wbe\"", "\"tag:web\""));
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": doc}, "range": unused["range"], "context": {"diagnostics": []}}),
    );
    let remove = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Remove unused group:unused")
        .unwrap_or_else(|| panic!("no removal in {actions}"));
    let removed = apply(POLICY, remove["edit"]["changes"][&doc].as_array().unwrap());
    assert_eq!(
        removed,
        POLICY.replace("\t\t\"group:unused\": [\"carol@example.com\"],\n", "")
    );
    let ignore = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Ignore TSA200 here (tsacl-ignore comment)")
        .unwrap_or_else(|| panic!("no suppression in {actions}"));
    let suppressed = apply(POLICY, ignore["edit"]["changes"][&doc].as_array().unwrap());
    assert!(
        suppressed.contains("\t\t// tsacl-ignore: TSA200 "),
        "{suppressed}"
    );
    // Formatting: byte-identical to `tsacl fmt`.
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": doc}, "options": {"tabSize": 4, "insertSpaces": false}}),
    );
    let formatted = apply(POLICY, edits.as_array().unwrap());
    let mut fmt = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    fmt.stdin
        .take()
        .unwrap()
        .write_all(POLICY.as_bytes())
        .unwrap();
    let expected = fmt.wait_with_output().unwrap().stdout;
    let expected = String::from_utf8(expected).unwrap();
    assert_ne!(expected, POLICY, "the sample is not formatted yet");
    assert_eq!(formatted, expected);

    // didChange: apply the fix as an incremental edit; the error goes away.
    let fix_edit = &fix["edit"]["changes"][&doc][0];
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 2},
               "contentChanges": [{"range": fix_edit["range"], "text": fix_edit["newText"]}]}),
    );
    let after = c.diagnostics_until(&doc, |d| codes(d).contains(&"TSA230".to_string()));
    assert!(
        after
            .iter()
            .all(|d| !d["message"].as_str().unwrap().contains("tag:wbe")),
        "{after:?}"
    );
    assert!(!codes(&after).contains(&"TSA010".to_string()), "{after:?}");
    assert!(codes(&after).contains(&"TSA200".to_string()));
    // The redundancy audit runs on a policy without errors: now it has none.
    let redundant = after
        .iter()
        .find(|d| d["code"] == "TSA230")
        .unwrap_or_else(|| panic!("the redundant grant is reported: {after:?}"));
    assert!(
        redundant["relatedInformation"][0]["message"]
            .as_str()
            .unwrap()
            .contains("covers"),
        "{redundant}"
    );
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": doc}, "range": redundant["range"], "context": {"diagnostics": []}}),
    );
    let remove = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Remove this rule")
        .unwrap_or_else(|| panic!("no rule removal in {actions}"));
    let removed = apply(&fixed, remove["edit"]["changes"][&doc].as_array().unwrap());
    assert_eq!(
        removed,
        fixed.replace(
            "\t\t{\"src\": [\"alice@example.com\"], \"dst\": [\"tag:web\"], \"ip\": [\"tcp:443\"]},\n",
            ""
        )
    );

    // A request on a broken document answers empty, and diagnostics say why.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 3}, "contentChanges": [{"text": "{\"grants\": [,"}]}),
    );
    c.diagnostics_until(&doc, |d| codes(d) == ["TSA001"]);
    for method in [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/references",
    ] {
        let r = c.request(
            method,
            json!({"textDocument": {"uri": doc}, "position": {"line": 0, "character": 3},
                   "context": {"includeDeclaration": true}}),
        );
        assert_eq!(r, Value::Null, "{method}");
    }
    let r = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": doc}, "options": {"tabSize": 4, "insertSpaces": false}}),
    );
    assert_eq!(r, Value::Null);
    c.finish();
}

#[test]
fn utf8_positions_when_the_client_offers_them() {
    let dir = temp_dir();
    let path = dir.path().join("policy.hujson");
    std::fs::write(&path, POLICY).unwrap();
    let doc = uri(&path);
    let mut c = Client::start(dir.path());
    let init = c.initialize(
        dir.path(),
        json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}}),
        json!({}),
    );
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    c.open(&path, POLICY);
    c.diagnostics(&doc);
    // "büro" is 5 bytes, 4 UTF-16 units: the definition ends at byte column 6 (after the
    // opening quote at column 2).
    let line = POLICY.lines().position(|l| l.contains("\"büro\"")).unwrap();
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": doc}, "position": {"line": line, "character": 4}}),
    );
    assert_eq!(
        d[0]["range"]["start"],
        json!({"line": line, "character": 3})
    );
    assert_eq!(d[0]["range"]["end"], json!({"line": line, "character": 8}));
    c.finish();
}

/// A copy of `policies/`, the repository's intents project.
fn intents_project() -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            std::fs::copy(entry.path(), policies.join(entry.file_name())).unwrap();
        } else {
            // The cluster's manifests (`k8s.manifests`), which the check reads too.
            let to = policies.join(entry.file_name());
            std::fs::create_dir(&to).unwrap();
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
            }
        }
    }
    (dir, policies)
}

#[test]
fn an_intents_session() {
    let (dir, policies) = intents_project();
    let intents_path = policies.join("tailnet.json5");
    let intents = std::fs::read_to_string(&intents_path).unwrap();
    let output_path = policies.join("policy.hujson");
    let output = std::fs::read_to_string(&output_path).unwrap();
    let (intents_uri, base_uri, output_uri) = (
        uri(&intents_path),
        uri(&policies.join("base.hujson")),
        uri(&output_path),
    );
    let mut c = Client::start(dir.path());
    // An inventory from the workspace, as `tsacl check --inventory` takes it.
    c.initialize(
        dir.path(),
        json!({}),
        json!({"inventory": "policies/inventory.json"}),
    );
    c.open(&intents_path, &intents);
    // The project is as `tsacl check` says: each of its files gets news, the intents
    // only the two TSA150 warnings about the admins' SSH into panda and clanker-001.
    assert_eq!(codes(&c.diagnostics(&intents_uri)), ["TSA150", "TSA150"]);
    assert_eq!(c.diagnostics(&base_uri), Vec::<Value>::new());
    assert_eq!(c.diagnostics(&output_uri), Vec::<Value>::new());

    // Hover on a service: the intent, and who can reach it in the compiled policy.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "redis:", 0, 2)}),
    );
    let text = hover_text(&h);
    assert!(text.contains("**redis** (service)"), "{text}");
    assert!(text.contains("intended for `panda` on tcp:6379"), "{text}");
    assert!(text.contains("**Who can reach tag:redis**"), "{text}");
    assert!(
        text.contains("`tag:panda` → `tag:redis` on tcp:6379"),
        "{text}"
    );
    // On a tag: its owners and, from the inventory, its devices.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "tag:panda", 0, 5)}),
    );
    let text = hover_text(&h);
    assert!(
        text.contains("Owners (who may apply it): `autogroup:admin`"),
        "{text}"
    );
    assert!(text.contains("Devices (inventory): `panda`"), "{text}");

    // Definition: from a `from` entry to the device.
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "\"panda\"", 0, 2)}),
    );
    assert_eq!(d[0]["range"]["start"], at(&intents, "panda: {", 0, 0));
    // References: the device and every service that names it.
    let r = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "panda: {", 0, 1),
               "context": {"includeDeclaration": true}}),
    );
    let from_uses = intents.matches("\"panda\"").count();
    assert_eq!(r.as_array().unwrap().len(), 1 + from_uses, "{r}");
    // Rename the device: its key and every `from`.
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "panda: {", 0, 1), "newName": "mini"}),
    );
    let renamed = apply(&intents, edit["changes"][&intents_uri].as_array().unwrap());
    assert_eq!(
        renamed,
        intents
            .replace("panda: {", "mini: {")
            .replace("\"panda\"", "\"mini\"")
    );
    // Completion in `from`: devices, groups, and services' tags.
    let list = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": intents_uri}, "position": at(&intents, "[\"panda\"]", 0, 2)}),
    );
    let items = list.as_array().unwrap();
    let labels: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
    for want in [
        "panda",
        "clanker-001",
        "group:admins",
        "tag:redis",
        "autogroup:member",
    ] {
        assert!(labels.contains(&want), "{want} not in {labels:?}");
    }
    assert!(
        items
            .iter()
            .any(|i| i["label"] == "tag:redis" && i["detail"] == "tag of service redis")
    );

    // didChange: a misspelt device in `from` is an error with a fix.
    let typo = intents.replacen("from: [\"panda\"], funnel", "from: [\"pnda\"], funnel", 1);
    assert_ne!(typo, intents);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": intents_uri, "version": 2}, "contentChanges": [{"text": typo}]}),
    );
    let found = c.diagnostics(&intents_uri);
    let unknown = found
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("\"pnda\""))
        .unwrap_or_else(|| panic!("no finding about pnda in {found:?}"));
    assert_eq!(unknown["severity"], 1);
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": intents_uri}, "range": unknown["range"], "context": {"diagnostics": [unknown]}}),
    );
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Change to \"panda\"")
        .unwrap_or_else(|| panic!("no fix in {actions}"));
    assert_eq!(
        apply(
            &typo,
            fix["edit"]["changes"][&intents_uri].as_array().unwrap()
        ),
        intents
    );
    // Intents are JSON5: `tsacl fmt` does not format them, nor does the server.
    let r = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": intents_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(r, Value::Null);
    // Back to the committed intents: as at the start again.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": intents_uri, "version": 3}, "contentChanges": [{"text": intents}]}),
    );
    assert_eq!(codes(&c.diagnostics(&intents_uri)), ["TSA150", "TSA150"]);

    // The compiled policy: from a generated grant to the intent that wrote it, and from a
    // base rule to the base file.
    c.open(&output_path, &output);
    c.diagnostics(&output_uri);
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": output_uri}, "position": at(&output, "\"ip\":  [\"tcp:8108\"]", 0, 2)}),
    );
    let found = d.as_array().unwrap();
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["uri"], intents_uri, "{d}");
    assert_eq!(found[0]["range"]["start"], at(&intents, "typesense:", 0, 0));
    // On a tag a generated grant uses: one place, the tag's owners entry (not also the
    // intent that wrote the grant), so editors jump instead of offering a choice.
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": output_uri}, "position": at(&output, "[\"tag:redis\"]", 0, 4)}),
    );
    let found = d.as_array().unwrap();
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["uri"], output_uri, "{d}");
    assert_eq!(
        found[0]["range"]["start"],
        at(&output, "\"tag:redis\":", 0, 1),
        "{d}"
    );
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": output_uri}, "position": at(&output, "system:masters", 0, 0)}),
    );
    assert!(
        d.as_array().unwrap().iter().any(|l| l["uri"] == base_uri),
        "{d}"
    );
    // It is formatted already: no edits.
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": output_uri}, "options": {"tabSize": 4, "insertSpaces": false}}),
    );
    assert_eq!(edits, json!([]));
    // An edit to the compiled policy makes it stale: the intents file says so.
    let edited = output.replacen("tcp:6379", "tcp:6380", 1);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": output_uri, "version": 2}, "contentChanges": [{"text": edited}]}),
    );
    let found = c.diagnostics(&intents_uri);
    assert!(
        found.iter().any(|d| d["message"]
            .as_str()
            .unwrap()
            .contains("is not what the intents compile to")),
        "{found:?}"
    );
    // ...and so does the edited file itself, on the line that differs.
    let found = c.diagnostics_until(&output_uri, |d| codes(d).contains(&"TSA112".to_string()));
    let stale = found.iter().find(|d| d["code"] == "TSA112").unwrap();
    assert_eq!(
        stale["range"]["start"]["line"],
        at(&edited, "tcp:6380", 0, 0)["line"],
        "{stale}"
    );
    assert_eq!(stale["range"]["start"]["character"], 0, "{stale}");
    assert!(
        stale["relatedInformation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["location"]["uri"] == intents_uri),
        "{stale}"
    );

    // A finding about a compiled rule is shown where the rule was written: an allow-all
    // grant added to the base file.
    let base_path = policies.join("base.hujson");
    let base = std::fs::read_to_string(&base_path).unwrap();
    c.open(&base_path, &base);
    // Names the base uses are defined in the intents.
    let d = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": base_uri}, "position": at(&base, "group:admins", 0, 7)}),
    );
    assert_eq!(d[0]["uri"], intents_uri);
    assert_eq!(d[0]["range"]["start"], at(&intents, "admins:", 0, 0));
    let broad = base.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"]},\n",
        1,
    );
    assert_ne!(broad, base);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": base_uri, "version": 2}, "contentChanges": [{"text": broad}]}),
    );
    let found = c.diagnostics_until(&base_uri, |d| !d.is_empty());
    let allow_all = found
        .iter()
        .find(|d| d["code"] == "TSA210")
        .unwrap_or_else(|| panic!("no allow-all finding in the base file: {found:?}"));
    assert_eq!(
        allow_all["range"]["start"],
        at(&broad, "{\"src\": [\"*\"]", 0, 0)
    );
    assert!(
        found
            .iter()
            .any(|d| d["code"] == "TSA113" && d["severity"] == 1),
        "the proof fails at the base rule: {found:?}"
    );
    c.finish();
}

/// Every file of the fuzz corpora as a document: diagnostics, and every request at a few
/// positions, with no error answer (a panic would be one) and no crash.
#[test]
fn fuzz_corpora_replay_through_the_server() {
    let dir = temp_dir();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut inputs: Vec<(PathBuf, String)> = Vec::new();
    for target in ["check", "format", "hujson", "json5"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(target))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let extension = if target == "json5" { "json5" } else { "hujson" };
        for (i, f) in files.iter().enumerate() {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            inputs.push((dir.path().join(format!("{target}-{i}.{extension}")), text));
        }
    }
    assert!(inputs.len() > 100, "the corpora are missing");
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    for (path, text) in &inputs {
        let doc = uri(path);
        c.open(path, text);
        c.diagnostics(&doc);
        let lines = text.lines().count().max(1);
        for (line, character) in [
            (0, 0),
            (0, 5),
            (lines / 2, 3),
            (lines - 1, 1000),
            (lines + 3, 0),
        ] {
            let position = json!({"line": line, "character": character});
            let at_position = json!({"textDocument": {"uri": doc}, "position": position});
            let mut references = at_position.clone();
            references["context"] = json!({"includeDeclaration": true});
            let mut rename = at_position.clone();
            rename["newName"] = json!("renamed");
            for (method, params) in [
                ("textDocument/hover", &at_position),
                ("textDocument/definition", &at_position),
                ("textDocument/references", &references),
                ("textDocument/prepareRename", &at_position),
                ("textDocument/completion", &at_position),
                ("textDocument/rename", &rename),
            ] {
                // Renaming to a taken name is refused (invalid params); anything else,
                // a caught panic above all, is a failure.
                match c.call(method, params.clone()) {
                    Err(e) if !(method == "textDocument/rename" && e["code"] == -32602) => {
                        panic!("{method} at {position} in {}: {e}", path.display())
                    }
                    _ => {}
                }
            }
            let range = json!({"start": {"line": 0, "character": 0}, "end": position});
            let actions = json!({"textDocument": {"uri": doc}, "range": range, "context": {"diagnostics": []}});
            if let Err(e) = c.call("textDocument/codeAction", actions) {
                panic!("codeAction in {}: {e}", path.display());
            }
        }
        let formatting =
            json!({"textDocument": {"uri": doc}, "options": {"tabSize": 4, "insertSpaces": false}});
        if let Err(e) = c.call("textDocument/formatting", formatting) {
            panic!("formatting {}: {e}", path.display());
        }
        c.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": doc}}),
        );
    }
    c.finish();
}

#[test]
fn help_says_what_it_is_and_how_to_set_it_up() {
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["lsp", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Language Server Protocol",
        "--stdio",
        "initializationOptions",
        "In your editor",
        "tsacl fmt",
    ] {
        assert!(help.contains(want), "{want:?} not in:\n{help}");
    }
}

/// The VS Code extension's manifest: it activates on policy files (HuJSON, the intents
/// file), not on every JSON file; `.hujson` is a language of its own (so VS Code's JSON
/// checker, which warns on trailing commas, never reads it) with a grammar, as is JSON5;
/// it names its repository; it ships a bundle; its licences are the repository's.
#[test]
fn vscode_extension_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let code = root.join("editors/code");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(code.join("package.json")).unwrap()).unwrap();
    let activation: Vec<&str> = manifest["activationEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for event in [
        "onLanguage:hujson",
        "workspaceContains:**/*.hujson",
        "workspaceContains:**/tailnet.json5",
    ] {
        assert!(activation.contains(&event), "{event} in {activation:?}");
    }
    for event in [
        "*",
        "onLanguage:json",
        "onLanguage:jsonc",
        "onStartupFinished",
    ] {
        assert!(!activation.contains(&event), "{event} in {activation:?}");
    }

    let contributes = &manifest["contributes"];
    let language = |id: &str| {
        contributes["languages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no {id} language"))
            .clone()
    };
    for l in contributes["languages"].as_array().unwrap() {
        let extensions = l["extensions"].as_array().cloned().unwrap_or_default();
        if extensions.iter().any(|e| e == ".hujson") {
            assert_eq!(l["id"], "hujson", ".hujson is not read as JSON: {l}");
        }
    }
    assert_eq!(language("hujson")["extensions"], json!([".hujson"]));
    assert_eq!(language("json5")["extensions"], json!([".json5"]));
    for (id, scope) in [("hujson", "source.hujson"), ("json5", "source.json5")] {
        let configuration = language(id)["configuration"].as_str().unwrap().to_string();
        let configuration: Value =
            serde_json::from_slice(&std::fs::read(code.join(configuration)).unwrap()).unwrap();
        assert_eq!(configuration["comments"]["lineComment"], "//", "{id}");
        let grammar = contributes["grammars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["language"] == id)
            .unwrap_or_else(|| panic!("no grammar for {id}"));
        assert_eq!(grammar["scopeName"], scope);
        let file: Value = serde_json::from_slice(
            &std::fs::read(code.join(grammar["path"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(file["scopeName"], scope);
    }
    // JSON5's own features are highlighted: comments, single quotes, unquoted keys, hex.
    let json5 = std::fs::read_to_string(code.join("syntaxes/json5.tmLanguage.json")).unwrap();
    for scope in [
        "comment.line.double-slash.json5",
        "string.quoted.single.json5",
        "support.type.property-name.json5",
        "0[xX]",
        "Infinity",
    ] {
        assert!(json5.contains(scope), "{scope}");
    }

    assert_eq!(
        manifest["repository"]["url"], "https://github.com/tsacl/tsacl",
        "{manifest}"
    );
    assert_eq!(manifest["main"], "./dist/extension.js");
    let prepublish = manifest["scripts"]["vscode:prepublish"].as_str().unwrap();
    assert!(prepublish.contains("compile"), "{prepublish}");
    assert!(
        manifest["scripts"]["bundle"]
            .as_str()
            .unwrap()
            .starts_with("esbuild src/extension.ts --bundle")
    );
    let ignored = std::fs::read_to_string(code.join(".vscodeignore")).unwrap();
    assert!(ignored.lines().any(|l| l == "node_modules/**"), "{ignored}");
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(
            std::fs::read(code.join(name)).unwrap() == std::fs::read(root.join(name)).unwrap(),
            "editors/code/{name} differs from {name}: copy it"
        );
    }
}

/// `npm ci`, the type check and bundle, and `vsce package` in `editors/code` (in a copy,
/// so the checkout stays clean): the package is made without a warning and holds the
/// bundle, not `node_modules`. Then the bundle is loaded under node with a stand-in for
/// VS Code's API (`tests/vscode/activate.cjs`): its document selector is the policy
/// files, and a missing tsacl gets a message with the install commands. Without npm it
/// skips with a message, except under `CI=true`, where it must run.
#[test]
fn vscode_extension_builds_and_packages() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let npm_present = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !npm_present {
        assert!(!ci, "npm not found (CI=true: the extension must be built)");
        eprintln!("SKIPPED: npm not found; the VS Code extension was not built or packaged");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir();
    let copy = dir.path().join("code");
    copy_tree(&root.join("editors/code"), &copy);
    let vsix = dir.path().join("tsacl.vsix");
    let npm = |args: &[&str]| {
        let out = Command::new("npm")
            .args(args)
            .current_dir(&copy)
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "npm {args:?} failed:\n{text}");
        text
    };
    npm(&["ci", "--no-audit", "--no-fund"]);
    let packaged = npm(&[
        "exec",
        "--no",
        "--",
        "vsce",
        "package",
        "--out",
        vsix.to_str().unwrap(),
    ]);
    assert!(
        !packaged.contains("WARNING") && !packaged.contains("Do you want to continue"),
        "vsce package warns:\n{packaged}"
    );
    let listing = npm(&["exec", "--no", "--", "vsce", "ls"]);
    for file in [
        "dist/extension.js",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "syntaxes/json5.tmLanguage.json",
        "syntaxes/hujson.tmLanguage.json",
    ] {
        assert!(
            listing.lines().any(|l| l.trim() == file),
            "{file} not packaged:\n{listing}"
        );
    }
    assert!(
        !listing.contains("node_modules/"),
        "the bundle replaces node_modules:\n{listing}"
    );
    assert!(vsix.is_file());

    let out = Command::new("node")
        .arg(root.join("tests/vscode/activate.cjs"))
        .arg(copy.join("dist/extension.js"))
        .arg("tsacl-is-not-installed-here")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        loaded["selector"],
        json!([
            {"scheme": "file", "language": "hujson"},
            {"scheme": "file", "language": "json5", "pattern": "**/tailnet.json5"},
            {"scheme": "file", "language": "json"},
        ])
    );
    let message = loaded["messages"][0].as_str().unwrap_or_default();
    assert!(message.contains("tsacl-is-not-installed-here"), "{loaded}");
    for command in loaded["install"].as_array().unwrap() {
        assert!(
            message.contains(command.as_str().unwrap()),
            "{command} not in {message}"
        );
    }
    assert!(message.contains("pipx install tsacl"), "{message}");
}

/// Copy a directory, leaving out what a build makes (`node_modules`, `out`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "out" || name == "dist" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The latency BENCHMARKS.md reports: a one-line change in a 1 MB generated policy, from
/// `didChange` to its `publishDiagnostics`. Timings are printed, never asserted. Run it
/// on a release build:
/// `cargo test --release --test lsp -- --ignored --nocapture one_line_change`.
#[test]
#[ignore = "a benchmark: run it on a release build"]
fn one_line_change_in_a_1mb_policy() {
    let mut size = 1_100_000;
    let policy = loop {
        let p = synth::policy(synth::Shape::of_size(size), 42);
        if p.len() >= 1 << 20 {
            break p;
        }
        size += 100_000;
    };
    let dir = temp_dir();
    let path = dir.path().join("big.hujson");
    std::fs::write(&path, &policy).unwrap();
    let doc = uri(&path);
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    let opened = Instant::now();
    c.open(&path, &policy);
    c.diagnostics(&doc);
    let first = c.diagnostics(&doc).len();
    eprintln!(
        "{} bytes, {} lines: first diagnostics ({first}) after {:?}",
        policy.len(),
        policy.lines().count(),
        opened.elapsed()
    );
    // The last digit of a grant's port, toggled: one line, the policy stays valid.
    let at_port = policy
        .find("\"ip\":  [\"tcp:")
        .expect("a grant with a TCP port")
        + 13;
    let at_port = at_port + policy[at_port..].find('"').unwrap() - 1;
    let start = position16(&policy, at_port);
    let end = position16(&policy, at_port + 1);
    let (mut times, mut full_times) = (Vec::new(), Vec::new());
    for version in 2..=22 {
        // A single edit after a pause, as a person makes one.
        std::thread::sleep(tsacl::lsp::DEBOUNCE + Duration::from_millis(50));
        let digit = if version % 2 == 0 { "9" } else { "8" };
        let sent = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": doc, "version": version},
                   "contentChanges": [{"range": {"start": start, "end": end}, "text": digit}]}),
        );
        c.diagnostics(&doc);
        times.push(sent.elapsed());
        c.diagnostics(&doc);
        full_times.push(sent.elapsed());
    }
    for (what, mut times) in [
        ("first publication", times),
        ("full check published", full_times),
    ] {
        times.sort();
        eprintln!(
            "one-line change → {what}, {} edits: median {:?}, 90th percentile {:?}, max {:?}",
            times.len(),
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[times.len() - 1]
        );
    }
    // Typing: five keystrokes 40 ms apart are checked once, after the pause.
    let mut version = 100;
    let sent = Instant::now();
    for _ in 0..5 {
        version += 1;
        let digit = if version % 2 == 0 { "7" } else { "8" };
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": doc, "version": version},
                   "contentChanges": [{"range": {"start": start, "end": end}, "text": digit}]}),
        );
        std::thread::sleep(Duration::from_millis(40));
    }
    let last = Instant::now();
    let expected_version = version;
    loop {
        // Publications for versions the server is not done with may come first.
        let m = c.next("diagnostics");
        if m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["version"] == expected_version
        {
            break;
        }
    }
    eprintln!(
        "typing 5 keystrokes 40 ms apart: the last version's first publication {:?} after the last keystroke ({:?} after the first)",
        last.elapsed(),
        sent.elapsed()
    );
    c.finish();
}

#[test]
fn exit_without_shutdown_exits_1() {
    let dir = temp_dir();
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    c.notify("exit", json!(null));
    let status = c.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    // Unknown methods are refused, not fatal.
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    let e = c
        .call("textDocument/semanticTokens/full", json!({}))
        .unwrap_err();
    assert_eq!(e["code"], -32601);
    c.finish();
}

/// Completion inside a half-typed name offers the names defined, never the half-typed
/// text itself (which, once the document parses with it, is a name used there), whether
/// the string is closed (the document parses) or not (the last model that parsed).
#[test]
fn completion_never_offers_the_half_typed_text() {
    let dir = temp_dir();
    let path = dir.path().join("policy.hujson");
    let closed = "{\n\t\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"]},\n\t\"grants\": [\n\t\t{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:w\"], \"ip\": [\"443\"]},\n\t],\n}\n";
    let doc = uri(&path);
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    c.open(&path, closed);
    c.diagnostics(&doc);
    let labels = |c: &mut Client, text: &str| -> Vec<String> {
        let list = c.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": doc}, "position": at(text, "\"tag:w\"", 0, 6)}),
        );
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let offered = labels(&mut c, closed);
    assert!(offered.contains(&"tag:web".to_string()), "{offered:?}");
    assert!(!offered.contains(&"tag:w".to_string()), "{offered:?}");

    let open = closed.replace("[\"tag:w\"], \"ip\"", "[\"tag:w");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 2}, "contentChanges": [{"text": open}]}),
    );
    c.diagnostics(&doc);
    let list = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": doc}, "position": at(&open, "\"tag:w", 1, 6)}),
    );
    let offered: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"tag:web"), "{offered:?}");
    assert!(!offered.contains(&"tag:w"), "{offered:?}");
    c.finish();
}

/// The README's Neovim set-up for the Neovim found here (`nvim`; the 0.7 one for 0.7 to
/// 0.9), run headless on a policy with an undefined tag: Neovim starts `tsacl lsp`,
/// attaches it and shows its finding. Without nvim it skips, saying so (Debian's
/// `apt-get install neovim` is 0.7).
#[test]
fn neovim_shows_findings_with_the_readme_set_up() {
    let Some(version) = Command::new("nvim")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
    else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "nvim not found under CI=true: .ci/run installs Debian's neovim, the real client the README's set-up is tested with"
        );
        eprintln!("SKIPPED: nvim not found; the README's Neovim set-up was not run");
        return;
    };
    let first = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let minor: u32 = first
        .trim_start_matches("NVIM v0.")
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("an unexpected version line: {first}"));
    let marker = match minor {
        0..=6 => {
            eprintln!("SKIPPED: {first} is older than the README's set-ups (0.7 or newer)");
            return;
        }
        7..=9 => "<!-- neovim 0.7 -->",
        10 => "<!-- neovim 0.10 -->",
        _ => "<!-- neovim 0.11 -->",
    };
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = &readme[readme.find(marker).expect("the README marks its set-ups")..];
    let start = block.find("```lua\n").unwrap() + "```lua\n".len();
    let set_up = &block[start..start + block[start..].find("```").unwrap()];

    let dir = temp_dir();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let policy = dir.path().join("policy.hujson");
    std::fs::write(
        &policy,
        "{\n\t\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"]},\n\t\"grants\": [\n\t\t{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:wbe\"], \"ip\": [\"443\"]},\n\t],\n}\n",
    )
    .unwrap();
    let report = dir.path().join("report.txt");
    let init = dir.path().join("init.lua");
    std::fs::write(
        &init,
        format!(
            "{set_up}\n{}",
            r#"
function tsacl_test()
  vim.wait(60000, function() return #vim.diagnostic.get(0) > 0 end, 50)
  local lines = {}
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = 0 }) or vim.lsp.buf_get_clients(0)
  for _, c in pairs(clients) do
    table.insert(lines, "client " .. c.name)
  end
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or ""
    local message = d.message:gsub("\n", " ")
    table.insert(lines, string.format("diagnostic %s %d:%d %s", code, d.lnum + 1, d.col + 1, message))
  end
  vim.fn.writefile(lines, os.getenv("TSACL_NVIM_REPORT"))
  vim.cmd("qa!")
end
"#
        ),
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tsacl")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut child = Command::new("nvim")
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(&init)
        .arg("policy.hujson")
        .args(["-c", "lua tsacl_test()"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TSACL_NVIM_REPORT", &report)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = std::fs::read_to_string(&report).expect("nvim wrote its report");
    assert!(report.contains("client tsacl\n"), "{first}:\n{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("diagnostic TSA0") && l.contains("tag:wbe")),
        "{first}:\n{report}"
    );
}

/// Hover on a tag that a rule written with a device's address may reach: the rule is
/// undecided (a policy file does not say whose address it is), and its source is not
/// among those that cannot reach the tag.
#[test]
fn hover_says_what_addresses_decide() {
    const TEXT: &str = r#"{
	"tagOwners": {"tag:redis": [], "tag:ci": [], "tag:web": []},
	"hosts": {"redis-host": "100.64.1.5"},
	"grants": [
		{"src": ["tag:ci"], "dst": ["redis-host"], "ip": ["tcp:6379"]},
		{"src": ["tag:web"], "dst": ["tag:ci"], "ip": ["tcp:443"]},
	],
}
"#;
    let dir = temp_dir();
    let path = dir.path().join("policy.hujson");
    std::fs::write(&path, TEXT).unwrap();
    let mut c = Client::start(dir.path());
    c.initialize(dir.path(), json!({}), json!({}));
    c.open(&path, TEXT);
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&path)}, "position": at(TEXT, "tag:redis", 0, 3)}),
    );
    let text = hover_text(&h);
    assert!(text.contains("nobody for certain"), "{text}");
    assert!(
        text.contains("Undecided: rules written with addresses"),
        "{text}"
    );
    assert!(
        text.contains("`tag:ci` → `redis-host` on tcp:6379 (grants[0], policy.hujson line 5)"),
        "{text}"
    );
    assert!(
        text.contains("May reach it, as addresses decide: `tag:ci`"),
        "{text}"
    );
    assert!(text.contains("Cannot reach it: `tag:web`"), "{text}");
}
