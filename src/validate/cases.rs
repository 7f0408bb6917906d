//! Table-driven checks of validation: each policy snippet and the diagnostics it must
//! (or must not) produce. Messages are compared with the control plane's text where known.

use crate::check::check_policy;
use crate::diagnostics::{Diagnostic, SourceFile, SourceMap};
use crate::rules::Code;
use crate::validate::Options;

fn run(policy: &str, options: &Options) -> Vec<Diagnostic> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new(
        "p.hujson",
        "p.hujson",
        policy.as_bytes().to_vec(),
    ));
    check_policy(&sources, id, options).diagnostics
}

/// Errors of validation proper: whether a well-formed test passes is the engine's
/// business (tested in `engine::tests_eval`), so failing tests are left out here.
fn errors(policy: &str) -> Vec<(Code, String)> {
    run(policy, &Options::default())
        .into_iter()
        .filter(|d| d.is_error() && !matches!(d.code, Code::TestFailed | Code::SshTestFailed))
        .map(|d| (d.code, d.message))
        .collect()
}

/// Tags every snippet may use.
const TAGS: &str = r#""tagOwners": {"tag:server": [], "tag:exit": [], "tag:k8s": ["tag:k8s-operator"], "tag:k8s-operator": []}"#;

/// Every diagnostic of validation (any severity), with failing tests left out as in
/// [`errors`].
fn findings(policy: &str) -> Vec<(Code, crate::rules::Severity, String)> {
    run(policy, &Options::default())
        .into_iter()
        .filter(|d| !matches!(d.code, Code::TestFailed | Code::SshTestFailed))
        .map(|d| (d.code, d.severity, d.message))
        .collect()
}

/// `body` gets `code` with `message`, at the code's default severity: an error where the
/// control plane is known to reject it, else a warning (see `rules::Evidence`).
#[track_caller]
fn reports(body: &str, code: Code, message: &str) {
    let policy = format!("{{{TAGS}, {body}}}");
    let found = findings(&policy);
    assert!(
        found
            .iter()
            .any(|(c, sev, m)| *c == code && m.contains(message) && *sev == code.rule().severity),
        "expected {} {message:?} ({}) for {body}\ngot {found:?}",
        code.id(),
        code.rule().severity.as_str()
    );
}

#[track_caller]
fn accepts(body: &str) {
    let policy = format!("{{{TAGS}, {body}}}");
    let found = errors(&policy);
    assert!(
        found.is_empty(),
        "expected no errors for {body}\ngot {found:?}"
    );
}

#[test]
fn syntax_and_structure() {
    let e = errors("{\"acls\": [,]}");
    assert_eq!(e[0].0, Code::Syntax);
    assert!(e[0].1.starts_with("hujson: line 1, column 11: "), "{e:?}");
    assert_eq!(errors("[]")[0].0, Code::WrongType);
    reports(
        r#""acls": {}"#,
        Code::WrongType,
        "acls must be an array, not an object",
    );
    reports(
        r#""grants": [{"src": "*", "dst": ["*"], "ip": ["*"]}]"#,
        Code::WrongType,
        "src must be an array of strings",
    );
    reports(
        r#""hosts": {"a": "1.2.3.4", "a": "1.2.3.5"}"#,
        Code::DuplicateKey,
        "duplicate key \"a\"",
    );
    reports(
        r#""acls": [], "ACLs": []"#,
        Code::DuplicateKey,
        "both set \"acls\"",
    );
}

