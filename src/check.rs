//! The offline check of one policy file: read → HuJSON → model → validation.

use crate::diagnostics::selection::{Layer, Selection};
use crate::diagnostics::{Diagnostic, FileId, Location, SourceMap};
use crate::model::{self, Policy};
use crate::rules::Code;
use crate::syntax::{self, Span};
use crate::timings;
use crate::validate::{self, Options};

/// The result of checking one policy file.
#[derive(Debug)]
pub struct Checked {
    /// `None` when the file is not HuJSON.
    pub policy: Option<Policy>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// How much of the check to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Everything `tsacl check` does.
    Full,
    /// Without the slow stages (the redundancy audit, the offline tests) and without
    /// reporting unused suppressions (they may be meant for what those stages find): what
    /// an editor can show at once while the full check runs.
    Quick,
    /// Everything that can find an error, so whether the control plane would load the
    /// file: without the redundancy audit (its findings are warnings) and without
    /// reporting unused suppressions. For commands that only need a policy that loads.
    Verdict,
    /// What can find an error without running the policy's tests: the control plane's
    /// rules and the lints that can report an error, not the lints that only warn. For
    /// `explain` and `diff`, which answer about the rules and show only errors.
    Model,
}

impl Depth {
    /// Whether the lints that can only warn run (they need the whole answer).
    fn warns(self) -> bool {
        matches!(self, Depth::Full | Depth::Quick)
    }
}

/// Check the policy held in `sources` under `file`.
pub fn check_policy(sources: &SourceMap, file: FileId, options: &Options) -> Checked {
    check_policy_to(sources, file, options, Depth::Full)
}

/// [`check_policy`] to the given depth.
pub fn check_policy_to(
    sources: &SourceMap,
    file: FileId,
    options: &Options,
    depth: Depth,
) -> Checked {
    check_policy_staged(sources, file, options, depth, None).expect("no stage stops it")
}

/// Hears what a `Depth::Quick` check finds, as soon as a deeper check knows it; says
/// whether to go on (`false`: the caller no longer wants the rest).
pub type OnQuick<'a> = &'a mut dyn FnMut(Vec<Diagnostic>) -> bool;

/// [`check_policy_to`], handing what a `Depth::Quick` check of the file would return to
/// `on_quick` once it is known, before the slow stages: the language server publishes it
/// at once, and its full check does not read, validate and lint the file a second time.
/// `None` when `on_quick` says to stop.
pub fn check_policy_staged(
    sources: &SourceMap,
    file: FileId,
    options: &Options,
    depth: Depth,
    mut on_quick: Option<OnQuick>,
) -> Option<Checked> {
    let text = &sources.get(file).text;
    let mut diagnostics = Vec::new();
    let document = match timings::stage("parse", || syntax::hujson::parse(text)) {
        Ok(doc) => doc,
        Err(e) => {
            diagnostics.push(syntax_diagnostic_in(file, &e, text));
            if let Some(on_quick) = on_quick {
                on_quick(diagnostics.clone());
            }
            return Some(Checked {
                policy: None,
                diagnostics,
            });
        }
    };
    let comments = document.comments.clone();
    let policy = timings::stage("lower", || {
        model::lower(document.root, file, &mut diagnostics)
    });
    timings::stage("validate", || {
        validate::validate(&policy, file, options, &mut diagnostics)
    });
    let inventory = options.inventory.as_ref();
    // Without a quick answer to give first (the language server's), the lints that can
    // only warn run beside the slow stages below: they cannot change whether those run,
    // and TSA219 on a policy of many SSH rules costs as much as the audit.
    let beside = depth == Depth::Full && on_quick.is_none();
    let warnings_at = diagnostics.len();
    if beside {
        crate::lint::operator_lints(&policy, file, &mut diagnostics);
    } else {
        crate::lint::run_but_escalation(&policy, file, inventory, depth.warns(), &mut diagnostics);
    }
    // Tests and the redundancy audit are only meaningful on a policy the control plane
    // would load.
    let slow_stages = matches!(depth, Depth::Full | Depth::Verdict)
        && !diagnostics.iter().any(Diagnostic::is_error);
    let defer_warnings = beside && slow_stages;
    if beside && !slow_stages {
        let found = crate::lint::warning_lints(&policy, file, inventory);
        put_warnings(&mut diagnostics, warnings_at, found);
    }
    // TSA240 builds an access model of its own: when the lints that only warn run beside
    // the audit, so does it, in the time the audit's sequential construction leaves the
    // other core idle; otherwise now, with the other lints.
    let mut escalation = None;
    if depth.warns() {
        let found = crate::lint::escalation(&policy, file, inventory, &diagnostics);
        if defer_warnings {
            escalation = Some(found);
        } else {
            crate::lint::apply_escalation(found.find(), &mut diagnostics);
        }
    }
    if let Some(on_quick) = on_quick.as_mut() {
        let mut quick = diagnostics.clone();
        apply_suppressions(sources, file, &comments, false, &mut quick);
        sort(&mut quick);
        if !on_quick(quick) {
            return None;
        }
    }
    // The tests and the audit are independent and the slowest stages: run them side by
    // side (the audit spreads its first pass over the cores too; the tests, and TSA240
    // and the lints that only warn when deferred, fill in its sequential parts).
    let mut undecided = None;
    if slow_stages {
        let domains = options.tailnet_domains.as_deref();
        let (audit, tests, warnings) = std::thread::scope(|scope| {
            let warned = defer_warnings
                .then(|| scope.spawn(|| crate::lint::warning_lints(&policy, file, inventory)));
            let tests = scope.spawn(|| {
                let mut found = Vec::new();
                let undecided = timings::stage("tests (offline)", || {
                    crate::engine::tests_eval::evaluate(
                        &policy, inventory, domains, file, &mut found,
                    )
                });
                (
                    found,
                    undecided,
                    escalation.map(crate::lint::Escalation::find),
                )
            });
            let mut audit = Vec::new();
            if depth == Depth::Full {
                timings::stage("redundancy audit", || {
                    crate::lint::redundancy::audit(&policy, inventory, domains, file, &mut audit)
                });
            }
            let tests = tests
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let warnings = warned.map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (audit, tests, warnings)
        });
        if let Some(found) = warnings {
            put_warnings(&mut diagnostics, warnings_at, found);
        }
        let (tests, found_undecided, escalation) = tests;
        if let Some(found) = escalation {
            crate::lint::apply_escalation(found, &mut diagnostics);
        }
        diagnostics.extend(audit);
        diagnostics.extend(tests);
        undecided = Some(found_undecided);
    }
    apply_suppressions(
        sources,
        file,
        &comments,
        depth == Depth::Full,
        &mut diagnostics,
    );
    // After suppressions: a test or key silenced on its own line is not counted in the summary.
    if let Some(undecided) = undecided {
        undecided.fold(&mut diagnostics);
    }
    model::lower::fold_comment_keys(sources, file, &mut diagnostics);
    sort(&mut diagnostics);
    Some(Checked {
        policy: Some(policy),
        diagnostics,
    })
}

