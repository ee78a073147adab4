"""Runner PodMonitor and the Grafana dashboard ConfigMap: off by default,
selecting what the operator really creates, schema-checked."""

from __future__ import annotations

import json
import re

import helm_python as helm
import pytest

from conftest import ROOT, find, one, render

JOB_RS = (ROOT / "operator" / "src" / "job.rs").read_text()
CONTRACT_RS = (ROOT / "api" / "src" / "contract.rs").read_text()


def rust_const(name: str, source: str = JOB_RS) -> str:
    """The value of a `pub const NAME: … = …;` in operator/src/job.rs (or `source`)."""
    m = re.search(rf"pub const {name}: [^=]+= \"?([^\";]+)\"?;", source)
    assert m, f"{name} not found"
    return m.group(1)


def test_monitors_and_dashboard_are_off_by_default(chart):
    objects = render(chart)
    assert not find(objects, "PodMonitor")
    assert not find(objects, "ServiceMonitor")
    assert not find(objects, "ConfigMap", "-dashboard")


def test_podmonitor_scrapes_the_runners_named_port_in_any_namespace(chart):
    objects = render(chart, {"metrics": {"podMonitor": {"enabled": True, "labels": {"release": "kps"}}}})
    pm = one(objects, "PodMonitor")
    assert pm["metadata"]["labels"]["release"] == "kps"
    assert pm["spec"]["namespaceSelector"] == {"any": True}
    # The selector matches the labels the operator's Job builder puts on runner
    # pods, valued from the runner contract (api/src/contract.rs).
    for key, value in pm["spec"]["selector"]["matchLabels"].items():
        m = re.search(rf'\("{re.escape(key)}"\.into\(\), (\w+)\.into\(\)\)', JOB_RS)
        assert m, f"the Job builder puts no {key} label on runner pods"
        assert rust_const(m.group(1), CONTRACT_RS) == value, (key, value)
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["port"] == rust_const("METRICS_PORT_NAME") == "metrics"
    assert ep["path"] == "/metrics" and ep["honorLabels"] is True
    assert ep["interval"] == "5s"
    # The operator's ServiceMonitor stays available beside it.
    both = render(chart, {"metrics": {"podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True}}})
    assert one(both, "ServiceMonitor") and one(both, "PodMonitor")


def test_dashboard_configmap_is_found_by_the_grafana_sidecar(chart):
    objects = render(chart, {"metrics": {"dashboard": {"enabled": True, "annotations": {"grafana_folder": "Perf"}}}})
    cm = one(objects, "ConfigMap", "-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Perf"}
    (key,) = cm["data"]
    dash = json.loads(cm["data"][key])
    assert key.endswith(".json") and dash["uid"] == "glass-cannon-loadtest"
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for what in ("rate", "status class", "errors", "heatmap", "per runner"):
        assert what in titles, what
    assert any(p["type"] == "heatmap" for p in dash["panels"])
    assert all(p["targets"] for p in dash["panels"])


BAD = [
    ({"metrics": {"podMonitor": {"enabled": "yes"}}}, "/metrics/podMonitor/enabled"),
    ({"metrics": {"podMonitor": {"interval": "often"}}}, "/metrics/podMonitor/interval"),
    ({"metrics": {"podMonitor": {"port": 9464}}}, "port"),
    ({"metrics": {"dashboard": {"labels": {"grafana_dashboard": 1}}}}, "/metrics/dashboard/labels/grafana_dashboard"),
    ({"metrics": {"dashboard": {"enabled": 1}}}, "/metrics/dashboard/enabled"),
]


@pytest.mark.parametrize("values,key", BAD, ids=[k for _, k in BAD])
def test_schema_rejects_bad_monitoring_values(chart, values, key):
    with pytest.raises(helm.HelmValuesError) as err:
        render(chart, values)
    assert "schema" in str(err.value) and key in str(err.value), str(err.value)
