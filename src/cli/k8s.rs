//! `tsacl k8s` and `tsacl k8s --check PATH`.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line, terminal_width};
use crate::diagnostics::render::{TextStyle, render_text, summary};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct K8sArgs {
    /// The intents file (default: policies/tailnet.json5, found from the current directory upward)
    #[arg(long, value_name = "FILE")]
    pub intents: Option<PathBuf>,

    /// Compare manifests with the intents: a YAML file (multi-document), or every
    /// *.yaml/*.yml under a directory (default: the intents' `k8s: { manifests }`, which
    /// `tsacl check` also compares). Services: host name, tags, ports and protocols;
    /// Ingresses: Funnel only where the intents say funnel: "ingress"
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub check: Option<Option<PathBuf>>,
}

pub fn run(args: K8sArgs, color: bool) -> u8 {
    let mut project = match super::load_intents(&args.intents, color, "") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let named = project.manifests_path();
    let Some(given) = args.check else {
        // The namespace each Service uses in the manifests, where the intent does not say.
        let namespaces = named
            .as_deref()
            .and_then(|p| crate::intents::k8s::manifest_namespaces(&project.intents, p).ok())
            .unwrap_or_default();
        print!(
            "{}",
            crate::intents::k8s::annotations_in(&project.intents, &namespaces)
        );
        return EXIT_CLEAN;
    };
    let Some(path) = given.or(named) else {
        error_line(
            "--check needs a PATH: the intents do not name their manifests (k8s: { manifests: \"k8s/\" })",
        );
        return EXIT_USAGE;
    };
    let policy =
        crate::check::check_policy(&project.sources, project.output_file, &Default::default())
            .policy;
    let mut diags = Vec::new();
    let count = match crate::intents::k8s::check(
        &project.intents,
        policy.as_ref(),
        project.intents_file,
        &path,
        &mut project.sources,
        &mut diags,
    ) {
        Ok(n) => n,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    crate::check::sort(&mut diags);
    eprint!(
        "{}",
        render_text(
            &project.sources,
            &diags,
            TextStyle {
                color,
                width: terminal_width()
            }
        )
    );
    eprintln!(
        "tsacl: {count} exposed Service{}: {}",
        if count == 1 { "" } else { "s" },
        summary(&diags)
    );
    if diags.iter().any(|d| d.is_error()) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}
