#!/usr/bin/env bash
# Builds bertc and runs the whole test suite, every stage even when an earlier one fails:
#   build    bertc and its tests into build/
#   ctest    the C++ unit and fixture tests (Catch2, through ctest)
#   pytest   the Python end-to-end tests of the CLI against ONNX Runtime, in .venv/
#   asan     the C++ tests again, built with ASan and UBSan in build-asan/, and the hostile-input
#            tests against that bertc (SANITIZE=0 skips)
#   fuzz     a bounded run of the ONNX-loader fuzzer (libFuzzer, clang 19), FUZZ_SECONDS (default 60; 0 skips)
# Prints one summary line per stage, then exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh
bertc_use_venv
BUILD_DIR=${BUILD_DIR:-build}

names=() results=()
# stage NAME COMMAND...: runs it, records "passed"/"failed" and the time taken.
stage() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== test.sh: $name"
  if "$@"; then results+=("passed"); else results+=("failed"); fi
  names+=("$name")
  results[-1]="${results[-1]} in $((SECONDS - start)) s"
}
skip() { names+=("$1"); results+=("skipped ($2)"); }

run_ctest() { (cd "$BUILD_DIR" && ctest --output-on-failure); }
run_pytest() { BERTC="$PWD/$BUILD_DIR/cmd/bertc" python3 -m pytest -q test/python; }
# The suite under AddressSanitizer and UndefinedBehaviorSanitizer. gemm_asm is
# left out: it reads the kernels' disassembly, which instrumentation changes.
# Without the CUDA toolkit: the sanitized link keeps NVRTC's dependence on the
# driver (libcuda.so.1), which a machine without a GPU lacks; the [cuda] tests
# run in the plain build above.
# The hostile-input tests run again against the sanitized bertc, so an
# invalid access on a bad flag, file or path fails them.
run_asan() {
  BUILD_DIR=build-asan tools/build.sh -DBERTC_SANITIZE=ON -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON \
    && (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -E gemm_asm) \
    && BERTC="$PWD/build-asan/cmd/bertc" ASAN_OPTIONS=detect_leaks=0 python3 -m pytest -q test/python/test_hostile_input.py
}

stage build tools/build.sh
if [ "${results[-1]%% *}" = passed ]; then
  stage ctest run_ctest
  stage pytest run_pytest
else
  skip ctest "the build failed"
  skip pytest "the build failed"
fi
if [ "${SANITIZE:-1}" != 0 ]; then stage asan run_asan; else skip asan "SANITIZE=0"; fi
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [ "$FUZZ_SECONDS" -gt 0 ]; then stage fuzz tools/fuzz.sh "$FUZZ_SECONDS"; else skip fuzz "FUZZ_SECONDS=0"; fi

echo "=== test.sh: summary"
passed=0 failed=0
for i in "${!names[@]}"; do
  printf 'test.sh: %-7s %s\n' "${names[$i]}" "${results[$i]}"
  case "${results[$i]}" in passed*) passed=$((passed + 1)) ;; failed*) failed=$((failed + 1)) ;; esac
done
echo "test.sh stages: $passed passed, $failed failed"
[ "$failed" = 0 ]
