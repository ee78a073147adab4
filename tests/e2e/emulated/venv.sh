#!/usr/bin/env bash
# Prints the path of the Python that runs the API server stand-in, after making
# sure its venv (repo/.venv) has what the stand-in needs. Shared by the emulated
# end-to-end run and the runtime cases that run an agent in a container.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv="$root/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "==> creating $venv" >&2
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  'pytest>=8' 'pyyaml>=6' 'cel-python>=0.5,<0.6' >&2
echo "$venv/bin/python"
