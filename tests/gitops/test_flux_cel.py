"""The Flux `healthCheckExprs` in docs/gitops.md, evaluated with a CEL
interpreter (cel-python) against LoadTests in every phase, in Flux's order:
inProgress, then failed, then current."""
import pathlib
import re

import celpy
import pytest
import yaml

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "gitops.md"


def flux_exprs():
    """The LoadTest entry of the Kustomization's healthCheckExprs, as documented."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    for block in blocks:
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == "Kustomization":
            (entry,) = [e for e in doc["spec"]["healthCheckExprs"] if e["kind"] == "LoadTest"]
            return entry
    raise AssertionError("no Kustomization with healthCheckExprs in docs/gitops.md")


def health(status):
    entry = flux_exprs()
    env = celpy.Environment()
    activation = {
        "apiVersion": celpy.json_to_cel("glasscannon.dev/v1alpha1"),
        "kind": celpy.json_to_cel("LoadTest"),
        "metadata": celpy.json_to_cel({"name": "checkout-perf", "generation": 1}),
        "spec": celpy.json_to_cel({"target": "http://checkout.shop.svc:8080/"}),
        "status": celpy.json_to_cel(status),
    }
    for outcome in ("inProgress", "failed", "current"):
        prog = env.program(env.compile(entry[outcome]))
        if prog.evaluate(activation):
            return outcome
    return "unknown"


@pytest.mark.parametrize(
    "status,expected",
    [
        ({}, "inProgress"),
        ({"phase": "Pending"}, "inProgress"),
        ({"phase": "Starting"}, "inProgress"),
        ({"phase": "Running"}, "inProgress"),
        ({"phase": "Succeeded", "verdict": "Passed"}, "current"),
        ({"phase": "Succeeded"}, "current"),
        ({"phase": "Succeeded", "verdict": "Failed"}, "failed"),
        ({"phase": "Failed", "message": "runner pod lt-0 evicted"}, "failed"),
        ({"phase": "Failed", "verdict": "Failed"}, "failed"),
    ],
)
def test_flux_health_follows_the_loadtest(status, expected):
    assert health(status) == expected
