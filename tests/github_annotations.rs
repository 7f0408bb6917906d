//! `--format github` of `tsacl check` and `tsacl diff`, from the real binary: every line
//! is a GitHub Actions workflow command,
//! `::error|warning|notice file=F,line=L,col=C,endLine=L,endColumn=C,title=T::MESSAGE`,
//! with the message escaped as GitHub's toolkit escapes data (`%`, CR, LF) and the
//! property values as it escapes properties (those and `:` and `,`), and decodes to
//! exactly the findings of `--format json`.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn tsacl(dir: &Path, args: &[&str], code: i32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tsacl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One annotation, its values unescaped.
#[derive(Debug, PartialEq)]
struct Annotation {
    kind: String,
    file: String,
    /// line, col, endLine, endColumn; absent for a finding about the whole file.
    span: Option<[u64; 4]>,
    title: String,
    message: String,
}

/// Undo GitHub's escaping, failing on anything the toolkit would not have produced: a
/// `%` that starts no escape, or an escape that is not allowed here.
fn unescape(s: &str, escapes: &[(&str, char)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).ok_or(format!("a bare % in {s:?}"))?;
        let (_, c) = escapes
            .iter()
            .find(|(e, _)| *e == code)
            .ok_or(format!("%{code} is not an escape here, in {s:?}"))?;
        out.push(*c);
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

const DATA_ESCAPES: [(&str, char); 3] = [("25", '%'), ("0D", '\r'), ("0A", '\n')];
const PROPERTY_ESCAPES: [(&str, char); 5] = [
    ("25", '%'),
    ("0D", '\r'),
    ("0A", '\n'),
    ("3A", ':'),
    ("2C", ','),
];

/// Parse one line as a workflow command, strictly.
fn parse(line: &str) -> Result<Annotation, String> {
    let rest = line.strip_prefix("::").ok_or("no leading ::")?;
    let (kind, rest) = rest.split_once(' ').ok_or("no space after the command")?;
    if !["error", "warning", "notice"].contains(&kind) {
        return Err(format!("unknown command {kind:?}"));
    }
    // Property values escape `:`, so the first `::` ends them.
    let (props, message) = rest.split_once("::").ok_or("no :: before the message")?;
    if message.contains(['\r', '\n']) {
        return Err("a raw line break in the message".into());
    }
    let message = unescape(message, &DATA_ESCAPES)?;
    let mut values = Vec::new();
    for prop in props.split(',') {
        let (key, value) = prop
            .split_once('=')
            .ok_or(format!("{prop:?} is not key=value"))?;
        if value.contains([':', ',', '\r', '\n']) {
            return Err(format!("{key}'s value is not escaped: {value:?}"));
        }
        values.push((key, unescape(value, &PROPERTY_ESCAPES)?));
    }
    let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
    let with_span = ["file", "line", "col", "endLine", "endColumn", "title"];
    let without_span = ["file", "title"];
    let span = if keys == with_span {
        let n = |i: usize| -> Result<u64, String> {
            let (k, v) = &values[i];
            v.parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(format!("{k}={v} is not a line or column"))
        };
        Some([n(1)?, n(2)?, n(3)?, n(4)?])
    } else if keys == without_span {
        None
    } else {
        return Err(format!("unexpected properties {keys:?}"));
    };
    Ok(Annotation {
        kind: kind.to_string(),
        file: values[0].1.clone(),
        span,
        title: values.last().unwrap().1.clone(),
        message,
    })
}

fn annotations(output: &str) -> Vec<Annotation> {
    assert!(output.is_empty() || output.ends_with('\n'));
    output
        .lines()
        .map(|line| parse(line).unwrap_or_else(|e| panic!("{e}:\n{line}")))
        .collect()
}

#[test]
fn the_parser_rejects_what_github_would_misread() {
    for bad in [
        "::error file=a.hujson,line=1,col=1,endLine=1,endColumn=2,title=T::50% off",
        "::error file=a:b.hujson,title=T::m",
        "::error file=a,b.hujson,title=T::m",
        "::fatal file=a.hujson,title=T::m",
        "::error file=a.hujson,line=0,col=1,endLine=1,endColumn=2,title=T::m",
        "::error file=a.hujson,line=1,title=T::m",
        "error file=a.hujson,title=T::m",
        "::error file=a.hujson,title=T::m\rn",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
    let good = parse("::notice file=a%3Ab%2Cc%25.hujson,title=T%0A::x%0Ay%25 z: w, v").unwrap();
    assert_eq!(good.file, "a:b,c%.hujson");
    assert_eq!(good.title, "T\n");
    assert_eq!(good.message, "x\ny% z: w, v");
}

/// Messages with `%`, `:`, `,` and a line break, in a file whose name has `:`, `,`, `%`
/// and a space, beside an ordinary file: every line is a well-formed command, and decodes
/// to the finding `--format json` reports.
#[test]
fn every_line_is_an_escaped_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    let odd = "we,ird: 50%.hujson";
    std::fs::write(
        dir.path().join(odd),
        "{\n\t\"groups\": {\"group:a%b,c\\nd\": [\"x@example.com\"]},\n\t\"acls\": [\n\t\t{\"action\": \"accept\", \"src\": [\"tag:no,pe%:x\"], \"dst\": [\"*:80\"]},\n\t],\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plain.hujson"),
        "{\n  \"acls\": [\n    {\"action\": \"accept\"} x\n  ]\n}\n",
    )
    .unwrap();
    let files = [odd, "plain.hujson"];
    let json: Value = serde_json::from_str(&tsacl(
        dir.path(),
        &["check", "--format", "json", files[0], files[1]],
        1,
    ))
    .unwrap();
    let expected: Vec<Annotation> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            let mut message = d["message"].as_str().unwrap().to_string();
            if let Some(help) = d["help"].as_str() {
                message.push_str(&format!("\nhelp: {help}"));
            }
            Annotation {
                kind: match d["severity"].as_str().unwrap() {
                    "info" => "notice".to_string(),
                    s => s.to_string(),
                },
                file: d["file"].as_str().unwrap().to_string(),
                span: Some([n("line"), n("column"), n("end_line"), n("end_column")]),
                title: format!(
                    "{} {}",
                    d["code"].as_str().unwrap(),
                    d["name"].as_str().unwrap()
                ),
                message,
            }
        })
        .collect();
    let out = tsacl(
        dir.path(),
        &["check", "--format", "github", files[0], files[1]],
        1,
    );
    let got = annotations(&out);
    assert_eq!(got, expected, "{out}");
    // The awkward characters were there to escape.
    assert!(got.iter().any(|a| a.file == odd));
    assert!(
        got.iter()
            .any(|a| a.message.contains('%') && a.message.contains(','))
    );
    assert!(got.iter().any(|a| a.message.contains("c\nd")), "{out}");
    assert!(got.iter().any(|a| a.kind == "error") && got.iter().any(|a| a.kind == "warning"));
}

