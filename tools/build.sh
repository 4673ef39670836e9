#!/usr/bin/env bash
# Configures and builds bertc into build/ (set BUILD_DIR to change it; extra args go to cmake).
# CMake's Python (it locates the pretrained example model) is the project's environment, .venv/.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh
BUILD_DIR=${BUILD_DIR:-build}
# ccache hits across clones of the repository (CI builds a fresh clone).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
python_args=()
if [ -x "$BERTC_PYTHON" ]; then python_args=(-DPython3_EXECUTABLE="$BERTC_PYTHON"); fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${python_args[@]}" "$@" >/dev/null
ninja -C "$BUILD_DIR" -j "$(nproc)"
