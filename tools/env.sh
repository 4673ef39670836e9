# Sourced by the project's scripts: the project's Python environment.
#
# tools/setup.sh makes it at .venv/ (BERTC_VENV overrides) from the pinned
# tools/requirements-test.txt; every script that runs Python uses it, never the
# machine's own packages. Sourcing puts its bin/ first on PATH, so `python3`,
# `pytest` and CMake's find_package(Python3) all resolve to it.
BERTC_REPO=${BERTC_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BERTC_VENV=${BERTC_VENV:-$BERTC_REPO/.venv}
BERTC_PYTHON=$BERTC_VENV/bin/python

# Use the environment: fail early, with the fix, when it is missing.
bertc_use_venv() {
  if [ ! -x "$BERTC_PYTHON" ]; then
    echo "$(basename "$0"): the project's Python environment $BERTC_VENV is missing; run tools/setup.sh" >&2
    exit 1
  fi
  export VIRTUAL_ENV=$BERTC_VENV
  export PATH="$BERTC_VENV/bin:$PATH"
  # Nothing from outside the environment: no extra paths, no user site-packages.
  unset PYTHONPATH PYTHONHOME
  export PYTHONNOUSERSITE=1
}