#[test]
fn unknown_and_legacy_keys_are_warnings() {
    let d = run(
        r#"{"nodeVisibility": {}, "bogus": 1, "ACLs": [{"action": "accept", "users": ["*"], "ports": ["*:*"]}]}"#,
        &Options::default(),
    );
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    assert!(
        d.iter()
            .any(|d| d.code == Code::UnknownField && d.message.contains("bogus"))
    );
    assert_eq!(
        d.iter().filter(|d| d.code == Code::NonCanonicalKey).count(),
        3
    );
    let d = run(
        r#"{"grants": [{"src": ["*"], "dts": ["*"], "ip": ["*"]}]}"#,
        &Options::default(),
    );
    let unknown = d.iter().find(|d| d.code == Code::UnknownField).unwrap();
    assert_eq!(unknown.help.as_deref(), Some("did you mean \"dst\"?"));
    // A section Tailscale's own tooling knows (tailscale-acl-combiner), kept as it is.
    let d = run(
        r#"{"extraDNSRecords": [{"Name": "nas.example.ts.net", "Value": "100.64.0.9"}]}"#,
        &Options::default(),
    );
    assert!(d.is_empty(), "{d:?}");
    let d = run(r#"{"extraDNSRecords": {}}"#, &Options::default());
    assert!(
        d.iter().any(|d| d.code == Code::WrongType
            && d.message == "extraDNSRecords must be an array, not an object"),
        "{d:?}"
    );
}

#[test]
fn tags() {
    reports(
        r#""acls": [{"action": "accept", "src": ["tag:nonexistent"], "dst": ["*:*"]}]"#,
        Code::UndefinedTag,
        "src=tag not found: \"tag:nonexistent\"",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:nonexistent:22"]}]"#,
        Code::UndefinedTag,
        "dst=\"tag:nonexistent\": tag not found: \"tag:nonexistent\"",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["10.0.0.0/8"], "ip": ["*"], "via": ["tag:server", "tag:nope"]}]"#,
        Code::UndefinedTag,
        "tag \"tag:nope\" not found",
    );
    reports(
        r#""nodeAttrs": [{"target": ["tag:undefined-tag"], "attr": ["funnel"]}]"#,
        Code::UndefinedTag,
        "tag not found: \"tag:undefined-tag\"",
    );
    reports(
        r#""groups": {}, "ssh": [{"action": "accept", "src": ["tag:server"], "dst": ["tag:none"], "users": ["root"]}]"#,
        Code::UndefinedTag,
        "tag not found: \"tag:none\"",
    );
    reports(
        r#""autoApprovers": {"routes": {"10.0.0.0/8": ["tag:router"]}}"#,
        Code::UndefinedTag,
        "tag not found: \"tag:router\"",
    );
    let e = errors(r#"{"tagOwners": {"tag:сервер": [], "tag:1a": [], "tag:a_b": [], "tag:": []}}"#);
    assert!(
        e.iter().any(|(_, m)| m
            == "tagOwners[\"tag:сервер\"]: tag names must start with a letter, after 'tag:'")
    );
    assert!(
        e.iter()
            .any(|(_, m)| m.contains("can only contain numbers, letters, or dashes"))
    );
    assert!(e.iter().any(|(_, m)| m.contains("must not be empty")));
    assert_eq!(e.len(), 4, "{e:?}");
    // Cycles and self-ownership are accepted by the control plane.
    accepts(
        r#""tagOwners": {"tag:a": ["tag:b"], "tag:b": ["tag:a"], "tag:c": ["tag:c"]}"#
            .trim_start_matches(r#""tagOwners": "#)
            .trim_start_matches('{')
            .trim_end_matches('}'),
    );
}

#[test]
fn groups_and_hosts() {
    reports(
        r#""groups": {"group:inner": ["a@example.com"], "group:outer": ["group:inner"]}"#,
        Code::RecursiveGroup,
        "groups[\"group:outer\"]: \"group:inner\": group members cannot be recursive",
    );
    reports(
        r#""groups": {"eng": []}"#,
        Code::InvalidGroup,
        "group must start with 'group:'",
    );
    reports(
        r#""groups": {"group:a": ["tag:server"]}"#,
        Code::InvalidGroup,
        "group members must be users, not a tag",
    );
    reports(
        r#""groups": {"group:a": ["autogroup:admin"]}"#,
        Code::InvalidGroup,
        "group members must be users, not an autogroup",
    );
    // A bare word is a host alias only where `hosts` defines it (headscale's plain users).
    reports(
        r#""groups": {"group:a": ["tudex"]}"#,
        Code::InvalidGroup,
        "\"tudex\": group members must be users, and a login name has an @",
    );
    reports(
        r#""hosts": {"nas": "100.64.0.9"}, "groups": {"group:a": ["nas"]}"#,
        Code::InvalidGroup,
        "\"nas\": group members must be users, not a host alias",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["group:missing"], "dst": ["*:*"]}]"#,
        Code::UndefinedGroup,
        "group not found: \"group:missing\"",
    );
    // A member CI fills in from a template is named as such; a user is not.
    reports(
        r#""groups": {"group:admins": ["${ADMIN_EMAIL}"]}"#,
        Code::InvalidGroup,
        "\"${ADMIN_EMAIL}\" is a template placeholder, not a user",
    );
    let plain = findings(&format!(
        "{{{TAGS}, \"groups\": {{\"group:admins\": [\"tag:server\"]}}}}"
    ));
    assert!(
        plain
            .iter()
            .any(|(c, _, m)| *c == Code::InvalidGroup && !m.contains("template")),
        "{plain:?}"
    );
    accepts(
        r#""groups": {"group:empty": []}, "acls": [{"action": "accept", "src": ["group:empty", "group:scim@example.com"], "dst": ["*:*"]}]"#,
    );
    reports(
        r#""hosts": {"server@ntw.com": "100.64.0.1"}"#,
        Code::InvalidHost,
        "host names cannot include an @, please change the name for \"server@ntw.com\"",
    );
    reports(
        r#""hosts": {"db": "not-an-ip"}"#,
        Code::InvalidHost,
        "is not an IP address or CIDR",
    );
    reports(
        r#""nodeAttrs": [{"target": ["%bogus%"], "attr": ["x"]}]"#,
        Code::UndefinedHost,
        "\"%bogus%\": invalid address",
    );
    reports(
        r#""hosts": {"database": "10.0.0.5"}, "acls": [{"action": "accept", "src": ["*"], "dst": ["databse:5432"]}]"#,
        Code::UndefinedHost,
        "\"databse\": invalid address",
    );
}

#[test]
fn autogroups_and_placement() {
    reports(
        r#""acls": [{"action": "accept", "src": ["autogroup:bogus"], "dst": ["*:*"]}]"#,
        Code::UnknownAutogroup,
        "unknown autogroup \"autogroup:bogus\"",
    );
    reports(
        r#""grants": [{"src": ["autogroup:self"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::SelectorNotAllowed,
        "\"autogroup:self\" not valid on the src side of a rule",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:danger-all"], "ip": ["tcp:22"]}]"#,
        Code::SelectorNotAllowed,
        "cannot use autogroup:danger-all as a dst",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:self"], "ip": ["*"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used with users, groups, or supported autogroups",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["tag:server"], "dst": ["autogroup:self:22"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used",
    );
    accepts(
        r#""acls": [{"action": "accept", "src": ["autogroup:member", "group:x@example.com"], "dst": ["autogroup:self:*", "tag:server:22"]}]"#,
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["autogroup:members"], "dst": ["autogroup:member:*"]}]"#,
        Code::LegacyAutogroupMix,
        "cannot both be used",
    );
    reports(
        r#""grants": [{"src": ["10.0.0.1-10.0.0.9"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::SelectorNotAllowed,
        "IP ranges are only valid in ipsets",
    );
}

