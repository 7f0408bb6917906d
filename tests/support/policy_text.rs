//! Pieces of policy text that the property tests' random policies share.

/// `["a", "b"]`'s inside: each string quoted, comma-separated (`String`s or `&str`s).
pub fn quoted<S: std::fmt::Debug>(v: &[S]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A grant's `ip` entries for `ports` (`"22,443"`) under protocol `proto` (`""` for any).
pub fn grant_ip(proto: &str, ports: &str) -> Vec<String> {
    ports
        .split(',')
        .map(|x| {
            if proto.is_empty() {
                x.to_string()
            } else {
                format!("{proto}:{x}")
            }
        })
        .collect()
}

/// An ACL's `"proto"` member with its leading comma, or nothing for any protocol.
pub fn acl_proto(proto: &str) -> String {
    if proto.is_empty() {
        String::new()
    } else {
        format!(", \"proto\": {proto:?}")
    }
}
