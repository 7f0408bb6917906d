//! What `check` says about each test assertion of a policy, for the property tests of the
//! offline evaluation (`tests_eval_property.rs`, `tests_eval_addresses.rs`).

use std::collections::BTreeMap;
use tsacl::check::check_policy;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::Inventory;
use tsacl::rules::Code;
use tsacl::validate::Options;

/// Part of the message of a test from a group that holds for each of its members and fails
/// for a user of the group alone (`tests_eval`'s two readings of a group source): no
/// assignment of roles or placement of devices decides it, so the property tests leave
/// such assertions to `tests/offline_tests.rs`.
pub const GROUP_READING: &str = "appears to read a group";

/// The spans whose verdict, in any of `found`, is the two readings of a group source
/// disagreeing ([`GROUP_READING`]).
#[allow(dead_code)]
pub fn group_reading_spans<'a>(
    found: impl IntoIterator<Item = &'a BTreeMap<u32, (bool, String)>>,
) -> std::collections::BTreeSet<u32> {
    found
        .into_iter()
        .flat_map(|v| v.iter())
        .filter(|(_, (_, message))| message.contains(GROUP_READING))
        .map(|(span, _)| *span)
        .collect()
}

/// Each assertion's verdict, by the start of its span: `true` for an error, `false` for an
/// undecidable warning, with the message. `None` when the policy is invalid.
pub fn verdicts(text: &str, inventory: Option<Inventory>) -> Option<BTreeMap<u32, (bool, String)>> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("p", "p", text.as_bytes().to_vec()));
    let options = Options {
        inventory,
        tailnet_domains: None,
    };
    let diags = check_policy(&sources, id, &options).diagnostics;
    let mut out = BTreeMap::new();
    for d in &diags {
        match d.code {
            Code::TestFailed | Code::SshTestFailed => {
                out.insert(d.primary.span.start, (true, d.message.clone()));
            }
            Code::TestUndecidable => {
                // One finding per test: its undecided entries are its labels.
                let labels = d.labels.iter().filter(|l| l.message == "undecided");
                for span in std::iter::once(d.primary.span.start)
                    .chain(labels.map(|l| l.location.span.start))
                {
                    out.entry(span).or_insert((false, d.message.clone()));
                }
            }
            _ if d.is_error() => return None,
            _ => {}
        }
    }
    Some(out)
}
