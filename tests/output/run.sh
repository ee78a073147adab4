#!/usr/bin/env bash
# The run's machine-readable outputs read by independent tools: the JUnit file
# validated against the Jenkins xunit plugin's junit-10.xsd (xmlschema), the
# HdrHistogram interval log decoded by the `hdrh` reader (PyPI hdrhistogram),
# and the /metrics endpoint parsed by prometheus_client's OpenMetrics parser.
# Every load goes to the built-in server on loopback, a few seconds each.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../venv.sh"
cd "$root"

echo "==> installing Python test tools"
venv_install 'pytest>=8' 'pyyaml>=6' 'hdrhistogram>=0.10,<0.11' 'xmlschema>=3,<5' \
  'prometheus-client>=0.20,<1'

# The JUnit schema: junit-10.xsd of the Jenkins xunit plugin (MIT, Gregory
# Boissinot), as pytest ships it in its source distribution for its own
# junitxml tests. Fetched from PyPI, pinned, never edited.
xsd="$venv/share/junit-10.xsd"
if [[ ! -s "$xsd" ]]; then
  echo "==> fetching junit-10.xsd from the pytest 8.3.5 sdist"
  tmp="$(mktemp -d)"
  "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: 'pytest==8.3.5' -d "$tmp"
  mkdir -p "$(dirname "$xsd")"
  tar -xzf "$tmp/pytest-8.3.5.tar.gz" -C "$tmp" pytest-8.3.5/testing/example_scripts/junit-10.xsd
  mv "$tmp/pytest-8.3.5/testing/example_scripts/junit-10.xsd" "$xsd"
  rm -rf "$tmp"
fi
export JUNIT_XSD="$xsd"

echo "==> building gcannon"
cargo build --locked -p runner --bin gcannon
export GCANNON="$root/target/debug/gcannon"

echo "==> output tests (pytest)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/output
