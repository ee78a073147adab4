"""Shared helpers for the chart tests: render the chart with Helm's Go SDK."""

from __future__ import annotations

import pathlib
from typing import Any

import helm_python as helm
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "glass-cannon"
RELEASE = "gc"
NAMESPACE = "gc-system"


@pytest.fixture(scope="session")
def chart():
    """The chart, loaded once."""
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render_raw(chart: helm.Chart, values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm install` would produce."""
    return chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every rendered Kubernetes object (NOTES.txt excluded)."""
    objects = []
    for path, text in render_raw(chart, values).items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name_suffix: str = "") -> list[dict[str, Any]]:
    """Objects of `kind` whose name ends with `name_suffix`."""
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]


def one(objects: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The single object of `kind` ending with `name_suffix`; fails otherwise."""
    found = find(objects, kind, name_suffix)
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def operator_env(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Env of the operator container: name -> value (or valueFrom)."""
    dep = one(objects, "Deployment", "-operator")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload that runs pods."""
    specs = []
    for o in objects:
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
            specs.append((o["metadata"]["name"], o["spec"]["template"]["spec"]))
        elif o["kind"] == "Pod":
            specs.append((o["metadata"]["name"], o["spec"]))
    return specs
