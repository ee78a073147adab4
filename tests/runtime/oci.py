"""OCI runtime-spec helpers for tests/runtime/run.sh.

`config` writes a bundle's config.json shaped like a runner pod under containerd:
non-root, read-only root, no capabilities, no_new_privs, a tmpfs /tmp, the
seccomp profile put into the spec as the runtime does with a Localhost profile.
`image` prints what a built image's config says (user, entrypoint) as shell words.
`report` checks a `gcannon --json` report and prints its response count.
`pod` is what the API server stand-in's kubelet runs in place of `gcannon`: it
turns the pod's command and environment into a bundle and execs `runc run`, so
the agent runs in the container and the kubelet's signals reach it.

Usage:
  oci.py config BUNDLE ROOTFS PROFILE [--no-io-uring] [--netns PATH|host] [--user U:G] -- ARGS...
  oci.py image INSPECT_JSON
  oci.py report REPORT_JSON
  oci.py pod ROOTFS PROFILE RUNC_ROOT -- ARGS...   (environment and cwd: the pod's)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}
# What containerd's default spec masks and makes read-only, so the container
# sees /proc and /sys the way a pod does.
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
NOSUID = ["nosuid", "noexec", "nodev"]


def without_io_uring(profile: dict) -> dict:
    """The profile as RuntimeDefault gives it on containerd and Docker: no io_uring."""
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in IO_URING]
        if names:
            rules.append({**rule, "names": names})
    return {**profile, "syscalls": rules}


def mounts() -> list[dict]:
    """The pod's mounts: /proc, /dev, /sys read-only, and the emptyDir-like tmpfs /tmp."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": NOSUID},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*NOSUID, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": NOSUID},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*NOSUID, "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
    ]


def spec(rootfs: str, profile_path: str, args: list[str], env: list[str], *, no_io_uring: bool = False,
         netns: str = "", user: str = "65532:65532", extra_mounts: tuple[dict, ...] = ()) -> dict:
    """A runner pod's container as an OCI runtime spec."""
    profile = json.loads(Path(profile_path).read_text(encoding="utf-8"))
    if no_io_uring:
        profile = without_io_uring(profile)
    uid, gid = (int(x) for x in user.split(":"))
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if netns != "host":
        # No path: runc makes a new namespace with only loopback, up.
        namespaces.append({"type": "network", **({"path": netns} if netns else {})})
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"] + env,
            "cwd": "/",
            "capabilities": {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")},
            "noNewPrivileges": True,
        },
        "root": {"path": str(Path(rootfs).resolve()), "readonly": True},
        "hostname": "runner",
        "mounts": mounts() + list(extra_mounts),
        "linux": {
            "namespaces": namespaces,
            "seccomp": profile,
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }


def write_bundle(bundle: str | Path, config_: dict) -> None:
    Path(bundle).mkdir(parents=True, exist_ok=True)
    (Path(bundle) / "config.json").write_text(json.dumps(config_, indent=1), encoding="utf-8")


def config(a: argparse.Namespace) -> None:
    write_bundle(a.bundle, spec(a.rootfs, a.profile, a.args, a.env, no_io_uring=a.no_io_uring,
                                netns=a.netns, user=a.user))


def pod(a: argparse.Namespace) -> None:
    """Run the pod's command in a bundle made in the pod's directory (runc run, foreground).

    The kubeconfig the stand-in gives every pod is bind-mounted read-only into the
    container's /tmp, as a projected token volume would be. The container shares
    the host's network namespace, where the stand-in and the target listen on
    loopback (a pod network with routes is what case 4 covers)."""
    env = dict(os.environ)
    kubeconfig = env.pop("KUBECONFIG")
    for k in ("PATH", "HOME"):
        env.pop(k, None)
    env["KUBECONFIG"] = "/tmp/kubeconfig"
    env["HOME"] = "/tmp"
    bind = {"destination": "/tmp/kubeconfig", "type": "bind", "source": kubeconfig, "options": ["rbind", "ro"]}
    args = ["gcannon"] + a.args
    write_bundle("bundle", spec(a.rootfs, a.profile, args, [f"{k}={v}" for k, v in env.items()],
                                netns="host", extra_mounts=(bind,)))
    ident = f"{Path(a.runc_root).parent.name}-{env.get('HOSTNAME', 'pod')}"
    print(f"runtime: runc {ident} runs {' '.join(args)}", flush=True)
    os.execvp("runc", ["runc", "--root", a.runc_root, "run", "--bundle", "bundle", ident])


def image(a: argparse.Namespace) -> None:
    """`buildah inspect --type image` output -> IMAGE_USER=... IMAGE_ENTRYPOINT=(...)."""
    cfg = json.loads(Path(a.inspect).read_text(encoding="utf-8"))["OCIv1"]["config"]
    print(f"IMAGE_USER={shlex.quote(cfg.get('User', ''))}")
    print("IMAGE_ENTRYPOINT=(" + " ".join(shlex.quote(x) for x in cfg.get("Entrypoint") or []) + ")")


def report(a: argparse.Namespace) -> None:
    """Fail unless the report shows 2xx responses and no errors; print the count."""
    r = json.loads(Path(a.report).read_text(encoding="utf-8"))
    responses, ok = r["responses"], r["status"]["2xx"]
    errors = {k: v for k, v in r.get("errors", {}).items() if v}
    if responses <= 0 or ok != responses or errors:
        sys.exit(f"report: responses={responses} 2xx={ok} errors={errors}")
    print(responses)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config")
    c.add_argument("bundle")
    c.add_argument("rootfs")
    c.add_argument("profile")
    c.add_argument("--no-io-uring", action="store_true")
    c.add_argument("--netns", default="", help="a namespace path, 'host', or empty for a new one")
    c.add_argument("--user", default="65532:65532")
    c.add_argument("--env", action="append", default=[])
    c.add_argument("args", nargs="+")
    sub.add_parser("image").add_argument("inspect")
    sub.add_parser("report").add_argument("report")
    c = sub.add_parser("pod")
    c.add_argument("rootfs")
    c.add_argument("profile")
    c.add_argument("runc_root")
    c.add_argument("args", nargs="+")
    a = p.parse_args()
    {"config": config, "image": image, "report": report, "pod": pod}[a.cmd](a)


if __name__ == "__main__":
    main()
