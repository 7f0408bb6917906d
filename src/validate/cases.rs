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

#[track_caller]
fn rejects(body: &str, code: Code, message: &str) {
    let policy = format!("{{{TAGS}, {body}}}");
    let found = errors(&policy);
    assert!(
        found.iter().any(|(c, m)| *c == code && m.contains(message)),
        "expected {} {message:?} for {body}\ngot {found:?}",
        code.id()
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
    rejects(
        r#""acls": {}"#,
        Code::WrongType,
        "acls must be an array, not an object",
    );
    rejects(
        r#""grants": [{"src": "*", "dst": ["*"], "ip": ["*"]}]"#,
        Code::WrongType,
        "src must be an array of strings",
    );
    rejects(
        r#""hosts": {"a": "1.2.3.4", "a": "1.2.3.5"}"#,
        Code::DuplicateKey,
        "duplicate key \"a\"",
    );
    rejects(
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
}

#[test]
fn tags() {
    rejects(
        r#""acls": [{"action": "accept", "src": ["tag:nonexistent"], "dst": ["*:*"]}]"#,
        Code::UndefinedTag,
        "src=tag not found: \"tag:nonexistent\"",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:nonexistent:22"]}]"#,
        Code::UndefinedTag,
        "dst=\"tag:nonexistent\": tag not found: \"tag:nonexistent\"",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["10.0.0.0/8"], "ip": ["*"], "via": ["tag:server", "tag:nope"]}]"#,
        Code::UndefinedTag,
        "tag \"tag:nope\" not found",
    );
    rejects(
        r#""nodeAttrs": [{"target": ["tag:undefined-tag"], "attr": ["funnel"]}]"#,
        Code::UndefinedTag,
        "tag not found: \"tag:undefined-tag\"",
    );
    rejects(
        r#""groups": {}, "ssh": [{"action": "accept", "src": ["tag:server"], "dst": ["tag:none"], "users": ["root"]}]"#,
        Code::UndefinedTag,
        "tag not found: \"tag:none\"",
    );
    rejects(
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
    rejects(
        r#""groups": {"group:inner": ["a@example.com"], "group:outer": ["group:inner"]}"#,
        Code::RecursiveGroup,
        "groups[\"group:outer\"]: \"group:inner\": group members cannot be recursive",
    );
    rejects(
        r#""groups": {"eng": []}"#,
        Code::InvalidGroup,
        "group must start with 'group:'",
    );
    rejects(
        r#""groups": {"group:a": ["tag:server"]}"#,
        Code::InvalidGroup,
        "group members must be users",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["group:missing"], "dst": ["*:*"]}]"#,
        Code::UndefinedGroup,
        "group not found: \"group:missing\"",
    );
    accepts(
        r#""groups": {"group:empty": []}, "acls": [{"action": "accept", "src": ["group:empty", "group:scim@example.com"], "dst": ["*:*"]}]"#,
    );
    rejects(
        r#""hosts": {"server@ntw.com": "100.64.0.1"}"#,
        Code::InvalidHost,
        "host names cannot include an @, please change the name for \"server@ntw.com\"",
    );
    rejects(
        r#""hosts": {"db": "not-an-ip"}"#,
        Code::InvalidHost,
        "is not an IP address or CIDR",
    );
    rejects(
        r#""nodeAttrs": [{"target": ["%bogus%"], "attr": ["x"]}]"#,
        Code::UndefinedHost,
        "\"%bogus%\": invalid address",
    );
    rejects(
        r#""hosts": {"database": "10.0.0.5"}, "acls": [{"action": "accept", "src": ["*"], "dst": ["databse:5432"]}]"#,
        Code::UndefinedHost,
        "\"databse\": invalid address",
    );
}

#[test]
fn autogroups_and_placement() {
    rejects(
        r#""acls": [{"action": "accept", "src": ["autogroup:bogus"], "dst": ["*:*"]}]"#,
        Code::UnknownAutogroup,
        "unknown autogroup \"autogroup:bogus\"",
    );
    rejects(
        r#""grants": [{"src": ["autogroup:self"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::SelectorNotAllowed,
        "\"autogroup:self\" not valid on the src side of a rule",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:danger-all"], "ip": ["tcp:22"]}]"#,
        Code::SelectorNotAllowed,
        "cannot use autogroup:danger-all as a dst",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:self"], "ip": ["*"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used with users, groups, or supported autogroups",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["tag:server"], "dst": ["autogroup:self:22"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used",
    );
    accepts(
        r#""acls": [{"action": "accept", "src": ["autogroup:member", "group:x@example.com"], "dst": ["autogroup:self:*", "tag:server:22"]}]"#,
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["autogroup:members"], "dst": ["autogroup:member:*"]}]"#,
        Code::LegacyAutogroupMix,
        "cannot both be used",
    );
    rejects(
        r#""grants": [{"src": ["10.0.0.1-10.0.0.9"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::SelectorNotAllowed,
        "IP ranges are only valid in ipsets",
    );
}

