# shellcheck shell=bash
# Sourced by the Python test scripts: the repository's .venv, created once,
# and `venv_install PACKAGE...` to add what a suite needs (pip skips what is there).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "==> creating $venv"
  python3 -m venv "$venv"
fi

venv_install() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

# What the API server stand-in (tests/e2e/emulated/standin) needs; the emulated
# end-to-end run and the runtime case that runs an agent under runc share it.
# shellcheck disable=SC2034  # used by the scripts that source this file
standin_packages=('pytest>=8' 'pyyaml>=6' 'cel-python>=0.5,<0.6' 'prometheus-client>=0.20,<1'
                  'helm-python-sdk>=0.2.2,<0.3')