#[test]
fn acl_rules() {
    reports(
        r#""acls": [{"action": "deny", "src": ["*"], "dst": ["*:*"]}]"#,
        Code::InvalidAction,
        "action=\"deny\" is not supported",
    );
    reports(
        r#""acls": [{"src": ["*"], "dst": ["*:*"]}]"#,
        Code::MissingField,
        "is not supported",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:self"]}]"#,
        Code::MissingPort,
        "dst=\"autogroup:self\": port range \"self\": invalid first integer",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["100.64.0.1"]}]"#,
        Code::MissingPort,
        "dst=\"100.64.0.1\": hostport must contain a colon (\":\")",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:ssh"]}]"#,
        Code::MissingPort,
        "dst=\"tag:server:ssh\": port range \"ssh\": invalid first integer",
    );
    // The help suggests what the control plane takes: `group:users:icmp` is a protocol
    // where the ports go (a real policy), `tag:server:ssh` a name, `tag:server` no port.
    let help = |dst: &str| {
        let policy = format!(
            r#"{{{TAGS}, "acls": [{{"action": "accept", "src": ["*"], "dst": ["{dst}"]}}]}}"#
        );
        run(&policy, &Options::default())
            .into_iter()
            .find(|d| d.code == Code::MissingPort)
            .and_then(|d| d.help)
            .unwrap_or_default()
    };
    assert!(
        help("tag:server:icmp").contains(r#""icmp" is a protocol, not a port: write "tag:server:*" and give the rule "proto": "icmp""#),
        "{}",
        help("tag:server:icmp")
    );
    assert!(
        help("tag:server:ssh").contains(r#"write "tag:server:PORT""#),
        "{}",
        help("tag:server:ssh")
    );
    assert!(help("tag:server").contains(r#"did you mean "tag:server:*"?"#));
    assert!(help("autogroup:self").contains(r#"did you mean "autogroup:self:*"?"#));
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:0"]}]"#,
        Code::InvalidPort,
        "first port must be >0, or use '*' for wildcard",
    );
    reports(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:70000"]}]"#,
        Code::InvalidPort,
        "port range \"70000\"",
    );
    reports(
        r#""acls": [{"action": "accept", "proto": "http", "src": ["*"], "dst": ["*:*"]}]"#,
        Code::InvalidProtocol,
        "proto name \"http\" not known",
    );
    reports(
        r#""acls": [{"action": "accept", "proto": "icmp", "src": ["*"], "dst": ["*:22"]}]"#,
        Code::InvalidProtocol,
        "protocol does not support specific ports",
    );
    accepts(
        r#""acls": [{"action": "accept", "proto": "icmp", "src": ["*"], "dst": ["*:*", "fd00:1::/64:*"]}, {"action": "accept", "src": ["*"], "dst": ["[fd7a::1]:22", "2001:db8::1/128:443", "[fd7a::]/48:80"]}]"#,
    );
}

#[test]
fn grants() {
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {}}]"#,
        Code::EmptyGrant,
        "ip and app can not both be empty",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": []}]"#,
        Code::EmptyGrant,
        "ip and app can not both be empty",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["icmp"]}]"#,
        Code::InvalidPort,
        "port range \"icmp\": invalid first integer",
    );
    // Every form `tailcfg.ParseProtoPortRanges` accepts (see `model::ports::IpSpec`).
    accepts(
        r#""grants": [{"src": ["*"], "dst": ["tag:server"], "ip": ["*:8096", "*:*", "0:80", "TCP:443", "06:22", "icmp:22", "dccp:*", "icmpv6:*", "tsmp:*"]}]"#,
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:80,443"]}]"#,
        Code::InvalidPort,
        "port range \"80,443\": invalid first integer",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["ftp:21"]}]"#,
        Code::InvalidProtocol,
        "proto name \"ftp\" not known; use protocol number 0-255",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": [":80"]}]"#,
        Code::InvalidProtocol,
        "empty protocol",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["::/0"], "ip": ["*"]}]"#,
        Code::AllAddressesDst,
        "dst \"::/0\": to allow all IP addresses, use \"*\" or \"autogroup:internet\"",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"https://example.com/cap": [{}]}}]"#,
        Code::InvalidCapability,
        "capability name must have the form {domain}/{path}",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/funnel": [{}]}}]"#,
        Code::InvalidCapability,
        "capability name must not be in the tailscale.com domain",
    );
    // Tailscale's own capabilities outnumber what tsacl knows: a name it does not know is
    // for the control plane to decide (Tailscale PAM's was an error until it was listed).
    accepts(
        r#""grants": [{"src": ["autogroup:admin"], "dst": ["tag:server"], "ip": ["*"], "app": {"tailscale.com/cap/pam": [{"version": "v1", "permissions": {"ssh": {}}}]}}]"#,
    );
    accepts(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/something-new": [{}]}}]"#,
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/something-new": [{}]}}]"#,
        Code::UnknownTailscaleCapability,
        "\"tailscale.com/cap/something-new\" is not a Tailscale capability tsacl knows",
    );
    let misspelt: Vec<_> = run(
        r#"{"grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/drvie": [{}]}}]}"#,
        &Options::default(),
    )
    .into_iter()
    .map(|d| (d.code, d.help))
    .collect();
    assert_eq!(
        misspelt,
        [(
            Code::UnknownTailscaleCapability,
            Some("did you mean \"tailscale.com/cap/drive\"?".to_string())
        )]
    );
    // The control plane keeps each value as raw JSON: another type is the application's
    // problem, not a rejected file.
    accepts(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "app": {"tailscale.com/cap/relay": [""]}}]"#,
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "app": {"tailscale.com/cap/relay": [""]}}]"#,
        Code::InvalidValue,
        "each value of \"tailscale.com/cap/relay\" should be an object, not a string",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": "full"}}]"#,
        Code::WrongType,
        "must be an array of objects, not a string",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"], "app": {"example.com/cap/x": [{}]}}]"#,
        Code::AppWithInternet,
        "cannot use app grants with autogroup:internet",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["10.0.0.0/8"], "ip": ["*"], "via": ["autogroup:tagged"]}]"#,
        Code::ViaNotTag,
        "via can only be a tag",
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "app": {"example.com/cap/x": [1]}}]"#,
        Code::InvalidValue,
        "each value of \"example.com/cap/x\" should be an object, not a number",
    );
    accepts(
        r#""grants": [{"src": ["*"], "dst": ["tag:server"], "ip": ["47", "tcp:80-443", "icmp:*", "udp:53"], "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["system:masters"]}}]}, "via": ["tag:exit"]}]"#,
    );
}

