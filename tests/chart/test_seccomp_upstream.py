"""The chart's seccomp profile is the runtime default plus io_uring, and nothing more.

Compared with the upstream default checked in under tests/chart/upstream/ (see its
README for the version). A rule is reduced to "grants": one (syscall, action,
argument filter, errno) tuple per name, so the comparison does not depend on how
rules are grouped or ordered.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

import gen_seccomp
from conftest import CHART

PROFILE = CHART / "files" / "io-uring.json"
UPSTREAM_README = gen_seccomp.UPSTREAM.parent / "README.md"
IO_URING = {("io_uring_setup", "SCMP_ACT_ALLOW", "null", None),
            ("io_uring_enter", "SCMP_ACT_ALLOW", "null", None),
            ("io_uring_register", "SCMP_ACT_ALLOW", "null", None)}
AF_INET, AF_UNIX, AF_INET6, AF_NETLINK, AF_ALG, AF_VSOCK = 2, 1, 10, 16, 38, 40


def grants(rules):
    return {(n, r["action"], json.dumps(r.get("args"), sort_keys=True), r.get("errnoRet"))
            for r in rules for n in r["names"]}


@pytest.fixture(scope="module")
def upstream():
    return json.loads(gen_seccomp.UPSTREAM.read_text())


@pytest.fixture(scope="module")
def profile():
    return json.loads(PROFILE.read_text())


def test_upstream_copy_matches_its_provenance():
    digest = hashlib.sha256(gen_seccomp.UPSTREAM.read_bytes()).hexdigest()
    recorded = re.search(r"SHA-256 \| `([0-9a-f]{64})`", UPSTREAM_README.read_text()).group(1)
    assert digest == recorded


def test_profile_is_the_generators_output(upstream):
    # Hand edits or a stale regeneration show up here.
    assert PROFILE.read_text() == gen_seccomp.render(upstream)


def test_profile_adds_exactly_the_three_io_uring_syscalls(upstream, profile):
    assert grants(profile["syscalls"]) - grants(upstream["syscalls"]) == IO_URING


def test_profile_keeps_every_unconditional_upstream_rule(upstream, profile):
    plain = [r for r in upstream["syscalls"] if not r.get("includes") and not r.get("excludes")]
    assert len(plain) > 5
    assert grants(plain) <= grants(profile["syscalls"])


def test_profile_grants_nothing_only_capabilities_allow(upstream, profile):
    gated = [r for r in upstream["syscalls"] if (r.get("includes") or {}).get("caps")]
    ungated = [r for r in upstream["syscalls"] if not (r.get("includes") or {}).get("caps")]
    only_with_caps = grants(gated) - grants(ungated)
    assert {g[0] for g in only_with_caps} >= {"mount", "bpf", "unshare", "setns", "reboot", "chroot"}
    assert not grants(profile["syscalls"]) & only_with_caps


def test_profile_keeps_the_rules_that_apply_without_capabilities(upstream, profile):
    have = grants(profile["syscalls"])
    # Restricted forms that the capability-less loader keeps: clone without
    # namespace flags, clone3 refused with ENOSYS so libc falls back to clone.
    clone = [r for r in upstream["syscalls"] if r["names"] == ["clone"] and r.get("args")
             and r["args"][0]["index"] == 0]
    assert grants(clone) <= have
    assert ("clone3", "SCMP_ACT_ERRNO", "null", 38) in have
    assert not any(g[0] == "clone" and g[2] == "null" for g in have)


def test_architectures_are_the_node_arches_from_upstream(upstream, profile):
    by_native = {e["architecture"]: e.get("subArchitectures") or [] for e in upstream["archMap"]}
    expected = []
    for native in ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"):
        expected += [native, *by_native[native]]
    assert profile["architectures"] == expected
    assert profile["defaultAction"] == upstream["defaultAction"] == "SCMP_ACT_ERRNO"


def socket_allowed(profile, family):
    """Evaluate the profile's `socket` rules for a first argument, as libseccomp does."""
    ops = {"SCMP_CMP_LT": lambda a, v: a < v, "SCMP_CMP_EQ": lambda a, v: a == v,
           "SCMP_CMP_GT": lambda a, v: a > v, "SCMP_CMP_NE": lambda a, v: a != v,
           "SCMP_CMP_LE": lambda a, v: a <= v, "SCMP_CMP_GE": lambda a, v: a >= v}
    for rule in profile["syscalls"]:
        if "socket" not in rule["names"]:
            continue
        if all(ops[c["op"]](family, c["value"]) for c in rule.get("args") or [] if c["index"] == 0):
            return rule["action"] == "SCMP_ACT_ALLOW"
    return profile["defaultAction"] == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize("family,allowed", [(AF_UNIX, True), (AF_INET, True), (AF_INET6, True),
                                            (AF_NETLINK, True), (AF_ALG, False), (AF_VSOCK, False)])
def test_socket_families_follow_the_upstream_filter(profile, family, allowed):
    assert socket_allowed(profile, family) == allowed


def test_generator_refuses_conditions_it_cannot_resolve(upstream):
    newer = {"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.9"}}
    with pytest.raises(ValueError, match="kernel 7.9"):
        gen_seccomp.resolve({**upstream, "syscalls": [*upstream["syscalls"], newer]})
    odd = {"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"cgroupVersion": 2}}
    with pytest.raises(ValueError, match="cgroupVersion"):
        gen_seccomp.resolve({**upstream, "syscalls": [*upstream["syscalls"], odd]})
