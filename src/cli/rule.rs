//! `tsacl rule CODE` and `tsacl rule --all`.

use super::{EXIT_CLEAN, EXIT_USAGE, OutputFormat, error_line};
use crate::rules::{RULES, Rule, find};
use clap::Args;

#[derive(Args, Debug)]
pub struct RuleArgs {
    /// A code (TSA001) or name (hujson-syntax)
    #[arg(value_name = "CODE", required_unless_present = "all")]
    pub code: Option<String>,

    /// List every rule
    #[arg(long, conflicts_with = "code")]
    pub all: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(serde::Serialize)]
struct JsonRule {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    summary: &'static str,
    explanation: &'static str,
    /// Why a default-`error` rule is one (absent for the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
}

fn json(rule: &Rule) -> JsonRule {
    JsonRule {
        code: rule.id,
        name: rule.name,
        severity: rule.severity.as_str(),
        summary: rule.summary,
        explanation: rule.explanation,
        evidence: rule.evidence.map(|e| e.describe()),
    }
}

pub fn run(args: RuleArgs) -> u8 {
    let rules: Vec<&Rule> = if args.all {
        RULES.iter().collect()
    } else {
        let query = args.code.as_deref().unwrap_or_default();
        match find(query) {
            Some(rule) => vec![rule],
            None => {
                let names = RULES.iter().flat_map(|r| [r.id, r.name]);
                let hint = crate::suggest::did_you_mean(query, names)
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                error_line(format!(
                    "unknown rule {query:?}{hint} (`tsacl rule --all` lists them)"
                ));
                return EXIT_USAGE;
            }
        }
    };
    match args.format {
        OutputFormat::Json => {
            let list: Vec<JsonRule> = rules.iter().map(|r| json(r)).collect();
            let value = if args.all {
                serde_json::to_string_pretty(&list)
            } else {
                serde_json::to_string_pretty(&list[0])
            };
            println!("{}", value.expect("serializable"));
        }
        OutputFormat::Text if args.all => {
            for r in rules {
                println!(
                    "{}  {:<28} {:<8} {}",
                    r.id,
                    r.name,
                    r.severity.as_str(),
                    r.summary
                );
            }
        }
        OutputFormat::Text => {
            let r = rules[0];
            println!(
                "{} ({}): {}\nDefault severity: {}\n\n{}",
                r.id,
                r.name,
                r.summary,
                r.severity.as_str(),
                r.explanation
            );
            if let Some(evidence) = r.evidence {
                println!("\nWhy an error: {}", evidence.describe());
            }
        }
    }
    EXIT_CLEAN
}
