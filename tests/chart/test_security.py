"""Pods are hardened, and the seccomp choice reaches the operator (and so runner pods)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import CHART, NAMESPACE, find, one, operator_env, pod_specs, render

PROFILE = CHART / "files" / "io-uring.json"
IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}


def containers(spec):
    return [("init", c) for c in spec.get("initContainers", [])] + [("main", c) for c in spec["containers"]]


@pytest.mark.parametrize("values", [None, {"operator": {"replicas": 2}}, {"seccomp": {"mode": "Unconfined"}}])
def test_every_pod_is_hardened(chart, values):
    specs = pod_specs(render(chart, values))
    assert len(specs) >= 2
    for name, spec in specs:
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), f"{name}: {flag}"
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for kind, c in containers(spec):
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert "add" not in sc["capabilities"], where
            assert c.get("resources", {}).get("limits", {}).get("memory"), where
            if (name, c["name"]) == ("gc-glass-cannon-seccomp", "copy-profile"):
                # The one root container: it writes the root-owned kubelet seccomp dir, with no capabilities.
                assert sc["runAsUser"] == 0
            else:
                assert sc["runAsNonRoot"] is True, where


def test_operator_runs_as_distroless_nonroot(chart):
    spec = one(render(chart), "Deployment")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_only_the_installer_mounts_the_host(chart):
    objects = render(chart, {"seccomp": {"installer": {"kubeletRoot": "/var/lib/k0s/kubelet/"}}})
    for name, spec in pod_specs(objects):
        host = [v for v in spec.get("volumes", []) if "hostPath" in v]
        if name == "gc-glass-cannon-seccomp":
            assert host == [{
                "name": "host-seccomp",
                "hostPath": {"path": "/var/lib/k0s/kubelet/seccomp/glass-cannon", "type": "DirectoryOrCreate"},
            }]
        else:
            assert host == [], name


@pytest.mark.parametrize(
    "seccomp,mode,installer",
    [
        ({}, "Localhost", True),
        ({"installer": {"enabled": False}}, "RuntimeDefault", False),
        ({"mode": "Localhost"}, "Localhost", True),
        ({"mode": "RuntimeDefault"}, "RuntimeDefault", True),
        ({"mode": "Unconfined"}, "Unconfined", True),
        ({"mode": "Unconfined", "installer": {"enabled": False}}, "Unconfined", False),
        ({"mode": "Localhost", "installer": {"enabled": False}}, "Localhost", False),
    ],
)
def test_seccomp_choice_reaches_operator(chart, seccomp, mode, installer):
    objects = render(chart, {"seccomp": seccomp})
    env = operator_env(objects)
    assert env["GC_SECCOMP_DEFAULT"] == mode
    assert env["GC_SECCOMP_LOCALHOST_PROFILE"] == "glass-cannon/io-uring.json"
    assert bool(find(objects, "DaemonSet")) == installer
    assert bool(find(objects, "ConfigMap", "-seccomp")) == installer


def test_localhost_profile_path_is_consistent(chart):
    objects = render(chart, {"seccomp": {"localhostProfile": "perf/uring.json"}})
    assert operator_env(objects)["GC_SECCOMP_LOCALHOST_PROFILE"] == "perf/uring.json"
    cm = one(objects, "ConfigMap", "-seccomp")
    assert list(cm["data"]) == ["uring.json"]
    ds = one(objects, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    host = next(v for v in spec["volumes"] if "hostPath" in v)
    assert host["hostPath"]["path"] == "/var/lib/kubelet/seccomp/perf"
    script = spec["initContainers"][0]["command"][-1]
    assert "/profile/uring.json" in script and script.endswith("/host-seccomp/uring.json")


def test_installer_lives_in_its_own_privileged_namespace(chart):
    """Only the installer needs hostPath (Pod Security "privileged"): the release
    namespace, with the operator and maybe LoadTests, can then be restricted."""
    objects = render(chart)
    installer = [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "seccomp-installer"]
    ns = one(objects, "Namespace")
    assert ns["metadata"]["name"] == f"{NAMESPACE}-seccomp"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert {o["kind"] for o in installer} == {"Namespace", "ConfigMap", "DaemonSet"}
    for o in installer:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == f"{NAMESPACE}-seccomp", o["kind"]
    for o in objects:
        if o["kind"] in ("Deployment", "ServiceAccount"):
            assert o["metadata"]["namespace"] == NAMESPACE, o["kind"]
    # An admin's own namespace, created beforehand.
    objects = render(chart, {"seccomp": {"installer": {"namespace": "node-setup", "createNamespace": False}}})
    assert not find(objects, "Namespace")
    assert one(objects, "DaemonSet")["metadata"]["namespace"] == "node-setup"
    assert one(objects, "ConfigMap", "-seccomp")["metadata"]["namespace"] == "node-setup"


def test_installer_tolerates_no_taint_unless_told(chart):
    spec = one(render(chart), "DaemonSet")["spec"]["template"]["spec"]
    assert "tolerations" not in spec, "by default only untainted (worker) nodes get the profile"
    loadnodes = [{"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}]
    spec = one(render(chart, {"seccomp": {"installer": {"tolerations": loadnodes}}}), "DaemonSet")
    assert spec["spec"]["template"]["spec"]["tolerations"] == loadnodes


def test_configmap_carries_the_profile_file(chart):
    cm = one(render(chart), "ConfigMap", "-seccomp")
    assert json.loads(cm["data"]["io-uring.json"]) == json.loads(PROFILE.read_text())


def test_installer_rolls_when_profile_changes(chart):
    ds = one(render(chart), "DaemonSet")
    assert len(ds["spec"]["template"]["metadata"]["annotations"]["checksum/profile"]) == 64


def load_profile():
    return json.loads(PROFILE.read_text())


def allowed_unconditionally(profile):
    return {
        n
        for r in profile["syscalls"]
        if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
        for n in r["names"]
    }


def test_profile_allows_io_uring_and_denies_by_default():
    profile = load_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert IO_URING <= allowed_unconditionally(profile)
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"} <= set(profile["architectures"])


def test_profile_keeps_the_runtime_default_allowlist():
    allowed = allowed_unconditionally(load_profile())
    # A sample of what every program needs; losing these would break the runner.
    assert {"read", "write", "mmap", "futex", "epoll_wait", "connect", "sendmsg", "recvmsg",
            "clock_gettime", "exit_group", "rt_sigaction", "getrandom", "openat"} <= allowed


def test_profile_is_plain_oci_without_capability_grants():
    profile = load_profile()
    # containerd and CRI-O ignore Docker's conditional keys, which would grant
    # every capability-gated rule; the profile must be resolved already.
    assert set(profile) <= {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    for rule in profile["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet"}, rule
    allowed = allowed_unconditionally(profile)
    for dangerous in ("mount", "umount2", "bpf", "unshare", "setns", "kexec_load", "init_module",
                      "open_by_handle_at", "reboot", "chroot", "pivot_root", "keyctl", "add_key", "userfaultfd"):
        assert dangerous not in allowed, dangerous
    clone = [r for r in profile["syscalls"] if "clone" in r["names"] and r["action"] == "SCMP_ACT_ALLOW"]
    # clone only without namespace flags (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP).
    assert clone and all(r["args"][0]["op"] == "SCMP_CMP_MASKED_EQ" for r in clone)


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def test_helper_images_are_pinned_by_digest_and_nothing_floats(chart):
    specs = pod_specs(render(chart))
    images = {c["name"]: c["image"] for _, spec in specs for _, c in containers(spec)}
    # The installer's busybox and pause run as root / on every node: pinned by default.
    assert DIGEST.search(images["copy-profile"]) and images["copy-profile"].startswith("docker.io/library/busybox:1.36@")
    assert DIGEST.search(images["pause"]) and images["pause"].startswith("registry.k8s.io/pause:3.10@")
    for name, image in images.items():
        tag = image.split("@")[0].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] and tag[1] != "latest", f"{name}: {image} has no fixed tag"
    # Every image of the chart can be pinned (the schema has a digest field for each).
    d = "sha256:" + "a" * 64
    pinned = render(chart, {"image": {"digest": d}, "seccomp": {"installer": {
        "copyImage": {"digest": d}, "pauseImage": {"digest": d}}}})
    for _, spec in pod_specs(pinned):
        for _, c in containers(spec):
            assert c["image"].endswith("@" + d), c["image"]
    assert operator_env(pinned)["GC_RUNNER_IMAGE"].endswith("@" + d)
    # An empty digest falls back to the tag, never to :latest.
    unpinned = render(chart, {"seccomp": {"installer": {"copyImage": {"digest": ""}}}})
    (ds,) = [spec for name, spec in pod_specs(unpinned) if name.endswith("-seccomp")]
    assert ds["initContainers"][0]["image"] == "docker.io/library/busybox:1.36"
