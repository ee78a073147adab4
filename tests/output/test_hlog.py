"""--hlog: the standard interval log, read back by HdrHistogram's Python reader."""

from __future__ import annotations

import pathlib
import subprocess

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from conftest import run_json


def intervals(path: pathlib.Path) -> tuple[list[HdrHistogram], float]:
    """Every interval histogram of the log, and its StartTime."""
    reader = HistogramLogReader(str(path), HdrHistogram(1, 3_600_000_000, 3))
    found = []
    while (h := reader.get_next_interval_histogram()) is not None:
        found.append(h)
    return found, reader.get_start_time_sec()


def test_one_interval_per_second_adding_up_to_the_responses(gcannon, target, tmp_path):
    log = tmp_path / "run.hlog"
    code, result = run_json([gcannon, target, "-c", "8", "-d", "3s", "--hlog", str(log)])
    assert code == 0
    text = log.read_text()
    assert "#[StartTime: " in text and "#[BaseTime: " in text
    assert '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' in text
    hists, start = intervals(log)
    assert start > 1_600_000_000
    assert len(hists) == 3, [h.get_total_count() for h in hists]
    assert all(h.get_total_count() > 0 for h in hists)
    assert sum(h.get_total_count() for h in hists) == result["responses"]
    # Consecutive one-second intervals from the start.
    starts = [h.get_start_time_stamp() / 1000 - start for h in hists]
    assert [round(s) for s in starts] == [0, 1, 2]
    # Merged, the intervals give the run's percentiles (HDR precision).
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for h in hists:
        merged.add(h)
    assert merged.get_value_at_percentile(99) == result["latency_us"]["p99"]


def test_an_interrupted_run_logs_what_it_measured(gcannon, target, tmp_path):
    import signal
    import time
    import json

    log = tmp_path / "cut.hlog"
    proc = subprocess.Popen(
        [gcannon, target, "-c", "4", "-d", "30s", "--json", "--hlog", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    result = json.loads(out)
    hists, _ = intervals(log)
    assert 2 <= len(hists) <= 4, len(hists)
    assert sum(h.get_total_count() for h in hists) == result["responses"] > 0


def test_gcannon_run_merges_the_runners_logs(gcannon, target, tmp_path):
    manifest = tmp_path / "lt.yaml"
    manifest.write_text(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata:\n  name: merged\n"
        f"spec:\n  target: {target}\n  runners: 2\n  connections: 4\n  duration: 2s\n"
    )
    log = tmp_path / "merged.hlog"
    code, result = run_json([gcannon, "run", str(manifest), "--hlog", str(log)])
    assert code == 0
    hists, _ = intervals(log)
    assert len(hists) == 2
    assert sum(h.get_total_count() for h in hists) == result["responses"]