#[test]
fn acl_rules() {
    rejects(
        r#""acls": [{"action": "deny", "src": ["*"], "dst": ["*:*"]}]"#,
        Code::InvalidAction,
        "action=\"deny\" is not supported",
    );
    rejects(
        r#""acls": [{"src": ["*"], "dst": ["*:*"]}]"#,
        Code::MissingField,
        "is not supported",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:self"]}]"#,
        Code::MissingPort,
        "dst=\"autogroup:self\": port range \"self\": invalid first integer",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["100.64.0.1"]}]"#,
        Code::MissingPort,
        "dst=\"100.64.0.1\": hostport must contain a colon (\":\")",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:ssh"]}]"#,
        Code::MissingPort,
        "dst=\"tag:server:ssh\": port range \"ssh\": invalid first integer",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:0"]}]"#,
        Code::InvalidPort,
        "first port must be >0, or use '*' for wildcard",
    );
    rejects(
        r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:70000"]}]"#,
        Code::InvalidPort,
        "port range \"70000\"",
    );
    rejects(
        r#""acls": [{"action": "accept", "proto": "http", "src": ["*"], "dst": ["*:*"]}]"#,
        Code::InvalidProtocol,
        "proto name \"http\" not known",
    );
    rejects(
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
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {}}]"#,
        Code::EmptyGrant,
        "ip and app can not both be empty",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": []}]"#,
        Code::EmptyGrant,
        "ip and app can not both be empty",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["icmp"]}]"#,
        Code::InvalidPort,
        "port range \"icmp\": invalid first integer",
    );
    // Every form `tailcfg.ParseProtoPortRanges` accepts (see `model::ports::IpSpec`).
    accepts(
        r#""grants": [{"src": ["*"], "dst": ["tag:server"], "ip": ["*:8096", "*:*", "0:80", "TCP:443", "06:22", "icmp:22", "dccp:*", "icmpv6:*", "tsmp:*"]}]"#,
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:80,443"]}]"#,
        Code::InvalidPort,
        "port range \"80,443\": invalid first integer",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["ftp:21"]}]"#,
        Code::InvalidProtocol,
        "proto name \"ftp\" not known; use protocol number 0-255",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": [":80"]}]"#,
        Code::InvalidProtocol,
        "empty protocol",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["::/0"], "ip": ["*"]}]"#,
        Code::AllAddressesDst,
        "dst \"::/0\": to allow all IP addresses, use \"*\" or \"autogroup:internet\"",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"https://example.com/cap": [{}]}}]"#,
        Code::InvalidCapability,
        "capability name must have the form {domain}/{path}",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/funnel": [{}]}}]"#,
        Code::InvalidCapability,
        "capability name must not be in the tailscale.com domain",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"], "app": {"example.com/cap/x": [{}]}}]"#,
        Code::AppWithInternet,
        "cannot use app grants with autogroup:internet",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["10.0.0.0/8"], "ip": ["*"], "via": ["autogroup:tagged"]}]"#,
        Code::ViaNotTag,
        "via can only be a tag",
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "app": {"example.com/cap/x": [1]}}]"#,
        Code::WrongType,
        "must be an object",
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
    rejects(
        &rule(r#""users": ["root"]"#),
        Code::SshAction,
        "action must be specified",
    );
    rejects(
        &rule(r#""action": "", "users": ["root"]"#),
        Code::SshAction,
        "action must be specified",
    );
    rejects(
        &rule(r#""action": "Accept", "users": ["root"]"#),
        Code::SshAction,
        "\"Accept\" is not a valid action",
    );
    accepts(&rule(
        r#""action": " accept", "users": ["root", " root", "ubuntu"]"#,
    ));
    rejects(
        &rule(r#""action": "accept""#),
        Code::SshUsers,
        "users must be specified",
    );
    rejects(
        &rule(r#""action": "accept", "users": null"#),
        Code::SshUsers,
        "users must be specified",
    );
    rejects(
        &rule(r#""action": "accept", "users": []"#),
        Code::SshUsers,
        "users must be specified",
    );
    rejects(
        &rule(r#""action": "accept", "users": ["root", "*"]"#),
        Code::SshUsers,
        "user \"*\" is not valid",
    );
    rejects(
        &rule(r#""action": "accept", "users": [""]"#),
        Code::SshUsers,
        "user \"\" is not valid",
    );
    rejects(
        &rule(r#""action": "check", "users": ["root"], "checkPeriod": "abc""#),
        Code::SshCheckPeriod,
        "time: invalid duration \"abc\"",
    );
    rejects(
        &rule(r#""action": "check", "users": ["root"], "checkPeriod": "-1m""#),
        Code::SshCheckPeriod,
        "checkPeriod -1m0s must be a positive duration",
    );
    rejects(
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
    rejects(
        &rule(r#""action": "accept", "users": ["root"], "acceptEnv": [""]"#),
        Code::SshAcceptEnv,
        "acceptEnv values cannot be empty",
    );
    rejects(
        r#""hosts": {"srv": "100.64.0.16"}, "ssh": [{"action": "accept", "src": ["a@example.com"], "dst": ["srv"], "users": ["root"]}]"#,
        Code::SshDst,
        "invalid dst \"srv\"",
    );
    rejects(
        r#""ssh": [{"action": "accept", "src": ["a@example.com", "b@example.com"], "dst": ["a@example.com"], "users": ["root"]}]"#,
        Code::SshDst,
        "users in dst are only allowed from the same user",
    );
    accepts(
        r#""ssh": [{"action": "accept", "src": ["a@example.com"], "dst": ["a@example.com"], "users": ["root"]}]"#,
    );
    rejects(
        r#""ssh": [{"action": "accept", "src": ["tag:server"], "dst": ["autogroup:self"], "users": ["root"]}]"#,
        Code::SelfWithNonUserSource,
        "autogroup:self can only be used",
    );
    rejects(
        r#""ssh": [{"action": "accept", "src": ["*"], "dst": ["tag:server"], "users": ["root"]}]"#,
        Code::SshSrc,
        "invalid src \"*\"",
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
    rejects(
        r#""nodeAttrs": [{"target": ["autogroup:self"], "attr": ["x"]}]"#,
        Code::NodeAttrTarget,
        "autogroup:self is not a valid nodeAttrs target",
    );
    rejects(
        r#""nodeAttrs": [{"target": ["autogroup:admin"], "ipPool": ["100.100.100.0/24"]}]"#,
        Code::IpPool,
        "IPPool(100.100.100.0/24): network within reserved range",
    );
    rejects(
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
    rejects(
        r#""ipsets": {"ipset:a": ["add tag:server"]}"#,
        Code::InvalidIpSet,
        "is not an IP",
    );
    rejects(
        r#""ipsets": {"ipset:a": ["add ipset:b"], "ipset:b": ["add ipset:a"]}"#,
        Code::InvalidIpSet,
        "circular reference",
    );
    rejects(
        r#""ipsets": {"ipset:a": ["10.0.0.0/8", "remove 10.1.0.0/16"]}"#,
        Code::InvalidIpSet,
        "bare form",
    );
    rejects(
        r#""grants": [{"src": ["ipset:nope"], "dst": ["*"], "ip": ["*"]}]"#,
        Code::UndefinedIpSet,
        "ipset not found",
    );
    accepts(
        r#""postures": {"posture:mac": ["node:os IN ['macos']", "node:tsVersion >= '1.40'"]}, "defaultSrcPosture": ["posture:mac"], "grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:mac"]}]"#,
    );
    rejects(
        r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:none"]}]"#,
        Code::UndefinedPosture,
        "posture not found",
    );
    rejects(
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
    rejects(
        &t(r#"{"accept": ["web:80"]}"#),
        Code::InvalidTest,
        "non-empty src",
    );
    rejects(
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
        rejects(
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
    rejects(
        &s(r#"{"src": "autogroup:admin", "dst": ["tag:server"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests src contains disallowed element \"autogroup:admin\"",
    );
    rejects(
        &s(r#"{"src": "a@example.com", "dst": ["autogroup:internet"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains disallowed element \"autogroup:internet\"",
    );
    rejects(
        &s(r#"{"src": "a@example.com", "dst": ["100.64.0.0/24"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains disallowed element \"100.64.0.0/24\"",
    );
    rejects(
        &s(r#"{"src": "a@example.com", "dst": ["tag:server:22"], "accept": ["root"]}"#),
        Code::InvalidSshTest,
        "SSH tests dst contains unknown tag \"tag:server:22\"",
    );
    rejects(
        &s(r#"{"src": "a@example.com", "dst": ["tag:server"]}"#),
        Code::InvalidSshTest,
        "at least one of",
    );
    accepts(&s(
        r#"{"src": "a@example.com", "dst": ["tag:server", "100.64.0.16", "a@example.com"], "accept": ["root"], "check": ["ubuntu"], "deny": ["admin"]}"#,
    ));
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
    rejects(
        r#""OneCGNATRoute": "sometimes""#,
        Code::InvalidValue,
        "OneCGNATRoute",
    );
    rejects(
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