/// The repository's tailnet is clean but for what its design accepts: the admins may SSH
/// into panda and clanker-001, so they can become those machines and reach what only
/// the machines are meant to (TSA150, one warning per machine, naming its services).
#[test]
fn the_repository_policies_give_only_the_admins_ssh_chains() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tsacl(repo, &["check", "--format", "github"], 0);
    let got = annotations(&out);
    assert_eq!(got.len(), 2, "{out}");
    assert!(
        got.iter()
            .all(|a| a.kind == "warning" && a.title.starts_with("TSA150")),
        "{out}"
    );
    assert!(got[0].message.starts_with("group:admins can become panda (tag:panda), a source of the services `redis` and `worker`"), "{out}");
    assert!(got[1].message.starts_with("group:admins can become clanker-001 (tag:clanker), a source of the services `qdrant`, `inngest` and `typesense`"), "{out}");
}

#[test]
fn file_level_findings_and_diffs_name_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let tags = r#""tagOwners": {"tag:web": [], "tag:db": []}"#;
    std::fs::write(
        dir.path().join("old.hujson"),
        format!(
            r#"{{{tags}, "grants": [{{"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["443"]}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("new.hujson"),
        format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}]}}"#
        ),
    )
    .unwrap();
    let out = tsacl(
        dir.path(),
        &["diff", "--format", "github", "old.hujson", "new.hujson"],
        1,
    );
    let got = annotations(&out);
    let mut kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|a| (a.kind.as_str(), a.title.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("notice", "TSA140 access-gained"),
            ("notice", "TSA141 access-lost"),
            ("warning", "TSA142 access-lockout"),
        ],
        "{out}"
    );
    for a in &got {
        assert_eq!(a.file, "new.hujson");
        assert_eq!(a.span, None);
    }
    assert!(
        got.iter()
            .any(|a| a.message == "tag:web gains access to tag:db: tcp 5432"),
        "{out}"
    );
}
