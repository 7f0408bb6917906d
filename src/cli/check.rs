//! `tsacl check FILE...`

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line, terminal_width};
use crate::check::{Depth, check_files};
use crate::diagnostics::render::{TextStyle, render_json, render_text, summary};
use crate::diagnostics::selection::{Layer, check_pattern, parse_override};
use crate::diagnostics::{SourceFile, SourceMap};
use crate::validate::Options;
use clap::Args;
use clap::ValueEnum;
use std::io::Read;
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct CheckArgs {
    /// Policy files to check (`-` reads standard input). Without any, check the intents
    /// file (`policies/tailnet.json5`, found from the current directory upward): compile
    /// it in memory, require the committed output to be current, validate, run the tests
    /// and prove that reachability equals the intents (a stale output is proven as it is
    /// too: what a hand edit opens is reported at its line). The summary names the files
    /// and says whether the proof ran
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The intents file to check instead of looking for policies/tailnet.json5
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub intents: Option<PathBuf>,

    /// Output format: text (snippets on stderr), json, sarif (SARIF 2.1.0) or github
    /// (workflow annotations); machine formats go to stdout
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,

    /// Only these codes (comma-separated codes, names or prefixes such as TSA2)
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub select: Vec<String>,

    /// Drop these codes (comma-separated codes, names or prefixes such as TSA2)
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub ignore: Vec<String>,

    /// Report a code at another severity: error, warning, info, or off to drop it
    /// (repeatable or comma-separated; a code, name or prefix: TSA210=error,
    /// unused-group=off, TSA2=info). Overrides the intents file's `lint.severity`, and
    /// applies before --fail-on and --exit-zero
    #[arg(long, value_delimiter = ',', value_name = "CODE=LEVEL")]
    pub severity: Vec<String>,

    /// Exit 0 even when there are findings (usage errors still exit 2)
    #[arg(long)]
    pub exit_zero: bool,

    /// The lowest severity that makes the exit code 1
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// A domain of the tailnet, for checking user:*@domain and localpart:*@domain; its users
    /// count as members when tests are evaluated (repeatable)
    #[arg(long = "tailnet-domain", value_name = "DOMAIN")]
    pub tailnet_domains: Vec<String>,

    /// Devices and users (JSON shaped like the Tailscale API's answers) to evaluate the
    /// policy's tests against; without it, every user and tag gets a stand-in device
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
}

/// The command line's `--select`, `--ignore` and `--severity`, as the last layer.
fn command_line_layer(args: &CheckArgs) -> Result<Layer, String> {
    let mut layer = Layer {
        select: args.select.clone(),
        ignore: args.ignore.clone(),
        severity: Vec::new(),
    };
    for p in args.select.iter().chain(&args.ignore) {
        check_pattern(p).map_err(|e| {
            e.replacen(
                &format!("unknown rule {p:?}"),
                &format!("unknown rule {p:?} in --select/--ignore"),
                1,
            )
        })?;
    }
    for text in &args.severity {
        layer.severity.push(parse_override(text)?);
    }
    Ok(layer)
}

