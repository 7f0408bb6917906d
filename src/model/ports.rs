//! Ports, port ranges, protocols and grant `ip` specs, with the control plane's error texts.

use std::fmt;

use crate::syntax::hujson::quote::go_quote;

/// An inclusive port range; `*` is `0-65535`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange {
        first: 0,
        last: 65535,
    };
    pub fn single(port: u16) -> PortRange {
        PortRange {
            first: port,
            last: port,
        }
    }
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("*")
        } else if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Parse a port spec: `*`, or a comma list of `N` and `A-B`.
/// The error is the control plane's text: `port range "<spec>": <reason>`.
pub fn parse_port_list(spec: &str) -> Result<Vec<PortRange>, String> {
    let reason = |why: &str| format!("port range {spec:?}: {why}");
    if spec == "*" {
        return Ok(vec![PortRange::ALL]);
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        if part == "*" {
            out.push(PortRange::ALL);
            continue;
        }
        let mut bounds = part.split('-');
        let first = bounds.next().unwrap_or("");
        let last = bounds.next();
        if bounds.next().is_some() {
            return Err(reason("invalid port range format"));
        }
        let first = parse_port_number(first).map_err(|e| reason(&format!("{e} first integer")))?;
        match last {
            None => {
                if first == 0 {
                    return Err(reason("first port must be >0, or use '*' for wildcard"));
                }
                out.push(PortRange::single(first));
            }
            Some(last) => {
                let last =
                    parse_port_number(last).map_err(|e| reason(&format!("{e} last integer")))?;
                if first > last {
                    return Err(reason(
                        "invalid port range: first port is greater than last port",
                    ));
                }
                out.push(PortRange { first, last });
            }
        }
    }
    Ok(out)
}

fn parse_port_number(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid");
    }
    match text.parse::<u32>() {
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err("out of range"),
    }
}

/// An IP protocol number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

/// IANA names the control plane accepts, with their numbers.
pub const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipv4", 4),
    ("ip-in-ip", 4),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("sctp", 132),
    ("fc", 133),
];

impl Protocol {
    pub const ICMP: Protocol = Protocol(1);
    pub const TCP: Protocol = Protocol(6);
    pub const UDP: Protocol = Protocol(17);
    pub const ICMPV6: Protocol = Protocol(58);
    pub const SCTP: Protocol = Protocol(132);

    /// Parse a protocol name (any case) or number 1-255.
    pub fn parse(text: &str) -> Result<Protocol, String> {
        let lower = text.to_ascii_lowercase();
        if let Some((_, n)) = PROTOCOL_NAMES.iter().find(|(name, _)| *name == lower) {
            return Ok(Protocol(*n));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            if text.starts_with('0') {
                return Err(format!(
                    "leading 0 not permitted in protocol number: {text:?}"
                ));
            }
            return match text.parse::<u32>() {
                Ok(n @ 1..=255) => Ok(Protocol(n as u8)),
                _ => Err(format!("protocol number out of range (0-255): {text}")),
            };
        }
        Err(format!(
            "proto name {text:?} not known; use protocol number 0-255 or protocol name (icmp, tcp, udp, etc.)"
        ))
    }

