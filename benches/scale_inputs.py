#!/usr/bin/env python3
"""Policies that grow along one dimension each, to see how `tsacl check` scales with it.

    python3 benches/scale_inputs.py KIND N > KIND-N.json

KIND is one of the keys of KINDS below; N is how many of that thing the policy holds (run
1,000, 10,000 and 100,000: cost should grow about tenfold each time). Each policy also has
N tags owned by `group:admins`. BENCHMARKS.md ("Ten and a hundred times the input")
records a run; timings are never asserted.
"""
import json
import sys


def cidr(j):
    """A distinct /24 for each j below 65,536 * 4."""
    return "%d.%d.%d.0/24" % (10 + j // 65536, j // 256 % 256, j % 256)


def sshtests(n):
    return {
        "acls": [{"action": "accept", "src": ["u%d@example.com" % j], "dst": ["tag:t%d:22" % j]} for j in range(n)],
        "ssh": [{"action": "accept", "src": ["u%d@example.com" % j], "dst": ["tag:t%d" % j], "users": ["root"]} for j in range(n)],
        "sshTests": [{"src": "u%d@example.com" % j, "dst": ["tag:t%d" % j], "accept": ["root"]} for j in range(n)],
    }


def tests(n):
    return {
        "acls": [{"action": "accept", "src": ["u%d@example.com" % j], "dst": ["tag:t%d:443" % j]} for j in range(n)],
        "tests": [{"src": "u%d@example.com" % j, "accept": ["tag:t%d:443" % j], "deny": ["tag:t%d:443" % ((j + 1) % n)]} for j in range(n)],
    }


def selfgrants(n):
    return {
        "grants": [
            {"src": ["u%d@example.com" % j, "group:admins"], "dst": ["autogroup:self", "tag:t%d" % j], "ip": ["tcp:%d" % (1000 + j % 60000)]}
            for j in range(n)
        ]
    }


def ipsets(n):
    return {
        "ipsets": {"ipset:s%d" % j: ["add " + cidr(j), "remove " + cidr(j).replace(".0/24", ".7")] for j in range(n)},
        "grants": [{"src": ["tag:t%d" % j], "dst": ["ipset:s%d" % j], "ip": ["tcp:443"]} for j in range(n)],
    }


def nodeattrs(n):
    return {
        "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
        "nodeAttrs": [{"target": ["tag:t%d" % j, "u%d@example.com" % j], "attr": ["funnel", "mullvad"]} for j in range(n)],
    }


def autoapprovers(n):
    return {
        "acls": [{"action": "accept", "src": ["tag:t%d" % j], "dst": [cidr(j) + ":*"]} for j in range(n)],
        "autoApprovers": {"routes": {cidr(j): ["tag:t%d" % j] for j in range(n)}, "exitNode": ["tag:t0"]},
    }


def postures(n):
    return {
        "postures": {"posture:p%d" % j: ["node:os == 'linux'", "node:tsVersion >= '1.%d'" % (j % 90)] for j in range(n)},
        "grants": [{"src": ["u%d@example.com" % j], "srcPosture": ["posture:p%d" % j], "dst": ["tag:t%d" % j], "ip": ["tcp:443"]} for j in range(n)],
    }


def posturetests(n):
    """Postured grants, each with a test whose srcPostureAttrs meet the posture (accept)
    and one whose attributes do not (deny), and postured SSH rules with SSH tests."""
    policy = postures(n)
    met = {"node:os": "linux", "node:tsVersion": "1.95"}
    unmet = {"node:os": "ios", "node:tsVersion": "1.95"}
    policy["tests"] = [{"src": "u%d@example.com" % j, "srcPostureAttrs": met, "accept": ["tag:t%d:443" % j]} for j in range(n)]
    policy["tests"] += [{"src": "u%d@example.com" % j, "srcPostureAttrs": unmet, "deny": ["tag:t%d:443" % j]} for j in range(n)]
    policy["ssh"] = [{"action": "accept", "src": ["u%d@example.com" % j], "dst": ["tag:t%d" % j], "users": ["root"], "srcPosture": ["posture:p%d" % j]} for j in range(n)]
    policy["sshTests"] = [{"src": "u%d@example.com" % j, "dst": ["tag:t%d" % j], "srcPostureAttrs": unmet, "deny": ["root"]} for j in range(n)]
    return policy


def via(n):
    return {"grants": [{"src": ["u%d@example.com" % j], "dst": [cidr(j)], "via": ["tag:t%d" % j], "ip": ["*"]} for j in range(n)]}


def hosttests(n):
    return {
        "hosts": {"h%d" % j: "100.%d.%d.%d" % (64 + j // 65536, j // 256 % 256, j % 256) for j in range(n)},
        "acls": [{"action": "accept", "src": ["h%d" % j], "dst": ["tag:t%d:443" % j]} for j in range(n)],
        "tests": [{"src": "h%d" % j, "accept": ["tag:t%d:443" % j]} for j in range(n)],
    }


def capgrants(n):
    return {"grants": [{"src": ["u%d@example.com" % j], "dst": ["tag:t%d" % j], "app": {"example.com/cap/x": [{"role": "r%d" % j}]}} for j in range(n)]}


KINDS = {f.__name__: f for f in [sshtests, tests, selfgrants, ipsets, nodeattrs, autoapprovers, postures, posturetests, via, hosttests, capgrants]}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit("usage: scale_inputs.py {%s} N" % ",".join(KINDS))
    n = int(sys.argv[2])
    policy = {
        "groups": {"group:admins": ["admin@example.com"]},
        "tagOwners": {"tag:t%d" % j: ["group:admins"] for j in range(n)},
    }
    policy.update(KINDS[sys.argv[1]](n))
    print(json.dumps(policy, indent=1))
