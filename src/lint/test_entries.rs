//! TSA217: accept and deny tests for one source written as separate entries
//! (tailscale#8250: the control plane may fail the accept entry of such a pair).

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::model::{Policy, Test};
use crate::rules::Code;
use std::collections::{HashMap, VecDeque};

/// What must be equal for two entries to be merged into one.
fn key(t: &Test) -> Option<(String, String, Option<serde_json::Value>)> {
    let src = t.src.as_ref()?.value.trim().to_string();
    let proto = t
        .proto
        .as_ref()
        .map(|p| p.value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let posture = t
        .src_posture_attrs
        .as_ref()
        .map(crate::engine::value_to_json);
    Some((src, proto, posture))
}

fn quoted(items: &[crate::model::Spanned<String>]) -> String {
    items
        .iter()
        .map(|d| serde_json::to_string(d.value.trim()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Entries of one group still waiting for a partner: accept-only, deny-only.
type Unpaired = (VecDeque<usize>, VecDeque<usize>);

pub fn split_accept_deny(policy: &Policy, file: FileId, diags: &mut Vec<Diagnostic>) {
    let at = |span| Location { file, span };
    let only_accept = |t: &Test| !t.accept.is_empty() && t.deny.is_empty();
    let only_deny = |t: &Test| t.accept.is_empty() && !t.deny.is_empty();
    // Entries are grouped by source (and proto, and posture); within a group each one is
    // paired with the earliest unpaired entry of the other kind before it. Each pair is
    // one finding. Linear in the number of tests.
    let mut pending: HashMap<(String, String, String), Unpaired> = HashMap::new();
    let mut pairs: Vec<(usize, usize, String)> = Vec::new();
    for (j, b) in policy.tests.iter().enumerate() {
        if !(only_accept(b) || only_deny(b)) {
            continue;
        }
        let Some((src, proto, posture)) = key(b) else {
            continue;
        };
        let posture = posture.map(|p| p.to_string()).unwrap_or_default();
        let (accepts, denies) = pending.entry((src.clone(), proto, posture)).or_default();
        let (mine, theirs) = if only_accept(b) {
            (accepts, denies)
        } else {
            (denies, accepts)
        };
        match theirs.pop_front() {
            Some(i) => pairs.push((i, j, src)),
            None => mine.push_back(j),
        }
    }
    pairs.sort_unstable();
    for (i, j, src) in pairs {
        let a = &policy.tests[i];
        let b = &policy.tests[j];
        let (acc, den) = if only_accept(a) { (a, b) } else { (b, a) };
        let proto = acc
            .proto
            .as_ref()
            .map(|p| {
                format!(
                    ", \"proto\": {}",
                    serde_json::to_string(p.value.trim()).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let merged = format!(
            "{{\"src\": {}{proto}, \"accept\": [{}], \"deny\": [{}]}}",
            serde_json::to_string(&src).unwrap_or_default(),
            quoted(&acc.accept),
            quoted(&den.deny)
        );
        let (first, second) = (
            if only_accept(a) { "accepts" } else { "denies" },
            if only_accept(b) { "accepts" } else { "denies" },
        );
        diags.push(
            Diagnostic::new(
                Code::SplitAcceptDenyTests,
                at(b.span),
                format!(
                    "the tests for {} are split: this entry only {second}, an earlier one only {first}; the control plane may fail such a pair (tailscale#8250)",
                    src
                ),
            )
            .with_label(at(a.span), format!("this entry only {first}"))
            .with_help(format!("merge them into one entry: {merged}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(tests: &str) -> Vec<Diagnostic> {
        let text = format!(r#"{{"tests": [{tests}]}}"#);
        let policy = crate::model::from_text(&text);
        let mut d = Vec::new();
        split_accept_deny(&policy, FileId(0), &mut d);
        d
    }

    #[test]
    fn split_tests_for_one_source_are_reported_with_the_merged_entry() {
        let d = found(
            r#"{"src": "tag:ci", "accept": ["tag:db:5432"]}, {"src": " tag:ci", "deny": ["tag:web:22", "tag:web:80"]}"#,
        );
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message.contains("tests for tag:ci are split"),
            "{}",
            d[0].message
        );
        assert_eq!(
            d[0].help.as_deref(),
            Some(
                r#"merge them into one entry: {"src": "tag:ci", "accept": ["tag:db:5432"], "deny": ["tag:web:22", "tag:web:80"]}"#
            )
        );
        // Deny first, then accept; and two pairs for one source are two findings.
        let d = found(
            r#"{"src": "a@example.com", "deny": ["1.2.3.4:1"]}, {"src": "a@example.com", "accept": ["1.2.3.4:2"]},
               {"src": "a@example.com", "deny": ["1.2.3.4:3"]}, {"src": "a@example.com", "accept": ["1.2.3.4:4"]}"#,
        );
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn near_misses_are_quiet() {
        // Different sources; one entry with both lists; two accept-only entries;
        // different protocols; different posture attributes.
        for tests in [
            r#"{"src": "tag:ci", "accept": ["tag:db:5432"]}, {"src": "tag:cd", "deny": ["tag:web:22"]}"#,
            r#"{"src": "tag:ci", "accept": ["tag:db:5432"], "deny": ["tag:web:22"]}, {"src": "tag:ci", "deny": ["tag:web:80"]}"#,
            r#"{"src": "tag:ci", "accept": ["tag:db:5432"]}, {"src": "tag:ci", "accept": ["tag:web:22"]}"#,
            r#"{"src": "tag:ci", "accept": ["tag:db:53"]}, {"src": "tag:ci", "proto": "udp", "deny": ["tag:db:53"]}"#,
            r#"{"src": "tag:ci", "srcPostureAttrs": {"node:os": "linux"}, "accept": ["tag:db:1"]}, {"src": "tag:ci", "srcPostureAttrs": {"node:os": "macos"}, "deny": ["tag:db:1"]}"#,
        ] {
            assert!(found(tests).is_empty(), "{tests}");
        }
    }
}