    /// Only TCP, UDP and SCTP carry ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::TCP | Protocol::UDP | Protocol::SCTP)
    }

    pub fn name(self) -> Option<&'static str> {
        PROTOCOL_NAMES
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(name, _)| *name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// One entry of a grant's `ip` list, parsed exactly as the control plane parses it:
/// `tailcfg.ParseProtoPortRanges` in tailscale/tailscale (`tailcfg/proto_port_range.go`,
/// with `ipproto.Proto.UnmarshalText` from `types/ipproto/ipproto.go`; read at commit
/// de9ec7ee, 2026-08-22). The errors are its words.
///
/// | input | result | why |
/// |---|---|---|
/// | `*` | every protocol, every port | special case |
/// | `80`, `80-443` | default protocols (TCP, UDP, ICMP), those ports | no colon: read as `*:80` |
/// | `*:80`, `*:*`, `0:80` | default protocols | protocol `*`, and protocol number 0, mean the default set |
/// | `tcp:443`, `TCP:443`, `6:443`, `06:443` | TCP | the whole entry is lower-cased; numbers 0-255, leading zeros allowed |
/// | `udp:*`, `icmp:*`, `gre:*`, `47:*` | that protocol, every port | |
/// | `icmp:22` | ICMP (the port is kept; ICMP has none) | the parser does not check it |
/// | names | `ah dccp egp esp gre icmp icmpv4 icmpv6 igmp igp ip-in-ip ipv4 ipv6-icmp sctp tcp tsmp udp` | `ipproto.acceptedNames` |
/// | `` | `empty string` | |
/// | `:80` | `empty protocol` | |
/// | `tcp:` | `invalid port list: ""` | |
/// | `icmp`, `ssh` | `port range "icmp": invalid first integer` | no colon, so the text is a port |
/// | `tcp:80,443` | `port range "80,443": invalid first integer` | no comma lists in grants |
/// | `tcp:1-2-3` | `port range "1-2-3": too many dashes(-)` | |
/// | `tcp:80-` | `port range "80-": invalid last integer` | |
/// | `tcp:0`, `tcp:0-10` | `port range "0": first port must be >0, or use '*' for wildcard` | |
/// | `tcp:443-80` | `port range "443-80": first port must be >= last port` | (sic) |
/// | `tcp:65536` | `port range "65536": invalid first integer` | ports are 16-bit |
/// | `foo:80`, `256:80`, ` tcp:80` | `proto name "foo" not known; use protocol number 0-255` | no trimming |
/// | `a,b:80` | `host cannot contain a comma (",")` | |
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpSpec {
    /// `None`: the client default (TCP, UDP, ICMP, ICMPv6).
    pub proto: Option<Protocol>,
    /// One range (a `Vec` so that callers treat grant and ACL ports alike).
    pub ports: Vec<PortRange>,
}

/// Protocol names `ipproto.Proto.UnmarshalText` accepts (any case). A superset of
/// [`PROTOCOL_NAMES`]' use in ACLs: grants also take `dccp`, `icmpv4`, `icmpv6` and `tsmp`,
/// and not `fc`.
const GRANT_PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("icmp", 1),
    ("icmpv4", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("igp", 9),
    ("ip-in-ip", 4),
    ("ipv4", 4),
    ("ipv6-icmp", 58),
    ("sctp", 132),
    ("tcp", 6),
    ("tsmp", 99),
    ("udp", 17),
];

impl IpSpec {
    pub fn parse(text: &str) -> Result<IpSpec, String> {
        if text.is_empty() {
            return Err("empty string".into());
        }
        if text == "*" {
            return Ok(IpSpec {
                proto: None,
                ports: vec![PortRange::ALL],
            });
        }
        // Lower-cased (a copy) only when there may be something to lower: ASCII text
        // without capitals is its own lower case.
        let lower = !text.is_ascii() || text.bytes().any(|b| b.is_ascii_uppercase());
        let text: std::borrow::Cow<str> = match (text.contains(':'), lower) {
            (true, false) => text.into(),
            (true, true) => text.to_lowercase().into(),
            (false, _) => format!("*:{}", text.to_lowercase()).into(),
        };
        let (proto, ports) = parse_host_port_range(&text)?;
        if proto.is_empty() {
            return Err("empty protocol".into());
        }
        let proto = match proto {
            "*" => None,
            _ => match parse_go_uint(proto, 255) {
                Some(0) => None,
                Some(n) => Some(Protocol(n as u8)),
                None => match GRANT_PROTOCOL_NAMES.iter().find(|(name, _)| *name == proto) {
                    Some((_, n)) => Some(Protocol(*n)),
                    None => {
                        return Err(format!(
                            "proto name {} not known; use protocol number 0-255",
                            go_quote(proto)
                        ));
                    }
                },
            },
        };
        Ok(IpSpec {
            proto,
            ports: vec![ports],
        })
    }
}

