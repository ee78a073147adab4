"""The chart's Grafana dashboard queries only metrics a real runner serves."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import ROOT, free_port, wait_listening
from test_metrics import final_result, scrape

DASHBOARD = ROOT / "charts" / "glass-cannon" / "files" / "dashboard.json"


def queries(dash: dict) -> list[str]:
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        q = var.get("query")
        if isinstance(q, dict):
            exprs.append(q["query"])
    return exprs


def test_every_dashboard_metric_is_served_by_a_runner(gcannon, target):
    # Open model, so the rate-mode series exist too.
    port = free_port()
    proc = subprocess.Popen(
        [gcannon, target, "--rate", "200", "-c", "2", "-d", "1s", "--json",
         "--metrics-listen", f"127.0.0.1:{port}", "--metrics-linger", "10s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_listening(port, proc)
        final_result(proc)
        served = {name for name, _ in scrape(port)}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    dash = json.loads(DASHBOARD.read_text())
    used = set()
    for expr in queries(dash):
        used |= set(re.findall(r"\bgcannon_[a-z_]+\b", expr))
        # Every query filters on the dashboard's LoadTest labels.
        if "label_values(gcannon_requests_total, namespace)" not in expr:
            assert 'loadtest=~"$loadtest"' in expr or "$namespace" in expr, expr
    assert used, "the dashboard queries no gcannon metric"
    assert used <= served, f"not served by a runner: {sorted(used - served)}"
    # The labels the dashboard groups by are on the served series.
    for label in ("class", "kind", "runner", "le"):
        assert any(f"by ({label})" in e for e in queries(dash)), label
