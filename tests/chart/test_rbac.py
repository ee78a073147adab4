"""RBAC grants exactly the verbs the operator and the agent use, no more."""

from __future__ import annotations

import pytest

from conftest import NAMESPACE, find, one, render

OPERATOR = {
    ("glasscannon.dev", "loadtests"): {"get", "list", "watch"},
    ("glasscannon.dev", "loadtests/status"): {"patch"},
    ("glasscannon.dev", "runnerresults"): {"create", "get", "list", "watch"},
    ("glasscannon.dev", "runnerresults/status"): {"patch"},
    ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): {"list"},
    ("", "events"): {"list"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("", "configmaps"): {"get"},
    # Each LoadTest's runner ServiceAccount, Role and RoleBinding (operator/src/rbac.rs).
    ("", "serviceaccounts"): {"create", "get"},
    ("rbac.authorization.k8s.io", "roles"): {"create", "get"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"create", "get"},
}
# What operator/src/rbac.rs grants a LoadTest's runners (on that LoadTest, its
# RunnerResults and the ConfigMaps it names only; never the LoadTest's status). RBAC lets the operator create that Role and bind it
# only because it holds every one of these verbs itself: no `escalate`, no `bind`.
RUNNER = {
    ("glasscannon.dev", "loadtests"): {"get"},
    ("glasscannon.dev", "runnerresults/status"): {"patch"},
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
    assert grants(one(render(chart), "ClusterRole", "-operator")) == OPERATOR


def test_operator_binding(chart):
    objects = render(chart)
    crb = one(objects, "ClusterRoleBinding")
    assert crb["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(objects, "ClusterRole", "-operator")["metadata"]["name"],
    }
    sa = one(objects, "ServiceAccount", "gc-glass-cannon")
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]


@pytest.mark.parametrize("replicas", [1, 2, 5])
def test_leases_only_with_leader_election(chart, replicas):
    objects = render(chart, {"operator": {"replicas": replicas}})
    roles = find(objects, "Role", "-leader-election")
    # Leases never leak into the cluster-wide role.
    assert grants(one(objects, "ClusterRole", "-operator")) == OPERATOR
    if replicas == 1:
        assert roles == [] and find(objects, "RoleBinding", "-leader-election") == []
        return
    (role,) = roles
    assert grants(role) == LEASES
    binding = one(objects, "RoleBinding", "-leader-election")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "gc-glass-cannon"


def test_operator_holds_what_it_grants_runners_and_no_escalation(chart):
    held = grants(one(render(chart), "ClusterRole", "-operator"))
    for key, verbs in RUNNER.items():
        assert verbs <= held.get(key, set()), f"operator cannot grant {key} {verbs}"
    for verbs in held.values():
        assert not {"escalate", "bind", "impersonate"} & verbs


def test_chart_makes_no_runner_rbac(chart):
    # Runners get theirs from the operator, per LoadTest, in the LoadTest's namespace.
    objects = render(chart, {"operator": {"replicas": 1}})
    assert find(objects, "ServiceAccount", "-runner") == []
    assert find(objects, "Role", "-runner") == [] and find(objects, "RoleBinding", "-runner") == []


def test_no_other_rbac_objects(chart):
    objects = render(chart, {"operator": {"replicas": 2}})
    rbac = [o for o in objects if o["apiVersion"].startswith("rbac.")]
    # 1 ClusterRole + 1 binding, leader election Role + binding, the edit and view roles.
    assert len(rbac) == 2 + 2 + 2


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def test_users_edit_and_view_loadtests_through_the_built_in_roles(chart):
    objects = render(chart)
    edit, view = one(objects, "ClusterRole", "-edit"), one(objects, "ClusterRole", "-view")
    assert {k for k in edit["metadata"]["labels"] if k.startswith(AGGREGATE)} == {AGGREGATE + "edit", AGGREGATE + "admin"}
    assert {k for k in view["metadata"]["labels"] if k.startswith(AGGREGATE)} == {AGGREGATE + "view"}
    assert grants(edit) == {
        ("glasscannon.dev", "loadtests"): {"get", "list", "watch", "create", "update", "patch", "delete",
                                           "deletecollection"},
        ("glasscannon.dev", "loadtests/status"): {"get"},  # the verdict is the operator's to write
    }
    assert grants(view) == {("glasscannon.dev", r): {"get", "list", "watch"} for r in ("loadtests", "loadtests/status")}
    # Bound to nobody by the chart: the built-in roles carry them.
    bound = {b["roleRef"]["name"] for b in objects if b["kind"] in ("RoleBinding", "ClusterRoleBinding")}
    assert not bound & {edit["metadata"]["name"], view["metadata"]["name"]}
    assert not find(render(chart, {"userRoles": {"aggregate": False}}), "ClusterRole", "-view")


def test_watch_namespaces_bind_the_operator_only_there(chart):
    objects = render(chart, {"operator": {"watchNamespaces": ["perf", "team-b"]}})
    assert find(objects, "ClusterRoleBinding") == [], "no cluster-wide grant when it watches a list"
    role = one(objects, "ClusterRole", "-operator")
    assert grants(role) == OPERATOR
    bindings = find(objects, "RoleBinding", "-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["perf", "team-b"]
    sa = one(objects, "ServiceAccount", "gc-glass-cannon")["metadata"]["name"]
    for b in bindings:
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": role["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    from conftest import operator_env
    assert operator_env(objects)["GC_WATCH_NAMESPACES"] == "perf,team-b"
    assert "GC_WATCH_NAMESPACES" not in operator_env(render(chart))