/// `tailcfg.ParseHostPortRange` on already lower-cased text: split at the last colon;
/// the ports are `*` or one `N` / `N-M`.
fn parse_host_port_range(hostport: &str) -> Result<(&str, PortRange), String> {
    let Some(colon) = hostport.rfind(':') else {
        return Err("hostport must contain a colon (\":\")".into());
    };
    let (host, portlist) = (&hostport[..colon], &hostport[colon + 1..]);
    if host.contains(',') {
        return Err("host cannot contain a comma (\",\")".into());
    }
    if portlist == "*" {
        return Ok((host, PortRange::ALL));
    }
    // Quoted only for an error: most specs are valid.
    let quoted = || go_quote(portlist);
    if portlist.is_empty() {
        return Err(format!("invalid port list: {}", quoted()));
    }
    if portlist.matches('-').count() > 1 {
        return Err(format!("port range {}: too many dashes(-)", quoted()));
    }
    let (first, last) = match portlist.split_once('-') {
        Some((first, last)) => (first, Some(last)),
        None => (portlist, None),
    };
    let Some(first) = parse_go_uint(first, 65535) else {
        return Err(format!("port range {}: invalid first integer", quoted()));
    };
    let last = match last {
        Some(last) => match parse_go_uint(last, 65535) {
            Some(n) => n,
            None => return Err(format!("port range {}: invalid last integer", quoted())),
        },
        None => first,
    };
    if first == 0 {
        return Err(format!(
            "port range {}: first port must be >0, or use '*' for wildcard",
            quoted()
        ));
    }
    if first > last {
        return Err(format!(
            "port range {}: first port must be >= last port",
            quoted()
        ));
    }
    Ok((
        host,
        PortRange {
            first: first as u16,
            last: last as u16,
        },
    ))
}