/// Puts what [`crate::lint::warning_lints`] found where [`crate::lint::run_but_escalation`]
/// would have (after validation's findings, before the operator's), then drops what the
/// operator's findings make exact, as it does.
fn put_warnings(diagnostics: &mut Vec<Diagnostic>, at: usize, found: Vec<Diagnostic>) {
    diagnostics.splice(at..at, found);
    crate::lint::operator::drop_covered(diagnostics);
}

/// `tsacl check FILE...`: every file checked, then the user's selection (`--select`,
/// `--ignore`, `--severity`). The command line and the language server both call this, so
/// an editor shows exactly what `check` prints.
pub fn check_files(
    sources: &SourceMap,
    files: &[FileId],
    options: &Options,
    user: &Layer,
    depth: Depth,
) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = files
        .iter()
        .flat_map(|&file| check_policy_to(sources, file, options, depth).diagnostics)
        .collect();
    Selection {
        layers: vec![user.clone()],
    }
    .apply(&mut diagnostics);
    diagnostics
}

/// [`check_files`] on one file at `Depth::Full`, handing what a `Depth::Quick` check
/// would return (the user's selection applied) to `on_quick` before the slow stages
/// ([`check_policy_staged`]). `None` when `on_quick` says to stop.
pub fn check_file_staged(
    sources: &SourceMap,
    file: FileId,
    options: &Options,
    user: &Layer,
    on_quick: OnQuick,
) -> Option<Vec<Diagnostic>> {
    let selection = Selection {
        layers: vec![user.clone()],
    };
    let mut selected = |mut diagnostics: Vec<Diagnostic>| {
        selection.apply(&mut diagnostics);
        on_quick(diagnostics)
    };
    let mut diagnostics =
        check_policy_staged(sources, file, options, Depth::Full, Some(&mut selected))?.diagnostics;
    selection.apply(&mut diagnostics);
    Some(diagnostics)
}

/// `// tsacl-ignore: TSA201, TSA210 reason` on the line before a finding suppresses it.
/// Written as a HuJSON comment, it survives the admin console and the API. A suppression
/// that matches nothing is reported (when `report_unused`), so stale ones do not pile up.
fn apply_suppressions(
    sources: &SourceMap,
    file: FileId,
    comments: &[Span],
    report_unused: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let f = sources.get(file);
    for c in comments {
        let text = String::from_utf8_lossy(&f.text[c.range()]);
        let Some(rest) = text.split("tsacl-ignore:").nth(1) else {
            continue;
        };
        let codes: Vec<String> = rest
            .split(|ch: char| ch == ',' || ch.is_whitespace())
            .map(|w| w.trim_end_matches("*/").trim())
            .take_while(|w| w.is_empty() || crate::rules::find(w).is_some())
            .filter(|w| !w.is_empty())
            .map(|w| crate::rules::find(w).expect("checked").id.to_string())
            .collect();
        // The comment's last line (a line comment's span ends after its newline).
        let (line, _) = f.line_col((c.end as usize).saturating_sub(1).max(c.start as usize));
        let before = diags.len();
        diags.retain(|d| {
            !(d.primary.file == file
                && codes.iter().any(|code| code == d.code.id())
                && f.line_col(d.primary.span.start as usize).0 == line + 1)
        });
        if diags.len() == before && report_unused {
            diags.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    Location { file, span: *c },
                    if codes.is_empty() {
                        "tsacl-ignore names no known code".to_string()
                    } else {
                        format!(
                            "tsacl-ignore: {} suppresses nothing on the next line",
                            codes.join(", ")
                        )
                    },
                )
                .with_help("remove it, or put it on the line just before the finding"),
            );
        }
    }
}

