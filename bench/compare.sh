#!/usr/bin/env bash
# Side-by-side comparison of gcannon with wrk, h2load and oha (when installed).
#
# Server pinned to CPU 0, every client pinned to CPU 1. Tools are interleaved
# round by round (A B C A B C ...) so drift on the machine hits all of them alike;
# each cell of the summary is the median over rounds, and each ratio is the
# median of the pairwise ratios (gcannon's round r against the other's round r).
#
#   bench/compare.sh                 # everything, 5 rounds of 5 s
#   ROUNDS=3 DUR=3 bench/compare.sh  # quicker
#   ONLY=regime2 bench/compare.sh    # one part: regime1 | regime2 | serve | rss | tls
#
# tls: https against nginx (TLS 1.3, 1 worker) and `gcannon serve --tls`, 64
# connections, pipeline 1 and 16; then handshakes: a new TLS connection per
# request (gcannon -r 1, wrk with `Connection: close`), full handshakes against
# nginx with resumption off (against serve --tls wrk resumes its sessions; see
# bench/handshakes.sh for both kinds, counted by the server). None of
# the clients verifies the self-signed certificates (gcannon --insecure).
#
# Needs: nginx, wrk, h2load (nghttp2-client), GNU time, taskset; oha optional
# (`cargo install oha`). Everything talks to 127.0.0.1 only.
# Against the original C tool: bench/original.sh (set GCANNON_ORIGINAL).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5}
ONLY=${ONLY:-all}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-bench/results}
GCANNON=${GCANNON:-target/release/gcannon}
export PATH="/usr/sbin:$HOME/.cargo/bin:$PATH"

source bench/servers.sh
bench_start raw.csv "part,tool,conns,depth,round,responses,seconds,user_s,sys_s,maxrss_kb"
for t in nginx wrk h2load taskset; do
  command -v "$t" >/dev/null || { echo "bench: $t is required (apt-get install nginx-light wrk nghttp2-client util-linux)"; exit 2; }
done
HAVE_OHA=0; command -v oha >/dev/null && HAVE_OHA=1

cat > "$work/pipeline.lua" <<'EOF'
-- wrk pipelining: send `depth` requests in one write, as wrk's own example does.
init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
EOF


# run_tool PART TOOL URL CONNS DEPTH ROUND: one pinned run, one CSV row.
run_tool() {
  local part=$1 tool=$2 url=$3 c=$4 d=$5 round=$6 log="$work/out" n secs
  local timer=(/usr/bin/time -f "%U %S %M" -o "$work/time" taskset -c "$CLIENT_CPU")
  local tls=() close=()
  [[ $url == https://* ]] && tls=(--insecure)
  # The handshake parts: a new connection for every request.
  [[ $part == *-r1 ]] && { tls+=(-r 1); close=(-H "Connection: close"); }
  case $tool in
    gcannon)
      "${timer[@]}" "$GCANNON" "$url" -c "$c" -t 1 -p "$d" -d "${DUR}s" --json "${tls[@]}" > "$log" 2>/dev/null || true
      n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["responses"])' "$log")
      secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["elapsed_sec"])' "$log") ;;
    wrk)
      "${timer[@]}" wrk -t1 -c "$c" -d "${DUR}s" "${close[@]}" -s "$work/pipeline.lua" "$url" -- "$d" > "$log" 2>&1 || true
      n=$(awk '/requests in/ {print $1}' "$log")
      secs=$(awk '/requests in/ {gsub("s,","",$4); print $4}' "$log") ;;
    h2load)
      "${timer[@]}" h2load --h1 -t1 -c "$c" -m "$d" -D "$DUR" "$url" > "$log" 2>&1 || true
      n=$(awk '/^requests:/ {print $8}' "$log")
      secs=$(awk '/^finished in/ {gsub("s,","",$3); print $3}' "$log") ;;
    oha)
      local oha_flags=()
      [[ $url == https://* ]] && oha_flags+=(--insecure)
      [[ $part == *-r1 ]] && oha_flags+=(--disable-keepalive)
      "${timer[@]}" oha --no-tui -z "${DUR}s" -c "$c" "${oha_flags[@]}" --output-format json "$url" > "$log" 2>/dev/null || true
      n=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(j["statusCodeDistribution"].values()))' "$log")
      secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["total"])' "$log") ;;
  esac
  read -r user sys rss < "$work/time"
  echo "$part,$tool,$c,$d,$round,${n:-0},${secs:-0},$user,$sys,$rss" >> "$RAW"
}

tools_for() { # pipeline depth [part] -> tools that can pipeline that deep
  local t=(gcannon wrk h2load)
  # h2load has no new-connection-per-request mode.
  [[ ${2:-} == *-r1 ]] && t=(gcannon wrk)
  [ "$HAVE_OHA" = 1 ] && [ "$1" = 1 ] && t+=(oha)
  echo "${t[@]}"
}

interleave() { # PART URL CONNS DEPTH
  for r in $(seq "$ROUNDS"); do
    for tool in $(tools_for "$4" "$1"); do run_tool "$1" "$tool" "$2" "$3" "$4" "$r"; done
  done
}

if [[ $ONLY == all || $ONLY == regime1 ]]; then
  start_nginx
  interleave regime1 http://127.0.0.1:18080/ 64 1
  interleave regime1 http://127.0.0.1:18080/ 1024 1
  stop_server
fi
if [[ $ONLY == all || $ONLY == regime2 ]]; then
  start_serve
  interleave regime2 http://127.0.0.1:18081/ 64 16
  stop_server
fi
if [[ $ONLY == all || $ONLY == serve ]]; then
  # The built-in server must never be what is measured: same client, same
  # load (64 connections, pipeline 16), nginx vs gcannon serve, one core each.
  for r in $(seq "$ROUNDS"); do
    start_nginx; run_tool target-nginx gcannon http://127.0.0.1:18080/ 64 16 "$r"; stop_server
    start_serve; run_tool target-serve gcannon http://127.0.0.1:18081/ 64 16 "$r"; stop_server
  done
fi
if [[ $ONLY == all || $ONLY == tls ]]; then
  start_nginx tls
  interleave tls-nginx https://127.0.0.1:18443/ 64 1
  interleave tls-nginx https://127.0.0.1:18443/ 64 16
  stop_server
  # Resumption off: wrk resumes its last session on reconnect (SSL_clear), so
  # only then do both clients make full handshakes (bench/handshakes.sh).
  start_nginx tls-full
  interleave tls-nginx-r1 https://127.0.0.1:18443/ 64 1
  stop_server
  start_serve_tls
  interleave tls-serve https://127.0.0.1:18444/ 64 1
  interleave tls-serve https://127.0.0.1:18444/ 64 16
  interleave tls-serve-r1 https://127.0.0.1:18444/ 64 1
  stop_server
fi
if [[ $ONLY == all || $ONLY == rss ]]; then
  start_nginx
  ROUNDS=1 interleave rss-10k http://127.0.0.1:18080/ 10000 1
  stop_server
fi

python3 bench/summarize.py "$RAW" | tee "$OUT/summary.md"
