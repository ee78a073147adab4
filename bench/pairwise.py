#!/usr/bin/env python3
"""Summarise bench/original.sh's CSV: medians per tool and medians of the
pairwise ratios (gcannon run r against the original's run r)."""
import csv
import statistics
import sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
runs = defaultdict(dict)  # (part, conns, depth) -> {(tool, round): figures}
for r in rows:
    n, secs = int(r["responses"] or 0), float(r["seconds"] or 0)
    if n == 0:
        continue
    runs[(r["part"], int(r["conns"]), int(r["depth"]))][(r["tool"], r["round"])] = {
        "rps": n / secs if secs else 0.0,
        "user_us": float(r["user_s"]) * 1e6 / n,
        "cpu_us": (float(r["user_s"]) + float(r["sys_s"])) * 1e6 / n,
        "rss_mb": int(r["maxrss_kb"]) / 1024,
        "ir": int(r["instructions"] or 0) / n,
    }

med = statistics.median
TOOLS = ("gcannon", "original")

print("| part | conns | depth | tool | runs | req/s (median) | user µs/resp | total CPU µs/resp | peak RSS MB |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
for key in sorted(runs):
    if key[0] == "ir":
        continue
    for tool in TOOLS:
        xs = [v for (t, _), v in runs[key].items() if t == tool]
        if xs:
            print(f"| {key[0]} | {key[1]} | {key[2]} | {tool} | {len(xs)} | {med(x['rps'] for x in xs):,.0f} | "
                  f"{med(x['user_us'] for x in xs):.3f} | {med(x['cpu_us'] for x in xs):.3f} | "
                  f"{max(x['rss_mb'] for x in xs):.1f} |")

print()
print("| part | conns | depth | pairs | req/s ratio | user CPU/resp ratio | peak RSS ratio | pairs ours ahead (req/s) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for key in sorted(runs):
    if key[0] == "ir":
        continue
    cell = runs[key]
    pairs = [(cell[("gcannon", r)], cell[("original", r)])
             for (t, r) in cell if t == "gcannon" and ("original", r) in cell]
    if not pairs:
        continue
    rps = [g["rps"] / o["rps"] for g, o in pairs]
    user = [g["user_us"] / o["user_us"] for g, o in pairs if o["user_us"]]
    rss = max(g["rss_mb"] for g, _ in pairs) / max(o["rss_mb"] for _, o in pairs)
    print(f"| {key[0]} | {key[1]} | {key[2]} | {len(pairs)} | {med(rps):.3f}x | "
          f"{med(user):.3f}x | {rss:.3f}x | {sum(x > 1 for x in rps)}/{len(pairs)} |")

ir = runs.get(("ir", 64, 16), {})
g, o = ir.get(("gcannon", "1")), ir.get(("original", "1"))
if g and o and g["ir"] and o["ir"]:
    print()
    print(f"Event-loop instructions per response (callgrind, 64 connections, pipeline 16, "
          f"gcannon serve): gcannon {g['ir']:.0f}, original {o['ir']:.0f}, ratio {g['ir'] / o['ir']:.3f}x")
