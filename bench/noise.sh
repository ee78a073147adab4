#!/usr/bin/env bash
# False alarms of baseline gates: PAIRS pairs of identical runs (same server,
# same flags), the second judged against the first with a tight relative
# threshold, read as a point comparison and as --noise-aware judges it; then the
# same against a server slowed by a known amount (/delay/MS), which both must
# catch. Prints each verdict and the failure rate of each gate.
# Server (gcannon serve, one thread) on CPU 0, client on CPU 1, 127.0.0.1.
#
#   bench/noise.sh                      # 10 pairs of 6 s runs, -c 16
#   PAIRS=20 DUR=5 bench/noise.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-10}
DUR=${DUR:-6}
CONNS=${CONNS:-16}
SLOW_MS=${SLOW_MS:-5}
LIMIT=${LIMIT:-"p99 < baseline * 1.10"}
RATE_LIMIT=${RATE_LIMIT:-"rps >= baseline * 0.95"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GCANNON=${GCANNON:-target/release/gcannon}
PORT=${PORT:-18490}
[ -x "$GCANNON" ] || cargo build --release -p runner --bin gcannon
for t in taskset jq; do
  command -v "$t" >/dev/null || { echo "bench: $t is required"; exit 2; }
done

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export GCANNON_HISTORY="$work/history.json"
taskset -c "$SERVER_CPU" "$GCANNON" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
sleep 0.5

load() { # path [extra...] -> JSON on stdout; exit status 0/1 is the gate's
  local path=$1; shift
  taskset -c "$CLIENT_CPU" "$GCANNON" "http://127.0.0.1:$PORT$path" -c "$CONNS" -d "${DUR}s" --json "$@"
}
# verdict FILE -> "pass|fail" per threshold, space separated, as --noise-aware judged
verdict() { jq -r '[.thresholds[] | if .passed then "pass" else "fail" end] | join(" ")' "$1"; }
# point FILE -> the same thresholds as a plain point comparison: a threshold the
# test let through as "within noise" had failed its point comparison
point() {
  jq -r '[.thresholds[] | if .passed and ((.significance // "") | startswith("within noise") | not)
         then "pass" else "fail" end] | join(" ")' "$1"
}

point_fail=0 aware_fail=0
echo "pair,gate,p99,rps"
for i in $(seq 1 "$PAIRS"); do
  load / >"$work/base.json"
  gate=(--baseline "$work/base.json" --threshold "$LIMIT" --threshold "$RATE_LIMIT")
  # One second run read both ways: as a point comparison and as judged.
  load / "${gate[@]}" --noise-aware >"$work/run.json" || true
  p=$(point "$work/run.json"); a=$(verdict "$work/run.json")
  echo "$i,point,${p// /,}"
  echo "$i,noise-aware,${a// /,}"
  [[ "$p" == *fail* ]] && point_fail=$((point_fail + 1))
  [[ "$a" == *fail* ]] && aware_fail=$((aware_fail + 1))
done
echo "same configuration: point gate failed $point_fail/$PAIRS pairs, noise-aware gate failed $aware_fail/$PAIRS"

load / >"$work/base.json"
load "/delay/$SLOW_MS" --baseline "$work/base.json" --threshold "$LIMIT" --threshold "$RATE_LIMIT" --noise-aware \
  >"$work/slow.json" || true
echo "server slowed by ${SLOW_MS} ms: noise-aware gate $(verdict "$work/slow.json") ($(jq -r '[.thresholds[].significance] | join("; ")' "$work/slow.json"))"
