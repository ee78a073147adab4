#!/usr/bin/env bash
# gcannon against the original C Glass Cannon, run by run.
#
# The original is not part of this repository: build it yourself (public
# MDA2AV/gcannon against axboe/liburing) and point GCANNON_ORIGINAL at the
# binary; without it this script says so and stops (bench/compare.sh then
# simply has no original column).
#
# Server pinned to CPU 0, both clients to CPU 1. The two tools alternate run by
# run (ours, original, ours, original, ...); each pair of neighbouring runs gives
# one ratio, and the summary reports the median of those pairwise ratios next to
# the medians themselves. Parts:
#
#   p16     pipeline 16, 64 connections, against `gcannon serve` (client-bound)
#   p1-64   pipeline 1, 64 connections, against nginx (one worker: the ceiling)
#   p1-1024 pipeline 1, 1024 connections, against nginx
#   rss-10k 10,000 connections against nginx: peak RSS
#   ir      instructions per response in the event loop (callgrind), p16 vs serve
#
#   GCANNON_ORIGINAL=/path/to/gcannon bench/original.sh
#   GCANNON_ORIGINAL_IR=/path/to/generic/gcannon   (for `ir`; default GCANNON_ORIGINAL)
#   ROUNDS=7 DUR=3 ONLY="p16 ir" GCANNON_ORIGINAL=... bench/original.sh
#
# Both tools count every response from the start (`--warmup 0s` for ours, as
# the original has no warm-up), so user CPU per response compares like with like.
# Needs: nginx, GNU time, taskset, valgrind (for `ir`). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
DUR=${DUR:-3}
IR_DUR=${IR_DUR:-2}
ONLY=${ONLY:-p16 p1-64 p1-1024 rss-10k ir}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-bench/results}
GCANNON=${GCANNON:-target/release/gcannon}
ORIGINAL=${GCANNON_ORIGINAL:-}
# valgrind stops on AVX-512: the `ir` part may use a build without -march=native.
ORIGINAL_IR=${GCANNON_ORIGINAL_IR:-$ORIGINAL}
export PATH="/usr/sbin:$PATH"

if [ -z "$ORIGINAL" ]; then
  echo "bench/original.sh: GCANNON_ORIGINAL is not set; nothing to compare against (skipped)"
  exit 0
fi
[ -x "$ORIGINAL" ] || { echo "bench/original.sh: GCANNON_ORIGINAL=$ORIGINAL is not an executable"; exit 2; }
[ -x "$GCANNON" ] || cargo build --release -p runner
for t in nginx taskset; do
  command -v "$t" >/dev/null || { echo "bench: $t is required (apt-get install nginx-light util-linux)"; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: GNU time is required (apt-get install time)"; exit 2; }

mkdir -p "$OUT"
RAW="$OUT/original.csv"
echo "part,tool,conns,depth,round,responses,seconds,user_s,sys_s,maxrss_kb,instructions" > "$RAW"
work=$(mktemp -d)
# The original keeps a run history in the home directory; keep it out of the user's.
export HOME="$work/home"
mkdir -p "$HOME"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true

source bench/servers.sh

# json_field FILE KEY: a top-level number from either tool's --json output.
json_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null || echo 0
}

# client TOOL: the command line of one tool (both take the original's flags).
client() {
  case $1 in
    gcannon) echo "$GCANNON --warmup 0s" ;;
    original) echo "$ORIGINAL" ;;
    original-ir) echo "$ORIGINAL_IR" ;;
  esac
}

# run_one PART TOOL URL CONNS DEPTH ROUND: one pinned, timed run, one CSV row.
run_one() {
  local part=$1 tool=$2 url=$3 c=$4 d=$5 round=$6 log="$work/out"
  # shellcheck disable=SC2046
  /usr/bin/time -f "%U %S %M" -o "$work/time" taskset -c "$CLIENT_CPU" \
    $(client "$tool") "$url" -c "$c" -t 1 -p "$d" -d "${DUR}s" --json > "$log" 2>/dev/null || true
  read -r user sys rss < "$work/time"
  echo "$part,$tool,$c,$d,$round,$(json_field "$log" responses),$(json_field "$log" elapsed_sec),$user,$sys,$rss," >> "$RAW"
}

# alternate PART URL CONNS DEPTH: ROUNDS pairs; who goes first alternates too.
alternate() {
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then order="gcannon original"; else order="original gcannon"; fi
    for tool in $order; do run_one "$1" "$tool" "$2" "$3" "$4" "$r"; done
  done
}

# ir_one TOOL LOOP_FN: instructions of the event loop only (callgrind toggles
# collection inside the worker's loop function), divided by responses.
ir_one() {
  local tool=$1 fn=$2 bin=$1 log="$work/out" cg="$work/cg.out"
  [ "$tool" = original ] && bin=original-ir
  rm -f "$cg"
  # shellcheck disable=SC2046
  taskset -c "$CLIENT_CPU" valgrind --tool=callgrind --callgrind-out-file="$cg" \
    --toggle-collect="$fn" $(client "$bin") http://127.0.0.1:18081/ -c 64 -t 1 -p 16 \
    -d "${IR_DUR}s" --json > "$log" 2>/dev/null || true
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$cg" 2>/dev/null || echo 0)
  echo "ir,$tool,64,16,1,$(json_field "$log" responses),$(json_field "$log" elapsed_sec),0,0,0,${ir:-0}" >> "$RAW"
}

for part in $ONLY; do
  case $part in
    p16) start_serve; alternate p16 http://127.0.0.1:18081/ 64 16; stop_server ;;
    p1-64) start_nginx; alternate p1-64 http://127.0.0.1:18080/ 64 1; stop_server ;;
    p1-1024) start_nginx; alternate p1-1024 http://127.0.0.1:18080/ 1024 1; stop_server ;;
    rss-10k) start_nginx; ROUNDS=${RSS_ROUNDS:-3} alternate rss-10k http://127.0.0.1:18080/ 10000 1; stop_server ;;
    ir)
      command -v valgrind >/dev/null || { echo "bench: valgrind is required for ir"; exit 2; }
      start_serve
      ir_one gcannon '*Worker*run*'
      ir_one original worker_loop
      stop_server ;;
    *) echo "bench/original.sh: unknown part $part"; exit 2 ;;
  esac
done

python3 bench/pairwise.py "$RAW" | tee "$OUT/original.md"
