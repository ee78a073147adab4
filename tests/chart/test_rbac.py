"""RBAC grants exactly the verbs the operator and the agent use, no more."""

from __future__ import annotations

import pytest

from conftest import NAMESPACE, find, one, render

OPERATOR = {
    ("glasscannon.dev", "loadtests"): {"get", "list", "watch", "patch"},
    ("glasscannon.dev", "loadtests/status"): {"get", "patch", "update"},
    ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("", "configmaps"): {"get"},
}
RUNNER = {
    ("glasscannon.dev", "loadtests"): {"get", "list", "watch"},
    ("glasscannon.dev", "loadtests/status"): {"patch"},
    ("", "configmaps"): {"get"},
}
LEASES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}


def grants(role):
    """(apiGroup, resource) -> verbs, refusing wildcards and resourceNames-free surprises."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                assert "*" not in (group, res) and "*" not in rule["verbs"], rule
                out.setdefault((group, res), set()).update(rule["verbs"])
    return out


def test_operator_cluster_role_is_exact(chart):
    assert grants(one(render(chart), "ClusterRole")) == OPERATOR


def test_operator_binding(chart):
    objects = render(chart)
    crb = one(objects, "ClusterRoleBinding")
    assert crb["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(objects, "ClusterRole")["metadata"]["name"],
    }
    sa = one(objects, "ServiceAccount", "gc-glass-cannon")
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]


@pytest.mark.parametrize("replicas", [1, 2, 5])
def test_leases_only_with_leader_election(chart, replicas):
    objects = render(chart, {"operator": {"replicas": replicas}})
    roles = find(objects, "Role", "-leader-election")
    # Leases never leak into the cluster-wide role.
    assert grants(one(objects, "ClusterRole")) == OPERATOR
    if replicas == 1:
        assert roles == [] and find(objects, "RoleBinding", "-leader-election") == []
        return
    (role,) = roles
    assert grants(role) == LEASES
    binding = one(objects, "RoleBinding", "-leader-election")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "gc-glass-cannon"


@pytest.mark.parametrize(
    "namespaces,expected",
    [([], [NAMESPACE]), (["perf"], ["perf"]), (["team-a", "team-b", NAMESPACE], ["team-a", "team-b", NAMESPACE])],
)
def test_runner_rbac_in_each_namespace(chart, namespaces, expected):
    objects = render(chart, {"runnerNamespaces": namespaces})
    runner_sas = [o for o in find(objects, "ServiceAccount", "-runner")]
    roles = find(objects, "Role", "-runner")
    bindings = find(objects, "RoleBinding", "-runner")
    assert sorted(o["metadata"]["namespace"] for o in runner_sas) == sorted(expected)
    assert sorted(o["metadata"]["namespace"] for o in roles) == sorted(expected)
    assert sorted(o["metadata"]["namespace"] for o in bindings) == sorted(expected)
    for role in roles:
        assert grants(role) == RUNNER
    for b in bindings:
        ns = b["metadata"]["namespace"]
        assert b["roleRef"]["kind"] == "Role"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "gc-glass-cannon-runner", "namespace": ns}]


def test_runner_service_account_name_reaches_operator(chart):
    objects = render(chart, {"runner": {"serviceAccountName": "loadgen"}, "runnerNamespaces": ["x"]})
    env = {e["name"]: e.get("value") for e in one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GC_RUNNER_SERVICE_ACCOUNT"] == "loadgen"
    assert one(objects, "ServiceAccount", "loadgen")["metadata"]["namespace"] == "x"
    assert one(objects, "RoleBinding", "-runner")["subjects"][0]["name"] == "loadgen"


def test_no_other_rbac_objects(chart):
    objects = render(chart, {"operator": {"replicas": 2}, "runnerNamespaces": ["a", "b"]})
    rbac = [o for o in objects if o["apiVersion"].startswith("rbac.")]
    # 1 ClusterRole + 1 binding, leader election Role + binding, 2 x (Role + binding).
    assert len(rbac) == 2 + 2 + 4