/// The exit code for these findings under the user's threshold.
fn findings_code(diagnostics: &[crate::diagnostics::Diagnostic], args: &CheckArgs) -> u8 {
    let threshold = match args.fail_on {
        FailOn::Warning => crate::rules::Severity::Warning,
        FailOn::Error => crate::rules::Severity::Error,
    };
    if !args.exit_zero && diagnostics.iter().any(|d| d.severity >= threshold) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// What validation may know beyond the text: the tailnet's domains and an inventory.
/// `None` after printing why the inventory could not be read.
fn options(args: &CheckArgs) -> Option<Options> {
    let inventory = match &args.inventory {
        None => None,
        Some(path) => match super::load_inventory(path) {
            Ok(inv) => Some(inv),
            Err(e) => {
                error_line(e);
                return None;
            }
        },
    };
    Some(Options {
        tailnet_domains: (!args.tailnet_domains.is_empty()).then(|| args.tailnet_domains.clone()),
        inventory,
    })
}

/// How a check ended, for the commands that run it before acting (`push`).
pub(super) struct Outcome {
    pub code: u8,
    /// Each policy file checked, as shown, with the bytes that were checked (for an
    /// intents project, its compiled output as the intents compile it now: the check
    /// fails when the file on disk differs).
    pub policies: Vec<(PathBuf, String, Vec<u8>)>,
}

impl CheckArgs {
    /// `tsacl check FILE` (or, with `intents`, `tsacl check --intents INTENTS`) with
    /// every option at its default but the tailnet's domains.
    pub(super) fn plain(
        file: Option<PathBuf>,
        intents: Option<PathBuf>,
        tailnet_domains: Vec<String>,
    ) -> CheckArgs {
        CheckArgs {
            files: file.into_iter().collect(),
            intents,
            format: CheckFormat::Text,
            select: Vec::new(),
            ignore: Vec::new(),
            severity: Vec::new(),
            exit_zero: false,
            fail_on: FailOn::Error,
            tailnet_domains,
            inventory: None,
        }
    }
}

/// `tsacl check` on an intents file.
fn check_intents(path: &std::path::Path, args: &CheckArgs, cli: Layer, color: bool) -> Outcome {
    let usage = Outcome {
        code: EXIT_USAGE,
        policies: Vec::new(),
    };
    let mut project = match crate::intents::project::load(path) {
        Ok(p) => p,
        Err(e) => {
            error_line(e);
            return usage;
        }
    };
    // A mistake in the `lint` section is a configuration error, not a finding.
    if !project.intents.lint.errors.is_empty() {
        let f = project.sources.get(project.intents_file);
        for (span, message) in &project.intents.lint.errors {
            let (line, col) = f.line_col(span.start as usize);
            error_line(format!("{}:{line}:{col}: {message}", f.name));
        }
        return usage;
    }
    let Some(options) = options(args) else {
        return usage;
    };
    let shown = project.sources.get(project.output_file).name.clone();
    project.check_with_selection(&options, cli);
    let mut files = vec![project.intents_file];
    files.extend(project.base_file);
    files.push(project.output_file);
    use crate::rules::Code;
    let found = |codes: &[Code]| project.diagnostics.iter().any(|d| codes.contains(&d.code));
    let proof = if !project.proved {
        "the proof did not run: fix the errors first"
    } else if found(&[
        Code::ExtraAccess,
        Code::MissingAccess,
        Code::FunnelBeyondIntent,
    ]) {
        "the proof ran: reachability is not what the intents say"
    } else if found(&[Code::ProofUndecided]) {
        "the proof ran: reachability equals the intents where the policy alone can tell"
    } else {
        "the proof ran: reachability equals the intents"
    };
    report(
        &project.sources,
        &files,
        &project.diagnostics,
        args.format,
        color,
        Some(proof),
    );
    Outcome {
        code: findings_code(&project.diagnostics, args),
        policies: vec![(project.output_path, shown, project.compiled.text)],
    }
}

fn report(
    sources: &SourceMap,
    files: &[crate::diagnostics::FileId],
    diagnostics: &[crate::diagnostics::Diagnostic],
    format: CheckFormat,
    color: bool,
    proof: Option<&str>,
) {
    match format {
        CheckFormat::Json => print!("{}", render_json(sources, files, diagnostics)),
        CheckFormat::Sarif => print!(
            "{}",
            crate::diagnostics::render::render_sarif(sources, diagnostics)
        ),
        CheckFormat::Github => print!(
            "{}",
            crate::diagnostics::render::render_github(sources, diagnostics)
        ),
        CheckFormat::Text => {
            let text = render_text(
                sources,
                diagnostics,
                TextStyle {
                    color,
                    width: terminal_width(),
                },
            );
            eprint!("{text}");
            let n = files.len();
            // Which files, so a summary is never about files the user did not mean.
            const NAMED: usize = 4;
            let mut names: Vec<&str> = files
                .iter()
                .take(NAMED)
                .map(|f| sources.get(*f).name.as_str())
                .collect();
            let more = format!("{} more", n.saturating_sub(NAMED));
            if n > NAMED {
                names.push(&more);
            }
            let what = match names.as_slice() {
                [] => String::new(),
                [one] => one.to_string(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            };
            let proof = proof.map(|p| format!("; {p}")).unwrap_or_default();
            eprintln!(
                "tsacl: checked {n} file{}: {} ({what}{proof})",
                if n == 1 { "" } else { "s" },
                summary(diagnostics)
            );
        }
    }
}

pub fn run(args: CheckArgs, color: bool) -> u8 {
    match projects_among(&args) {
        Some(units) => run_units(&args, units, color),
        None => run_checked(&args, color).code,
    }
}

/// The files given, sorted into intents projects and policies checked on their own, when
/// one of them is part of a project and the command line is not the single compiled
/// policy that `run_checked` already checks as its project. A project's intents file,
/// base policy and compiled policy each stand for the project, so that a pre-commit hook
/// passing the files a commit touches checks each project once, the proof included.
fn projects_among(args: &CheckArgs) -> Option<Units> {
    if args.intents.is_some() || args.files.iter().any(|f| f.as_os_str() == "-") {
        return None;
    }
    let mut units = Units::default();
    let mut bases = Bases::default();
    // Whether the one file given is a project's compiled policy, which `run_checked`
    // checks as the project itself.
    let mut compiled_alone = args.files.len() == 1;
    for file in &args.files {
        let intents = if file.extension().is_some_and(|e| e == "json5")
            && crate::intents::is_intents_file(file, &std::fs::read(file).unwrap_or_default())
        {
            compiled_alone = false;
            Some(file.clone())
        } else if file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            // Kubernetes manifests: a project's own stand for the project (its check
            // compares them with the intents); other YAML is no policy and is skipped.
            compiled_alone = false;
            match bases.manifests_of(file) {
                Some(intents) => Some(intents),
                None => {
                    units.skipped.push(file.clone());
                    continue;
                }
            }
        } else if let Ok(Some(names)) = super::remote::compiled_by(file) {
            Some(names.intents)
        } else {
            compiled_alone = false;
            bases.project_of(file)
        };
        match intents {
            Some(intents) => {
                let key = std::fs::canonicalize(&intents).unwrap_or_else(|_| intents.clone());
                if !units.projects.iter().any(|(k, _)| *k == key) {
                    units.projects.push((key, intents));
                }
            }
            None => units.policies.push(file.clone()),
        }
    }
    ((!units.projects.is_empty() && !compiled_alone) || !units.skipped.is_empty()).then_some(units)
}

#[derive(Default)]
struct Units {
    /// Each project's intents file, keyed by its canonical path.
    projects: Vec<(PathBuf, PathBuf)>,
    policies: Vec<PathBuf>,
    /// YAML that is no intents project's manifest (pre-commit passes every YAML file).
    skipped: Vec<PathBuf>,
}

/// The intents projects looked at so far (each loaded once): their base policy and the
/// manifests they name, by canonical path.
#[derive(Default)]
struct Bases {
    seen: Vec<(PathBuf, ProjectFiles)>,
}

#[derive(Clone, Default)]
struct ProjectFiles {
    base: Option<PathBuf>,
    manifests: Option<PathBuf>,
}

impl Bases {
    /// The intents project whose base policy `file` is.
    fn project_of(&mut self, file: &std::path::Path) -> Option<PathBuf> {
        self.find(file, |canonical, files| {
            files.base.as_deref() == Some(canonical)
        })
    }

    /// The intents project whose `k8s.manifests` is `file` or a directory holding it.
    fn manifests_of(&mut self, file: &std::path::Path) -> Option<PathBuf> {
        self.find(file, |canonical, files| {
            files
                .manifests
                .as_ref()
                .is_some_and(|m| canonical.starts_with(m))
        })
    }

    /// The first intents project (found as `check` finds one: from the file's directory,
    /// then from the current directory, upward) whose files `belongs` says hold `file`.
    fn find(
        &mut self,
        file: &std::path::Path,
        belongs: impl Fn(&std::path::Path, &ProjectFiles) -> bool,
    ) -> Option<PathBuf> {
        let canonical = std::fs::canonicalize(file).ok()?;
        let mut candidates: Vec<PathBuf> = crate::intents::find(canonical.parent()?)
            .into_iter()
            .collect();
        candidates.extend(
            std::env::current_dir()
                .ok()
                .and_then(|d| crate::intents::find(&d)),
        );
        for intents in candidates {
            let files = match self.seen.iter().find(|(i, _)| *i == intents) {
                Some((_, files)) => files.clone(),
                None => {
                    let files = crate::intents::project::load(&intents)
                        .map(|project| ProjectFiles {
                            base: project.base_file.and_then(|id| {
                                std::fs::canonicalize(&project.sources.get(id).path).ok()
                            }),
                            manifests: project
                                .manifests_path()
                                .and_then(|path| std::fs::canonicalize(path).ok()),
                        })
                        .unwrap_or_default();
                    self.seen.push((intents.clone(), files.clone()));
                    files
                }
            };
            if belongs(&canonical, &files) {
                return Some(intents);
            }
        }
        None
    }
}

/// Each project, then the other policies together; the exit code is the worst.
fn run_units(args: &CheckArgs, units: Units, color: bool) -> u8 {
    let count = units.projects.len() + usize::from(!units.policies.is_empty());
    if count > 1 && matches!(args.format, CheckFormat::Json | CheckFormat::Sarif) {
        error_line(
            "these files are more than one intents project or policy, and json and sarif print one document: check them one at a time",
        );
        return EXIT_USAGE;
    }
    let cli = match command_line_layer(args) {
        Ok(layer) => layer,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    if !units.skipped.is_empty() {
        let names: Vec<String> = units
            .skipped
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        eprintln!(
            "tsacl: skipped {} (YAML that is no intents project's `k8s.manifests`)",
            names.join(", ")
        );
    }
    let mut code = EXIT_CLEAN;
    for (_, intents) in &units.projects {
        code = code.max(check_intents(intents, args, cli.clone(), color).code);
    }
    if !units.policies.is_empty() {
        let rest = CheckArgs {
            files: units.policies,
            ..args.clone()
        };
        code = code.max(run_checked(&rest, color).code);
    }
    code
}

/// `tsacl check`, returning what was checked as well as the exit code.
pub(super) fn run_checked(args: &CheckArgs, color: bool) -> Outcome {
    let usage = Outcome {
        code: EXIT_USAGE,
        policies: Vec::new(),
    };
    let cli = match command_line_layer(args) {
        Ok(layer) => layer,
        Err(e) => {
            error_line(e);
            return usage;
        }
    };
    if args.files.is_empty() {
        let found = args.intents.clone().or_else(|| {
            std::env::current_dir()
                .ok()
                .and_then(|d| crate::intents::find(&d))
        });
        let Some(path) = found else {
            error_line(
                "no policy file given and no policies/tailnet.json5 here or in a parent directory; usage: tsacl check [FILE...]",
            );
            return usage;
        };
        return check_intents(&path, args, cli, color);
    }
    // The compiled policy of an intents project is checked as the project, so that
    // naming the file never skips the proof (push treats it the same way).
    if let [file] = args.files.as_slice()
        && file.as_os_str() != "-"
        && args.intents.is_none()
        && let Ok(Some(project)) = super::remote::compiled_by(file)
    {
        eprintln!(
            "tsacl: {} is compiled from {}: checking the project, the intents proof included",
            file.display(),
            project.intents_shown
        );
        return check_intents(&project.intents, args, cli, color);
    }
    let Some(options) = options(args) else {
        return usage;
    };
    let mut sources = SourceMap::default();
    let mut files = Vec::new();
    let mut unreadable = false;
    let mut policies = Vec::new();
    for path in &args.files {
        let (name, bytes) = if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                error_line(format!("cannot read standard input: {e}"));
                unreadable = true;
                continue;
            }
            if let Err(why) = crate::fsutil::check_text(&buf) {
                error_line(format!("cannot read standard input: {why}"));
                unreadable = true;
                continue;
            }
            ("<stdin>".to_string(), buf)
        } else {
            match crate::fsutil::read_text_file(path) {
                Ok(bytes) => (path.display().to_string(), bytes),
                Err(e) => {
                    error_line(e);
                    unreadable = true;
                    continue;
                }
            }
        };
        policies.push((path.clone(), name.clone(), bytes.clone()));
        files.push(sources.add(SourceFile::new(path.clone(), name, bytes)));
    }
    let diagnostics = check_files(&sources, &files, &options, &cli, Depth::Full);
    report(&sources, &files, &diagnostics, args.format, color, None);
    Outcome {
        code: if unreadable {
            EXIT_USAGE
        } else {
            findings_code(&diagnostics, args)
        },
        policies,
    }
}
