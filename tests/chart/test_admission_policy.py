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


class AuthzRequest(celtypes.MapType):
    """authorizer.group(..).resource(..).namespace(..).name(..).check(verb): the attributes so far."""


def _with(key):
    def add(req, value):
        out = AuthzRequest(req)
        out[celtypes.StringType(key)] = value
        return out
    return add


class _Every:
    def __contains__(self, _name) -> bool:
        return True


EVERY_SECRET = _Every()


def authorizer_for(may_get):
    """An authorizer whose requester may `get` exactly the Secrets named in `may_get` (namespace perf)."""
    def allowed(req) -> celtypes.BoolType:
        attrs = {str(k): str(v) for k, v in req.items()}
        return celtypes.BoolType(attrs == {"group": "", "resource": "secrets", "namespace": "perf",
                                           "name": attrs.get("name"), "verb": "get"}
                                 and attrs["name"] in may_get)
    return allowed


K8S_FUNCTIONS = {
    "group": _with("group"), "resource": _with("resource"), "namespace": _with("namespace"),
    "name": _with("name"), "check": _with("verb"), "allowed": authorizer_for(set()),
    "url": k8s_url, "isURL": is_url, "getHostname": get_hostname, "lowerAscii": lower_ascii,
    "isIP": is_ip, "cidr": k8s_cidr, "containsIP": contains_ip, "sum": list_sum,
}


def evaluate(expression: str, activation: dict, may_get: set[str] = frozenset()):
    env = celpy.Environment()
    functions = {**K8S_FUNCTIONS, "allowed": authorizer_for(may_get)}
    prog = env.program(env.compile(expression), functions=functions)
    result = prog.evaluate(activation)
    if isinstance(result, celpy.CELEvalError):
        raise AssertionError(f"{expression}: {result}")
    return result


# ----- the policy as the API server runs it ------------------------------------------------------

def policy_of(objects):
    vap = one(objects, "ValidatingAdmissionPolicy", "-loadtests")
    binding = one(objects, "ValidatingAdmissionPolicyBinding", "-loadtests")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    return vap["spec"]


def admit(spec: dict, obj: dict, old: dict | None = None, may_get: set[str] = frozenset()) -> list[str]:
    """The messages of the failed validations, [] when admitted (or not matched); the
    requester may `get` the Secrets in `may_get`."""
    request = {"operation": "UPDATE" if old else "CREATE"}
    activation = {"object": celpy.json_to_cel(obj), "oldObject": celpy.json_to_cel(old),
                  "request": celpy.json_to_cel(request), "authorizer": AuthzRequest({})}
    if not all(evaluate(m["expression"], activation) for m in spec.get("matchConditions", [])):
        return []
    variables = {}
    for v in spec.get("variables", []):
        variables[v["name"]] = evaluate(v["expression"], {**activation, "variables": celtypes.MapType(variables)})
    activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    failed = []
    for rule in spec["validations"]:
        if not evaluate(rule["expression"], activation, may_get):
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
    # The operator cannot know who may read which Secret: here the author may read any.
    assert rules(admit(spec, loadtest(case["spec"]), may_get=EVERY_SECRET)) == case["broken"]


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


@pytest.mark.parametrize("spec", [
    {"templates": [{"secretRef": {"name": "api-token", "key": "get.raw"}}]},
    {"target": "https://t/", "tls": {"secretName": "api-token", "ca": "ca.crt"}},
    {"target": "http://t/", "runner": {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "k"}}}]}},
], ids=["template", "tls", "env"])
def test_only_secrets_the_author_may_read_can_be_named(chart, spec):
    """Naming a Secret makes a runner pod read it: an author without `get` on it is refused."""
    policy = policy_of(render(chart, {"policy": {"allowSecretEnv": True}}))
    assert admit(policy, loadtest(spec), may_get={"api-token"}) == []
    assert admit(policy, loadtest(spec), may_get={"other"}) == [
        "secrets: a LoadTest may name only Secrets its author may get"]


