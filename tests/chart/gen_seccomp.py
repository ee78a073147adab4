"""Generate charts/glass-cannon/files/io-uring.json from moby's default profile.

The container runtime's default profile (moby's `seccomp/default.json`, the one
Docker applies and containerd's RuntimeDefault copies) is written in Docker's
extended format: rules carry `includes`/`excludes` conditions on capabilities,
architectures and kernel versions that only Docker's own loader understands.
containerd and CRI-O read a Localhost profile as plain OCI `LinuxSeccomp`,
silently ignoring those conditions, which would *grant* every capability-gated
rule (mount, bpf, ptrace of other processes, ...). So the profile is resolved
here, once, the way Docker's loader resolves it for what runner pods are: no
capabilities, amd64 or arm64 nodes, a kernel new enough for io_uring. Then
io_uring_setup/enter/register are allowed, and nothing else is added.

The source is checked in as tests/chart/upstream/moby-seccomp-default.json (its
provenance is in tests/chart/upstream/README.md); test_seccomp_upstream.py checks
that the chart's profile is exactly this script's output for it.

Usage: python gen_seccomp.py [MOBY_DEFAULT_JSON [OUTPUT_JSON]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "upstream" / "moby-seccomp-default.json"
PROFILE = HERE.parents[1] / "charts" / "glass-cannon" / "files" / "io-uring.json"

# Node architectures the chart supports, as Docker's loader names the host
# (Go's GOARCH) in `includes.arches`, with the native libseccomp arch in `archMap`.
NODE_ARCHES = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}
# The oldest kernel the runner supports (io_uring with provided buffer rings);
# `minKernel` conditions at or below it hold on every node that can run it.
MIN_KERNEL = (6, 1)
IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
CONDITION_KEYS = {"caps", "arches", "minKernel"}


def kernel(version: str) -> tuple[int, ...]:
    """'4.8' -> (4, 8)."""
    return tuple(int(p) for p in version.split("."))


def holds_on(cond: dict, arch: str, exclude: bool) -> bool:
    """Whether an includes (exclude=False) or excludes condition matches on `arch`.

    A capability-less pod never has a capability, so `caps` matches only when
    empty for includes and never for excludes.
    """
    unknown = set(cond) - CONDITION_KEYS
    if unknown:
        raise ValueError(f"unknown condition keys {sorted(unknown)}: update gen_seccomp.py")
    if "minKernel" in cond and kernel(cond["minKernel"]) > MIN_KERNEL:
        raise ValueError(f"rule needs kernel {cond['minKernel']}, newer than the supported minimum: "
                         "a plain OCI profile cannot express that")
    if exclude:
        return arch in (cond.get("arches") or []) or "minKernel" in cond
    return not cond.get("caps") and arch in (cond.get("arches") or [arch])


def applies(rule: dict) -> bool:
    """Whether Docker's loader keeps this rule for a capability-less pod on some node arch."""
    return any(
        holds_on(rule.get("includes") or {}, arch, exclude=False)
        and not holds_on(rule.get("excludes") or {}, arch, exclude=True)
        for arch in NODE_ARCHES
    )


def architectures(moby: dict) -> list[str]:
    """The archMap entries of the node arches, each native arch with its sub-arches."""
    out = []
    for entry in moby["archMap"]:
        if entry["architecture"] in NODE_ARCHES.values():
            out += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    return out


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
    named = {n for r in syscalls for n in r["names"]}
    if named & set(IO_URING):
        raise ValueError("upstream now names io_uring syscalls: review before regenerating")
    syscalls.append({"names": IO_URING, "action": "SCMP_ACT_ALLOW"})
    return {
        "defaultAction": moby["defaultAction"],
        "defaultErrnoRet": moby["defaultErrnoRet"],
        "architectures": architectures(moby),
        "syscalls": syscalls,
    }


def render(moby: dict) -> str:
    """The profile file's exact text."""
    return json.dumps(resolve(moby), indent=2) + "\n"


def main() -> None:
    """Read moby's profile, write the resolved io_uring profile."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else UPSTREAM
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else PROFILE
    target.write_text(render(json.loads(source.read_text(encoding="utf-8"))), encoding="utf-8")


if __name__ == "__main__":
    main()
