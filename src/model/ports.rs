//! Ports, port ranges, protocols and grant `ip` specs, with the control plane's error texts.

use std::fmt;

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

/// One entry of a grant's `ip` list: `*`, `N`, `N-M`, `proto:N[-M]` or `proto:*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpSpec {
    /// `None`: the client default (TCP, UDP, ICMP, ICMPv6).
    pub proto: Option<Protocol>,
    pub ports: Vec<PortRange>,
}

impl IpSpec {
    pub fn parse(text: &str) -> Result<IpSpec, String> {
        if text == "*" {
            return Ok(IpSpec {
                proto: None,
                ports: vec![PortRange::ALL],
            });
        }
        match text.split_once(':') {
            None => Ok(IpSpec {
                proto: None,
                ports: parse_port_list(text)?,
            }),
            Some((proto, ports)) => {
                if ports.contains(':') {
                    return Err(format!(
                        "expected only one colon in Internet protocol and port type, got: {text:?}"
                    ));
                }
                let proto = Protocol::parse(proto)?;
                let ports = parse_port_list(ports)?;
                if !proto.has_ports() && !ports.iter().all(|p| p.is_all()) {
                    return Err(format!(
                        "protocol does not support specific ports: {:?}, only \"*\" is allowed",
                        proto.to_string()
                    ));
                }
                Ok(IpSpec {
                    proto: Some(proto),
                    ports,
                })
            }
        }
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

    #[test]
    fn grant_ip_specs() {
        assert_eq!(IpSpec::parse("47").unwrap().proto, None);
        assert_eq!(IpSpec::parse("tcp:443").unwrap().proto, Some(Protocol::TCP));
        assert!(IpSpec::parse("icmp:*").is_ok());
        assert_eq!(
            IpSpec::parse("icmp").unwrap_err(),
            "port range \"icmp\": invalid first integer"
        );
        assert!(IpSpec::parse("icmp:22").is_err());
        assert!(IpSpec::parse("tcp:0").is_err());
        assert!(IpSpec::parse("tcp:1:2").is_err());
    }
}
