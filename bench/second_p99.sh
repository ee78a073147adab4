#!/usr/bin/env bash
# Cost of keeping each second's p99 in every mode. Nothing is added per
# response: at each second's end a worker reads the p99 of the run's histogram
# minus its copy from the previous second's end. Callgrind instructions per
# response of the whole client process with it on and off
# (GCANNON_SECOND_P99=off), and the instructions one second's close costs,
# priced at the req/s the client reaches without valgrind, for a pipelined
# and an unpipelined load. Server (gcannon serve, one thread) on CPU 0, client on
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

# ir MODE CONNS DEPTH -> "instructions per response,instructions per closed second"
# of the client (all threads); the second figure is SecondP99::close's inclusive
# cost divided by the seconds it closed (0 when off).
ir() {
  local mode=$1 conns=$2 depth=$3 cg="$work/cg.$1.$2.$3"
  rm -f "$cg"*
  GCANNON_SECOND_P99=$mode taskset -c "$CLIENT_CPU" valgrind --tool=callgrind \
    --callgrind-out-file="$cg" "$GCANNON" "http://127.0.0.1:$PORT/" -c "$conns" -p "$depth" \
    -d "${DUR}s" --json > "$work/ir.json" 2> "$work/ir.err" || { cat "$work/ir.err" >&2; exit 1; }
  local total close
  total=$(awk '/^summary:/ {s += $2} END {print s}' "$cg"*)
  close=$(for f in "$cg"*; do callgrind_annotate --inclusive=yes "$f" 2>/dev/null; done |
    awk '/SecondP99::close \[/ {gsub(",", "", $1); s += $1} END {print s + 0}')
  python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
n, secs = max(r["responses"], 1), max(len(r["timeline"]), 1)
print(f"{int(sys.argv[2]) / n},{int(sys.argv[3]) / secs}")' \
    "$work/ir.json" "$total" "$close"
}

# rps CONNS DEPTH: the client's req/s without valgrind, to price a second's close.
rps() {
  taskset -c "$CLIENT_CPU" "$GCANNON" "http://127.0.0.1:$PORT/" -c "$1" -p "$2" -d "${DUR}s" --json |
    jq -r '.rps'
}

{
echo "config,round,off,on,close_per_sec,native_rps"
for cfg in "64 16" "16 1"; do
  read -r conns depth <<<"$cfg"
  for r in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first so drift does not favour one side.
    if (( r % 2 )); then a=$(ir off "$conns" "$depth"); b=$(ir on "$conns" "$depth")
    else b=$(ir on "$conns" "$depth"); a=$(ir off "$conns" "$depth"); fi
    echo "c${conns}p${depth},$r,${a%,*},$b,$(rps "$conns" "$depth")"
  done
done
} | tee "$work/raw.csv"

python3 - "$work/raw.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for cfg in dict.fromkeys(r["config"] for r in rows):
    rs = [r for r in rows if r["config"] == cfg]
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    off, on, close, native = med("off"), med("on"), med("close_per_sec"), med("native_rps")
    ratio = statistics.median(float(r["on"]) / float(r["off"]) for r in rs)
    print(f"{cfg}: callgrind instructions per response, per-second p99 off {off:.0f}, on {on:.0f} "
          f"(on/off {ratio:.3f}x, median of {len(rs)} pairwise ratios; under valgrind the client "
          f"answers far fewer responses a second, so the once-a-second close weighs more)")
    print(f"{cfg}: closing a second costs {close:.0f} instructions; at the {native:.0f} req/s this "
          f"client does natively that is {close / native:.2f} instructions per response "
          f"({close / native / off * 100:.2f}% of {off:.0f}); nothing is added per response")
PY
