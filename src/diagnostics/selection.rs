//! Which findings to report and at which severity: `select`, `ignore` and per-code
//! severity overrides, from the intents file's `lint` section and from the command line.
//!
//! A pattern is a code (`TSA210`, any case), a rule name (`allow-all`) or a code prefix
//! (`TSA2`). Layers apply in order, the later one winning (the intents file, then the
//! command line). Within a layer, `select` (when given) keeps only what it matches and
//! `ignore` drops; a severity override sets the severity, or with `off` drops the code,
//! the most specific pattern winning (a code or name over a prefix, a longer prefix over a
//! shorter one; on a tie, the one written last). A later layer can bring back what an
//! earlier one dropped by naming it in `select` (a code or name, not a prefix) or by giving
//! it a severity.

use super::Diagnostic;
use crate::rules::{Code, RULES, Severity};

/// What a severity override sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Drop the finding (`off`, `ignore`).
    Off,
    At(Severity),
}

impl Level {
    /// `error`, `warning` (or `warn`), `info`, `off` (or `ignore`), in any case.
    pub fn parse(text: &str) -> Result<Level, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "error" => Level::At(Severity::Error),
            "warning" | "warn" => Level::At(Severity::Warning),
            "info" => Level::At(Severity::Info),
            "off" | "ignore" => Level::Off,
            _ => {
                return Err(format!(
                    "unknown severity {text:?}; use error, warning, info or off"
                ));
            }
        })
    }
}

/// One source of settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layer {
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub severity: Vec<(String, Level)>,
}

impl Layer {
    pub fn is_empty(&self) -> bool {
        self.select.is_empty() && self.ignore.is_empty() && self.severity.is_empty()
    }
}

/// How specifically `pattern` names `code`: `None` when it does not match at all; a code
/// or a rule name beats any prefix, and a longer prefix a shorter one.
fn specificity(pattern: &str, code: Code) -> Option<usize> {
    let rule = code.rule();
    let p = pattern.trim();
    if rule.id.eq_ignore_ascii_case(p) || rule.name == p {
        Some(usize::MAX)
    } else if !p.is_empty()
        && rule
            .id
            .to_ascii_uppercase()
            .starts_with(&p.to_ascii_uppercase())
    {
        Some(p.len())
    } else {
        None
    }
}

/// Does a pattern match this code?
pub fn matches(pattern: &str, code: Code) -> bool {
    specificity(pattern, code).is_some()
}

/// `Ok` when the pattern names at least one rule; else the reason, with a suggestion.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if RULES.iter().any(|r| matches(pattern, r.code)) {
        return Ok(());
    }
    let names = RULES.iter().flat_map(|r| [r.id, r.name]);
    let hint = crate::suggest::did_you_mean(pattern, names)
        .map(|s| format!("; did you mean {s}?"))
        .unwrap_or_default();
    Err(format!(
        "unknown rule {pattern:?}{hint} (`tsacl rule --all` lists them)"
    ))
}

/// `CODE=LEVEL`, as `--severity` takes it.
pub fn parse_override(text: &str) -> Result<(String, Level), String> {
    let Some((pattern, level)) = text.split_once('=') else {
        return Err(format!(
            "--severity {text:?}: expected CODE=LEVEL, e.g. TSA210=error or unused-group=off"
        ));
    };
    let pattern = pattern.trim();
    check_pattern(pattern).map_err(|e| format!("--severity {text:?}: {e}"))?;
    let level = Level::parse(level).map_err(|e| format!("--severity {text:?}: {e}"))?;
    Ok((pattern.to_string(), level))
}

/// Layers, lowest precedence first.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub layers: Vec<Layer>,
}

impl Selection {
    /// The severity findings of `code` are reported at, or `None` to drop them.
    pub fn resolve(&self, code: Code) -> Option<Severity> {
        let mut enabled = true;
        let mut severity = code.rule().severity;
        for layer in &self.layers {
            let best = layer
                .severity
                .iter()
                .filter_map(|(p, level)| specificity(p, code).map(|s| (s, *level)))
                .fold(
                    None,
                    |best: Option<(usize, Level)>, (s, level)| match best {
                        Some((b, _)) if b > s => best,
                        _ => Some((s, level)),
                    },
                );
            match best {
                Some((_, Level::Off)) => enabled = false,
                Some((_, Level::At(s))) => {
                    severity = s;
                    enabled = true;
                }
                None => {}
            }
            if !layer.select.is_empty() {
                let named = layer
                    .select
                    .iter()
                    .any(|p| specificity(p, code) == Some(usize::MAX));
                if named {
                    // Naming a code brings it back, unless this layer turns it off.
                    enabled = !matches!(best, Some((_, Level::Off)));
                } else if !layer.select.iter().any(|p| matches(p, code)) {
                    enabled = false;
                }
            }
            if layer.ignore.iter().any(|p| matches(p, code)) {
                enabled = false;
            }
        }
        enabled.then_some(severity)
    }

