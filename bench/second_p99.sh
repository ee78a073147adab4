#!/usr/bin/env bash
# Cost of keeping each second's p99 in every mode (at each second's end a
# worker subtracts its previous copy of the run's histogram from the run's
# histogram; nothing is added per response): callgrind
# instructions per response of the whole client process, with it on and off
# (GCANNON_SECOND_P99=off), same build, same run, for a pipelined and an
# unpipelined load. Server (gcannon serve, one thread) on CPU 0, client on
# CPU 1, 127.0.0.1. Instruction counts repeat where loopback req/s does not.
#
#   bench/second_p99.sh                  # 2 rounds of 3 s per configuration
#   ROUNDS=1 DUR=2 bench/second_p99.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
DUR=${DUR:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GCANNON=${GCANNON:-target/release/gcannon}
PORT=${PORT:-18481}
[ -x "$GCANNON" ] || cargo build --release -p runner --bin gcannon
for t in taskset valgrind jq; do
  command -v "$t" >/dev/null || { echo "bench: $t is required"; exit 2; }
done

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
taskset -c "$SERVER_CPU" "$GCANNON" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
sleep 0.5

# ir MODE CONNS DEPTH: instructions per response of the client (all threads).
ir() {
  local mode=$1 conns=$2 depth=$3 cg="$work/cg.$1.$2.$3"
  rm -f "$cg"*
  GCANNON_SECOND_P99=$mode taskset -c "$CLIENT_CPU" valgrind --tool=callgrind \
    --callgrind-out-file="$cg" "$GCANNON" "http://127.0.0.1:$PORT/" -c "$conns" -p "$depth" \
    -d "${DUR}s" --json > "$work/ir.json" 2>/dev/null
  awk '/^summary:/ {s += $2} END {print s}' "$cg"* | python3 -c \
    'import json,sys; n=json.load(open(sys.argv[1]))["responses"]; print(int(sys.stdin.read()) / max(n, 1))' "$work/ir.json"
}

{
echo "config,round,off,on"
for cfg in "64 16" "16 1"; do
  read -r conns depth <<<"$cfg"
  for r in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first so drift does not favour one side.
    if (( r % 2 )); then a=$(ir off "$conns" "$depth"); b=$(ir on "$conns" "$depth")
    else b=$(ir on "$conns" "$depth"); a=$(ir off "$conns" "$depth"); fi
    echo "c${conns}p${depth},$r,$a,$b"
  done
done
} | tee "$work/raw.csv"

python3 - "$work/raw.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for cfg in dict.fromkeys(r["config"] for r in rows):
    rs = [r for r in rows if r["config"] == cfg]
    off = statistics.median(float(r["off"]) for r in rs)
    on = statistics.median(float(r["on"]) for r in rs)
    ratio = statistics.median(float(r["on"]) / float(r["off"]) for r in rs)
    print(f"{cfg}: callgrind instructions per response, per-second p99 off {off:.0f}, on {on:.0f} "
          f"(on/off {ratio:.3f}x, median of {len(rs)} pairwise ratios)")
PY
