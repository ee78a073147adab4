#!/usr/bin/env bash
# The operator's merge of runner results at scale: for 10, 100 and 1000 runners
# (a wide histogram and a 24 h timeline each), the time to decode and merge
# every RunnerResult as the watch delivers it, the time to build the final
# status, and the process's peak RSS. One process per size, so each peak is its own.
#
#   bash bench/merge.sh            # 10 100 1000
#   bash bench/merge.sh 5000
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p operator --example merge_bench
for n in ${@:-10 100 1000}; do
  target/release/examples/merge_bench "$n"
done
