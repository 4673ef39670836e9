#!/usr/bin/env bash
# Builds the libFuzzer target for the ONNX loader with clang 19 (ASan + UBSan)
# into build-fuzz/ and runs it for N seconds (default 60) on a corpus seeded
# with the fixture models. Exits non-zero if the fuzzer finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
CC=clang-19 CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTC_FUZZ=ON -DBERTC_BUILD_TESTS=OFF >/dev/null
ninja -C build-fuzz -j "$(nproc)" fuzz_onnx_loader
corpus=build-fuzz/corpus
mkdir -p "$corpus"
for m in test/models/*/model.onnx; do cp -n "$m" "$corpus/$(basename "$(dirname "$m")").onnx"; done
echo "fuzz: running fuzz_onnx_loader for ${SECONDS_TO_RUN}s"
build-fuzz/frontend/fuzz_onnx_loader -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=4096 -max_len=1048576 \
  -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
