"""Generate charts/glass-cannon/files/io-uring.json from moby's default profile.

The container runtime's default profile (moby's `profiles/seccomp/default.json`,
which containerd's default mirrors) is written in Docker's extended format:
rules carry `includes`/`excludes` conditions on capabilities and architectures
that only Docker's own loader understands. containerd and CRI-O read a Localhost
profile as plain OCI `LinuxSeccomp`, silently ignoring those conditions, which
would *grant* every capability-gated rule (mount, bpf, ptrace, ...). So the
profile is resolved here, once, for what runner pods are: no capabilities,
amd64 or arm64 nodes. Then io_uring_setup/enter/register are allowed.

Usage: python gen_seccomp.py MOBY_DEFAULT_JSON OUTPUT_JSON
(Debian ships the source profile in golang-github-docker-docker-dev.)
"""

from __future__ import annotations

import json
import sys

# Architectures of the nodes the chart supports, as moby names them in rules.
TARGET_ARCHES = {"amd64", "x32", "x86", "arm64", "arm"}
ARCHITECTURES = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
]
IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]


def applies(rule: dict) -> bool:
    """Whether a moby rule applies to a capability-less container on our arches."""
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("caps"):
        return False
    if inc.get("arches") and not TARGET_ARCHES & set(inc["arches"]):
        return False
    # An exclusion by capability never hits (no caps); by arch only when it
    # would exclude every target arch.
    return not (exc.get("arches") and TARGET_ARCHES <= set(exc["arches"]))


def resolve(moby: dict) -> dict:
    """Resolve moby's conditional profile into a plain OCI profile plus io_uring."""
    syscalls = []
    for rule in moby["syscalls"]:
        if not applies(rule):
            continue
        out = {"names": sorted(rule["names"]), "action": rule["action"]}
        if rule.get("args"):
            out["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        syscalls.append(out)
    allowed = {n for r in syscalls if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r
               for n in r["names"]}
    missing = [n for n in IO_URING if n not in allowed]
    if missing:
        syscalls.append({"names": missing, "action": "SCMP_ACT_ALLOW"})
    return {
        "defaultAction": moby["defaultAction"],
        "defaultErrnoRet": 1,
        "architectures": ARCHITECTURES,
        "syscalls": syscalls,
    }


def main() -> None:
    """Read moby's profile, write the resolved io_uring profile."""
    with open(sys.argv[1], encoding="utf-8") as f:
        moby = json.load(f)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(resolve(moby), f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
