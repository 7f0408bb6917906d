//! The rule registry: every diagnostic tsacl can emit, with a stable code, a kebab-case
//! name, a default severity, a one-line summary and a longer explanation.
//!
//! Invariants: codes are never reused or renumbered; `TSA0xx` are control-plane
//! validation errors and syntax problems, `TSA1xx` are checks of what the policy does
//! (tests, intents), `TSA2xx`+ are lints.
//!
//! A default severity of `error` is a promise: the file is wrong. The control plane
//! rejects it, or it certainly does not do what it says (a name defined nowhere, a key
//! written twice), or the user's own intents say so. Every such rule names its
//! [`Evidence`] beside its code, and `tests/registry_evidence.rs` replays each cited
//! capture. Where the evidence is only for the other direction (a malformed value the
//! control plane may well accept), the rule is a warning that says so, whatever tsacl
//! expects; a user raises it with `--severity CODE=error`. A file that is wrong on
//! purpose (a template whose `groups` CI fills in) lowers an error with
//! `--severity CODE=warning` or a `// tsacl-ignore: CODE reason` comment.

/// How serious a finding is: each rule's default, which `--severity` and the intents'
/// `lint` section may change for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What shows that a file a default-`error` rule reports is wrong: the control plane
/// rejects it, or it certainly does not do what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A recorded answer in `shared/conformance/tailscale-captures` (`category/id`): the
    /// real control plane rejected that policy for this reason.
    Capture(&'static str),
    /// An answer of the real control plane published elsewhere (headscale's
    /// `testdata/*_results`, captured from tailscale.com in April 2026).
    PublishedCapture(&'static str),
    /// The control plane's own public code or libraries, its answers quoted in public
    /// issues, Tailscale's documentation, or headscale's code where it follows the control
    /// plane.
    Source(&'static str),
    /// The user's intents file (or manifests checked against it) asks for what is
    /// checked: the intents language is tsacl's, so breaking it is an error by the
    /// user's own declaration, not an opinion of tsacl's.
    Intents,
}

impl Evidence {
    /// One line for `tsacl rule` and `docs/rules.md`.
    pub fn describe(self) -> String {
        match self {
            Evidence::Capture(id) => format!("recorded control-plane answer `{id}`"),
            Evidence::PublishedCapture(text) => format!("published control-plane answer: {text}"),
            Evidence::Source(text) => text.to_string(),
            Evidence::Intents => "the intents file declares it (tsacl's own language)".into(),
        }
    }
}

macro_rules! rules {
    ($( $variant:ident = $code:literal, $name:literal, $sev:ident $(($evidence:expr))?, $summary:literal, $explanation:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $variant, )* }

        /// Every rule, in code order.
        pub static RULES: &[Rule] = &[ $( Rule {
            code: Code::$variant,
            id: $code,
            name: $name,
            severity: Severity::$sev,
            evidence: {
                #[allow(unused_imports)]
                use Evidence::*;
                #[allow(unused_mut, unused_assignments)]
                let mut evidence = None;
                $( evidence = Some($evidence); )?
                evidence
            },
            summary: $summary,
            explanation: $explanation,
        }, )* ];
    };
}

/// One entry of the registry.
#[derive(Debug)]
pub struct Rule {
    pub code: Code,
    /// `TSA001`.
    pub id: &'static str,
    /// `hujson-syntax`.
    pub name: &'static str,
    pub severity: Severity,
    /// Why a default-`error` rule is one (see the module doc); `None` for the others.
    pub evidence: Option<Evidence>,
    pub summary: &'static str,
    pub explanation: &'static str,
}

impl Code {
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }
    pub fn id(self) -> &'static str {
        self.rule().id
    }
}

/// The table of every rule, as Markdown (`docs/rules.md` is this, checked by a test).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "# Rules\n\nEvery diagnostic tsacl can emit. Generated from the registry in `src/rules.rs`\n\
(`TSACL_UPDATE_DOCS=1 cargo test --test docs` rewrites this file); `tsacl rule CODE`\n\
prints the full explanation of one.\n\n| code | name | severity | summary |\n|---|---|---|---|\n",
    );
    for r in RULES {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.id,
            r.name,
            r.severity.as_str(),
            r.summary
        ));
    }
    out.push_str(
        "\n## Why each error is an error\n\nAn error means the file is wrong: the control plane \
rejects it, or it certainly does not do what it says (a name defined nowhere, a key written \
twice), or the intents, tsacl's own language, say so. Each default-`error` rule names what \
shows it; `tests/registry_evidence.rs` replays every cited capture. Rules whose evidence is only \
for the other direction are warnings, whatever tsacl expects. A file that is wrong on purpose \
(a template CI fills in) passes with `--severity CODE=warning` or a \
`// tsacl-ignore: CODE reason` comment.\n\n| code | evidence |\n|---|---|\n",
    );
    for r in RULES {
        if let Some(evidence) = r.evidence {
            out.push_str(&format!(
                "| {} | {} |\n",
                r.id,
                evidence.describe().replace('|', "\\|")
            ));
        }
    }
    out
}

/// Look a rule up by code (`TSA001`, case-insensitive) or name (`hujson-syntax`).
pub fn find(query: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(query) || r.name == query)
}

