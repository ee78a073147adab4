#!/usr/bin/env bash
# Open model: gcannon --rate against oha -q --latency-correction on the same
# server at the same rate (latency distributions side by side), then the
# largest rate one gcannon worker holds without falling behind its schedule.
#
#   bench/rate.sh                   # RATE=20000, 5 s runs
#   RATE=50000 DUR=10 bench/rate.sh
#
# Server (gcannon serve) pinned to CPU 0, clients to CPU 1; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-20000}
DUR=${DUR:-5}
CONNS=${CONNS:-64}
GCANNON=${GCANNON:-target/release/gcannon}
export PATH="$HOME/.cargo/bin:$PATH"
[ -x "$GCANNON" ] || cargo build --release -p runner

taskset -c 0 "$GCANNON" serve --listen 127.0.0.1:18083 --threads 1 2>/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/18083) 2>/dev/null && break; sleep 0.05; done
URL=http://127.0.0.1:18083/

gc_row() { # label json
  python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))
l, u = j["latency_us"], j.get("uncorrected_latency_us", {})
ms = lambda v: f"{v/1000:.3f}"
print(f"| {sys.argv[1]} | {j['rps']:,.0f} | {ms(l['p50'])} | {ms(l['p90'])} | {ms(l['p99'])} | {ms(l['p999'])} | {ms(l['max'])} | {j.get('late',0)} | {j.get('unsent',0)} |")
if u:
    print(f"| {sys.argv[1]} (uncorrected) | | {ms(u['p50'])} | {ms(u['p90'])} | {ms(u['p99'])} | {ms(u['p999'])} | {ms(u['max'])} | | |")
EOF
}

echo "## Same server, same rate: $RATE req/s, $CONNS connections, ${DUR}s"
echo
echo "| tool | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | late | unsent |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
taskset -c 1 "$GCANNON" "$URL" --rate "$RATE" -c "$CONNS" -d "${DUR}s" --json > /tmp/gc-rate.json
gc_row "gcannon --rate $RATE" /tmp/gc-rate.json
if command -v oha >/dev/null; then
  taskset -c 1 oha --no-tui -q "$RATE" --latency-correction -z "${DUR}s" -c "$CONNS" --output-format json "$URL" > /tmp/oha-rate.json 2>/dev/null
  python3 - <<'EOF'
import json
j = json.load(open("/tmp/oha-rate.json"))
p = j["latencyPercentiles"]
ms = lambda v: f"{(v or 0)*1000:.3f}"
print(f"| oha -q --latency-correction | {j['summary']['requestsPerSec']:,.0f} | {ms(p['p50'])} | {ms(p['p90'])} | {ms(p['p99'])} | {ms(p['p99.9'])} | {ms(j['summary']['slowest'])} | | |")
EOF
else
  echo "(oha not installed: cargo install oha)"
fi

echo
echo "## Largest rate one worker holds (-t 1, $CONNS connections, pipeline 16)"
echo
echo "| requested req/s | achieved req/s | achieved/requested | late | unsent | p99 ms |"
echo "|---:|---:|---:|---:|---:|---:|"
for r in 100000 200000 400000 800000 1600000; do
  taskset -c 1 "$GCANNON" "$URL" --rate "$r" -c "$CONNS" -p 16 -d "${DUR}s" --json > /tmp/gc-max.json
  python3 - "$r" <<'EOF'
import json, sys
r = int(sys.argv[1]); j = json.load(open("/tmp/gc-max.json"))
print(f"| {r:,} | {j['requests']/j['elapsed_sec']:,.0f} | {j['requests']/j['elapsed_sec']/r:.4f} | {j.get('late',0)} | {j.get('unsent',0)} | {j['latency_us']['p99']/1000:.3f} |")
EOF
done
