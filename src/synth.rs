//! Synthetic policies for benchmarks and stress tests: deterministic, valid, and shaped
//! like real tailnets (groups of users, tags owned by groups, hosts, ACLs, grants, SSH
//! rules, node attributes and tests), with comments and trailing commas.

use std::fmt::Write;

/// A small deterministic generator (xorshift64*), so benchmarks need no RNG crate and
/// give the same policy on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Sizes of a synthetic policy.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub users: usize,
    pub groups: usize,
    pub tags: usize,
    pub hosts: usize,
    pub acls: usize,
    pub grants: usize,
    pub ssh: usize,
}

impl Shape {
    /// A shape whose HuJSON text is about `bytes` long.
    pub fn of_size(bytes: usize) -> Shape {
        // About 125 bytes of text per rule with the definitions that go with it.
        let rules = (bytes / 125).max(10);
        Shape {
            users: (rules / 4).max(4),
            groups: (rules / 40).max(2),
            tags: (rules / 20).max(2),
            hosts: (rules / 20).max(2),
            acls: rules * 2 / 5,
            grants: rules * 2 / 5,
            ssh: rules / 10,
        }
    }
}

/// A valid HuJSON policy of the given shape.
pub fn policy(shape: Shape, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(shape.acls * 400 + shape.grants * 400);
    let user = |i: usize| format!("user{i}@example.com");
    out.push_str("// Synthetic tailnet policy (tsacl::synth).\n{\n\t\"groups\": {\n");
    for g in 0..shape.groups {
        let members: Vec<String> = (0..4)
            .map(|_| format!("{:?}", user(rng.below(shape.users))))
            .collect();
        let _ = writeln!(out, "\t\t\"group:team{g}\": [{}],", members.join(", "));
    }
    out.push_str("\t},\n\t\"tagOwners\": {\n");
    for t in 0..shape.tags {
        let _ = writeln!(
            out,
            "\t\t\"tag:svc{t}\": [\"group:team{}\"],",
            t % shape.groups
        );
    }
    out.push_str("\t},\n\t\"hosts\": {\n");
    for h in 0..shape.hosts {
        let _ = writeln!(
            out,
            "\t\t\"host{h}\": \"10.{}.{}.0/24\",",
            h / 256 % 256,
            h % 256
        );
    }
    out.push_str("\t},\n\t\"acls\": [\n");
    // Flows the ACLs allow, to write tests that pass: (user, tag, port).
    let mut allowed: Vec<(String, usize, usize)> = Vec::new();
    for i in 0..shape.acls {
        let src = source(&mut rng, shape);
        let dst = match rng.below(3) {
            0 => {
                let (tag, port) = (rng.below(shape.tags), 1000 + rng.below(5000));
                if src.contains('@') {
                    allowed.push((src.clone(), tag, port));
                }
                format!("tag:svc{tag}:{port}")
            }
            1 => format!("host{}:22,80,443", rng.below(shape.hosts)),
            _ => format!("tag:svc{}:8000-8100", rng.below(shape.tags)),
        };
        let _ = writeln!(
            out,
            "\t\t// rule {i}\n\t\t{{\"action\": \"accept\", \"src\": [{src:?}, \"group:team{}\"], \"dst\": [{dst:?}]}},",
            rng.below(shape.groups)
        );
    }
    out.push_str("\t],\n\t\"grants\": [\n");
    for _ in 0..shape.grants {
        let src = source(&mut rng, shape);
        let _ = writeln!(
            out,
            "\t\t{{\n\t\t\t\"src\": [{src:?}],\n\t\t\t\"dst\": [\"tag:svc{}\", \"100.{}.{}.{}\"],\n\t\t\t\"ip\":  [\"tcp:{}\", \"udp:53\"],\n\t\t}},",
            rng.below(shape.tags),
            64 + rng.below(64),
            rng.below(256),
            1 + rng.below(254),
            1 + rng.below(65535)
        );
    }
    out.push_str("\t],\n\t\"ssh\": [\n");
    for _ in 0..shape.ssh {
        let _ = writeln!(
            out,
            "\t\t{{\"action\": \"check\", \"src\": [\"group:team{}\"], \"dst\": [\"tag:svc{}\"], \"users\": [\"autogroup:nonroot\", \"root\"], \"checkPeriod\": \"12h\"}},",
            rng.below(shape.groups),
            rng.below(shape.tags)
        );
    }
    out.push_str("\t],\n\t\"nodeAttrs\": [\n\t\t{\"target\": [\"autogroup:member\"], \"attr\": [\"funnel\"]},\n\t],\n");
    out.push_str("\t\"tests\": [\n");
    for (src, tag, port) in allowed.iter().take((shape.acls / 50).max(1)) {
        let _ = writeln!(
            out,
            "\t\t{{\"src\": {src:?}, \"accept\": [\"tag:svc{tag}:{port}\"], \"deny\": [\"203.0.113.{}:8080\"]}},",
            1 + rng.below(254)
        );
    }
    out.push_str("\t],\n}\n");
    out
}

fn source(rng: &mut Rng, shape: Shape) -> String {
    match rng.below(4) {
        0 => format!("user{}@example.com", rng.below(shape.users)),
        1 => format!("group:team{}", rng.below(shape.groups)),
        2 => format!("tag:svc{}", rng.below(shape.tags)),
        _ => "autogroup:member".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_policy;
    use crate::diagnostics::{SourceFile, SourceMap};

    #[test]
    fn synthetic_policies_are_valid_and_near_the_requested_size() {
        for size in [10_000, 200_000] {
            let text = policy(Shape::of_size(size), 7);
            assert!(
                text.len() > size / 2 && text.len() < size * 2,
                "{size}: {}",
                text.len()
            );
            let mut sources = SourceMap::default();
            let id = sources.add(SourceFile::new("s", "s", text.into_bytes()));
            let checked = check_policy(&sources, id, &Default::default());
            let errors: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
        assert_eq!(
            policy(Shape::of_size(5000), 1),
            policy(Shape::of_size(5000), 1)
        );
    }
}
