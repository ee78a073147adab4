"""One table of good and bad LoadTests (cases.yaml), judged by the CRD as an
API server would (structural defaults, the OpenAPI schema, then every CEL rule
evaluated with cel-python, strictly: a rule that does not compile or evaluate
fails the test) and by `gcannon run --dry-run`: both must make the case's
decision, and a rejection must carry the case's message.
operator/tests/validation_cases.rs holds the operator's pending phase to the
same table."""
from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys

import celpy
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "emulated"))
from standin import schema as apiserver  # noqa: E402  (the stand-in's defaulting and OpenAPI checks)

CASES = yaml.safe_load((ROOT / "tests" / "crd" / "cases.yaml").read_text())
CRD = yaml.safe_load((ROOT / "crds" / "loadtest.yaml").read_text())
SPEC_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
TEMPLATE = "GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"


def spec_of(case) -> dict:
    spec = copy.deepcopy(case["spec"])
    if case.get("templates"):
        spec["templates"] = [{"text": TEMPLATE} for _ in range(case["templates"])]
    return spec


def without_cel(schema):
    """The schema without its CEL rules: the OpenAPI part alone."""
    if isinstance(schema, dict):
        return {k: without_cel(v) for k, v in schema.items() if k != "x-kubernetes-validations"}
    if isinstance(schema, list):
        return [without_cel(v) for v in schema]
    return schema


OPENAPI_ONLY = without_cel(SPEC_SCHEMA)


def cel_failures(value, schema, path="spec") -> list[str]:
    """Messages of the CEL rules (x-kubernetes-validations) that do not hold."""
    out = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        prog = env.program(env.compile(rule["rule"]))
        ok = prog.evaluate({"self": celpy.json_to_cel(value)})
        assert isinstance(ok, celpy.celtypes.BoolType), f"{path}: {rule['rule']} gave {ok!r}"
        if not ok:
            out.append(f"{path}: {rule['message']}")
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                out += cel_failures(value[name], sub, f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += cel_failures(item, schema["items"], f"{path}[{i}]")
    return out


def crd_decision(spec: dict) -> tuple[list[str], list[str]]:
    """(schema errors, CEL rule failures) for `spec` at `kubectl apply`."""
    spec = apiserver.default(copy.deepcopy(spec), SPEC_SCHEMA)
    schema_errors = [text for _, _, text in apiserver.validate(spec, OPENAPI_ONLY, "spec")]
    if schema_errors:
        # The API server runs CEL only on a value its schema accepts.
        return schema_errors, []
    return [], cel_failures(spec, SPEC_SCHEMA)


@pytest.fixture(scope="module")
def gcannon():
    exe = pathlib.Path(os.environ.get("GCANNON", ROOT / "target" / "debug" / "gcannon"))
    if not exe.exists():
        pytest.fail(f"{exe} missing: build it with `cargo build -p runner --bin gcannon`")
    return exe


def test_the_table_covers_both_decisions_and_every_cel_rule():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    for c in CASES:
        assert c["accept"] or c.get("error"), c["name"]
    # Every spec-level CEL rule rejects at least one case, so none is untested.
    rejected_by = {m.split(": ", 1)[1] for c in CASES for m in crd_decision(spec_of(c))[1]}
    for rule in SPEC_SCHEMA["x-kubernetes-validations"]:
        assert rule["message"] in rejected_by, f"no case breaks CEL rule {rule['rule']!r}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_crd_and_gcannon_run_decide_alike(case, gcannon, tmp_path):
    spec = spec_of(case)
    schema_errors, cel_errors = crd_decision(spec)
    assert (not schema_errors and not cel_errors) == case["accept"], schema_errors + cel_errors
    if cel_errors:
        assert any(case["error"] in m for m in cel_errors), cel_errors

    manifest = tmp_path / "lt.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "glasscannon.dev/v1alpha1",
        "kind": "LoadTest",
        "metadata": {"name": "crosscheck"},
        "spec": spec,
    }))
    run = subprocess.run([gcannon, "run", "--dry-run", manifest], capture_output=True, text=True, timeout=60)
    if case["accept"]:
        assert run.returncode == 0, run.stderr
        assert "valid:" in run.stdout, run.stdout
    else:
        assert run.returncode == 2, (run.returncode, run.stderr)
        assert case["error"] in run.stderr, run.stderr
