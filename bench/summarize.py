#!/usr/bin/env python3
"""Summarise bench/compare.sh's raw CSV: medians per tool, and medians of the
pairwise ratios (gcannon's run in round r against the other tool's run in round r,
so drift on the machine between rounds cancels)."""
import csv
import statistics
import sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
cells = defaultdict(list)
for r in rows:
    n, secs = int(r["responses"] or 0), float(r["seconds"] or 0)
    if n == 0 or secs == 0:
        continue
    cells[(r["part"], r["conns"], r["depth"], r["tool"])].append(
        {
            "round": r["round"],
            "rps": n / secs,
            "user_us": float(r["user_s"]) * 1e6 / n,
            "cpu_us": (float(r["user_s"]) + float(r["sys_s"])) * 1e6 / n,
            "rss_mb": int(r["maxrss_kb"]) / 1024,
        }
    )

def med(runs, key):
    return statistics.median(x[key] for x in runs)

print("| part | conns | depth | tool | runs | req/s (median) | user µs/resp | total CPU µs/resp | peak RSS MB |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
for (part, c, d, tool), runs in sorted(cells.items()):
    print(f"| {part} | {c} | {d} | {tool} | {len(runs)} | {med(runs,'rps'):,.0f} | {med(runs,'user_us'):.2f} | "
          f"{med(runs,'cpu_us'):.2f} | {max(x['rss_mb'] for x in runs):.1f} |")

print()
print("| part | conns | depth | ratio | pairs | req/s | user CPU per response | pairs gcannon ahead |")
print("|---|---:|---:|---|---:|---:|---:|---:|")
groups = defaultdict(dict)
for (part, c, d, tool), runs in cells.items():
    groups[(part, c, d)][tool] = runs
for (part, c, d), tools in sorted(groups.items()):
    if "gcannon" not in tools:
        continue
    ours = {x["round"]: x for x in tools["gcannon"]}
    for other, runs in sorted(tools.items()):
        if other == "gcannon":
            continue
        pairs = [(ours[x["round"]], x) for x in runs if x["round"] in ours]
        if not pairs:
            continue
        rps = [g["rps"] / o["rps"] for g, o in pairs]
        user = [g["user_us"] / o["user_us"] for g, o in pairs if o["user_us"]]
        user_cell = f"{statistics.median(user):.2f}x" if user else "n/a"
        print(f"| {part} | {c} | {d} | gcannon / {other} | {len(pairs)} | {statistics.median(rps):.2f}x | "
              f"{user_cell} | {sum(x > 1 for x in rps)}/{len(pairs)} |")
serve = cells.get(("target-serve", "64", "16", "gcannon"))
nginx = cells.get(("target-nginx", "64", "16", "gcannon"))
if serve and nginx:
    print()
    print(f"gcannon serve vs nginx (1 worker), 64 conns, pipeline 16, same client: "
          f"{med(serve,'rps'):,.0f} vs {med(nginx,'rps'):,.0f} req/s = {med(serve,'rps')/med(nginx,'rps'):.1f}x")