/// A reader's error as a diagnostic at its offset.
pub fn syntax_diagnostic(file: FileId, e: &syntax::SyntaxError, len: usize) -> Diagnostic {
    let start = e.offset.min(len);
    syntax_diagnostic_span(file, e, start, (start + 1).min(len))
}

/// A reader's error as a diagnostic, its caret covering the whole character at the offset
/// (a one-byte span could split a multi-byte character).
pub fn syntax_diagnostic_in(file: FileId, e: &syntax::SyntaxError, text: &[u8]) -> Diagnostic {
    let start = e.offset.min(text.len());
    let width = match text.get(start) {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        Some(_) => 1,
        None => 0,
    };
    syntax_diagnostic_span(file, e, start, (start + width).min(text.len()))
}

fn syntax_diagnostic_span(
    file: FileId,
    e: &syntax::SyntaxError,
    start: usize,
    end: usize,
) -> Diagnostic {
    Diagnostic::new(
        Code::Syntax,
        Location {
            file,
            span: Span::new(start, end),
        },
        e.to_string(),
    )
    .with_help(
        "policy files are HuJSON: JSON plus // and /* */ comments and trailing commas".to_string(),
    )
}

/// Source order, so output reads top to bottom.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.primary.file, a.primary.span.start, a.code).cmp(&(
            b.primary.file,
            b.primary.span.start,
            b.code,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::SourceFile;

    #[test]
    fn the_verdict_depth_finds_failing_tests_without_the_redundancy_audit() {
        let text = br#"{
            "tagOwners": {"tag:web": []},
            "acls": [
                {"action": "accept", "src": ["*"], "dst": ["*:*"]},
                {"action": "accept", "src": ["*"], "dst": ["*:22"]}
            ],
            "tests": [{"src": "ann@example.com", "deny": ["tag:web:22"]}]
        }"#;
        let mut sources = SourceMap::default();
        let file = sources.add(SourceFile::new("p.hujson", "p.hujson", text.to_vec()));
        let codes = |depth| -> Vec<Code> {
            check_policy_to(&sources, file, &Options::default(), depth)
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect()
        };
        let full = codes(Depth::Full);
        let verdict = codes(Depth::Verdict);
        assert!(full.contains(&Code::RedundantRule), "{full:?}");
        assert!(!verdict.contains(&Code::RedundantRule), "{verdict:?}");
        let errors =
            |depth| check_policy_to(&sources, file, &Options::default(), depth).has_errors();
        assert!(errors(Depth::Full) && errors(Depth::Verdict));
    }

    /// `explain` and `diff` see the same errors without the lints that only warn; the
    /// operator's lint, which can report an error, still runs.
    #[test]
    fn the_model_depth_keeps_every_error_and_drops_the_warnings() {
        let text = br#"{
            "groups": {"group:unused": ["ann@example.com"]},
            "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": []},
            "grants": [
                {"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]},
                {"src": ["group:nobody"], "dst": ["tag:web"], "ip": ["tcp:80"]}
            ],
            "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:web"], "users": ["root"]}]
        }"#;
        let mut sources = SourceMap::default();
        let file = sources.add(SourceFile::new("p.hujson", "p.hujson", text.to_vec()));
        let found = |depth| check_policy_to(&sources, file, &Options::default(), depth).diagnostics;
        let quick = found(Depth::Quick);
        let model = found(Depth::Model);
        let codes = |d: &[Diagnostic]| d.iter().map(|d| d.code).collect::<Vec<_>>();
        assert!(
            codes(&quick).contains(&Code::UnusedGroup),
            "{:?}",
            codes(&quick)
        );
        assert!(
            codes(&quick).contains(&Code::SshWithoutNetworkAccess),
            "{:?}",
            codes(&quick)
        );
        assert!(!model.iter().any(|d| !d.is_error()), "{:?}", codes(&model));
        assert!(
            codes(&model).contains(&Code::UndefinedGroup),
            "{:?}",
            codes(&model)
        );
        let errors = |d: &[Diagnostic]| {
            d.iter()
                .filter(|d| d.is_error())
                .map(|d| (d.code, d.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(errors(&model), errors(&quick));
    }
}