    /// Drop what is not selected and set every finding's effective severity.
    pub fn apply(&self, diags: &mut Vec<Diagnostic>) {
        if self.layers.iter().all(Layer::is_empty) {
            return;
        }
        diags.retain_mut(|d| match self.resolve(d.code) {
            Some(s) => {
                d.severity = s;
                true
            }
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(select: &[&str], ignore: &[&str], severity: &[(&str, &str)]) -> Layer {
        Layer {
            select: select.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            severity: severity
                .iter()
                .map(|(p, l)| (p.to_string(), Level::parse(l).unwrap()))
                .collect(),
        }
    }

    fn resolve(layers: Vec<Layer>, code: Code) -> Option<Severity> {
        Selection { layers }.resolve(code)
    }

    #[test]
    fn levels_and_patterns() {
        assert_eq!(Level::parse("ERROR"), Ok(Level::At(Severity::Error)));
        assert_eq!(Level::parse("warn"), Ok(Level::At(Severity::Warning)));
        assert_eq!(Level::parse("ignore"), Ok(Level::Off));
        assert!(Level::parse("fatal").is_err());
        assert!(check_pattern("allow-all").is_ok());
        assert!(check_pattern("tsa2").is_ok());
        let e = check_pattern("alow-all").unwrap_err();
        assert!(e.contains("did you mean allow-all?"), "{e}");
        assert_eq!(
            parse_override("TSA210=error"),
            Ok(("TSA210".into(), Level::At(Severity::Error)))
        );
        assert!(parse_override("TSA210").is_err());
        assert!(parse_override("TSA999=error").is_err());
        assert!(parse_override("TSA210=loud").is_err());
    }

    #[test]
    fn resolution() {
        use Code::*;
        // Defaults.
        assert_eq!(resolve(vec![], AllowAll), Some(Severity::Warning));
        // A code beats a prefix, whatever the order; a longer prefix a shorter one.
        let l = layer(&[], &[], &[("TSA210", "error"), ("TSA2", "info")]);
        assert_eq!(resolve(vec![l.clone()], AllowAll), Some(Severity::Error));
        assert_eq!(resolve(vec![l], UnusedGroup), Some(Severity::Info));
        let l = layer(&[], &[], &[("TSA21", "error"), ("TSA2", "off")]);
        assert_eq!(resolve(vec![l.clone()], AllowAll), Some(Severity::Error));
        assert_eq!(resolve(vec![l], UnusedGroup), None);
        // Off, select and ignore.
        assert_eq!(
            resolve(
                vec![layer(&[], &[], &[("unused-group", "off")])],
                UnusedGroup
            ),
            None
        );
        assert_eq!(resolve(vec![layer(&["TSA1"], &[], &[])], UnusedGroup), None);
        assert_eq!(
            resolve(vec![layer(&["TSA2"], &["TSA200"], &[])], UnusedGroup),
            None
        );
        assert_eq!(
            resolve(
                vec![layer(&["TSA2"], &[], &[("TSA200", "error")])],
                UnusedGroup
            ),
            Some(Severity::Error)
        );
        // The command line (the later layer) wins over the file.
        let file = layer(&[], &["TSA200"], &[("TSA210", "error")]);
        assert_eq!(
            resolve(
                vec![file.clone(), layer(&[], &[], &[("TSA210", "warning")])],
                AllowAll
            ),
            Some(Severity::Warning)
        );
        assert_eq!(
            resolve(
                vec![file.clone(), layer(&[], &[], &[("TSA200", "error")])],
                UnusedGroup
            ),
            Some(Severity::Error)
        );
        assert_eq!(
            resolve(
                vec![file.clone(), layer(&["TSA200"], &[], &[])],
                UnusedGroup
            ),
            Some(Severity::Warning)
        );
        // A prefix only filters: it does not bring back what the file ignores.
        assert_eq!(
            resolve(vec![file.clone(), layer(&["TSA2"], &[], &[])], UnusedGroup),
            None
        );
        // A file override survives a command line that does not touch it.
        assert_eq!(
            resolve(vec![file, layer(&[], &["TSA201"], &[])], AllowAll),
            Some(Severity::Error)
        );
    }
}
