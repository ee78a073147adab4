"""The chart CRD, the Dockerfile contract and the GitOps doc stay in sync with their sources."""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
import yaml

from conftest import CHART, ROOT, render_raw

TOP_CRD = ROOT / "crds" / "loadtest.yaml"
CHART_CRD = CHART / "crds" / "loadtest.yaml"


def test_chart_crd_equals_generated_crd():
    if not TOP_CRD.exists():
        assert not CHART_CRD.exists(), "chart has a CRD but crds/loadtest.yaml is missing"
        pytest.skip("crds/loadtest.yaml is not generated yet (operator crdgen); nothing to compare")
    assert CHART_CRD.exists(), "copy crds/loadtest.yaml to charts/glass-cannon/crds/loadtest.yaml"
    assert CHART_CRD.read_bytes() == TOP_CRD.read_bytes(), (
        "charts/glass-cannon/crds/loadtest.yaml differs from crds/loadtest.yaml: copy it again"
    )


def crd_version():
    crd = yaml.safe_load(TOP_CRD.read_text())
    assert crd["spec"]["group"] == "glasscannon.dev"
    assert crd["spec"]["names"]["kind"] == "LoadTest"
    assert crd["spec"]["names"]["plural"] == "loadtests"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version


def closed(schema):
    """The CRD schema with unknown fields refused, as the API server's pruning would drop them."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def test_crd_status_has_what_gitops_reads():
    if not TOP_CRD.exists():
        pytest.skip("crds/loadtest.yaml is not generated yet")
    version = crd_version()
    assert version.get("subresources", {}).get("status") == {}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    for field in ("phase", "verdict", "conditions", "message", "summary"):
        assert field in status, f"status.{field} missing from the CRD: the health checks read it"


def notes_loadtest(chart):
    """The LoadTest manifest NOTES.txt tells the user to apply."""
    notes = render_raw(chart)["glass-cannon/templates/NOTES.txt"]
    path = re.search(r"kubectl apply -f (examples/\S*loadtest\.yaml)", notes)
    assert path, notes
    return yaml.safe_load((CHART.parents[1] / path.group(1)).read_text())


def test_notes_loadtest_matches_crd(chart):
    sample = notes_loadtest(chart)
    assert sample["kind"] == "LoadTest" and sample["apiVersion"] == "glasscannon.dev/v1alpha1"
    if not TOP_CRD.exists():
        pytest.skip("crds/loadtest.yaml is not generated yet; the NOTES sample parsed but is unchecked")
    schema = closed(crd_version()["schema"]["openAPIV3Schema"])
    sample.pop("apiVersion")
    sample.pop("kind")
    sample.pop("metadata")
    jsonschema.validate(sample, schema)


def test_dockerfile_contract():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    # build, binaries (the build stage unless BINARIES names an image), runtime.
    assert froms == ["${RUST_IMAGE}", "${BINARIES}", "${RUNTIME_IMAGE}"]
    assert "ARG BINARIES=build" in text
    assert "COPY --from=binaries /out/" in text
    # Pinned by digest by default: a moved tag never changes what a release ships.
    assert re.search(r"^ARG RUST_IMAGE=rust:1-bookworm@sha256:[0-9a-f]{64}$", text, re.M)
    assert re.search(r"^ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:[0-9a-f]{64}$", text, re.M)
    assert "cargo build --release --locked -p runner -p operator" in text
    for binary in ("gcannon", "glass-cannon-operator", "crdgen"):
        assert f"/out/{binary}" in text
    assert re.search(r"^USER 65532(:65532)?$", text, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/gcannon"]' in text
    for label in ("title", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in text


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", "**/target", ".venv", "charts", "docs"):
        assert entry in ignored


def test_gitops_doc_includes_the_tested_lua_verbatim():
    doc = (ROOT / "docs" / "gitops.md").read_text()
    lua = (ROOT / "docs" / "gitops" / "argocd-health.lua").read_text()
    assert lua.rstrip("\n") in doc, "docs/gitops.md must include docs/gitops/argocd-health.lua verbatim"
