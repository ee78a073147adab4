"""values.schema.json rejects bad values with a message naming the key."""

from __future__ import annotations

import json

import helm_python as helm
import jsonschema
import pytest

from conftest import CHART, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())

BAD = [
    ({"seccomp": {"mode": "Privileged"}}, "/seccomp/mode"),
    ({"seccomp": {"mode": "localhost"}}, "/seccomp/mode"),
    ({"operator": {"replicas": 0}}, "/operator/replicas"),
    ({"operator": {"replicas": -1}}, "/operator/replicas"),
    ({"operator": {"replicas": "2"}}, "/operator/replicas"),
    ({"operator": {"replicas": 1.5}}, "/operator/replicas"),
    ({"operator": {"metricsPort": 0}}, "/operator/metricsPort"),
    ({"operator": {"startTimeout": "soon"}}, "/operator/startTimeout"),
    ({"operator": {"metricsPort": 70000}}, "/operator/metricsPort"),
    ({"seccomp": {"installer": {"enabled": "yes"}}}, "/seccomp/installer/enabled"),
    ({"seccomp": {"localhostProfile": "/abs/path.json"}}, "/seccomp/localhostProfile"),
    ({"seccomp": {"localhostProfile": "../etc/x.json"}}, "/seccomp/localhostProfile"),
    ({"seccomp": {"localhostProfile": "gc/../../etc/x.json"}}, "/seccomp/localhostProfile"),
    ({"seccomp": {"localhostProfile": "gc/.hidden.json"}}, "/seccomp/localhostProfile"),
    ({"seccomp": {"installer": {"namespace": "Not_A_Name"}}}, "/seccomp/installer/namespace"),
    ({"seccomp": {"installer": {"kubeletRoot": "relative"}}}, "/seccomp/installer/kubeletRoot"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"image": {"digest": "sha256:nothex"}}, "/image/digest"),
    ({"image": {"repository": ""}}, "/image/repository"),
    ({"metrics": {"serviceMonitor": {"enabled": "true"}}}, "/metrics/serviceMonitor/enabled"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval"),
    ({"operator": {"replica": 2}}, "replica"),
    ({"seccompMode": "Unconfined"}, "seccompMode"),
    ({"imagePullSecrets": ["regcred"]}, "/imagePullSecrets/0"),
    ({"policy": {"seccomp": ["Off"]}}, "/policy/seccomp/0"),
    ({"policy": {"allowPrivilege": True}}, "allowPrivilege"),
    ({"policy": {"targets": {"denyCIDRs": ["link-local"]}}}, "/policy/targets/denyCIDRs/0"),
    ({"policy": {"images": ["it's"]}}, "/policy/images/0"),
    ({"policy": {"max": {"duration": "1 day"}}}, "/policy/max/duration"),
    ({"policy": {"max": {"runners": -1}}}, "/policy/max/runners"),
]


@pytest.mark.parametrize("values,key", BAD, ids=[k for _, k in BAD])
def test_install_rejects_bad_values(chart, values, key):
    with pytest.raises(helm.HelmValuesError) as err:
        render(chart, values)
    message = str(err.value)
    assert "schema" in message and key in message, message


@pytest.mark.parametrize("values,key", BAD[:6], ids=[k for _, k in BAD[:6]])
def test_lint_reports_bad_values(values, key):
    report = helm.lint(CHART, values)
    assert any(key in e for e in report["errors"]), report


def test_schema_is_valid_draft7_and_accepts_defaults(chart):
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.validate(chart.values, SCHEMA)


def test_every_default_value_is_described_by_the_schema(chart):
    # Strictness only helps if the schema knows every key values.yaml ships.
    def walk(values, schema, path):
        assert schema.get("type") in ("object", None) or "object" in schema.get("type", []), path
        props = schema.get("properties")
        if props is None:
            return
        for key, value in values.items():
            assert key in props, f"{path}.{key} missing from values.schema.json"
            if isinstance(value, dict) and props[key].get("properties"):
                walk(value, props[key], f"{path}.{key}")

    walk(chart.values, SCHEMA, "values")