# ----- what a runner's token may write ---------------------------------------------------------------

RUNNER = "system:serviceaccount:perf:smoke-runner"


def runner_policy(chart):
    objects = render(chart)
    (vap,) = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy" and o["metadata"]["name"].endswith("-runner-status")]
    (binding,) = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"
                  and o["spec"]["policyName"] == vap["metadata"]["name"]]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert vap["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["runnerresults/status"]
    return vap["spec"]


def result_write(spec, index, new_status, user=RUNNER, pod="smoke-1-abcde"):
    """The failed messages of a status UPDATE of RunnerResult perf/smoke-<index> by `user` from `pod`."""
    old = {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "RunnerResult",
           "metadata": {"name": f"smoke-{index}", "namespace": "perf"},
           "spec": {"loadTest": "smoke", "index": index}}
    new = {**old, "status": new_status}
    extra = {"authentication.kubernetes.io/pod-name": [pod]} if pod else {}
    request = {"operation": "UPDATE", "userInfo": {"username": user, "extra": extra}}
    activation = {"object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old),
                  "request": celpy.json_to_cel(request)}
    if not all(evaluate(m["expression"], activation) for m in spec["matchConditions"]):
        return None  # not a runner of this LoadTest: not judged here
    variables = {}
    for v in spec["variables"]:
        variables[celtypes.StringType(v["name"])] = evaluate(
            v["expression"], {**activation, "variables": celtypes.MapType(variables)})
    activation["variables"] = celtypes.MapType(variables)
    return [r["message"] for r in spec["validations"] if not evaluate(r["expression"], activation)]


def done(pod, responses=500):
    return {"phase": "Done", "pod": pod, "report": {"responses": responses}}


def test_a_runner_writes_its_own_result(chart):
    spec = runner_policy(chart)
    assert result_write(spec, 1, {"phase": "Ready", "pod": "smoke-1-abcde"}) == []
    assert result_write(spec, 1, done("smoke-1-abcde")) == []
    # Runner 10's pod is not runner 1's, though its name starts the same way.
    assert result_write(spec, 1, done("smoke-10-abcde"), pod="smoke-10-abcde") == [
        "runner-status: a runner may write only its own RunnerResult (its pod's completion index)"]


def test_a_runner_cannot_write_another_runners_result(chart):
    spec = runner_policy(chart)
    # Runner 1's pod writing runner 0's result, as itself or naming runner 0's pod.
    assert result_write(spec, 0, done("smoke-1-abcde", 10**9)) == [
        "runner-status: a runner may write only its own RunnerResult (its pod's completion index)"]
    assert result_write(spec, 0, done("smoke-0-zzzzz", 10**9)) == [
        "runner-status: a runner may write only its own RunnerResult (its pod's completion index)",
        "runner-status: status.pod must be the writing pod"]
    # Its own result, claiming another pod wrote it.
    assert result_write(spec, 1, done("smoke-1-other")) == ["runner-status: status.pod must be the writing pod"]


def test_a_token_not_bound_to_a_pod_is_refused_and_others_are_not_judged(chart):
    spec = runner_policy(chart)
    assert result_write(spec, 1, done("smoke-1-abcde"), pod=None) == [
        "runner-status: a runner writes with a token bound to its pod (authentication.kubernetes.io/pod-name)",
        "runner-status: a runner may write only its own RunnerResult (its pod's completion index)",
        "runner-status: status.pod must be the writing pod"]
    # Another LoadTest's runner never gets here (RBAC resourceNames); the operator is not matched.
    operator = "system:serviceaccount:glass-cannon:glass-cannon"
    assert result_write(spec, 1, done("anything"), user=operator, pod=None) is None
    assert result_write(spec, 1, done("smoke-0-x"), user="system:serviceaccount:perf:other-runner") is None
