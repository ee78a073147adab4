#!/usr/bin/env bash
# Cost of the live metrics endpoint: the same gcannon run with and without
# --metrics-listen (scraped every second, as Prometheus would, by curl from the
# server's core), alternating off/on round by round. Reports the median req/s
# and user CPU µs per response of each, and the median of the pairwise on/off
# ratios. Server (gcannon serve, one thread) on CPU 0, client on CPU 1, 127.0.0.1.
#
# Loopback req/s varies 10-20% run to run, so the same pair is also counted in
# instructions per response under callgrind (repeatable; the metrics thread and
# its scrapes included), when valgrind is installed.
#
#   bench/metrics.sh                 # 6 rounds of 5 s, 64 connections, pipeline 16
#   ROUNDS=4 DUR=3 bench/metrics.sh
#   ROUNDS=0 bench/metrics.sh        # callgrind only
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}
DUR=${DUR:-5}
CONNS=${CONNS:-64}
DEPTH=${DEPTH:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GCANNON=${GCANNON:-target/release/gcannon}
PORT=${PORT:-18480}
MPORT=${MPORT:-19464}
[ -x "$GCANNON" ] || cargo build --release -p runner --bin gcannon
for t in taskset curl jq; do
  command -v "$t" >/dev/null || { echo "bench: $t is required"; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: GNU time (/usr/bin/time) is required"; exit 2; }

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
taskset -c "$SERVER_CPU" "$GCANNON" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
sleep 0.5

# scrape_while PID: scrape the client's metrics once a second while it runs.
scrape_while() {
  while kill -0 "$1" 2>/dev/null; do
    taskset -c "$SERVER_CPU" curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics" || true
    sleep 1
  done
}

one() { # mode round -> "mode,round,responses,seconds,user_s"
  local mode=$1 round=$2 extra=()
  [ "$mode" = on ] && extra=(--metrics-listen "127.0.0.1:$MPORT")
  /usr/bin/time -f '%U' -o "$work/time" taskset -c "$CLIENT_CPU" "$GCANNON" \
    "http://127.0.0.1:$PORT/" -c "$CONNS" -p "$DEPTH" -d "${DUR}s" --json "${extra[@]}" > "$work/out.json" &
  local pid=$!
  [ "$mode" = on ] && scrape_while "$pid"
  wait "$pid" || true
  echo "$mode,$round,$(jq -r '.responses' "$work/out.json"),$(jq -r '.elapsed_sec' "$work/out.json"),$(tail -1 "$work/time")"
}

# ir MODE: instructions per response of the whole client process (all threads).
ir() {
  local mode=$1 extra=() cg="$work/cg.$1"
  [ "$mode" = on ] && extra=(--metrics-listen "127.0.0.1:$MPORT")
  taskset -c "$CLIENT_CPU" valgrind --tool=callgrind --callgrind-out-file="$cg" "$GCANNON" \
    "http://127.0.0.1:$PORT/" -c "$CONNS" -p "$DEPTH" -d "${IR_DUR:-4}s" --json "${extra[@]}" \
    > "$work/ir.json" 2>/dev/null &
  local pid=$!
  [ "$mode" = on ] && scrape_while "$pid"
  wait "$pid" || true
  awk '/^summary:/ {s += $2} END {print s}' "$cg"* | python3 -c \
    'import json,sys; n=json.load(open(sys.argv[1]))["responses"]; print(int(sys.stdin.read()) / max(n, 1))' "$work/ir.json"
}
if command -v valgrind >/dev/null; then
  off=$(ir off); on=$(ir on)
  python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"callgrind instructions per response: metrics off {a:.0f}, on {b:.0f} (on/off {b / a:.3f}x)")' "$off" "$on"
fi

echo "mode,round,responses,seconds,user_s" > "$work/raw.csv"
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which goes first so drift does not favour one side.
  if (( r % 2 )); then order="off on"; else order="on off"; fi
  for m in $order; do one "$m" "$r" | tee -a "$work/raw.csv"; done
done

[ "$ROUNDS" -gt 0 ] || exit 0
python3 - "$work/raw.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    rps = int(r["responses"]) / float(r["seconds"])
    us = float(r["user_s"]) * 1e6 / max(int(r["responses"]), 1)
    by.setdefault(r["round"], {})[r["mode"]] = (rps, us)
rounds = [v for v in by.values() if "on" in v and "off" in v]
med = lambda xs: statistics.median(xs)
for m in ("off", "on"):
    print(f"metrics {m:3}: {med([v[m][0] for v in rounds]):>12,.0f} req/s  {med([v[m][1] for v in rounds]):.3f} user µs/resp")
print(f"on/off (median of {len(rounds)} pairwise ratios): req/s {med([v['on'][0]/v['off'][0] for v in rounds]):.3f}x, "
      f"user CPU per response {med([v['on'][1]/v['off'][1] for v in rounds]):.3f}x")
PY