#[test]
fn ssh_rules() {
    let rule = |extra: &str| {
        format!(r#""ssh": [{{"src": ["autogroup:member"], "dst": ["tag:server"], {extra}}}]"#)
    };
    reports(
        &rule(r#""users": ["root"]"#),
        Code::SshAction,
        "action must be specified",
    );
    reports(
        &rule(r#""action": "", "users": ["root"]"#),
        Code::SshAction,
        "action must be specified",
    );
    reports(
        &rule(r#""action": "Accept", "users": ["root"]"#),
        Code::SshAction,
        "\"Accept\" is not a valid action",
    );
    accepts(&rule(
        r#""action": " accept", "users": ["root", " root", "ubuntu"]"#,
    ));
    reports(
        &rule(r#""action": "accept""#),
        Code::SshUsers,
        "users must be specified",
    );
    reports(
        &rule(r#""action": "accept", "users": null"#),
        Code::SshUsers,
        "users must be specified",
    );
    reports(
        &rule(r#""action": "accept", "users": []"#),
        Code::SshUsers,
        "users must be specified",
    );
    reports(
        &rule(r#""action": "accept", "users": ["root", "*"]"#),
        Code::SshUsers,
        "user \"*\" is not valid",
    );
    reports(
        &rule(r#""action": "accept", "users": [""]"#),
        Code::SshUsers,
        "user \"\" is not valid",
    );
    reports(
        &rule(r#""action": "check", "users": ["root"], "checkPeriod": "abc""#),
        Code::SshCheckPeriod,
        "time: invalid duration \"abc\"",
    );
    reports(
        &rule(r#""action": "check", "users": ["root"], "checkPeriod": "-1m""#),
        Code::SshCheckPeriod,
        "checkPeriod -1m0s must be a positive duration",
    );
    reports(
        &rule(r#""action": "check", "users": ["root"], "checkPeriod": "168h0m1s""#),
        Code::SshCheckPeriod,
        "checkPeriod 168h0m1s is above the max (168h)",
    );
    accepts(&rule(
        r#""action": "check", "users": ["root"], "checkPeriod": "168h""#,
    ));
    accepts(&rule(
        r#""action": "check", "users": ["root"], "checkPeriod": "always""#,
    ));
    reports(
        &rule(r#""action": "accept", "users": ["root"], "acceptEnv": [""]"#),
        Code::SshAcceptEnv,
        "acceptEnv values cannot be empty",
    );
    reports(
        r#""hosts": {"srv": "100.64.0.16"}, "ssh": [{"action": "accept", "src": ["a@example.com"], "dst": ["srv"], "users": ["root"]}]"#,
        Code::SshDst,
        "invalid dst \"srv\"",
    );
    reports(
        r#""ssh": [{"action": "accept", "src": ["a@example.com", "b@example.com"], "dst": ["a@example.com"], "users": ["root"]}]"#,
        Code::SshDst,
        "users in dst are only allowed from the same user",
    );
    accepts(
        r#""ssh": [{"action": "accept", "src": ["a@example.com"], "dst": ["a@example.com"], "users": ["root"]}]"#,
    );
    reports(
        r#""ssh": [{"action": "accept", "src": ["tag:server"], "dst": ["autogroup:self"], "users": ["root"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used",
    );
    reports(
        r#""ssh": [{"action": "accept", "src": ["*"], "dst": ["tag:server"], "users": ["root"]}]"#,
        Code::SshSrc,
        "invalid src \"*\"",
    );
}

#[test]
fn a_domain_pattern_is_no_tailnets_domain() {
    // Capture ssh-malformed-user-localpart-multi-glob: `localpart:*@*` is rejected, whatever
    // the tailnet; so is a pattern in `user:*@` (the same check, the same words).
    let policy = r#"{"tagOwners": {"tag:server": []}, "ssh": [{"action": "accept", "src": ["user:*@*"], "dst": ["tag:server"], "users": ["localpart:*@*", "localpart:*@*.example.com"]}]}"#;
    let found = errors(policy);
    let said = |d: &str| {
        format!(
            "{d} is not associated with this Tailnet and cannot be used in user:*@<domain> expressions"
        )
    };
    assert_eq!(
        found,
        vec![
            (Code::DomainNotInTailnet, format!("[ssh] {}", said("*"))),
            (Code::DomainNotInTailnet, said("*")),
            (Code::DomainNotInTailnet, said("*.example.com")),
        ]
    );
    // In an ACL source too, where `user:*@domain` is written the same way.
    reports(
        r#""acls": [{"action": "accept", "src": ["user:*@*"], "dst": ["*:*"]}]"#,
        Code::DomainNotInTailnet,
        "* is not associated with this Tailnet",
    );
}

#[test]
fn tailnet_domains_are_checked_only_when_known() {
    let policy = r#"{"tagOwners": {"tag:server": []}, "ssh": [{"action": "accept", "src": ["user:*@example.org"], "dst": ["tag:server"], "users": ["localpart:*@example.org", "localpart:*@"]}]}"#;
    assert!(errors(policy).is_empty());
    let options = Options {
        tailnet_domains: Some(vec!["example.com".into()]),
        ..Default::default()
    };
    let found: Vec<String> = run(policy, &options)
        .into_iter()
        .map(|d| d.message)
        .collect();
    assert_eq!(
        found,
        vec![
            "[ssh] example.org is not associated with this Tailnet and cannot be used in user:*@<domain> expressions",
            "example.org is not associated with this Tailnet and cannot be used in user:*@<domain> expressions",
        ]
    );
}

#[test]
fn node_attrs() {
    reports(
        r#""nodeAttrs": [{"target": ["autogroup:self"], "attr": ["x"]}]"#,
        Code::NodeAttrTarget,
        "autogroup:self is not a valid nodeAttrs target",
    );
    // The control plane's words for a pool inside a reserved range (capture e4); Tailscale's
    // docs (kb/1610): 100.100.0.0/24 is reserved too, and a pool may not overlap a reserved
    // range, containing it included.
    for (pool, message) in [
        (
            "100.100.100.0/24",
            "IPPool(100.100.100.0/24): network within reserved range",
        ),
        (
            "100.100.0.0/25",
            "IPPool(100.100.0.0/25): network within reserved range",
        ),
        (
            "100.100.0.0/16",
            "IPPool(100.100.0.0/16): network overlaps reserved ranges 100.100.0.0/24, 100.100.100.0/24 (IP pools can't overlap Tailscale's reserved ranges)",
        ),
        (
            "100.115.0.0/16",
            "IPPool(100.115.0.0/16): network overlaps reserved range 100.115.92.0/23 (",
        ),
    ] {
        reports(
            &format!(r#""nodeAttrs": [{{"target": ["autogroup:admin"], "ipPool": ["{pool}"]}}]"#),
            Code::IpPool,
            message,
        );
    }
    accepts(
        r#""nodeAttrs": [{"target": ["autogroup:admin"], "ipPool": ["100.100.1.0/24", "100.100.99.0/24", "100.115.94.0/23", "100.64.0.0/11"]}]"#,
    );
    reports(
        r#""nodeAttrs": [{"target": ["*"], "ipPool": ["10.0.0.0/8"]}]"#,
        Code::IpPool,
        "not within 100.64.0.0/10",
    );
    accepts(
        r#""nodeAttrs": [{"target": ["*", "autogroup:member", "tag:server", "a@example.com"], "attr": ["funnel", "custom:x"]}, {"target": []}, {"target": ["autogroup:admin"], "ipPool": ["100.81.0.0/16"]}]"#,
    );
}

#[test]
fn ipsets_and_postures() {
    accepts(
        r#""hosts": {"h": "10.1.2.3"}, "ipsets": {"ipset:a": ["add 10.0.0.0/8", "remove 10.1.0.0/16", "add host:h", "add 192.0.2.1-192.0.2.9", "add ipset:b"], "ipset:b": ["198.51.100.0/24"]}, "grants": [{"src": ["ipset:a"], "dst": ["ipset:b"], "ip": ["*"]}]"#,
    );
    reports(
        r#""ipsets": {"ipset:a": ["add tag:server"]}"#,
        Code::InvalidIpSet,
        "is not an IP",
    );
    reports(
        r#""ipsets": {"ipset:a": ["add ipset:b"], "ipset:b": ["add ipset:a"]}"#,
        Code::InvalidIpSet,
        "circular reference",
    );
    reports(
        r#""ipsets": {"ipset:a": ["10.0.0.0/8", "remove 10.1.0.0/16"]}"#,
        Code::InvalidIpSet,
        "bare form",
    );
    reports(
        r#""grants": [{"src": ["ipset:nope"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::UndefinedIpSet,
        "ipset not found",
    );
    accepts(
        r#""postures": {"posture:mac": ["node:os IN ['macos']", "node:tsVersion >= '1.40'"]}, "defaultSrcPosture": ["posture:mac"], "grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:mac"]}]"#,
    );
    reports(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:none"]}]"#,
        Code::UndefinedPosture,
        "posture not found",
    );
    reports(
        r#""postures": {"posture:x": ["node:os = 'macos'"]}"#,
        Code::InvalidPosture,
        "unknown operator",
    );
}

#[test]
fn tests_and_ssh_tests() {
    let t = |test: &str| {
        format!(r#""hosts": {{"web": "100.64.0.16", "net": "10.0.0.0/8"}}, "tests": [{test}]"#)
    };
    reports(
        &t(r#"{"accept": ["web:80"]}"#),
        Code::InvalidTest,
        "non-empty src",
    );
    reports(
        &t(r#"{"src": "a@example.com"}"#),
        Code::InvalidTest,
        "at least one of",
    );
    for bad in [
        "web:*",
        "web:80,443",
        "web:8000-8100",
        "web:-1",
        "web:notaport",
        "10.0.0.0/8:22",
        "net:22",
        "autogroup:internet:443",
        "tag:phantom:22",
    ] {
        reports(
            &t(&format!(
                r#"{{"src": "a@example.com", "accept": ["{bad}"]}}"#
            )),
            Code::InvalidTest,
            "",
        );
    }
    accepts(&t(
        r#"{"src": "a@example.com", "proto": "udp", "accept": ["web:53", "[fd7a:115c:a1e0::10]:22", "tag:server:22"], "deny": ["100.64.0.16:22"]}"#,
    ));
    let s = |test: &str| format!(r#""sshTests": [{test}]"#);
    reports(
        &s(r#"{"src": "autogroup:admin", "dst": ["tag:server"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests src contains disallowed element \"autogroup:admin\"",
    );
    reports(
        &s(r#"{"src": "a@example.com", "dst": ["autogroup:internet"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains disallowed element \"autogroup:internet\"",
    );
    reports(
        &s(r#"{"src": "a@example.com", "dst": ["100.64.0.0/24"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains disallowed element \"100.64.0.0/24\"",
    );
    reports(
        &s(r#"{"src": "a@example.com", "dst": ["tag:server:22"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains unknown tag \"tag:server:22\"",
    );
    reports(
        &s(r#"{"src": "a@example.com", "dst": ["tag:server"]}"#),
        Code::InvalidSshTest,
        "at least one of",
    );
    accepts(&s(
        r#"{"src": "a@example.com", "dst": ["tag:server", "100.64.0.16", "a@example.com"], "accept": ["root"], "check": ["ubuntu"], "deny": ["admin"]}"#,
    ));
    // A list Go cannot decode (`"accept": true`) is that error alone: the control plane
    // answers the decoding error and checks nothing more (a real policy wrote tests so).
    for (section, body) in [
        ("tests", r#"{"src": "a@example.com", "accept": true}"#),
        (
            "sshTests",
            r#"{"src": "a@example.com", "dst": ["tag:server"], "accept": "root"}"#,
        ),
    ] {
        let policy = format!(r#"{{{TAGS}, "{section}": [{body}]}}"#);
        let codes: Vec<Code> = findings(&policy).into_iter().map(|(c, _, _)| c).collect();
        assert!(codes.contains(&Code::WrongType), "{section}: {codes:?}");
        assert!(
            !codes.contains(&Code::InvalidTest) && !codes.contains(&Code::InvalidSshTest),
            "{section}: {codes:?}"
        );
    }
    // Only headscale is known to reject it; a live policy carries one.
    accepts(&s(r#"{"src": "tag:server", "deny": ["root"]}"#));
    reports(
        &s(r#"{"src": "tag:server", "deny": ["root"]}"#),
        Code::SshTestWithoutDst,
        "SSH tests entry has no dst: it tests nothing",
    );
}

#[test]
fn every_error_is_collected() {
    let e = errors(
        r#"{"acls": [{"action": "deny", "src": ["tag:a"], "dst": ["tag:b:0"]}], "ssh": [{"action": "x", "src": ["*"], "dst": ["*"]}]}"#,
    );
    assert!(e.len() >= 6, "{e:?}");
}

#[test]
fn settings() {
    accepts(
        r#""disableIPv4": false, "randomizeClientPort": true, "OneCGNATRoute": "mac-always", "derpMap": {"regions": {}}, "attrConfig": {}"#,
    );
    reports(
        r#""OneCGNATRoute": "sometimes""#,
        Code::InvalidValue,
        "OneCGNATRoute",
    );
    reports(
        r#""randomizeClientPort": "yes""#,
        Code::WrongType,
        "randomizeClientPort must be true or false",
    );
}

#[test]
fn dns_names_are_rejected_with_a_dns_help() {
    let helps = |policy: &str, options: &Options| -> Vec<(Code, String)> {
        run(policy, options)
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| (d.code, d.help.unwrap_or_default()))
            .collect()
    };
    let policy = r#"{"tagOwners": {"tag:db": []}, "hosts": {"db": "10.0.0.5", "h": "db.example.com"},
        "acls": [{"action": "accept", "src": ["*"], "dst": ["db.example.ts.net:5432", "db:22"]}],
        "grants": [{"src": ["*"], "dst": ["web.tail1234.ts.net"], "ip": ["443"]}],
        "ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["web.tail1234.ts.net"], "users": ["x"]}],
        "tests": [{"src": "a@example.com", "accept": ["db.example.ts.net:5432"]}]}"#;
    let found = helps(policy, &Options::default());
    let codes: Vec<Code> = found.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        codes,
        vec![
            Code::InvalidHost,
            Code::UndefinedHost,
            Code::UndefinedHost,
            Code::SshDst,
            Code::InvalidTest
        ],
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .all(|(_, h)| h.contains("looks like a DNS name")),
        "{found:?}"
    );
    assert!(
        found[1].1.ends_with("did you mean the host alias \"db\"?"),
        "{found:?}"
    );
    // With an inventory, the device of that name.
    let inventory = crate::engine::Inventory::from_json(
        br#"{"devices": [{"name": "web.tail1234.ts.net", "hostname": "web", "addresses": ["100.64.0.9"], "tags": ["tag:db"]}]}"#,
    )
    .unwrap();
    let options = Options {
        inventory: Some(inventory),
        ..Default::default()
    };
    let found = helps(policy, &options);
    assert!(
        found[2]
            .1
            .ends_with("the inventory's device web.tail1234.ts.net carries tag:db and has the address 100.64.0.9"),
        "{found:?}"
    );
    // Near misses: a name without dots, and a host alias whose name has dots, are not DNS.
    let found = helps(
        r#"{"hosts": {"db.internal": "10.0.0.5"}, "acls": [{"action": "accept", "src": ["*"], "dst": ["db.internal:22", "my_host:22"]}]}"#,
        &Options::default(),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(!found[0].1.contains("DNS"), "{found:?}");
}

/// Go's `encoding/json` decodes `null` for a field as the field's zero value, so a field
/// set to `null` must mean exactly what leaving it out means. Every field of every struct
/// of the policy model is tried both ways (map entries such as `groups["group:a"]` are
/// not fields: `null` there is an entry with an empty value).
#[test]
fn null_for_any_field_is_the_same_as_leaving_it_out() {
    use serde_json::{Map, Value, json};
    let sink = json!({
        "acls": [
            {"action": "accept", "src": ["group:eng"], "dst": ["tag:server:22"], "proto": "tcp", "srcPosture": ["posture:mac"]},
            {"action": "accept", "users": ["alice@example.com"], "ports": ["host1:443"]},
        ],
        "grants": [
            {"src": ["group:eng"], "dst": ["tag:server"], "ip": ["tcp:80"], "app": {"example.com/cap/x": [{}]}, "via": ["tag:exit"], "srcPosture": ["posture:mac"]},
        ],
        "ssh": [
            {"action": "check", "src": ["group:eng"], "dst": ["tag:server"], "users": ["root"], "checkPeriod": "12h", "acceptEnv": ["GIT_*"], "srcPosture": ["posture:mac"], "recorder": ["tag:server"], "enforceRecorder": false},
            {"action": "accept", "src": ["group:eng"], "dst": ["tag:server"], "users": ["ubuntu"]},
        ],
        "groups": {"group:eng": ["alice@example.com"]},
        "hosts": {"host1": "100.64.0.10"},
        "tagOwners": {"tag:server": ["group:eng"], "tag:exit": ["autogroup:admin"]},
        "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:server"]}, "exitNode": ["tag:exit"], "services": {"svc:web": ["tag:server"]}},
        "nodeAttrs": [
            {"target": ["tag:server"], "attr": ["funnel"]},
            {"target": ["autogroup:member"], "app": {"example.com/cap/y": [{}]}},
            {"target": ["tag:exit"], "ipPool": ["100.80.0.0/16"]},
        ],
        "postures": {"posture:mac": ["node:os == 'macos'"]},
        "defaultSrcPosture": ["posture:mac"],
        "ipsets": {"ipset:prod": ["add 10.1.0.0/16"]},
        "tests": [
            {"src": "alice@example.com", "proto": "tcp", "accept": ["tag:server:22"], "deny": ["tag:exit:22"], "srcPostureAttrs": {"node:os": "macos"}},
            {"user": "alice@example.com", "allow": ["tag:server:22"]},
        ],
        "sshTests": [
            {"src": "alice@example.com", "dst": ["tag:server"], "accept": ["ubuntu"], "check": ["root"], "deny": ["nobody"], "srcPostureAttrs": {"node:os": "macos"}},
        ],
        "derpMap": {"OmitDefaultRegions": false},
        "disableIPv4": false,
        "OneCGNATRoute": "",
        "randomizeClientPort": false,
        "attrConfig": {},
        "nodeVisibility": "default",
    });
    fn diags(policy: &Value) -> Vec<(Code, String)> {
        let mut out: Vec<(Code, String)> = run(&policy.to_string(), &Options::default())
            .into_iter()
            .map(|d| (d.code, format!("{} {}", d.severity.as_str(), d.message)))
            .collect();
        out.sort();
        out
    }
    /// Struct fields: `(path to the object, key)`. Map-valued members are not descended.
    fn fields(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        const MAPS: &[&str] = &[
            "groups",
            "hosts",
            "tagOwners",
            "postures",
            "ipsets",
            "routes",
            "services",
            "app",
            "srcPostureAttrs",
            "derpMap",
            "attrConfig",
        ];
        match value {
            Value::Object(members) => {
                for (key, v) in members {
                    out.push((path.clone(), key.clone()));
                    if !MAPS.contains(&key.as_str()) {
                        path.push(key.clone());
                        fields(v, path, out);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    fields(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    fn object_at<'a>(root: &'a mut Value, path: &[String]) -> &'a mut Map<String, Value> {
        let mut at = root;
        for step in path {
            at = match at {
                Value::Object(m) => m.get_mut(step).unwrap(),
                Value::Array(a) => &mut a[step.parse::<usize>().unwrap()],
                _ => unreachable!(),
            };
        }
        at.as_object_mut().unwrap()
    }

    assert!(
        diags(&sink).iter().all(|(_, m)| !m.starts_with("error")),
        "the sink itself must be valid: {:?}",
        diags(&sink)
    );
    let mut all = Vec::new();
    fields(&sink, &mut Vec::new(), &mut all);
    assert!(all.len() >= 60, "only {} fields", all.len());
    let mut changed = 0;
    for (path, key) in &all {
        let mut nulled = sink.clone();
        object_at(&mut nulled, path).insert(key.clone(), Value::Null);
        let mut removed = sink.clone();
        object_at(&mut removed, path).remove(key);
        let (with_null, without) = (diags(&nulled), diags(&removed));
        assert_eq!(with_null, without, "{path:?}.{key}: null and absent differ");
        changed += usize::from(without != diags(&sink));
    }
    // Not vacuous: leaving out a required field (action, users, ...) is an error.
    assert!(changed >= 10, "only {changed} fields change the verdict");
}

/// Documents Go's `encoding/json` decodes to the same policy get the same diagnostics
/// (apart from the warning about the repeated key itself).
#[test]
fn what_go_decodes_alike_is_checked_alike() {
    fn diags(policy: &str) -> Vec<String> {
        let mut out: Vec<String> = run(policy, &Options::default())
            .into_iter()
            .filter(|d| d.code != Code::DuplicateKey)
            .map(|d| format!("{} {} {}", d.code.id(), d.severity.as_str(), d.message))
            .collect();
        out.sort();
        out
    }
    let pairs = [
        // A null element is the element's zero value.
        (
            r#"{"acls": [{"action": "accept", "src": ["*", null], "dst": ["*:22"]}]}"#,
            r#"{"acls": [{"action": "accept", "src": ["*", ""], "dst": ["*:22"]}]}"#,
        ),
        (r#"{"acls": [null]}"#, r#"{"acls": [{}]}"#),
        (
            r#"{"hosts": {"h": null}, "acls": [{"action": "accept", "src": ["*"], "dst": ["h:22"]}]}"#,
            r#"{"hosts": {"h": ""}, "acls": [{"action": "accept", "src": ["*"], "dst": ["h:22"]}]}"#,
        ),
        (
            r#"{"groups": {"group:a": null}, "acls": [{"action": "accept", "src": ["group:a"], "dst": ["*:22"]}]}"#,
            r#"{"groups": {"group:a": []}, "acls": [{"action": "accept", "src": ["group:a"], "dst": ["*:22"]}]}"#,
        ),
        (r#"null"#, r#"{}"#),
        // A repeated field: the later wins; objects merge; a later list is decoded into
        // the earlier one element by element.
        (
            r#"{"acls": [{"action": "accept", "src": ["a@example.com"], "dst": ["*:22"], "src": ["*"]}]}"#,
            r#"{"acls": [{"action": "accept", "dst": ["*:22"], "src": ["*"]}]}"#,
        ),
        (
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["tag:x:22"]}], "acls": [{"dst": ["*:22"]}]}"#,
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}]}"#,
        ),
        (
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}, {"action": "accept", "src": ["*"], "dst": ["*:80"]}], "acls": [{}]}"#,
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}]}"#,
        ),
        (
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}], "acls": null}"#,
            r#"{}"#,
        ),
        (
            r#"{"groups": {"group:a": ["a@example.com"]}, "groups": {"group:b": ["b@example.com"]}, "acls": [{"action": "accept", "src": ["group:a", "group:b"], "dst": ["*:22"]}]}"#,
            r#"{"groups": {"group:a": ["a@example.com"], "group:b": ["b@example.com"]}, "acls": [{"action": "accept", "src": ["group:a", "group:b"], "dst": ["*:22"]}]}"#,
        ),
        // In a map, keys match exactly and the later entry replaces the earlier.
        (
            r#"{"hosts": {"h": "10.0.0.1", "h": "not an address"}}"#,
            r#"{"hosts": {"h": "not an address"}}"#,
        ),
        // Field names fold as Go folds them: ſ is s, the Kelvin sign is k.
        (
            r#"{"aclſ": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}], "tagOwners": {"tag:a": []}}"#,
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}], "tagOwners": {"tag:a": []}}"#,
        ),
    ];
    for (a, b) in pairs {
        let (da, db) = (diags(a), diags(b));
        // Spelling warnings name the key as written.
        let strip = |d: &[String]| -> Vec<String> {
            d.iter()
                .filter(|m| !m.starts_with("TSA005"))
                .cloned()
                .collect()
        };
        assert_eq!(strip(&da), strip(&db), "\n{a}\n{b}");
    }
    // The repeated key itself is an error: one of the two values is lost, whatever the
    // decoder keeps. Both places are shown.
    let d = run(
        r#"{"hosts": {"h": "10.0.0.1", "h": "10.0.0.2"}}"#,
        &Options::default(),
    );
    let repeated = d
        .iter()
        .find(|d| d.code == Code::DuplicateKey)
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(repeated.is_error(), "{repeated:?}");
    assert_eq!(repeated.labels.len(), 1, "{repeated:?}");
    assert!(repeated.labels[0].location.span.start < repeated.primary.span.start);
}