/// Go's `strconv.ParseUint(s, 10, bits)` for a `max` of `1<<bits - 1`: ASCII digits only
/// (leading zeros allowed, no sign, no underscores), within range.
fn parse_go_uint(text: &str, max: u32) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 10 {
        return None;
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= u64::from(max) => Some(n as u32),
        Err(_) if digits.is_empty() => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_and_their_errors() {
        assert_eq!(parse_port_list("*").unwrap(), vec![PortRange::ALL]);
        assert_eq!(
            parse_port_list("22,80-443").unwrap(),
            vec![
                PortRange::single(22),
                PortRange {
                    first: 80,
                    last: 443
                }
            ]
        );
        assert_eq!(
            parse_port_list("self").unwrap_err(),
            "port range \"self\": invalid first integer"
        );
        assert_eq!(
            parse_port_list("0").unwrap_err(),
            "port range \"0\": first port must be >0, or use '*' for wildcard"
        );
        assert!(parse_port_list("0-10").is_ok());
        assert!(parse_port_list("99999").is_err());
        assert!(parse_port_list("443-80").is_err());
        assert!(parse_port_list("1-2-3").is_err());
        assert!(parse_port_list("").is_err());
    }

    #[test]
    fn protocols() {
        assert_eq!(Protocol::parse("TCP").unwrap(), Protocol::TCP);
        assert_eq!(Protocol::parse("17").unwrap(), Protocol::UDP);
        assert!(Protocol::parse("06").is_err());
        assert!(Protocol::parse("0").is_err());
        assert!(Protocol::parse("256").is_err());
        assert!(Protocol::parse("*").unwrap_err().contains("not known"));
    }

    /// Every row of the table on [`IpSpec`]: what the control plane's parser accepts,
    /// and its words for what it rejects.
    #[test]
    fn grant_ip_specs_as_the_control_plane_parses_them() {
        let default = |first, last| Ok((None, PortRange { first, last }));
        let only = |n, first, last| Ok((Some(Protocol(n)), PortRange { first, last }));
        let err = |e: &str| Err(e.to_string());
        type Parsed = Result<(Option<Protocol>, PortRange), String>;
        let cases: &[(&str, Parsed)] = &[
            ("*", default(0, 65535)),
            ("80", default(80, 80)),
            ("80-443", default(80, 443)),
            ("*:80", default(80, 80)),
            ("*:8096", default(8096, 8096)),
            ("*:*", default(0, 65535)),
            ("0:80", default(80, 80)),
            ("tcp:443", only(6, 443, 443)),
            ("TCP:443", only(6, 443, 443)),
            ("Udp:53", only(17, 53, 53)),
            // Lower-cased beyond ASCII too: a title-case letter has a lower case.
            (
                "\u{1C5}:1",
                err("proto name \"\u{1C6}\" not known; use protocol number 0-255"),
            ),
            ("6:443", only(6, 443, 443)),
            ("06:443", only(6, 443, 443)),
            ("tcp:0080", only(6, 80, 80)),
            ("udp:*", only(17, 0, 65535)),
            ("icmp:*", only(1, 0, 65535)),
            ("icmp:22", only(1, 22, 22)),
            ("gre:*", only(47, 0, 65535)),
            ("47:*", only(47, 0, 65535)),
            ("255:*", only(255, 0, 65535)),
            ("dccp:*", only(33, 0, 65535)),
            ("icmpv4:*", only(1, 0, 65535)),
            ("icmpv6:*", only(58, 0, 65535)),
            ("ipv6-icmp:*", only(58, 0, 65535)),
            ("tsmp:*", only(99, 0, 65535)),
            ("sctp:9-10", only(132, 9, 10)),
            ("tcp:65535", only(6, 65535, 65535)),
            ("", err("empty string")),
            (":80", err("empty protocol")),
            ("tcp:", err("invalid port list: \"\"")),
            ("icmp", err("port range \"icmp\": invalid first integer")),
            ("ssh", err("port range \"ssh\": invalid first integer")),
            (
                "tcp:80,443",
                err("port range \"80,443\": invalid first integer"),
            ),
            (
                "80,443",
                err("port range \"80,443\": invalid first integer"),
            ),
            ("tcp:1-2-3", err("port range \"1-2-3\": too many dashes(-)")),
            ("tcp:80-", err("port range \"80-\": invalid last integer")),
            ("tcp:-80", err("port range \"-80\": invalid first integer")),
            (
                "tcp:0",
                err("port range \"0\": first port must be >0, or use '*' for wildcard"),
            ),
            (
                "tcp:0-10",
                err("port range \"0-10\": first port must be >0, or use '*' for wildcard"),
            ),
            (
                "tcp:443-80",
                err("port range \"443-80\": first port must be >= last port"),
            ),
            (
                "tcp:65536",
                err("port range \"65536\": invalid first integer"),
            ),
            ("tcp:+80", err("port range \"+80\": invalid first integer")),
            (
                "foo:80",
                err("proto name \"foo\" not known; use protocol number 0-255"),
            ),
            (
                "256:80",
                err("proto name \"256\" not known; use protocol number 0-255"),
            ),
            (
                "fc:*",
                err("proto name \"fc\" not known; use protocol number 0-255"),
            ),
            (
                " tcp:80",
                err("proto name \" tcp\" not known; use protocol number 0-255"),
            ),
            ("tcp:80 ", err("port range \"80 \": invalid first integer")),
            (
                "tcp:1:2",
                err("proto name \"tcp:1\" not known; use protocol number 0-255"),
            ),
            ("a,b:80", err("host cannot contain a comma (\",\")")),
        ];
        for (input, want) in cases {
            let got = IpSpec::parse(input).map(|s| {
                assert_eq!(s.ports.len(), 1, "{input:?}");
                (s.proto, s.ports[0])
            });
            assert_eq!(&got, want, "{input:?}");
        }
    }
}
