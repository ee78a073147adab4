"""The chart's ValidatingAdmissionPolicy, rendered with Helm's SDK and evaluated
with a CEL interpreter (cel-python), decides every LoadTest of
tests/policy/cases.yaml as the operator does (operator/tests/policy_cases.rs
asserts the operator's side of the same file).

cel-python has standard CEL; the few Kubernetes CEL library functions the policy
calls (url, isURL, getHostname, lowerAscii, isIP, cidr, containsIP, list sum) are
provided below with the Kubernetes semantics."""

from __future__ import annotations

import ipaddress
import json
import pathlib
import re
import sys
import urllib.parse

import celpy
import pytest
import yaml
from celpy import celtypes

from conftest import ROOT, one, render

sys.path.insert(0, str(ROOT / "tests" / "e2e" / "emulated"))
from standin.schema import default as apply_defaults  # noqa: E402  (the CRD's structural defaults)

CASES = yaml.safe_load((ROOT / "tests" / "policy" / "cases.yaml").read_text())["cases"]
CRD = yaml.safe_load((ROOT / "crds" / "loadtest.yaml").read_text())
SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# ----- the Kubernetes CEL library functions the policy uses ----------------------------------------

class URL(celtypes.StringType):
    """What url() returns: the parsed URL."""


def k8s_url(s):
    if not is_url(s):
        raise ValueError(f"url: {s!r} is not a URL")
    return URL(str(s))


def is_url(s) -> celtypes.BoolType:
    try:
        parts = urllib.parse.urlsplit(str(s))
        parts.port  # noqa: B018  (raises on a bad port, as Go's url.Parse does)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(bool(parts.scheme))


def get_hostname(u) -> celtypes.StringType:
    # Go's URL.Hostname(): without port and IPv6 brackets, case kept.
    netloc = urllib.parse.urlsplit(str(u)).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return celtypes.StringType(netloc[1:].split("]")[0])
    return celtypes.StringType(netloc.split(":")[0])


def lower_ascii(s) -> celtypes.StringType:
    return celtypes.StringType(re.sub(r"[A-Z]+", lambda m: m.group(0).lower(), str(s)))


def is_ip(s) -> celtypes.BoolType:
    try:
        ipaddress.ip_address(str(s))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType("%" not in str(s))


class CIDR(celtypes.StringType):
    """What cidr() returns."""


def k8s_cidr(s):
    ipaddress.ip_network(str(s), strict=False)
    return CIDR(str(s))


def contains_ip(c, ip) -> celtypes.BoolType:
    net, addr = ipaddress.ip_network(str(c), strict=False), ipaddress.ip_address(str(ip))
    return celtypes.BoolType(addr.version == net.version and addr in net)


def list_sum(items):
    total = None
    for i in items:
        total = i if total is None else total + i
    return total if total is not None else celtypes.IntType(0)


K8S_FUNCTIONS = {
    "url": k8s_url, "isURL": is_url, "getHostname": get_hostname, "lowerAscii": lower_ascii,
    "isIP": is_ip, "cidr": k8s_cidr, "containsIP": contains_ip, "sum": list_sum,
}


def evaluate(expression: str, activation: dict):
    env = celpy.Environment()
    prog = env.program(env.compile(expression), functions=K8S_FUNCTIONS)
    result = prog.evaluate(activation)
    if isinstance(result, celpy.CELEvalError):
        raise AssertionError(f"{expression}: {result}")
    return result


# ----- the policy as the API server runs it ------------------------------------------------------

