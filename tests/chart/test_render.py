"""Rendering and lint: default values and variants produce valid, known objects."""

from __future__ import annotations

import json
import re

import helm_python as helm
import pytest

from conftest import CHART, NAMESPACE, RELEASE, find, one, operator_env, render, render_raw

# Every (apiVersion, kind) the chart may emit. An unknown pair means a typo or
# an API that a supported cluster (>= 1.27) does not serve.
KNOWN = {
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Namespace"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "DaemonSet"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace", "ValidatingAdmissionPolicy",
                  "ValidatingAdmissionPolicyBinding"}

VARIANTS = {
    "default": None,
    "localhost": {"seccomp": {"mode": "Localhost"}},
    "runtime-default": {"seccomp": {"mode": "RuntimeDefault"}},
    "unconfined": {"seccomp": {"mode": "Unconfined", "installer": {"enabled": False}}},
    "installer-off": {"seccomp": {"installer": {"enabled": False}}},
    "replicas-2": {"operator": {"replicas": 2}},
    "servicemonitor": {"metrics": {"serviceMonitor": {"enabled": True}}},
    "monitoring": {"metrics": {"podMonitor": {"enabled": True}, "dashboard": {"enabled": True}}},
    "digest": {"image": {"digest": "sha256:" + "a" * 64}},
    "existing-sa": {"serviceAccount": {"create": False, "name": "ops"}},
    "everything": {
        "operator": {"replicas": 3, "nodeSelector": {"pool": "ops"}, "tolerations": [{"operator": "Exists"}]},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}},
        "seccomp": {"localhostProfile": "gc/profile.json"},
        "imagePullSecrets": [{"name": "regcred"}],
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_renders_known_objects(chart, variant):
    objects = render(chart, VARIANTS[variant])
    assert objects
    for o in objects:
        assert (o.get("apiVersion"), o.get("kind")) in KNOWN, f"unknown object {o.get('apiVersion')}/{o.get('kind')}"
        meta = o["metadata"]
        assert meta["name"] and len(meta["name"]) <= 63
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE
        if o["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta
        else:
            assert meta.get("namespace"), f"{o['kind']}/{meta['name']} has no namespace"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_lints_clean(variant):
    report = helm.lint(CHART, VARIANTS[variant], strict=True, namespace=NAMESPACE)
    errors = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and errors == [], report


def test_names_are_unique_per_kind_and_namespace(chart):
    objects = render(chart, VARIANTS["everything"])
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))


def test_default_objects(chart):
    objects = render(chart)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
        "ConfigMap", "DaemonSet", "Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ])
    assert not find(objects, "ServiceMonitor")


def test_operator_deployment_contract(chart):
    objects = render(chart)
    dep = one(objects, "Deployment", "-operator")
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]
    (c,) = pod["spec"]["containers"]
    assert c["command"] == ["/usr/local/bin/glass-cannon-operator"]
    assert c["image"] == "ghcr.io/glass-cannon/glass-cannon:0.1.0"
    env = operator_env(objects)
    assert env["GC_RUNNER_IMAGE"] == c["image"]
    assert "GC_RUNNER_SERVICE_ACCOUNT" not in env
    assert env["GC_START_TIMEOUT"] == "5m"
    assert env["GC_METRICS_ADDR"] == "0.0.0.0:8080"
    assert env["RUST_LOG"] == "info"
    assert "GC_LEADER_ELECTION" not in env
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["spec"]["serviceAccountName"] == one(objects, "ServiceAccount", "glass-cannon")["metadata"]["name"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()


def test_metrics_port_follows_values(chart):
    objects = render(chart, {"operator": {"metricsPort": 9100}, "metrics": {"service": {"port": 80}}})
    assert operator_env(objects)["GC_METRICS_ADDR"] == "0.0.0.0:9100"
    svc = one(objects, "Service", "-metrics")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 80, "targetPort": "metrics", "protocol": "TCP"}]


def test_image_digest_wins_and_reaches_runners(chart):
    digest = "sha256:" + "b" * 64
    objects = render(chart, {"image": {"digest": digest, "tag": "ignored"}})
    env = operator_env(objects)
    assert env["GC_RUNNER_IMAGE"] == f"ghcr.io/glass-cannon/glass-cannon@{digest}"


def test_image_tag_override(chart):
    env = operator_env(render(chart, {"image": {"tag": "v9.9.9"}}))
    assert env["GC_RUNNER_IMAGE"].endswith(":v9.9.9")


def test_replicas_two_enables_leader_election(chart):
    objects = render(chart, {"operator": {"replicas": 2}})
    assert one(objects, "Deployment")["spec"]["replicas"] == 2
    env = operator_env(objects)
    assert env["GC_LEADER_ELECTION"] == "true"
    assert env["GC_LEADER_ELECTION_NAMESPACE"] == NAMESPACE
    assert env["GC_LEADER_ELECTION_LEASE"] == "gc-glass-cannon-operator"
    assert env["GC_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    role = one(objects, "Role", "-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE


def test_service_selects_operator_pods(chart):
    objects = render(chart)
    svc = one(objects, "Service", "-metrics")
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert not find(render(chart, {"metrics": {"service": {"enabled": False}}}), "Service")


def test_servicemonitor(chart):
    objects = render(chart, {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}})
    sm = one(objects, "ServiceMonitor")
    svc = one(objects, "Service", "-metrics")
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] == svc["spec"]["ports"][0]["name"] and ep["path"] == "/metrics"


def test_servicemonitor_without_service_fails(chart):
    with pytest.raises(helm.HelmError, match="metrics.service.enabled"):
        render(chart, {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


def test_existing_operator_service_account(chart):
    objects = render(chart, {"serviceAccount": {"create": False, "name": "ops"}})
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "ops"
    # Runner ServiceAccounts are the operator's, per LoadTest: the chart makes none.
    assert find(objects, "ServiceAccount") == []


def test_missing_operator_service_account_name_fails(chart):
    with pytest.raises(helm.HelmError, match="serviceAccount.name is required"):
        render(chart, {"serviceAccount": {"create": False}})


def test_notes_walk_through_the_quick_start(chart):
    notes = render_raw(chart)["glass-cannon/templates/NOTES.txt"]
    for line in (
        "kubectl apply -f examples/quickstart/target.yaml",
        "kubectl rollout status deployment/target",
        "kubectl apply -f examples/quickstart/loadtest.yaml",
        "kubectl wait loadtest/quickstart --for=condition=Complete",
    ):
        assert line in notes
    for path in re.findall(r"examples/\S+\.yaml", notes):
        assert (CHART.parents[1] / path).is_file(), path
    assert "any namespace" in notes
    assert "after\n5m the test fails with that reason" in notes
    assert operator_env(render(chart, {"operator": {"startTimeout": "90s"}}))["GC_START_TIMEOUT"] == "90s"
    assert "Image:           ghcr.io/glass-cannon/glass-cannon:0.1.0" in notes
    warned = render_raw(chart, {"seccomp": {"installer": {"enabled": False}}})["glass-cannon/templates/NOTES.txt"]
    assert "WARNING: RuntimeDefault blocks io_uring" in warned
    assert "WARNING" not in notes


def test_chart_values_are_schema_valid(chart):
    # The shipped defaults and the merged variants pass the chart's own schema.
    for values in VARIANTS.values():
        chart.validate_schema(chart.merge_values(values))
    assert json.loads((CHART / "values.schema.json").read_text())["additionalProperties"] is False
