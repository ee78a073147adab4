"""--metrics-listen: scraped during and after a run, parsed with prometheus_client."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import free_port, wait_listening


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels without the constant ones) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert s.labels.get("runner") == "0", s
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "runner"))
            samples[(s.name, labels)] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def start(gcannon, args, port):
    proc = subprocess.Popen(
        [gcannon, *args, "--json", "--metrics-listen", f"127.0.0.1:{port}", "--metrics-linger", "10s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_listening(port, proc)
    return proc


def final_result(proc) -> dict:
    """The JSON result, printed before the endpoint's linger ends."""
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)


def test_counters_during_and_after_a_run_agree_with_the_result(gcannon, target):
    port = free_port()
    proc = start(gcannon, [target, "-c", "8", "-d", "3s"], port)
    try:
        during = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = scrape(port)
            if value(s, "gcannon_running") == 1 and value(s, "gcannon_responses_total", **{"class": "2xx"}) > 0:
                during = s
                break
            time.sleep(0.2)
        assert during is not None, "no live numbers while running"
        assert value(during, "gcannon_open_connections") == 8
        result = final_result(proc)
        after = scrape(port)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert value(after, "gcannon_running") == 0
    assert value(after, "gcannon_open_connections") == 0
    assert value(after, "gcannon_requests_total") == result["requests"]
    for cls in ("2xx", "3xx", "4xx", "5xx", "other"):
        assert value(after, "gcannon_responses_total", **{"class": cls}) == result["status"][cls]
    for kind in ("connect", "read", "timeout", "parse"):
        assert value(after, "gcannon_errors_total", kind=kind) == result["errors"][kind]
    assert value(after, "gcannon_reconnects_total") == result["reconnects"]
    assert value(after, "gcannon_received_bytes_total") == result["bytes_read"]
    assert value(after, "gcannon_latency_seconds_count") == result["responses"]
    assert value(after, "gcannon_latency_seconds_bucket", le="+Inf") == result["responses"]
    # Counters only grow, and the live numbers were a part of the final ones.
    for key, v in during.items():
        if key[0].endswith(("_total", "_count")):
            assert v <= after[key], key
    assert value(during, "gcannon_requests_total") < result["requests"]
    # Buckets are cumulative and hold the p50 where the HDR histogram puts it.
    bounds = sorted(
        (float(dict(k[1])["le"]), v) for k, v in after.items() if k[0] == "gcannon_latency_seconds_bucket"
    )
    counts = [v for _, v in bounds]
    assert counts == sorted(counts)
    p50 = result["latency_us"]["p50"] / 1e6
    below = max(v for le, v in bounds if le < p50) if any(le < p50 for le, _ in bounds) else 0
    at = min(v for le, v in bounds if le >= p50)
    assert below <= result["responses"] / 2 <= at


def test_rate_mode_serves_scheduled_late_and_unsent(gcannon, target):
    port = free_port()
    proc = start(gcannon, [target, "--rate", "400", "-c", "4", "-d", "2s"], port)
    try:
        result = final_result(proc)
        after = scrape(port)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert value(after, "gcannon_rate_late_total") == result["late"]
    assert value(after, "gcannon_rate_unsent_total") == result["unsent"]
    scheduled = value(after, "gcannon_rate_scheduled_total")
    assert abs(scheduled - 800) <= 2, scheduled
    assert value(after, "gcannon_requests_total") == result["requests"]


def test_a_taken_port_fails_before_any_load(gcannon, target):
    port = free_port()
    holder = subprocess.Popen([gcannon, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, holder)
        out = subprocess.run([gcannon, target, "-d", "1s", "--metrics-listen", f"127.0.0.1:{port}"],
                             capture_output=True, text=True, timeout=30)
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    assert out.returncode == 2
    assert f"--metrics-listen 127.0.0.1:{port}" in out.stderr