def policy_of(objects):
    vap = one(objects, "ValidatingAdmissionPolicy")
    binding = one(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    return vap["spec"]


def admit(spec: dict, obj: dict, old: dict | None = None) -> list[str]:
    """The messages of the failed validations, [] when admitted (or not matched)."""
    request = {"operation": "UPDATE" if old else "CREATE"}
    activation = {"object": celpy.json_to_cel(obj), "oldObject": celpy.json_to_cel(old),
                  "request": celpy.json_to_cel(request)}
    if not all(evaluate(m["expression"], activation) for m in spec.get("matchConditions", [])):
        return []
    variables = {}
    for v in spec.get("variables", []):
        variables[v["name"]] = evaluate(v["expression"], {**activation, "variables": celtypes.MapType(variables)})
    activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    failed = []
    for rule in spec["validations"]:
        if not evaluate(rule["expression"], activation):
            msg = rule.get("message") or str(evaluate(rule["messageExpression"], activation))
            failed.append(msg)
    return failed


def loadtest(spec: dict) -> dict:
    obj = {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest",
           "metadata": {"name": "t", "namespace": "perf"}, "spec": json.loads(json.dumps(spec))}
    return apply_defaults(obj, SCHEMA)  # the API server defaults before admission


def rules(messages: list[str]) -> list[str]:
    out = []
    for m in messages:
        found = re.match(r"policy\.([A-Za-z.]+): ", m)
        assert found, f"message does not name its rule: {m!r}"
        out.append(found.group(1))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_admission_decides_like_the_operator(chart, case):
    spec = policy_of(render(chart, {"policy": case.get("policy") or {}}))
    assert rules(admit(spec, loadtest(case["spec"]))) == case["broken"]


def test_every_rule_has_a_refusing_case():
    """Each chart value of the policy is exercised by at least one refused case."""
    values = yaml.safe_load((ROOT / "charts" / "glass-cannon" / "values.yaml").read_text())["policy"]
    keys = {k for k in values if k not in ("targets", "max", "admission")} | {"targets"} | {f"max.{k}" for k in values["max"]}
    refused = {r for c in CASES for r in c["broken"]}
    assert keys == refused


def test_only_a_spec_change_is_judged_on_update(chart):
    spec = policy_of(render(chart))
    old = loadtest({"target": "http://t/", "privileged": True})
    relabelled = json.loads(json.dumps(old))
    relabelled["metadata"]["labels"] = {"team": "perf"}
    assert admit(spec, relabelled, old) == []
    changed = json.loads(json.dumps(relabelled))
    changed["spec"]["runners"] = 2
    changed["spec"]["connections"] = 2
    assert rules(admit(spec, changed, old)) == ["allowPrivileged"]


def test_the_target_message_names_the_host(chart):
    spec = policy_of(render(chart))
    (msg,) = admit(spec, loadtest({"target": "http://169.254.169.254/"}))
    assert msg == 'policy.targets: spec.target host "169.254.169.254" is not an allowed target'


def test_admission_can_be_turned_off_and_follows_the_image(chart):
    objects = render(chart, {"policy": {"admission": {"enabled": False}}})
    assert not [o for o in objects if o["kind"].startswith("ValidatingAdmissionPolicy")]
    spec = policy_of(render(chart, {"image": {"repository": "registry.corp/gc", "tag": "7"}}))
    assert admit(spec, loadtest({"target": "http://t/", "runner": {"image": "registry.corp/gc:7"}})) == []
    assert rules(admit(spec, loadtest({"target": "http://t/", "runner": {"image": "ghcr.io/glass-cannon/glass-cannon:0.1.0"}}))) == ["images"]


def test_operator_gets_the_same_policy_values(chart):
    from conftest import operator_env
    objects = render(chart, {"policy": {"allowPrivileged": True, "max": {"runners": 7}}})
    policy = json.loads(operator_env(objects)["GC_POLICY"])
    assert policy["allowPrivileged"] is True and policy["max"]["runners"] == 7
    assert "admission" not in policy
    assert policy["targets"]["denyCIDRs"] == ["169.254.0.0/16", "fe80::/10"]


def test_loadtests_outside_the_watched_namespaces_are_refused(chart):
    spec = policy_of(render(chart, {"operator": {"watchNamespaces": ["perf", "team-b"]}}))
    assert admit(spec, loadtest({"target": "http://t/"})) == []  # loadtest() puts it in perf
    elsewhere = loadtest({"target": "http://t/"})
    elsewhere["metadata"]["namespace"] = "prod"
    assert admit(spec, elsewhere) == ["operator.watchNamespaces: no operator runs LoadTests in namespace prod"]