rules! {
    Syntax = "TSA001", "hujson-syntax", Error(Source("tailscale/hujson parse errors (the vectors in conformance/hujson/upstream); the control plane reads policies with it and answers `hujson: line L, column C: ...` (gitops-pusher parses that shape)")),
        "The file is not valid HuJSON",
        "The policy file must be HuJSON: JSON plus `//` and `/* */` comments and trailing commas. \
The control plane rejects anything else with the same `hujson: line L, column C: ...` message.\n\
Violation: `{\"acls\": [,]}`\nFix: `{\"acls\": []}`";
    DuplicateKey = "TSA002", "duplicate-key", Error(Source("tailscale/tailscale#2807 (2021): an ACL object with `Action`, `Users`, `Ports` written three times was saved and only the last rule was active; headscale, which follows the control plane, decodes with go-json-experiment's v2 defaults (`policyJSONOpts` in hscontrol/policy/v2/types.go), which reject duplicate member names (RFC 7493 section 2.3)")),
        "An object has the same key twice",
        "A key written twice never does what the file says: one of the two values is lost. Go's \
encoding/json decodes the later value into the same place (the later wins, objects merge, a list \
replaces the earlier one), and tailscale#2807 shows rules silently lost that way; headscale \
rejects the file. The finding shows both places: the first key as a label, the repeated one as \
the primary location. tsacl reads the rest of the file as encoding/json does, so the other \
findings match what the control plane would use. Keys are compared exactly, and for policy \
fields also case-insensitively, as the decoder matches field names. \
A file generated on purpose with repeated keys stays possible: `--severity TSA002=warning`, or \
`// tsacl-ignore: TSA002 reason` on the line before the repeated key.\n\
Violation: `{\"groups\": {\"group:a\": [\"x@example.com\"]}, \"groups\": {}}`\nFix: merge the two into one key.";
    UnknownField = "TSA003", "unknown-field", Warning,
        "A key the policy language does not define",
        "Tailscale keeps adding sections (for example `attrConfig`, `nodeVisibility`), so tsacl \
reports unknown keys as warnings rather than errors and keeps them on round-trip. A misspelt \
key, however, means the intended setting is silently absent. A comment written as a key \
(`\"//\": …`, `\"comment\": …`, as files kept as plain JSON do) is worded as such, and three or \
more in a file are one warning with a label at each: the file is HuJSON, which has comments.\n\
Violation: `{\"grants\": [{\"src\": [\"*\"], \"dts\": [\"*\"], \"ip\": [\"*\"]}]}`\nFix: `\"dst\"`.";
    WrongType = "TSA004", "wrong-type", Error(Source("Go encoding/json: a value whose JSON type cannot be stored in the field is an UnmarshalTypeError, and the control plane decodes policies with it")),
        "A value has the wrong JSON type",
        "Each field has one JSON type (for example `src` is an array of strings). The control plane \
cannot decode a policy where it differs.\n\
Violation: `\"src\": \"group:eng\"`\nFix: `\"src\": [\"group:eng\"]`";
    NonCanonicalKey = "TSA005", "non-canonical-key", Warning,
        "A key is spelt in a legacy or non-canonical way",
        "The control plane accepts field names in any case and a few legacy names \
(`users`/`ports` in ACLs, `user`/`allow` in tests), but the documented spelling is clearer and \
is what Tailscale's own tools write.\n\
Violation: `\"ACLs\": [...]`, `{\"action\": \"accept\", \"users\": [...], \"ports\": [...]}`\n\
Fix: `\"acls\"`, `\"src\"`, `\"dst\"`.";
    MissingField = "TSA006", "missing-field", Error(PublishedCapture("headscale testdata acl-err06: `action=\"deny\" is not supported`; a missing action is the empty string to the same check")),
        "A required field is missing",
        "Some fields are required by the control plane, for example an ACL's `action`.\n\
Violation: `{\"src\": [\"*\"], \"dst\": [\"*:*\"]}`\nFix: add `\"action\": \"accept\"`.";
    UndefinedTag = "TSA010", "undefined-tag", Error(Capture("acl/acl-err04")),
        "A tag is used but not defined in tagOwners",
        "Every tag must have an entry in `tagOwners` before it can be used anywhere: in rules, \
`via`, SSH rules, node attributes, auto-approvers or as another tag's owner.\n\
Violation: `\"src\": [\"tag:ci\"]` with no `\"tag:ci\"` in `tagOwners`\n\
Fix: `\"tagOwners\": {\"tag:ci\": [\"group:devops\"]}`";
    InvalidTagName = "TSA011", "invalid-tag-name", Error(Capture("ssh/ssh-unicode-cyrillic-tag")),
        "A tag name breaks the control plane's naming rules",
        "Tags are `tag:` followed by an ASCII letter, then ASCII letters, digits or dashes.\n\
Violation: `tag:1server`, `tag:web_server`, `tag:сервер`\nFix: `tag:server1`, `tag:web-server`.";
    UndefinedGroup = "TSA012", "undefined-group", Error(Source("the control plane's answer to the validate call, quoted in tailscale/terraform-provider-tailscale#546 (2025): `ACL validation failed: group not found: \"group:...\"`; headscale rejects it too (`ErrGroupNotDefined`, `group not defined in policy`, hscontrol/policy/v2/types.go)")),
        "A group is used but not defined in groups",
        "A `group:` selector must name a key of `groups` (SCIM-synced groups written \
`group:name@domain` are the exception); the control plane answers `group not found: \"group:eng\"`. \
A policy whose `groups` CI fills in from a template stays possible: `--severity TSA012=warning` for \
that run, or `// tsacl-ignore: TSA012 reason` on the line before the use.\n\
Violation: `\"src\": [\"group:eng\"]` with no `group:eng`\nFix: define it in `groups`.";
    RecursiveGroup = "TSA013", "recursive-group", Error(Capture("ssh/ssh-group-nested-two-deep")),
        "A group contains another group",
        "Groups cannot contain groups; the control plane rejects the policy.\n\
Violation: `\"group:all\": [\"group:eng\"]`\nFix: list the users of `group:eng` in `group:all`.";
    InvalidGroup = "TSA014", "invalid-group", Warning,
        "A group is malformed",
        "Group names start with `group:` and their members are users (login names). \
Unconfirmed: no recorded control-plane answer or documentation shows that the control plane \
rejects this, so it is a warning; raise it with `--severity TSA014=error`, and `tsacl push` asks the \
server before writing. A member written `${VAR}` (or another `${...}`) is reported as a template \
placeholder that was not filled in: the file was pushed or checked before its generator ran.\n\
Violation: `\"groups\": {\"eng\": [\"tag:x\"]}`\nFix: `\"groups\": {\"group:eng\": [\"alice@example.com\"]}`";
    UndefinedHost = "TSA015", "undefined-host", Error(Capture("nodeattrs/nodeattrs-error-e2-bad-target")),
        "A bare name is neither a host alias nor an IP address",
        "A selector without a prefix must be a key of `hosts` or an IP address or CIDR; the \
control plane rejects anything else as an invalid address. Policies never resolve DNS names: \
`db.example.ts.net:5432` is read as an undefined host alias (in 2022 the control plane even accepted \
such a rule and silently dropped it, tailscale#5532), so tsacl's help then suggests the host alias \
or the tag and address of the device by that name (from `--inventory`).\n\
Violation: `\"dst\": [\"databse:5432\"]` where `hosts` has `database`\nFix: `\"database:5432\"`.";
    InvalidHost = "TSA016", "invalid-host", Error(Source("tailscale/tailscale#7886 (2023): the server answered `host names cannot include an @, please change the name for ...`")),
        "A hosts entry is malformed",
        "Host alias names cannot contain `@` (or `:`), and each value must be one IP address or CIDR.\n\
Violation: `\"hosts\": {\"db@prod\": \"10.0.0.5\"}`\nFix: `\"hosts\": {\"db-prod\": \"10.0.0.5\"}`";
    UnknownAutogroup = "TSA017", "unknown-autogroup", Error(Source("Tailscale docs, policy syntax reference (kb/1337, Autogroups): the autogroups are a fixed table, and a name outside it selects nothing; headscale rejects one when it reads the policy (`AutoGroup.UnmarshalJSON`: `invalid autogroup: got ..., must be one of [...]`, hscontrol/policy/v2/types.go)")),
        "An autogroup that does not exist",
        "Autogroups are a fixed list (member, tagged, self, internet, shared, danger-all, nonroot and \
the role autogroups owner, admin, member, it-admin, network-admin, billing-admin, auditor). Any \
other name is defined nowhere, so the rule cannot do what it says. (No recorded answer shows the \
control plane's message: the one capture with `autogroup:bogus` has it as a test source, which \
fails for every autogroup.) A file that must pass anyway: `--severity TSA017=warning`, or \
`// tsacl-ignore: TSA017 reason`.\n\
Violation: `autogroup:members-only`\nFix: `autogroup:member`.";
    InvalidSelector = "TSA018", "invalid-selector", Error(PublishedCapture("headscale testdata nodeattrs-error-e2-bad-target: `\"%bogus%\": invalid address`, the same address parser")),
        "A selector cannot be parsed",
        "Selectors are `*`, users (`alice@example.com`), `user:*@domain`, `group:`, `tag:`, \
`autogroup:`, `ipset:`, `svc:`, host aliases, IP addresses and CIDRs.\n\
Violation: `\"%bogus%\"`\nFix: a defined host alias or an IP address.";
    SelectorNotAllowed = "TSA019", "selector-not-allowed", Error(Capture("grant/grant-k7")),
        "A selector is not allowed in this position",
        "Some selectors only make sense on one side: `autogroup:self` only as a destination, \
`autogroup:danger-all` and `autogroup:shared` only as sources, `autogroup:internet` only as a \
destination, IP ranges only in ipsets, and so on.\n\
Violation: `\"src\": [\"autogroup:self\"]`\nFix: `\"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self:*\"]`";
    SelfWithNonUserSource = "TSA020", "self-with-non-user-source", Error(Capture("acl/acl-err08")),
        "autogroup:self with a source that is not a user",
        "`autogroup:self` means \"the source user's own devices\", so every source of such a rule must \
be a user, a group or a user autogroup; tags, `*`, IPs and hosts are rejected. The same holds in \
`ssh` rules, where the recorded answer is the ACL one (headscale rejects it there too: \
`autogroup:self destination requires source to contain only users or groups`; no SSH capture).\n\
Violation: `{\"src\": [\"*\"], \"dst\": [\"autogroup:self\"], \"ip\": [\"*\"]}`\n\
Fix: `\"src\": [\"autogroup:member\"]`.";
    LegacyAutogroupMix = "TSA021", "legacy-autogroup-mix", Error(Source("Tailscale docs, policy syntax reference (kb/1337, Autogroups): `You cannot use both autogroup:member and autogroup:members in the same tailnet policy file.`")),
        "autogroup:members and autogroup:member in one file",
        "`autogroup:members` is the legacy spelling of `autogroup:member`; the policy syntax reference \
says the two cannot be used in the same tailnet policy file. (No recorded answer shows the control \
plane's message.) A file that must pass anyway: `--severity TSA021=warning`, or \
`// tsacl-ignore: TSA021 reason`.\nViolation: `\"src\": [\"autogroup:members\"], \"dst\": [\"autogroup:member:*\"]`\n\
Fix: use `autogroup:member` everywhere.";
    UndefinedIpSet = "TSA022", "undefined-ipset", Error(Source("Tailscale docs, IP sets (kb/1387) and the policy syntax reference (kb/1337): an `ipset:` reference names a set created in the policy file's `ipsets` section, the only place IP sets come from; one defined nowhere selects nothing, so the file certainly does not do what it says (no recorded answer shows the control plane's message)")),
        "An ipset is used but not defined",
        "An `ipset:` selector must name a key of `ipsets`: IP sets exist only in the policy file, so \
one defined nowhere is a typo or a leftover, and the rule cannot do what it says. A generated \
policy stays possible: `--severity TSA022=warning`, or `// tsacl-ignore: TSA022 reason`.\n\
Violation: `\"dst\": [\"ipset:prod\"]` with no `ipset:prod`\nFix: define it.";
    InvalidIpSet = "TSA023", "invalid-ipset", Error(Source("Tailscale docs, IP sets (kb/1387), Limitations: no tags, users or groups in IP sets, no circular references")),
        "An ipsets entry is malformed",
        "Each ipset is a list of `add <target>` / `remove <target>` operations (or bare targets when \
nothing is removed); targets are IPs, CIDRs, ranges, `host:<alias>`, `ipset:<name>` or \
`autogroup:internet`, with no cycles.\nViolation: `\"ipset:a\": [\"add tag:x\"]`\nFix: `\"ipset:a\": [\"add 10.0.0.0/8\"]`";
    UndefinedPosture = "TSA024", "undefined-posture", Error(Source("Tailscale docs, device posture (kb/1288) and the policy syntax reference (kb/1337, Postures): `srcPosture` and `defaultSrcPosture` name postures defined in the policy file's `postures` section, the only place they come from; one defined nowhere cannot be met as written, so the file certainly does not do what it says (no recorded answer shows the control plane's message)")),
        "A posture is used but not defined",
        "`srcPosture` and `defaultSrcPosture` name keys of `postures`, which exist only in the policy \
file; a posture defined nowhere is a typo or a leftover, and the rule's condition is not the one \
written. A generated policy stays possible: `--severity TSA024=warning`, or \
`// tsacl-ignore: TSA024 reason`.\nViolation: `\"srcPosture\": [\"posture:latest-mac\"]` with no such \
posture\nFix: define the posture.";
    InvalidPosture = "TSA025", "invalid-posture", Warning,
        "A posture condition is malformed",
        "Posture conditions are `<attribute> <operator> <value>`, for example \
`node:os IN ['macos', 'windows']` or `node:tsVersion >= '1.60'`. \
Unconfirmed: no recorded control-plane answer or documentation shows that the control plane \
rejects this, so it is a warning; raise it with `--severity TSA025=error`, and `tsacl push` asks the \
server before writing.\nViolation: `node:os = 'macos'`\n\
Fix: `node:os == 'macos'`.";
    InvalidAction = "TSA030", "invalid-acl-action", Error(PublishedCapture("headscale testdata acl-err06: `action=\"deny\" is not supported`")),
        "An ACL's action is not \"accept\"",
        "Tailscale policies are default-deny and purely additive: `accept` is the only ACL action.\n\
Violation: `\"action\": \"deny\"`\nFix: remove the rule, and narrow the rules that allow the flow.";
    InvalidPort = "TSA031", "invalid-port", Error(PublishedCapture("headscale testdata acl-err07 and grant-k23: `port range \"ssh\": invalid first integer`, `port range \"0\": first port must be >0 ...`")),
        "A port or port range is malformed",
        "Ports are `*`, `N`, `N-M` or a comma list of those (ACL destinations), with 1 <= N <= M <= \
65535; named ports such as `ssh` are not supported.\nViolation: `tag:server:ssh`, `tag:server:0`\n\
Fix: `tag:server:22`, `tag:server:*`.";
    InvalidProtocol = "TSA032", "invalid-protocol", Error(Source("tailcfg.ParseProtoPortRanges and ipproto.Proto.UnmarshalText in tailscale/tailscale, the parser of grant `ip` (see model::ports::IpSpec)")),
        "A protocol is unknown or malformed",
        "Protocols are IANA names (tcp, udp, icmp, sctp, gre, esp, ah, igmp, ...) or numbers 1-255; \
protocols without ports (anything but tcp, udp, sctp) only take the port `*`.\n\
Violation: `\"proto\": \"http\"`\nFix: `\"proto\": \"tcp\"`.";
    MissingPort = "TSA033", "missing-port", Error(Capture("acl/acl-err03")),
        "An ACL destination has no port",
        "ACL destinations are `host:ports`, split at the last colon, so `autogroup:self` alone is read \
as host `autogroup` with port `self`.\nViolation: `\"dst\": [\"tag:server\"]`\nFix: `\"dst\": [\"tag:server:*\"]`.";
    EmptyGrant = "TSA040", "grant-without-capabilities", Error(Capture("grant/grant-h1")),
        "A grant has neither ip nor app",
        "A grant must give network access (`ip`) or application capabilities (`app`), or both.\n\
Violation: `{\"src\": [\"*\"], \"dst\": [\"*\"]}`\nFix: add `\"ip\": [\"*\"]`.";
    AllAddressesDst = "TSA041", "all-addresses-dst", Error(Capture("grant/grant-v05")),
        "A grant destination is 0.0.0.0/0 or ::/0",
        "The control plane rejects `/0` prefixes as grant destinations: use `*` for every tailnet \
address or `autogroup:internet` for exit-node traffic.\nViolation: `\"dst\": [\"0.0.0.0/0\"]`\n\
Fix: `\"dst\": [\"autogroup:internet\"]`.";
    InvalidCapability = "TSA042", "invalid-capability", Error(Capture("grant/grant-a5")),
        "An app capability name is malformed or reserved",
        "Capability names have the form `{domain}/{path}` (no scheme). Names under tailscale.com are \
reserved for the capabilities Tailscale defines (cap/drive, cap/kubernetes, cap/relay, ...); this is \
an error for the names the control plane is recorded rejecting (cap/funnel, cap/relay-target), and \
TSA045 for other names tsacl does not know.\n\
Violation: `https://example.com/cap/x`\nFix: `example.com/cap/x`.";
    AppWithInternet = "TSA043", "app-with-internet", Error(Capture("grant/grant-v01")),
        "App capabilities granted to autogroup:internet",
        "Application capabilities apply to tailnet devices; the control plane rejects `app` together \
with `autogroup:internet`.\nFix: split the grant.";
    ViaNotTag = "TSA044", "via-not-tag", Error(Capture("grant/grant-i4")),
        "A via entry is not a tag",
        "`via` restricts which exit nodes, subnet routers or app connectors carry the traffic; it only \
takes tags.\nViolation: `\"via\": [\"autogroup:tagged\"]`\nFix: `\"via\": [\"tag:exit-eu\"]`.";
    UnknownTailscaleCapability = "TSA045", "unknown-tailscale-capability", Warning,
        "An app capability under tailscale.com that tsacl does not know",
        "The control plane accepts only the tailscale.com capabilities Tailscale defines and rejects \
the others (`capability name must not be in the tailscale.com domain`). Its list grows with \
Tailscale's features (Tailscale PAM's `tailscale.com/cap/pam`, say), so a name tsacl does not know \
is a warning: a misspelling is named with the capability it is closest to, and `tsacl push` has the \
control plane decide the rest.\n\
Violation: `\"tailscale.com/cap/drvie\": [{}]`\nFix: `\"tailscale.com/cap/drive\": [{}]`.";
    SshAction = "TSA050", "ssh-action", Error(Capture("ssh/ssh-malformed-action-deny")),
        "An SSH rule's action is missing or invalid",
        "SSH actions are exactly `accept` or `check` (lower case).\nViolation: `\"action\": \"Accept\"`\n\
Fix: `\"action\": \"accept\"`.";
    SshUsers = "TSA051", "ssh-users", Error(Capture("ssh/ssh-malformed-user-empty")),
        "An SSH rule's users are missing or invalid",
        "Every SSH rule lists the local users it allows: names, `root`, `autogroup:nonroot` or \
`localpart:*@domain`; `*` and empty names are rejected.\nViolation: `\"users\": [\"*\"]`\n\
Fix: `\"users\": [\"autogroup:nonroot\"]`.";
    SshCheckPeriod = "TSA052", "ssh-check-period", Error(Capture("ssh/ssh-malformed-checkperiod-negative")),
        "An SSH checkPeriod is malformed or out of range",
        "`checkPeriod` is a Go duration (`12h`, `30m`) between 0 and 168h, or `always`.\n\
Violation: `\"checkPeriod\": \"1w\"`\nFix: `\"checkPeriod\": \"168h\"`.";
    SshAcceptEnv = "TSA053", "ssh-accept-env", Error(Capture("ssh/ssh-malformed-acceptenv-empty")),
        "An SSH acceptEnv entry is empty",
        "`acceptEnv` lists environment variable names or patterns with `*` and `?`; empty strings are \
rejected.";
    SshDst = "TSA054", "ssh-destination", Error(Capture("ssh/ssh-hosts-as-dst-single-ip")),
        "An SSH destination is not allowed",
        "SSH destinations are tags, `autogroup:tagged`, `autogroup:self`, or a user (only from that \
same user); host aliases, IPs and `*` are rejected. A user destination reached from other sources \
is rejected with `users in dst are only allowed from the same user` (the control plane's answer, \
quoted in juanfont/headscale#3010; no capture).\nViolation: `\"dst\": [\"db-host\"]`\n\
Fix: `\"dst\": [\"tag:db\"]`.";
    SshSrc = "TSA055", "ssh-source", Error(Source("Tailscale SSH docs (kb/1337 `ssh`, kb/1396): sources are users, groups, tags and autogroups; tags reach only tagged devices; `check` needs a user")),
        "An SSH source is not allowed, or cannot reach its destination",
        "SSH sources are users, groups, tags, `autogroup:member`, `autogroup:tagged` and \
`user:*@domain`; tagged sources may only reach tagged destinations.\nViolation: \
`{\"src\": [\"*\"], ...}`\nFix: `{\"src\": [\"autogroup:member\"], ...}`.";
    DomainNotInTailnet = "TSA056", "domain-not-in-tailnet", Error(Capture("ssh/ssh-d1")),
        "user:*@domain or localpart:*@domain names a domain outside the tailnet",
        "Domain selectors only work for domains associated with the tailnet. tsacl checks this when \
it knows the tailnet's domains (`--tailnet-domain`, or the intents file); a domain holding `*` \
(`localpart:*@*`) is no tailnet's, and is reported from the file alone (capture \
`ssh/ssh-malformed-user-localpart-multi-glob`: a domain is matched as written, never as a \
pattern).\n\
Violation: `user:*@example.org` in a tailnet of example.com\nFix: `user:*@example.com`.";
    NodeAttrTarget = "TSA060", "node-attr-target", Error(Capture("nodeattrs/nodeattrs-error-e3-autogroup-self")),
        "A nodeAttrs target is not allowed",
        "Node attribute targets are `*`, users, groups, tags, host aliases, IPs, CIDRs and the \
autogroups member, tagged and the role autogroups. `autogroup:self` makes the control plane fail \
with an internal server error.";
    IpPool = "TSA061", "ip-pool", Error(Capture("nodeattrs/nodeattrs-error-e4-reserved-ippool")),
        "A nodeAttrs ipPool is outside the allowed range",
        "`ipPool` prefixes must lie inside 100.64.0.0/10 and must not overlap the ranges Tailscale \
reserves: 100.100.0.0/24, 100.100.100.0/24 and 100.115.92.0/23 (\"Unavailable for IP pools\"; \
\"IP pools can't overlap reserved ranges\", Tailscale's Reserved IP addresses, kb/1610; headscale \
rejects an overlap too). The control plane answers `IPPool(100.100.100.0/24): network within \
reserved range` for a pool inside one; a pool that contains one (`100.100.0.0/16`) overlaps it.\n\
Violation: `100.100.100.0/24`\nFix: `100.81.0.0/16`.";
    InvalidTest = "TSA070", "invalid-test", Error(Capture("policytest/policytest-malformed-test-missing-src")),
        "A tests entry is malformed",
        "Each test has one `src` (a user, group, tag, host alias or IP) and `accept`/`deny` \
destinations written `host:port` with one numeric port; no `*`, lists, ranges or CIDRs. The \
control plane answers `test(s) failed` for any of these.\nViolation: `\"accept\": [\"tag:web:80,443\"]`\n\
Fix: `\"accept\": [\"tag:web:80\", \"tag:web:443\"]`.";
    InvalidSshTest = "TSA071", "invalid-ssh-test", Error(Capture("sshtest/sshtest-malformed-dst-autogroup-internet")),
        "An sshTests entry is malformed",
        "Each SSH test has a `src` (not an autogroup), `dst` hosts (users, groups, tags or host \
aliases; no ports, CIDRs or autogroups) and `accept`/`check`/`deny` usernames.";
    SshTestWithoutDst = "TSA072", "ssh-test-without-dst", Warning,
        "An sshTests entry names no destination",
        "An SSH test without `dst` asserts nothing. headscale rejects it (`SSH tests entry must have \
at least one dst`), but no recorded answer shows that Tailscale's control plane does, and a policy \
applied to a live tailnet on every push carries one (tristanheaven/tailscale-config), so it is a \
warning.\nFix: `\"dst\": [\"tag:server\"]`.";
    InvalidValue = "TSA080", "invalid-value", Warning,
        "A setting has a value the control plane does not accept",
        "For example `OneCGNATRoute` is one of \"\", \"mac-always\", \"mac-never\". \
Unconfirmed: no recorded control-plane answer or documentation shows that the control plane \
rejects this, so it is a warning; raise it with `--severity TSA080=error`, and `tsacl push` asks the \
server before writing.";
    TestFailed = "TSA100", "test-failed", Error(Capture("policytest/policytest-accept-fail-group-src-tag-dst")),
        "A tests entry fails",
        "tsacl evaluates the policy's `tests` offline with the control plane's semantics: each \
`accept` destination must be reachable from `src` on its port (with `proto`, or TCP or UDP when \
absent), and no `deny` destination may be. The control plane rejects a policy whose tests fail \
(`test(s) failed`). The diagnostic names the rules that allow a denied flow, or the rule that \
comes closest to an accepted one. A `via` grant counts only where the control plane sends it: to \
devices with a via tag, for their approved routes (captures `grant/via-grant-v47`, \
`grant/grant-v11`), never for a device's own address; headscale's evaluator of `tests`, checked \
against the recorded `policytest` captures, leaves via grants out altogether. A test from a \
group is read as the control plane's test run appears to read it: from one user of that group \
alone (a member without a role, in no other group), not from each member; policies applied on \
every push by gitops-acl-action deny a group what one of its members reaches through another \
group (cedi/dotfiles) or a role (madsbv/nix), and the captures agree with either reading. Such a \
test fails (this error) only when it also fails for each member; when it holds for each member \
but not for a user of the group alone, it is TSA102. A rule with a device posture (its \
`srcPosture`, else `defaultSrcPosture`) allows a test's flow only when the test's \
`srcPostureAttrs` meet one of its postures, each condition read as Tailscale's device posture \
documentation (kb/1288) and the policy file reference describe it: every condition must hold, \
and an attribute the test does not give fails any condition on it. Where they do not decide \
(strings that differ only in case, versions that differ only by trailing zeros or are not dotted \
numbers, a value of another type than the condition's), or the test gives no `srcPostureAttrs`, \
a deny test that only such rules fail is TSA102, and an accept test passes. Devices shared in \
from another tailnet are not checked for posture.\nViolation: `{\"src\": \"tag:ci\", \"deny\": [\"tag:db:5432\"]}` while a \
grant lets tag:ci reach tag:db\nFix: narrow the grant, or correct the test.";
    SshTestFailed = "TSA101", "ssh-test-failed", Error(Capture("sshtest/sshtest-accept-fail-wrong-login-user")),
        "An sshTests entry fails",
        "tsacl evaluates `sshTests` against the `ssh` rules offline: each user in `accept` must be \
allowed without check, each in `check` only after a check, and each in `deny` not at all, for \
every `dst`. With `--inventory`, a `dst` that no listed device holds fails a test that expects \
someone to log in (`accept` or `check`): the file is wrong whatever the control plane answers, \
since it fails the test or the test asserts nothing; a test that only denies is TSA102 there. \
An SSH rule with a `srcPosture` decides a login only for a test whose `srcPostureAttrs` meet its \
posture (read as for `tests`, TSA100); otherwise the next matching rule does. A login that such a \
posture decides when the test gives no `srcPostureAttrs`, or that the policy's \
`defaultSrcPosture` would decide (no document says whether SSH rules take it), is TSA102 unless \
every way it could go fails the test.";
    TestUndecidable = "TSA102", "test-undecidable", Warning,
        "A test cannot be decided without an inventory",
        "The control plane runs tests against the tailnet as it is; a policy file does not say \
everything that decides them. A user's role (`autogroup:owner`, `autogroup:admin`, ...) and \
whether they are a member or a user shared in from another tailnet come from the API's users \
answer; tsacl tries every assignment (one owner per tailnet) and reports an assertion that \
holds under some and fails under others as this warning, saying what makes it fail (\"holds \
unless alice@example.com is a member without the admin role\"), one finding per test entry with \
each undecided destination as a label. Offline, when four or more test entries are undecided for \
devices' addresses (rules or tests that name devices by address or host alias), they are one \
finding that marks each and says once what decides them: `--inventory`, or naming those devices \
by tag or user. Two or more entries that fail under one and the same condition on roles or \
membership are one finding too, marking each (a personal tailnet's tests of its owner's access \
all hold unless the owner lacks the owner role); an entry under its own condition keeps its own \
finding. Users the policy names count as members unless \
`--inventory` or `--tailnet-domain` says otherwise (stated once per file, TSA104), and a deny \
test that holds for everyone outside the tailnet is no finding. An \
assertion that fails under every assignment is still an error (TSA100/TSA101). An IP address \
(or host alias) in the tailnet's range that no known device holds may be any device's: an \
assertion that a rule naming devices by who they are (a user, group, tag or autogroup) would \
change if it were, is undecidable the same way (\"holds only if 100.100.0.5 is the address of \
no device of alice@example.com\"), and so is one a `via` rule would change (it reaches an \
address only where a router routes it, never as a device's own); one that no such rule could \
change is decided. A Tailscale Service's address that a rule's address range may or may not \
take in is undecidable too, and so is a device tsacl stands in for (a tag or user without an \
inventory device) under a rule whose address destination or source (an IP, CIDR, range, host \
alias or IP set) covers part of the tailnet's range: its real address decides, as in the \
intents proof (TSA103). tsacl tests two devices at their IPv4 addresses, as the recorded \
answers agree with; a flow that only a rule naming IPv6 addresses opens (the same devices' IPv4 \
flow is denied) is undecidable with or without an inventory, since no recorded answer shows \
whether the control plane's test run counts IPv6 flows. An `sshTests` entry that only denies, \
with a `dst` no inventory device holds, is undecidable too: nobody can log in there, and no \
recorded answer shows whether the control plane fails a destination that is no device. A \
test from a group that holds for each of its members but not for a user of the group alone is \
undecidable too (see TSA100: the control plane's test run appears to read a group the second \
way, and no capture records a group whose members fare differently). \
`--inventory` (devices and users saved by `tsacl pull --inventory`) decides roles, membership \
and devices; `--tailnet-domain` makes users of the tailnet's domains members.\nViolation: \
`{\"src\": \"owner@example.com\", \"accept\": [\"owner@example.com:22\"]}` where only \
`autogroup:owner` may reach port 22\nFix: pass `--inventory`, or ignore the code if the \
assumption is known to hold.";
    ProofUndecided = "TSA103", "proof-undecided", Warning,
        "A rule's destination address may be a service's; only an inventory can tell",
        "The intents proof decides who reaches each service for any devices the tailnet may have. A \
destination address inside the tailnet's range (100.64.0.0/10, fd7a:115c:a1e0::/48) that does not \
cover it whole, and that no intents device is known by, may be the address of a service's device \
or not: devices get their addresses when they join. When the rule's sources include principals the \
service's intent does not allow, tsacl says so as this warning; with `--inventory` the proof uses \
the devices' real addresses and reports an error (TSA113) when the address is a service's.\n\
Violation: `{\"src\": [\"*\"], \"dst\": [\"100.101.4.1\"], \"ip\": [\"*\"]}` without an inventory\n\
Fix: name the destination by its tag, or pass `--inventory`.";
    AssumedMembers = "TSA104", "assumed-members", Info,
        "Tests were decided assuming the users the policy names are members",
        "A policy file does not say whether a user it names is a member of the tailnet or a user \
shared in from another one, and some tests hold only for members. Without `--inventory` or \
`--tailnet-domain`, tsacl reads the users the policy names as members, as their author most \
likely means, where that decides a test, and says so once per file with this note (naming them) \
instead of a warning per test. The assumption never makes a test fail. A deny test whose source \
is named nowhere but in tests is read as being about someone outside the tailnet, who gets no \
access or only what a user shared in gets (an unknown user is no source at all, as the capture \
policytest-src-unknown-user-email shows). `--inventory` (the tailnet's users, saved by \
`tsacl pull --inventory`) or `--tailnet-domain` decides membership instead.";
    UnknownIntentName = "TSA110", "unknown-intent-name", Error(Intents),
        "A service's `from` (or its Funnel `via`) names nothing the intents define",
        "`from` entries are device names from `devices`, groups, users (with @), tags or \
autogroups; `funnel: { via: ... }` names a device from `devices`.\nViolation: `from: [\"pandaa\"]`\nFix: `from: [\"panda\"]`.";
    UnreachableService = "TSA111", "unreachable-service", Warning,
        "A service nobody may reach",
        "A service with an empty `from` gets a tag but no grant: nothing can reach it. That is \
sometimes intended (a service being retired), so this is a warning.";
    StaleOutput = "TSA112", "stale-output", Error(Intents),
        "The committed policy is not what the intents compile to",
        "The compiled policy is committed next to the intents; it must be regenerated after every \
change to the intents or the base file, or what is pushed is not what was reviewed.\n\
Fix: run `tsacl compile` and commit the result.";
    ExtraAccess = "TSA113", "extra-access", Error(Intents),
        "A principal can reach a service the intents do not allow",
        "tsacl proves that, in the final policy (base rules included), exactly the principals in a \
service's `from` can reach it, and only on its `ports`. Every rule counts, on every protocol and \
port: a destination that takes in the service's devices (its tag, `*`, `autogroup:tagged`, an \
address range covering the tailnet's, or with `--inventory` a device's own address) and sources \
that take in a principal (a device, a user, a tag, a role, `autogroup:member`, an address). ICMP \
is implied for whoever may reach the service. One finding per rule and service lists who gets \
what beyond the intent, at the rule's destination where it is written (the base file, or the \
intent). A committed policy that is not what the intents compile to (TSA112) is proven as it is \
too: what a hand edit opens is reported at the edited line of that file. `compile` refuses to \
write while there is such a finding.\n\
Violation: `{\"src\": [\"autogroup:member\"], \"dst\": [\"*\"], \"ip\": [\"tcp:22\"]}` in the base \
while `redis: { ports: [6379], from: [\"panda\"] }`\n\
Fix: narrow that rule (a destination by tag, not `*`), or add the principal to `from` and the \
port to `ports`; for ports one source alone needs, write that source in `from` with its own \
ports, `{ source: \"clanker-001\", ports: [6380] }` (they replace the service's for it).";
    MissingAccess = "TSA114", "missing-access", Error(Intents),
        "A principal the intents allow cannot reach the service",
        "The final policy does not let a principal in `from` reach the service on one of its ports.";
    IntentConflict = "TSA115", "intent-conflict", Error(Intents),
        "The intents and the base file define the same name differently",
        "Groups, hosts and tags may be defined in both the intents and the base policy only when \
both definitions are the same.";
    UnknownIntentKey = "TSA116", "unknown-intent-key", Error(Intents),
        "A key the intents language does not have",
        "The intents file is tsacl's own language, so a key it does not know is a typo, and a typo \
there silently changes access: `form: [\"panda\"]` leaves the service with no `from` at all. The \
finding names the nearest known key. `tsacl compile` writes nothing while the intents have errors.\n\
Violation: `redis: { ports: [6379], form: [\"panda\"] }`\nFix: `redis: { ports: [6379], from: [\"panda\"] }`.";
    FunnelPath = "TSA117", "funnel-path", Error(Intents),
        "A service's Funnel does not say, or cannot take, the path it runs through",
        "Funnel terminates on one node, which needs the `funnel` attribute: a device that forwards \
to the service (`funnel: { via: \"panda\" }`, e.g. Caddy on the host), or, with the Kubernetes \
operator, an Ingress the operator serves (`funnel: \"ingress\"`: `ingressClassName: tailscale` and \
`tailscale.com/funnel: \"true\"`, proxied on the service's first TCP port). A Service the operator \
exposes with `tailscale.com/expose` cannot serve Funnel, so with an `operator` section `funnel: true` \
must say which path it means; without one (services are ordinary machines) `funnel: true` is the \
service's own devices.\n\
Violation: `worker: { ports: [3111], from: [\"panda\"], funnel: true }` with an `operator` section\n\
Fix: `funnel: { via: \"panda\" }` or `funnel: \"ingress\"`.";
    FunnelViaWithoutAccess = "TSA118", "funnel-via-without-access", Warning,
        "Funnel reaches a service through a device that may not reach it",
        "With `funnel: { via: \"panda\" }` the public internet reaches panda, which forwards to the \
service. If it forwards over the tailnet, panda needs the service's ports, so it belongs in \
`from`. A warning, because the device may forward outside the tailnet (a cluster network, \
localhost).\nFix: `from: [\"panda\"]`.";
    DeviceByUser = "TSA119", "device-by-user", Warning,
        "A device named by its owner stands for every device of that user",
        "`laptop: { user: \"joel@example.com\" }` compiles to the user, so a service that names \
`laptop` in `from` is open to every device joel@example.com owns (the phone, a new machine), not \
one laptop. Reported where such a device is used. To mean one machine, give it a tag \
(`tags: [\"tag:laptop\"]`) or its address (`ip: \"100.101.102.103\"`).";
    K8sUnknownService = "TSA120", "k8s-service-without-intent", Error(Intents),
        "A Kubernetes Service is exposed on the tailnet but has no intent",
        "Every Service the operator exposes (`tailscale.com/expose: \"true\"`) should have an intent, \
or nothing proves who may reach it.";
    K8sMissingService = "TSA121", "k8s-intent-without-service", Error(Intents),
        "An intent has no exposed Kubernetes Service",
        "The intents name a service that no manifest exposes: the grant opens a tag no device carries.";
    K8sHostname = "TSA122", "k8s-hostname", Error(Intents),
        "A Service's tailnet host name differs from its intent",
        "`tailscale.com/hostname` must be the intent's host name (the service name unless `hostname` \
says otherwise); without the annotation the operator uses `<namespace>-<name>`.";
    K8sTag = "TSA123", "k8s-tag", Error(Intents),
        "A Service's tags differ from its intent",
        "`tailscale.com/tags` must carry the intent's tag (default `tag:<service>`), or the grant \
opens nothing, and a shared tag opens every service.";
    K8sTagNotOwned = "TSA124", "k8s-tag-not-owned", Error(Intents),
        "A Service asks for a tag the operator does not own",
        "The operator can only create devices with tags that its own tag owns in `tagOwners`.";
    SharedProxyTag = "TSA125", "shared-proxy-tag", Warning,
        "The operator's shared proxy tag is a destination",
        "The operator gives every proxy the shared proxy tag (`tag:k8s`) unless a Service or Ingress \
names its own tags (`tailscale.com/tags`), so a rule that opens `tag:k8s` to people or other \
devices opens every service exposed that way, today's and tomorrow's. With one such service that \
is fine; with several, a per-service tag (owned by the operator's tag) lets each rule open only \
its service, at the cost of one `tagOwners` entry and one annotation per service. Reported only \
for broad sources (`*`, `autogroup:member`, `autogroup:tagged`, `autogroup:shared`, \
`autogroup:danger-all`, `user:*@domain`, a group of more than 10 members): admins \
(`autogroup:admin`, `autogroup:owner`, `autogroup:it-admin`, `autogroup:network-admin`) and a small \
group written in the file reaching every proxy is a choice a maintainer makes on purpose. Not \
reported either for what the operator's documentation sets up: proxies and the operator reaching each other, \
grants with the `tailscale.com/cap/kubernetes` capability (the API server proxy), and app-only \
grants. Checked when the policy defines `tag:k8s-operator` (then the proxy tag is `tag:k8s`), and \
in an intents project with an `operator` section (with its `proxyTag`).\n\
Violation: `{\"src\": [\"group:dev\"], \"dst\": [\"tag:k8s\"], \"ip\": [\"443\"]}`\n\
Fix: `\"tailscale.com/tags\": \"tag:grafana\"` on the Service and `\"dst\": [\"tag:grafana\"]`.";
    OperatorProxyTagNotOwned = "TSA126", "operator-proxy-tag-not-owned", Warning,
        "The operator's proxy tag is not owned by the operator's tag",
        "The Kubernetes operator creates each proxy with its proxy tag (default `tag:k8s`) unless a \
Service names other tags, and it can only apply tags that its own tag (default `tag:k8s-operator`) \
owns. Without `\"tag:k8s\": [\"tag:k8s-operator\"]` in `tagOwners`, proxies fail with `requested tags \
[...] are invalid or not permitted`. The proxy tag must also differ from the operator's own tag, or \
every proxy gets the operator's access (the API server proxy among it). Checked when the policy \
defines `tag:k8s-operator`, and in an intents project with an `operator` section (with its names). \
The control plane accepts such a policy, so this is a warning.\n\
Violation: `\"tag:k8s\": [\"group:admins\"]`\nFix: `\"tag:k8s\": [\"tag:k8s-operator\"]`.";
    OperatorTagOwner = "TSA127", "operator-tag-owner", Warning,
        "The operator's tag can be applied by too many",
        "Whoever can apply the operator's tag can run a device that acts as the Kubernetes operator, \
and through it create devices with every tag the operator owns. Let admins own it (`[]` or \
`autogroup:admin`) or a small admin group, not the tag itself, another tag, `autogroup:member`, \
`autogroup:tagged` or `user:*@domain`. For the owners of the operator's tag this finding replaces \
broad-tag-owner (TSA212) and tag-owner-cycle (TSA215). Checked like TSA126.\n\
Violation: `\"tag:k8s-operator\": [\"autogroup:member\"]` or `\"tag:k8s-operator\": [\"tag:k8s-operator\"]`\n\
Fix: `\"tag:k8s-operator\": [\"group:k8s-admins\"]`.";
    ServiceTagNotOwned = "TSA128", "service-tag-not-owned", Error(Intents),
        "A service's tag is not owned by the operator's tag",
        "With an `operator` section in the intents, the operator creates each service's proxy with the \
service's tag, which it can only do when its own tag owns that tag in the final policy (intents and \
base merged). TSA124 is the same check for the tags written in Kubernetes manifests.\n\
Violation: the service `redis` with `\"tag:redis\": [\"autogroup:admin\"]` in the final policy\n\
Fix: `\"tag:redis\": [\"tag:k8s-operator\"]`, which is what `tsacl compile` writes.";
    FunnelWithoutAttr = "TSA129", "funnel-without-attr", Error(Intents),
        "Funnel is asked for but the devices lack the funnel attribute",
        "Funnel only works on devices that get the `funnel` node attribute. tsacl checks every intents \
service with Funnel (the node that terminates it: the `via` device, or a device carrying the \
service's tag for `funnel: \"ingress\"` and for `funnel: true` without an operator), and under `tsacl k8s --check` \
every Ingress annotated `tailscale.com/funnel: \"true\"` (a proxy carrying its `tailscale.com/tags`, \
or the operator's proxy tag), against the final policy's `nodeAttrs`.\n\
Violation: an Ingress with `tailscale.com/funnel: \"true\"` and `tailscale.com/tags: \"tag:web\"`, and \
no `nodeAttrs` entry for `tag:web`\n\
Fix: `\"nodeAttrs\": [{\"target\": [\"tag:web\"], \"attr\": [\"funnel\"]}]`.";
    K8sPorts = "TSA130", "k8s-ports", Error(Intents),
        "A Service's ports or protocols differ from its intent",
        "The operator's proxy forwards to the Service, and the Service forwards only the ports it \
lists (`spec.ports`, protocol TCP unless it says UDP or SCTP). Each port the intent grants must be \
one of them, or the grant opens a port nothing serves; a port the Service lists that the intent \
does not grant is unreachable on the tailnet, which means one of the two is wrong. A port range \
of the intent needs every port of it in the Service.\n\
Violation: the intent `qdrant: { ports: [6333, 6334] }` and a Service with `ports: [{port: 6333}]`\n\
Fix: add `- port: 6334` to the Service (or drop 6334 from the intent).";
    K8sFunnelIngress = "TSA131", "k8s-funnel-ingress", Error(Intents),
        "A Funnel intent and the Ingresses that serve Funnel disagree",
        "The operator enables Funnel only on an Ingress (`ingressClassName: tailscale`, annotation \
`tailscale.com/funnel: \"true\"`). A service with `funnel: \"ingress\"` needs such an Ingress whose \
backend is the service's Kubernetes Service; an Ingress that serves Funnel for a service whose intent \
does not say `funnel: \"ingress\"` opens it to the public internet without the intents saying so. \
`tsacl k8s` prints the Ingress each such intent needs.";
    SshIntent = "TSA137", "ssh-intent", Error(Intents),
        "A device's `ssh` intent cannot be compiled",
        "A device's `ssh` entries say who may log in with Tailscale SSH (`from`, like a service's), as \
which local users (`users`), and how (`action`: \"check\", the default, or \"accept\"). Each needs \
`from` and `users`, and the device must be known by its tags: Tailscale SSH reaches a user's own \
devices only from that user.\n\
Violation: `panda: { tags: [\"tag:panda\"], ssh: [{ from: [\"group:admins\"] }] }`\n\
Fix: `ssh: [{ from: [\"group:admins\"], users: [\"root\", \"autogroup:nonroot\"] }]`.";
    K8sManifests = "TSA138", "k8s-manifests", Error(Intents),
        "The manifests the intents name cannot be read",
        "`k8s: { manifests: \"k8s/\" }` in the intents names the cluster's manifests (a YAML file or a \
directory of `*.yaml`/`*.yml`, relative to the intents file); `tsacl check` then compares them with \
the intents as `tsacl k8s --check` does, so a service added to the intents but not to the cluster \
fails the same gate. A path that does not exist, or a file that cannot be read, is this error.\n\
Violation: `k8s: { manifests: \"k8s/\" }` with no `k8s` directory beside the intents\n\
Fix: the path of the manifests, relative to the intents file.";
    K8sYaml = "TSA132", "k8s-yaml", Error(Source("a manifest that is not YAML cannot be applied: kubectl and the Kubernetes API server refuse it")),
        "A Kubernetes manifest is not valid YAML",
        "`tsacl k8s --check` reads every `*.yaml`/`*.yml` file it is given (or finds under a \
directory); one that does not parse is reported at the line and column where the YAML reader \
stopped, and the other files are still checked.";
    FunnelBeyondIntent = "TSA133", "funnel-beyond-intent", Error(Intents),
        "The policy lets the internet reach a service through Funnel, which its intent does not ask for",
        "A `funnel` node attribute lets the devices it targets serve the public internet through \
Funnel. tsacl proves that only services whose intent says `funnel` get it on their own devices: a \
`nodeAttrs` entry (in the base, or edited in the output) whose target takes in a service's devices \
(its tag, `*`, `autogroup:tagged`) opens that service to the internet as soon as its proxy turns \
Funnel on (for the operator, one annotation), whatever its `from` says.\n\
Violation: `\"nodeAttrs\": [{\"target\": [\"*\"], \"attr\": [\"funnel\"]}]` in the base while \
`redis: { ports: [6379], from: [\"panda\"] }`\n\
Fix: target only the nodes meant to terminate Funnel (`tag:panda`), or give the service \
`funnel: true` in its intent if the internet is meant to reach it.";
    AccessGained = "TSA140", "access-gained", Info,
        "A change gives a source access it did not have",
        "Reported by `tsacl diff OLD NEW --format sarif|github`, at the new side's file: between \
the two policies this source gains access to this destination on these protocols and ports. \
Not an error: it is there so a reviewer sees every widening of access in the pull request.";
    AccessLost = "TSA141", "access-lost", Info,
        "A change takes access away from a source",
        "Reported by `tsacl diff OLD NEW --format sarif|github`, at the new side's file: between \
the two policies this source loses access to this destination on these protocols and ports.";
    AccessLockout = "TSA142", "access-lockout", Warning,
        "A change leaves a source with no access at all",
        "Reported by `tsacl diff OLD NEW --format sarif|github`: a user, tag or stand-in that could \
reach something before reaches nothing after the change. That is how a policy edit locks people \
(or the admins themselves) out; make sure it is meant.";
    TransitiveSource = "TSA150", "transitive-source", Warning,
        "Someone outside a service's `from` can become one of its sources",
        "The intents proof holds for one hop: nobody but the principals `from` names opens a \
connection to the service. But whoever can *become* one of those sources reaches the service \
too. tsacl follows the certain \"becomes\" links of the final policy (`tsacl paths` shows \
them): Tailscale SSH (an `ssh` rule letting A log in to B, with tcp:22 open from A to B), tag \
ownership (an owner of a source's tag can tag a device it controls with it), and route or \
exit-node approval (`autoApprovers`). The finding names the chain, at the rule where it \
starts. Chains that start at a role that may edit the policy itself (`autogroup:owner`, \
`autogroup:admin`, `autogroup:network-admin`) are not reported. \"May become\" links (administrative ports, the Kubernetes API-server proxy, Funnel) \
are left to `tsacl paths`, as they take a weakness on the other side. A warning: the policy \
does what it says, but the promise of the intents is weaker than it reads.\n\
Violation: `postgres` with `from: [\"ci-runner\"]`, and an SSH rule letting `group:oncall` log in \
as root to `tag:ci` with tcp:22 open\n\
Fix: narrow the SSH rule (its sources, or non-root users in `check` mode), restrict the tag's \
owners, or add the principal to the service's `from` if the access is intended.";
    UnusedGroup = "TSA200", "unused-group", Warning,
        "A group nothing refers to",
        "A group no rule, SSH rule, tag owner, auto-approver, node attribute or test names does \
nothing; it may be a leftover, or a typo elsewhere.";
    UnusedHost = "TSA201", "unused-host", Warning,
        "A host alias nothing refers to",
        "A `hosts` entry no rule, node attribute, ipset or test names does nothing. A host whose \
range contains hosts that are in use (a subnet written beside the addresses in it) documents where \
they live and is not reported.";
    UnusedIpSet = "TSA202", "unused-ipset", Warning,
        "An ipset nothing refers to",
        "An `ipsets` entry no rule or other ipset names does nothing.";
    UnusedPosture = "TSA203", "unused-posture", Warning,
        "A posture nothing refers to",
        "A `postures` entry no `srcPosture` or `defaultSrcPosture` names does nothing.";
    UnusedTag = "TSA204", "unused-tag", Info,
        "A tag named only in tagOwners",
        "A `tagOwners` entry that nothing else in the policy names: no ACL, grant (`src`, `dst`, \
`via`, capability values such as an app connector's `connectors`), SSH rule, node attribute, \
auto-approver, test or other tag's owner list. That is often deliberate: a tag that only marks \
devices as tagged (no user, no key expiry) is a documented use. So this is a note, saying what the \
tag does: devices carrying it get access only through `*`, `autogroup:tagged` or their \
addresses. With `--inventory` the note says how many devices carry it; when none does, it can be \
removed. When the policy defines the Kubernetes operator's tag (`tag:k8s-operator`, or the \
intents' `operator.tag`), that tag and the operator's proxy tag (`tag:k8s`, or \
`operator.proxyTag`) count as named: whoever installs the operator applies its own tag (its OAuth \
client), and the operator applies the proxy tag to every proxy without tags of its own. Under an \
allow-all rule (TSA210) the note is left out unless `--inventory` shows that no device carries the \
tag: there its devices have all the access there is.\n\
Example: `\"tagOwners\": {\"tag:old-ci\": [\"group:devops\"]}` and nothing names `tag:old-ci`\n\
If its devices need access: `{\"src\": [\"tag:old-ci\"], \"dst\": [\"tag:artifacts\"], \"ip\": [\"443\"]}`.";
    AllowAll = "TSA210", "allow-all", Warning,
        "A rule lets everything reach everything",
        "`*` to `*` on every port is the default policy of a new tailnet; once a policy is written, \
such a rule usually undoes it. Alone, it makes a flat tailnet, which may be meant: the help \
then says how to keep it (a `tsacl-ignore: TSA210` comment on the line before); the finding \
stays, so that `--severity TSA210=error` forbids allow-all rules.\nViolation: `{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"]}`";
    DangerAll = "TSA211", "danger-all-source", Warning,
        "A rule admits autogroup:danger-all",
        "`autogroup:danger-all` takes in every source, including the internet through subnet \
routers and shared devices; Tailscale discourages it.";
    BroadTagOwner = "TSA212", "broad-tag-owner", Warning,
        "Every member may apply a tag",
        "With `autogroup:member` (or `*`-like owners) owning a tag, any user can tag a device and \
so gain whatever the tag may reach.\nFix: let a small group or the operator's tag own it.";
    SshRootFromBroadSource = "TSA213", "ssh-root-from-broad-source", Warning,
        "SSH as root from a broad source",
        "An SSH rule that lets `autogroup:member` (or every member of a large group) log in as \
root in `accept` mode on devices that are not their own gives everyone root there; prefer \
`check` mode and named users. Root on a member's own devices (`autogroup:self`), the pattern of \
Tailscale's default policy, is not a finding.\n\
Violation: `{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"tag:prod\"], \"users\": [\"root\"]}`\n\
Fine: the same with `\"dst\": [\"autogroup:self\"]`.";
    DuplicateTest = "TSA214", "duplicate-test", Warning,
        "Two identical tests",
        "The control plane accepts duplicate tests, but one of them is dead weight.";
    TagOwnerCycle = "TSA215", "tag-owner-cycle", Warning,
        "Tags own each other in a cycle, or a tag owns itself",
        "Tags may own tags, and the control plane accepts cycles (`tag:a` owned by `tag:b`, `tag:b` by \
`tag:a`) and self-ownership (`\"tag:a\": [\"tag:a\"]`). Such an edge lets devices mint more \
devices: every device carrying a tag of the cycle can tag new devices with the others (or, owning \
itself, with its own tag), while the first device is tagged by the tags' other owners or an admin. \
That may be meant (a CI runner that creates more runners), but it is a loop that is hard to see in \
review. The finding names the cycle, each tag owned by the next, and its help names the other \
owners when there are some.\n\
Violation: `\"tag:ci\": [\"tag:deploy\"], \"tag:deploy\": [\"tag:ci\"]`\n\
Fix: let people own one end: `\"tag:ci\": [\"group:devops\"], \"tag:deploy\": [\"tag:ci\"]`.";
    SplitAcceptDenyTests = "TSA217", "split-accept-deny-tests", Warning,
        "Retired: accept and deny tests for one source in separate entries",
        "Retired, never reported. It claimed, after tailscale#8250 (2023), that the control plane \
fails the accept entry when accept and deny tests for one source are split over two entries. No \
recorded answer shows that (the one capture with such a pair, policytest-mixed-three-entries, fails \
because its tests contradict each other, which TSA100 reports), and real policies with split \
entries are pushed and accepted. The code stays reserved so that configurations naming it keep \
working.";
    InternetWithoutExitNode = "TSA218", "internet-without-exit-node", Warning,
        "autogroup:internet is granted but no device is an exit node",
        "A rule grants `autogroup:internet` (directly, or through an ipset that adds it), but no device \
of the inventory is an exit node: none has 0.0.0.0/0 or ::/0 approved, or advertised and approved \
by `autoApprovers.exitNode`; with `via`, none that also carries one of its tags. The rule then does \
nothing. Only checked with an inventory (`--inventory`), since without one tsacl cannot know the \
devices.\n\
Violation: `{\"src\": [\"group:travel\"], \"dst\": [\"autogroup:internet\"], \"ip\": [\"*\"]}` and no \
exit node\n\
Fix: approve an exit node (`\"autoApprovers\": {\"exitNode\": [\"tag:exit\"]}` and a device that \
advertises the routes), or remove the rule.";
    SshWithoutNetworkAccess = "TSA219", "ssh-without-network-access", Warning,
        "An SSH rule whose sources cannot reach its destinations on port 22",
        "Tailscale SSH needs two things: an `ssh` rule that lets the source log in, and an ACL or grant \
that lets it reach the destination on TCP port 22 (Tailscale's policy reference; `sshTests` check only \
the `ssh` rules and pass without it). The finding names each source (a user, a tag, a group's members) \
and destination the `ssh` rule pairs that no rule lets through on tcp:22, so those connections fail. \
Broad sources (`autogroup:member`, `autogroup:tagged`, `user:*@domain`, roles) are reported only \
when none of the principals they take in gets through (the users the policy names among them, the \
owner for `autogroup:member` and `autogroup:admin`); a user whose role the inventory does not give \
may hold any role, so a rule for a role the user may hold counts; a rule naming addresses (a host alias, an IP, \
a CIDR) that may be the devices' leaves the pair undecided, not reported. A tag stands for a device \
carrying it alone (a second tag may bring rules of its own). A policy with neither \
`acls` nor `grants` allows everything, port 22 included. An intents device's `ssh` compiles both \
halves.\n\
Violation: `\"ssh\": [{\"action\": \"check\", \"src\": [\"group:admins\"], \"dst\": [\"tag:panda\"], \"users\": [\"root\"]}]` \
and no rule opening tag:panda's port 22 to group:admins\n\
Fix: `{\"src\": [\"group:admins\"], \"dst\": [\"tag:panda\"], \"ip\": [\"tcp:22\"]}` in `grants`.";
    UnusedSuppression = "TSA220", "unused-suppression", Warning,
        "A tsacl-ignore comment that suppresses nothing",
        "`// tsacl-ignore: CODE reason` on the line before a finding suppresses it; one that matches \
no finding is stale and should go.";
    RedundantRule = "TSA230", "redundant-rule", Warning,
        "Every flow a rule allows is already allowed by other rules",
        "Tailscale rules only allow, in any order, so a rule whose every source × destination × port \
lies inside another rule, or inside the union of several, changes nothing: removing it keeps \
access exactly as it is. The finding names a short list of covering rules. Without `--inventory` \
it holds for any devices (structural: decided on representative devices, assuming the users the \
policy names are members of the tailnet, not users shared in from another one); with one, it may \
hold only for today's devices (the message says so). When the finding rests on the members a \
group has today (the covering rules name other groups or users, none of them every member), the \
message says so. Rules that an allow-all rule (TSA210) covers are one finding, on the allow-all \
rule, listing them. A rule to a Tailscale Service (`svc:NAME`) is covered only by rules that name \
the service: nothing recorded shows that `*` or an address range reaches a service's address. Of \
two identical rules only the later is reported, so removing every reported rule is \
safe. A grant that also gives app capabilities, or routes `via` some routers, is never reported: \
it does more than allow flows.\nViolation: `{\"src\": [\"group:eng\"], \"dst\": [\"tag:db\"], \"ip\": [\"tcp:5432\"]}` \
after `{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:db\"], \"ip\": [\"*\"]}`.\nFix: remove \
it, or narrow the covering rule if it is what is too broad.";
    RedundantSelector = "TSA231", "redundant-selector", Warning,
        "A selector adds nothing to its own rule",
        "A source that the rule's other sources already include, a destination whose ports the \
rule's other destinations already allow, or a selector that matches nobody, can go without \
changing what the rule allows.\nViolation: `\"src\": [\"group:eng\", \"alice@example.com\"]` \
where alice is in group:eng.\nFix: `\"src\": [\"group:eng\"]`.";
    IneffectiveRule = "TSA232", "ineffective-rule", Warning,
        "A rule that allows nothing",
        "Its sources match nobody (an empty group, a tag no device can carry, a user with no devices \
in the inventory) or its destinations match nothing, so it grants no flow. Often a typo or a \
leftover. A group an identity provider syncs (`group:name@domain`, SCIM) is never empty to \
tsacl: its members are in no policy file and no API answer, so it stands for someone.\nViolation: `{\"src\": [\"group:oncall\"], ...}` with `\"group:oncall\": []`.";
    TagOwnerEscalation = "TSA240", "tag-owner-escalation", Warning,
        "A broad owner of a tag can gain the tag's wider access",
        "Any owner of a tag can give a device it controls that tag, and with it the tag's access. \
When a broad source (`autogroup:member`, `user:*@domain`, or a group of 10 users or more) owns \
a tag that reaches something one of those users cannot reach themselves, each of them can \
escalate to it (Tailsnitch's ACL-006, decided exactly: the finding names a destination, \
port and user as the witness). Owners whose own access already covers the tag's are not \
reported.\n\
Violation: `\"tag:deploy\": [\"autogroup:member\"]` and `{\"src\": [\"tag:deploy\"], \"dst\": \
[\"tag:prod\"], \"ip\": [\"22\"]}`\n\
Fix: let a small group, or the tag of the machine that creates these devices, own the tag.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_index_their_own_rule_and_are_unique() {
        let mut ids = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.code as usize, i);
            assert!(ids.insert(rule.id), "duplicate id {}", rule.id);
            assert!(names.insert(rule.name), "duplicate name {}", rule.name);
            assert!(rule.id.starts_with("TSA") && rule.id.len() == 6);
            assert!(
                rule.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
        }
        assert_eq!(find("tsa001").unwrap().name, "hujson-syntax");
        assert_eq!(find("duplicate-key").unwrap().id, "TSA002");
    }
}
