//! TSA219: an `ssh` rule whose sources have no network access to port 22 on its
//! destinations. Tailscale SSH needs both: the `ssh` rule says who may log in, an ACL or
//! grant must let the connection reach TCP port 22. The computation is the engine's
//! ([`crate::engine::ssh_access::gaps`]); this only words it.

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::engine::ssh_access::{Gap, gaps};
use crate::model::Policy;
use crate::rules::Code;

/// Pairs a finding lists before it counts the rest.
const SHOWN_PAIRS: usize = 6;

pub fn ssh_without_network_access(
    policy: &Policy,
    inventory: Option<&Inventory>,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    for gap in gaps(policy, inventory) {
        diags.push(diagnostic(policy, &gap, file));
    }
}

fn diagnostic(policy: &Policy, gap: &Gap, file: FileId) -> Diagnostic {
    let rule = &policy.ssh[gap.rule];
    let mut listed: Vec<String> = gap
        .pairs
        .iter()
        .take(SHOWN_PAIRS)
        .map(|p| format!("{} → {}", p.from, p.to))
        .collect();
    if gap.pairs.len() > SHOWN_PAIRS {
        listed.push(format!("and {} more", gap.pairs.len() - SHOWN_PAIRS));
    }
    let message = if gap.all {
        format!(
            "SSH rule ssh[{}] cannot be used: no acl or grant lets its sources reach its destinations on tcp port 22 ({})",
            gap.rule,
            listed.join(", ")
        )
    } else {
        format!(
            "SSH rule ssh[{}] lacks network access to tcp port 22 for {}",
            gap.rule,
            listed.join(", ")
        )
    };
    let span = rule.dst.first().map_or(rule.span, |d| d.span);
    let src: Vec<&str> = rule.src.iter().map(|s| s.raw.trim()).collect();
    let dst: Vec<&str> = rule.dst.iter().map(|s| s.raw.trim()).collect();
    let mut d = Diagnostic::new(
        Code::SshWithoutNetworkAccess,
        Location { file, span },
        message,
    );
    d.primary_label = Some("Tailscale SSH connects to port 22 here".into());
    d.help = Some(if src.len() + dst.len() <= SHOWN_PAIRS {
        format!(
            "Tailscale SSH also needs network access: add a grant {{\"src\": [{}], \"dst\": [{}], \"ip\": [\"tcp:22\"]}} (or an acl to these destinations on port 22)",
            quoted(&src),
            quoted(&dst)
        )
    } else {
        "Tailscale SSH also needs network access: add a grant from the rule's sources to its destinations with \"ip\": [\"tcp:22\"] (or an acl to them on port 22)".to_string()
    });
    d
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(text: &str) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        ssh_without_network_access(&crate::model::from_text(text), None, FileId(0), &mut d);
        d
    }

    #[test]
    fn names_ssh_port_22_and_the_pairs() {
        let d = findings(
            r#"{"groups": {"group:admins": ["joel@example.com"]}, "tagOwners": {"tag:panda": [], "tag:redis": []},
            "grants": [{"src": ["tag:panda"], "dst": ["tag:redis"], "ip": ["tcp:6379"]}],
            "ssh": [{"action": "check", "src": ["group:admins"], "dst": ["tag:panda"], "users": ["root"]}]}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::SshWithoutNetworkAccess);
        assert!(d[0].message.contains("SSH"), "{}", d[0].message);
        assert!(d[0].message.contains("port 22"), "{}", d[0].message);
        assert!(
            d[0].message.contains("joel@example.com → tag:panda"),
            "{}",
            d[0].message
        );
        assert!(d[0].help.as_deref().unwrap().contains("tcp:22"));
    }

    #[test]
    fn quiet_when_a_rule_opens_port_22() {
        let d = findings(
            r#"{"groups": {"group:admins": ["joel@example.com"]}, "tagOwners": {"tag:panda": []},
            "grants": [{"src": ["group:admins"], "dst": ["tag:panda"], "ip": ["tcp:22"]}],
            "ssh": [{"action": "check", "src": ["group:admins"], "dst": ["tag:panda"], "users": ["root"]}]}"#,
        );
        assert!(d.is_empty());
    }
}
