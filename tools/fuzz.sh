#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang 19 (ASan + UBSan) into
# build-fuzz/ and runs each for its share of N seconds (default 60):
#   fuzz_pipeline     35%  ONNX bytes -> import -> pass pipeline -> CPU plan -> ONNX writer
#   fuzz_cli          25%  argument lists -> bertc's command line (fuzz/fuzz_cli.cpp says what runs)
#   fuzz_onnx_loader  25%  ONNX bytes -> importer
#   fuzz_npy          15%  bytes -> .npy reader
# Each target's corpus grows in build-fuzz/corpus/<target>/, seeded with the
# fixtures (test/models), fuzz/seeds/ and fuzz/regressions/<target>/ (inputs
# that once failed: they are run first, so a bug that comes back fails at
# once). Prints one line of final stats per target; exits non-zero if any
# target crashed, with the input under build-fuzz/crashes/<target>/.
#
#   tools/fuzz.sh                        # CI: a minute in all
#   nice -n 10 tools/fuzz.sh 1800        # a long run (README, Fuzzing)
#   FUZZ_KEEP_GOING=1 tools/fuzz.sh 600  # don't stop at a target's first crash:
#                                        # libFuzzer's fork mode collects them all
#   FUZZ_ONLY=fuzz_npy tools/fuzz.sh 60  # one target, all the time
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-60}
targets=(fuzz_pipeline fuzz_cli fuzz_onnx_loader fuzz_npy)
declare -A share=([fuzz_pipeline]=35 [fuzz_cli]=25 [fuzz_onnx_loader]=25 [fuzz_npy]=15)
if [ -n "${FUZZ_ONLY:-}" ]; then targets=("$FUZZ_ONLY"); share=(["$FUZZ_ONLY"]=100); fi

# ccache hits across clones of the repository (as in tools/build.sh).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
CC=clang-19 CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTC_FUZZ=ON -DBERTC_BUILD_TESTS=OFF >/dev/null
ninja -C build-fuzz -j "$(nproc)" "${targets[@]}" >/dev/null

# From here on in build-fuzz: fork mode writes its per-job logs to the working directory.
# Paths given to a target are absolute: fuzz_cli works in a directory of its own.
cd build-fuzz
src=$(cd .. && pwd)
seed() {  # seed DIR FILES...: copies each file in, named after its last three path parts
  local dir=$1; shift
  for f in "$@"; do
    local parts=(${f//\// })
    cp -n "$f" "$dir/$(IFS=_; echo "${parts[*]: -3}")"
  done
}
shopt -s nullglob
failed=0
for t in "${targets[@]}"; do
  corpus=$PWD/corpus/$t crashes=$PWD/crashes/$t
  rm -rf "$crashes.old"; [ ! -d "$crashes" ] || mv "$crashes" "$crashes.old"  # the last run's, kept once
  mkdir -p "$corpus" "$crashes"
  opts=(-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$crashes/")
  case $t in
    fuzz_onnx_loader|fuzz_pipeline)
      seed "$corpus" $src/test/models/*/model.onnx
      opts+=(-max_len=1048576 -timeout=60 -dict=$src/fuzz/fuzz_onnx.dict) ;;
    fuzz_npy)
      seed "$corpus" $src/test/models/*/inputs/*.npy $src/test/models/*/expected/*.npy
      opts+=(-max_len=4096 -timeout=10) ;;
    fuzz_cli)
      seed "$corpus" $src/fuzz/seeds/cli/*
      # Its stdout and stderr are the CLI's; libFuzzer's own report still shows.
      opts+=(-max_len=4096 -timeout=60 -close_fd_mask=3 -dict=$src/fuzz/fuzz_cli.dict) ;;
  esac
  if [ -n "${FUZZ_KEEP_GOING:-}" ]; then opts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi
  secs=$(( total * ${share[$t]} / 100 )); [ "$secs" -ge 1 ] || secs=1
  dirs=("$corpus"); [ ! -d "$src/fuzz/regressions/$t" ] || dirs+=("$src/fuzz/regressions/$t")
  log=$t.log
  echo "fuzz: $t for ${secs}s"
  rc=0
  "$PWD/fuzz/$t" -max_total_time="$secs" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  # The last status line: "#RUNS <event> cov: C ft: F corp: N/SIZE ..." (fork mode: "#RUNS: cov: C ft: F corp: N ...").
  last=$(grep -aE '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -n 1 || true)
  runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  if [ -z "${FUZZ_KEEP_GOING:-}" ]; then  # the final stats count the runs after the last status line too
    runs=$(grep -aoE 'stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' | tail -n 1 || true)
  fi
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | awk '{print $2}' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | awk '{print $2}' || true)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | awk '{print $2}' || true)
  found=("$crashes"/crash-* "$crashes"/leak-* "$crashes"/timeout-* "$crashes"/oom-*)
  echo "fuzz: $t: ${runs:-?} runs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, exit $rc, ${#found[@]} crash input(s)"
  if [ "$rc" -ne 0 ] || [ "${#found[@]}" -gt 0 ]; then
    failed=1
    grep -aE '^(fuzz: |==[0-9]+==ERROR|SUMMARY|bertc internal error|terminate called)' "$log" | head -n 5 || true
    echo "fuzz: $t: see build-fuzz/$log; inputs in $crashes/, e.g. ${found[0]:-none}"
  fi
done
[ "$failed" -eq 0 ] || { echo "fuzz: FAILED"; exit 1; }
echo "fuzz: no crash in ${total}s"
