//! The one place that lists the captures on which `tsacl check` does not (yet) give the
//! control plane's verdict, each with the reason. The conformance test fails if any other
//! capture disagrees, and also if a listed one starts to agree (so the list stays exact).

/// Rejected by the control plane with `test(s) failed` because a well-formed test does not
/// pass, and not (yet) rejected by tsacl. Empty since the engine evaluates tests offline.
pub const NEEDS_TEST_EVALUATION: &[&str] = &[];

/// Cases that cannot be decided offline, with the reason for each.
///
/// Empty today. Note what makes that possible: the domain checks of `user:*@domain` and
/// `localpart:*@domain` need the tailnet's domains, which a policy file does not say; the
/// test passes `example.com` (the captures' tailnet is odin@example.com), as a user passes
/// `--tailnet-domain`.
pub const OFFLINE_UNDECIDABLE: &[(&str, &str)] = &[];

/// The rejections `tsacl check` misses with the policy file alone (no `--tailnet-domain`,
/// no inventory), sorted, each with what decides it. A domain that is no tailnet's
/// whatever the tailnet (`localpart:*@*`, capture ssh-malformed-user-localpart-multi-glob)
/// is rejected from the file alone; offline, the test below is a TSA102 warning naming
/// what decides it.
pub const NEED_THE_TAILNET: &[(&str, &str)] = &[
    (
        "policytest-accept-fail-ip-literal-src-host-dst",
        "a test from 100.64.0.19: whether that address is a device of tag:client",
    ),
    ("ssh-b4", "user:*@example.org: the tailnet's domains"),
    ("ssh-d1", "localpart:*@example.org: the tailnet's domains"),
    (
        "ssh-e2",
        "localpart:*@nonexistent.example.com: the tailnet's domains",
    ),
];

/// Accepted captures whose recorded per-node state tsacl does not reproduce.
pub const FILTER_EXCEPTIONS: &[(&str, &str)] = &[(
    "policytest-allpass-grants-only-tag-src-ipv6-literal-dst",
    "every node of this capture recorded an empty packet filter and no peers, although the \
     grant's destination is beedrill's own IPv6 address; the IPv4-literal twin \
     (policytest-allpass-grants-only-tag-src-ip-literal-dst) shows the rule on beedrill, \
     so this looks like a netmap recorded before the capture's custom addresses took effect",
)];

/// Accepted captures whose filters tsacl reproduces as enforced (the same tuples and
/// capabilities) but not exactly as sent, with the reason. Every other capture's filters
/// are compared exactly.
pub const EXACT_FILTER_EXCEPTIONS: &[(&str, &str)] = &[(
    "nodeattrs-interaction-h3-policy-uses-everything",
    "the node `server` received SrcIPs [100.64.0.15, 100.64.0.16, fd7a:115c:a1e0::f, \
     fd7a:115c:a1e0::10]: two neighbouring device addresses listed apart (tsacl writes the \
     range 100.64.0.15-100.64.0.16) and in address order (::f before ::10), where every \
     other capture (over 50 with such addresses, e.g. acl-mr14, grant-p09-7c, ssh-a4) lists \
     SrcIPs sorted as strings; this capture's tailnet (nodes client, exit, server at \
     100.64.0.10-17) is not the one the other captures were recorded on",
)];

/// Accepted captures whose SSH rules tsacl writes exactly but for the order of the
/// principals within a rule. They were recorded on a tailnet whose three member devices
/// have the IPv6 addresses fd7a:115c:a1e0::11, ::12 and ::13, and the control plane
/// listed those three in all six orders across these captures of the same rule shape
/// (`src: autogroup:member` to `tag:server`): their order there is not the policy's.
/// Everywhere else (ssh-a4, ssh-b6, ssh-d2, ...) principals are sorted as strings.
pub const SSH_ORDER_EXCEPTIONS: &[&str] = &[
    "ssh-malformed-acceptenv-bad-glob",
    "ssh-malformed-action-whitespace",
    "ssh-malformed-checkperiod-exact-max",
    "ssh-malformed-user-autogroup-internet",
    "ssh-malformed-user-autogroup-self",
    "ssh-malformed-user-autogroup-tagged",
    "ssh-malformed-user-localpart-no-at",
    "ssh-malformed-user-localpart-no-domain",
    "ssh-malformed-user-localpart-no-glob",
    "ssh-malformed-user-tag-prefix",
    "ssh-malformed-user-whitespace-leading",
];

pub fn ssh_order_exception(id: &str) -> Option<&'static str> {
    SSH_ORDER_EXCEPTIONS.iter().find(|i| **i == id).copied()
}

pub fn exact_filter_exception(id: &str) -> Option<&'static str> {
    EXACT_FILTER_EXCEPTIONS
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| *r)
}

pub fn filter_exception(id: &str) -> Option<&'static str> {
    FILTER_EXCEPTIONS
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| *r)
}

pub fn reason(id: &str) -> Option<&'static str> {
    if NEEDS_TEST_EVALUATION.contains(&id) {
        return Some("needs test evaluation (semantic engine)");
    }
    OFFLINE_UNDECIDABLE
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| *r)
}

pub fn all() -> impl Iterator<Item = (&'static &'static str, &'static str)> {
    NEEDS_TEST_EVALUATION
        .iter()
        .map(|id| (id, "needs test evaluation (semantic engine)"))
        .chain(OFFLINE_UNDECIDABLE.iter().map(|(id, r)| (id, *r)))
        .chain(FILTER_EXCEPTIONS.iter().map(|(id, r)| (id, *r)))
        .chain(EXACT_FILTER_EXCEPTIONS.iter().map(|(id, r)| (id, *r)))
        .chain(
            SSH_ORDER_EXCEPTIONS
                .iter()
                .map(|id| (id, "SSH principals in an order the policy does not decide")),
        )
}
