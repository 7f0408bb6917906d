//! Named definitions: `tagOwners`, `groups`, `hosts`, `ipsets`, `postures`.

use super::selectors::Position;
use super::{Validator, check_tag_name};
use crate::model::{Prefix, Selector, Spanned};
use crate::rules::Code;
use crate::suggest::did_you_mean;
use std::collections::HashMap;

impl Validator<'_> {
    pub(super) fn definitions(&mut self) {
        let policy = self.policy;
        for owner in &policy.tag_owners {
            let tag = &owner.tag.value;
            if let Err(why) = check_tag_name(tag) {
                let d = self.report(
                    Code::InvalidTagName,
                    owner.tag.span,
                    format!("tagOwners[{tag:?}]: {why}"),
                );
                d.help = Some(
                    "tags are tag: followed by an ASCII letter, then letters, digits or dashes"
                        .into(),
                );
            }
            for o in &owner.owners {
                self.check_selector(o, Position::TagOwner);
            }
        }
        for group in &policy.groups {
            self.group(group);
        }
        for host in &policy.hosts {
            let name = &host.name.value;
            if name.contains('@') {
                let d = self.report(
                    Code::InvalidHost,
                    host.name.span,
                    format!("host names cannot include an @, please change the name for {name:?}"),
                );
                d.help = Some("an @ makes the name read as a user".into());
            } else if name.contains(':') || name.trim() != name || name.is_empty() {
                self.report(
                    Code::InvalidHost,
                    host.name.span,
                    format!("invalid host name {name:?}"),
                )
                .help = Some("host alias names cannot contain ':' or surrounding spaces".into());
            }
            if host.prefix.is_none() {
                let dns = self.dns_name_hint(&host.value.value);
                let d = self.report(
                    Code::InvalidHost,
                    host.value.span,
                    format!(
                        "hosts[{name:?}]: {:?} is not an IP address or CIDR",
                        host.value.value
                    ),
                );
                d.help = Some("a host alias names one IP address or CIDR, e.g. \"100.64.0.10\" or \"10.0.0.0/8\"".into());
                if let Some(hint) = dns {
                    d.help = Some(format!(
                        "{:?} looks like a DNS name, but policies never resolve names: a host alias names one IP address or CIDR{hint}",
                        host.value.value.trim()
                    ));
                }
            }
        }
        self.ipsets();
        for posture in &policy.postures {
            if !posture.name.value.starts_with("posture:") {
                self.report(
                    Code::InvalidPosture,
                    posture.name.span,
                    format!(
                        "posture names must start with 'posture:', got {:?}",
                        posture.name.value
                    ),
                );
            }
            for condition in &posture.conditions {
                if let Err(why) = check_posture_condition(&condition.value) {
                    let d = self.report(
                        Code::InvalidPosture,
                        condition.span,
                        format!(
                            "postures[{:?}]: {:?}: {why}",
                            posture.name.value, condition.value
                        ),
                    );
                    d.help = Some("conditions look like node:os IN ['macos', 'windows'] or node:tsVersion >= '1.60'".into());
                }
            }
        }
        for p in &policy.default_src_posture {
            self.check_posture_reference(p);
        }
    }

    fn group(&mut self, group: &crate::model::GroupDef) {
        let name = &group.name.value;
        if is_template_placeholder(name) {
            let d = self.report(
                Code::InvalidGroup,
                group.name.span,
                format!("group name {name:?} is a template placeholder: the generator that fills it in has not run"),
            );
            d.help = Some(
                "check the generated file, or let this run pass with --severity TSA014=info (or a `// tsacl-ignore: TSA014 template` comment)"
                    .into(),
            );
        } else if !name.starts_with("group:") || name.len() == "group:".len() {
            let d = self.report(
                Code::InvalidGroup,
                group.name.span,
                format!("group must start with 'group:', got: {name:?}"),
            );
            d.help = Some(format!(
                "rename it to \"group:{}\"",
                name.trim_start_matches("group:")
            ));
        }
        for member in &group.members {
            let text = member.value.trim();
            if is_template_placeholder(text) {
                let d = self.report(
                    Code::InvalidGroup,
                    member.span,
                    format!(
                        "groups[{name:?}]: {text:?} is a template placeholder, not a user: the generator that fills it in has not run"
                    ),
                );
                d.help = Some(
                    "check the generated file, or let this run pass with --severity TSA014=info (or a `// tsacl-ignore: TSA014 template` comment)"
                        .into(),
                );
                continue;
            }
            match Selector::parse(text) {
                Ok(Selector::Group(inner)) => {
                    let d = self.report(
                        Code::RecursiveGroup,
                        member.span,
                        format!("groups[{name:?}]: {inner:?}: group members cannot be recursive"),
                    );
                    d.help = Some(format!("list the users of {inner} in {name} instead"));
                }
                Ok(Selector::User(_)) => {}
                // A bare word reads as a host alias only if `hosts` defines it: otherwise
                // it is a login without its domain (headscale's plain user names).
                Ok(Selector::Host(h)) if !self.hosts.contains(h.as_str()) => {
                    let d = self.report(
                        Code::InvalidGroup,
                        member.span,
                        format!(
                            "groups[{name:?}]: {text:?}: group members must be users, and a login name has an @"
                        ),
                    );
                    d.help = Some(
                        "write the whole login name, such as alice@example.com or alice@github"
                            .into(),
                    );
                }
                Ok(other) => {
                    let d = self.report(
                        Code::InvalidGroup,
                        member.span,
                        format!(
                            "groups[{name:?}]: {text:?}: group members must be users, not {}",
                            other.kind_with_article()
                        ),
                    );
                    d.help = Some("groups hold login names such as alice@example.com".into());
                }
                Err(_) => {
                    self.report(
                        Code::InvalidGroup,
                        member.span,
                        format!("groups[{name:?}]: {text:?}: group members must be users"),
                    )
                    .help = Some("groups hold login names such as alice@example.com".into());
                }
            }
        }
    }

    pub(super) fn check_posture_reference(&mut self, p: &Spanned<String>) {
        let name = p.value.trim();
        if self.postures.contains(name) {
            return;
        }
        let suggestion = did_you_mean(name, self.postures.iter().copied());
        let d = self.report(
            Code::UndefinedPosture,
            p.span,
            format!("posture not found: {name:?}"),
        );
        d.help = Some(match suggestion {
            Some(s) => format!("did you mean {s:?}?"),
            None => "define it in \"postures\"".into(),
        });
    }

    fn ipsets(&mut self) {
        let policy = self.policy;
        let mut refs: HashMap<&str, Vec<&str>> = HashMap::new();
        for set in &policy.ipsets {
            let name = set.name.value.as_str();
            if !name.starts_with("ipset:") || name.len() == "ipset:".len() {
                self.report(
                    Code::InvalidIpSet,
                    set.name.span,
                    format!("ipset names must start with 'ipset:', got {name:?}"),
                );
            }
            let has_remove = set
                .ops
                .iter()
                .any(|op| op.value.trim_start().starts_with("remove "));
            for op in &set.ops {
                let text = op.value.trim();
                let (verb, target) = match text.split_once(' ') {
                    Some(("add", t)) => ("add", t.trim()),
                    Some(("remove", t)) => ("remove", t.trim()),
                    _ => ("", text),
                };
                if verb.is_empty() && has_remove {
                    self.report(
                        Code::InvalidIpSet,
                        op.span,
                        format!("ipsets[{name:?}]: {text:?}: write \"add {text}\": the bare form is only allowed when the set removes nothing"),
                    );
                }
                let problem = if let Some(host) = target.strip_prefix("host:") {
                    (!self.hosts.contains(host)).then(|| format!("host not found: {host:?}"))
                } else if target.starts_with("ipset:") {
                    refs.entry(name).or_default().push(target);
                    (!self.ipsets.contains(target)).then(|| format!("ipset not found: {target:?}"))
                } else {
                    match Selector::parse(target) {
                        Ok(Selector::Prefix(_) | Selector::Range(..)) => None,
                        Ok(Selector::Autogroup(crate::model::Autogroup::Internet)) => None,
                        _ => Some(format!(
                            "{target:?} is not an IP, CIDR, range, host:<alias>, ipset:<name> or autogroup:internet"
                        )),
                    }
                };
                if let Some(problem) = problem {
                    let d = self.report(
                        Code::InvalidIpSet,
                        op.span,
                        format!("ipsets[{name:?}]: {problem}"),
                    );
                    d.help =
                        Some("ipset operations are \"add <target>\" or \"remove <target>\"".into());
                }
            }
        }
        // Cycles: depth-first search over ipset references.
        for set in &policy.ipsets {
            let start = set.name.value.as_str();
            let mut stack = vec![start];
            let mut seen = std::collections::HashSet::new();
            let mut cyclic = false;
            while let Some(n) = stack.pop() {
                for next in refs.get(n).into_iter().flatten() {
                    if *next == start {
                        cyclic = true;
                    } else if seen.insert(*next) {
                        stack.push(next);
                    }
                }
            }
            if cyclic {
                self.report(
                    Code::InvalidIpSet,
                    set.name.span,
                    format!("ipsets[{start:?}]: circular reference"),
                )
                .help =
                    Some("an ipset cannot contain itself, directly or through other ipsets".into());
            }
        }
        let _ = Prefix::parse;
    }
}

