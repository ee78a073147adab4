#!/usr/bin/env bash
# TLS handshakes per second: a new TLS 1.3 connection for every request against
# nginx (1 worker, pinned to CPU 0), gcannon `-r 1` vs wrk `-H 'Connection:
# close'` (pinned to CPU 1), 64 connections, alternating rounds, medians of
# pairwise ratios. Neither client verifies the self-signed certificate.
#
# wrk keeps each connection's last session (OpenSSL's SSL_clear) and resumes it
# on reconnect, so each kind is compared with its like, and nginx logs
# `$ssl_session_reused` for every request, so the kind is counted, not assumed:
#   full     nginx with resumption off: both tools do full handshakes
#   resumed  nginx with session tickets: gcannon --tls-resume, wrk as it is
# Then callgrind: each client's instructions per full handshake (whole process,
# 4 connections, IR_DUR seconds), the CPU a handshake costs the client.
#
#   ROUNDS=5 DUR=3 bench/handshakes.sh      # results in bench/results/handshakes.md
#
# Needs: nginx, wrk, openssl, GNU time, taskset, valgrind. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DUR=${DUR:-3}
IR_DUR=${IR_DUR:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-bench/results}
GCANNON=${GCANNON:-target/release/gcannon}
export PATH="/usr/sbin:$PATH"

source bench/servers.sh
bench_start handshakes.csv "kind,tool,round,responses,seconds,user_s,sys_s,reused,full,instructions"
for t in nginx wrk openssl taskset valgrind; do
  command -v "$t" >/dev/null || { echo "bench: $t is required (apt-get install nginx-light wrk openssl util-linux valgrind)"; exit 2; }
done

export NGINX_LOG="$work/access.log"
URL=https://127.0.0.1:18443/

# client KIND TOOL: sets CMD to the command line, `-c N -d D` added by the caller.
client() {
  case $2 in
    gcannon)
      CMD=("$GCANNON" "$URL" -t 1 --warmup 0s --insecure -r 1 --json)
      if [ "$1" = resumed ]; then CMD+=(--tls-resume); fi ;;
    wrk) CMD=(wrk -t1 -H "Connection: close" "$URL") ;;
  esac
}

# handshakes R|.: the server's count of connections it resumed (r) or not (.):
# one per connection, logged with its first request.
handshakes() { awk -v k="$1" '$1 == k && $2 == 1 {n++} END {print n + 0}' "$NGINX_LOG"; }

# run_one KIND TOOL ROUND: one pinned, timed run.
run_one() {
  local kind=$1 tool=$2 round=$3 log="$work/out" n secs
  : > "$NGINX_LOG"
  client "$kind" "$tool"
  /usr/bin/time -f "%U %S" -o "$work/time" taskset -c "$CLIENT_CPU" \
    "${CMD[@]}" -c 64 -d "${DUR}s" > "$log" 2>/dev/null || true
  if [ "$tool" = gcannon ]; then
    n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["responses"])' "$log")
    secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["elapsed_sec"])' "$log")
  else
    n=$(awk '/requests in/ {print $1}' "$log")
    secs=$(awk '/requests in/ {gsub("s,","",$4); print $4}' "$log")
  fi
  read -r user sys < "$work/time"
  echo "$kind,$tool,$round,${n:-0},${secs:-0},$user,$sys,$(handshakes r),$(handshakes .)," >> "$RAW"
}

# ir_one TOOL: instructions of the whole client per full handshake.
ir_one() {
  local tool=$1 cg="$work/cg.out" n
  : > "$NGINX_LOG"
  client full "$tool"
  taskset -c "$CLIENT_CPU" valgrind --tool=callgrind --callgrind-out-file="$cg" \
    "${CMD[@]}" -c 4 -d "${IR_DUR}s" > /dev/null 2>&1 || true
  n=$(handshakes .)
  echo "ir,$tool,1,$n,0,0,0,0,$n,$(awk '/^summary:/ {print $2}' "$cg")" >> "$RAW"
}

for kind in full resumed; do
  start_nginx "$([ $kind = full ] && echo tls-full || echo tls)"
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then order="gcannon wrk"; else order="wrk gcannon"; fi
    for tool in $order; do run_one "$kind" "$tool" "$r"; done
  done
  if [ $kind = full ]; then ir_one gcannon; ir_one wrk; fi
  stop_server
done

python3 - "$RAW" <<'EOF' | tee "$OUT/handshakes.md"
import csv, statistics, sys
from collections import defaultdict
med = statistics.median
rows = list(csv.DictReader(open(sys.argv[1])))
runs = defaultdict(dict)
for r in rows:
    runs[r["kind"]][(r["tool"], r["round"])] = r
print("| handshakes | tool | runs | handshakes/s (median) | resumed, by nginx's count | user CPU µs/handshake |")
print("|---|---|---:|---:|---:|---:|")
for kind in ("full", "resumed"):
    for tool in ("gcannon", "wrk"):
        xs = [v for (t, _), v in runs[kind].items() if t == tool and int(v["responses"])]
        if not xs:
            continue
        rate = med(int(x["responses"]) / float(x["seconds"]) for x in xs)
        reused = sum(int(x["reused"]) for x in xs) / max(1, sum(int(x["reused"]) + int(x["full"]) for x in xs))
        user = med(float(x["user_s"]) * 1e6 / int(x["responses"]) for x in xs)
        print(f"| {kind} | {tool} | {len(xs)} | {rate:,.0f} | {reused:.0%} | {user:.0f} |")
print()
print("| handshakes | pairs | gcannon/wrk handshakes/s (median of pairs) | pairs gcannon ahead |")
print("|---|---:|---:|---:|")
for kind in ("full", "resumed"):
    cell = runs[kind]
    ratios = [int(cell[("gcannon", r)]["responses"]) / float(cell[("gcannon", r)]["seconds"])
              / (int(cell[("wrk", r)]["responses"]) / float(cell[("wrk", r)]["seconds"]))
              for (t, r) in cell if t == "gcannon" and ("wrk", r) in cell and int(cell[("wrk", r)]["responses"])]
    if ratios:
        print(f"| {kind} | {len(ratios)} | {med(ratios):.2f}x | {sum(x > 1 for x in ratios)}/{len(ratios)} |")
ir = runs.get("ir", {})
g, w = ir.get(("gcannon", "1")), ir.get(("wrk", "1"))
if g and w and int(g["full"]) and int(w["full"]):
    gi, wi = int(g["instructions"]) / int(g["full"]), int(w["instructions"]) / int(w["full"])
    print()
    print(f"Client instructions per full handshake (callgrind, whole process, 4 connections): "
          f"gcannon {gi:,.0f}, wrk {wi:,.0f}, ratio {gi / wi:.2f}x")
EOF
