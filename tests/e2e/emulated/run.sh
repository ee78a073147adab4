#!/usr/bin/env bash
# End to end without a cluster: the release-built operator and real `gcannon
# agent` processes against the API server stand-in (tests/e2e/emulated/standin),
# `gcannon serve` as the target. Builds the two binaries, checks the stand-in's
# own Kubernetes semantics (pytest), then runs the scenarios, one line each and
# a final "N passed, N failed". Arguments pick scenarios by number (run.sh 1 4).
# STANDIN_LOGS=dir keeps each failed scenario's operator and pod output there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"

# venv.sh defines venv_install and standin_packages.
# shellcheck disable=SC1091
source tests/venv.sh
# shellcheck disable=SC2154
venv_install "${standin_packages[@]}"
python="$root/.venv/bin/python"

echo "==> release build: glass-cannon-operator, gcannon"
cargo build --release --locked --quiet -p operator -p runner --bins

echo "==> stand-in semantics (pytest)"
(cd tests/e2e/emulated && "$python" -m pytest -q -p no:cacheprovider test_standin.py)

echo "==> scenarios"
cd tests/e2e/emulated
exec "$python" scenarios.py "$@"