/// `<attr> <op> <value>`, or a bare boolean attribute (cut as evaluation cuts it,
/// [`crate::engine::posture::split`]).
pub fn check_posture_condition(condition: &str) -> Result<(), String> {
    use crate::engine::posture::{Op, split};
    let (attr, op, value) = split(condition);
    match attr.split_once(':') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {}
        _ => {
            return Err(format!(
                "attribute {attr:?} must be namespace:name, e.g. node:os"
            ));
        }
    }
    let op = match op {
        None => {
            return Err(format!(
                "unknown operator in {value:?}; use ==, !=, IN, NOT IN, <, <=, >, >="
            ));
        }
        Some(Op::Bare | Op::IsSet | Op::NotSet) => return Ok(()),
        Some(op) => op,
    };
    if value.is_empty() {
        return Err(format!("{} needs a value", op.text()));
    }
    if matches!(op, Op::In | Op::NotIn) {
        if !(value.starts_with('[') && value.ends_with(']')) {
            return Err(format!("{} takes a list such as ['a', 'b']", op.text()));
        }
        return Ok(());
    }
    if value.starts_with('\'') != value.ends_with('\'') || value == "'" {
        return Err(format!("unterminated string {value}"));
    }
    Ok(())
}

/// `${VAR}` (or `${var.name}`, `${{ secrets.X }}`): a value a template engine (envsubst,
/// Terraform, a CI step) replaces before the file is used.
fn is_template_placeholder(text: &str) -> bool {
    text.find("${")
        .is_some_and(|start| text[start..].contains('}'))
}

#[cfg(test)]
mod tests {
    use super::check_posture_condition as c;

    #[test]
    fn posture_conditions() {
        assert!(c("node:os IN ['macos', 'windows']").is_ok());
        assert!(c("node:tsVersion >= '1.40'").is_ok());
        assert!(c("node:tsAutoUpdate").is_ok());
        assert!(c("node:tsAutoUpdate == true").is_ok());
        assert!(c("custom:x NOT IN ['a']").is_ok());
        assert!(c("node:os = 'macos'").is_err());
        assert!(c("os == 'macos'").is_err());
        assert!(c("node:os IN 'macos'").is_err());
    }
}
