#!/usr/bin/env bash
# Checks that the GEMM microkernels' hot loops are FMA on full vector
# registers, from the disassembly of the kernel objects (STYLE.md §9):
#   gemm_avx512.cpp.o: microkernel<8>'s k loop holds exactly 16 vfmadd*ps on zmm
#   gemm_avx2.cpp.o:   microkernel<6>'s k loop holds exactly 12 vfmadd*ps on ymm
# and neither loop touches the stack (no accumulator spills); that the
# row kernels (rowops_avx512.cpp.o, rowops_avx2.cpp.o) use FMA on zmm / ymm;
# and that the model library's copies of the microkernels (linear.cpp.o of
# bertc_libmodel_v4 and _v3, built with -march) keep the same k loops.
#
#   tools/check_fma.sh OBJECT...     (the objects of bertc_cpu_kernels and
#                                     bertc_libmodel_v3/_v4; ctest passes them)
#   tools/check_fma.sh -v OBJECT...  (also print each hot loop)
set -euo pipefail
verbose=0
if [[ "${1:-}" == -v ]]; then verbose=1; shift; fi
objdump=${OBJDUMP:-objdump}
status=0
checked=0

# check OBJECT MR REG FMAS
check() {
  local obj=$1 mr=$2 reg=$3 want=$4
  # The function's disassembly, then its first backward branch: the k loop
  # (the accumulators are zeroed before it, and the stores follow it).
  local dis loop
  dis=$("$objdump" -d --no-show-raw-insn -C "$obj")
  loop=$(awk -v fn="microkernel<$mr>(" '
    function hex(s,   i, v) {  # mawk has no strtonum
      v = 0
      for (i = 1; i <= length(s); ++i) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v
    }
    index($0, fn) && /^[0-9a-f]+ </ { infn = 1; next }
    infn && /^$/ { exit }
    infn {
      addr = hex(substr($1, 1, length($1) - 1))
      lines[addr] = $0; order[++n] = addr
      if ($2 ~ /^j/ && $3 ~ /^[0-9a-f]+$/) {
        target = hex($3)
        if (target < addr) {
          for (i = 1; i <= n; ++i) if (order[i] >= target) print lines[order[i]]
          exit
        }
      }
    }' <<<"$dis")
  if [[ -z "$loop" ]]; then
    echo "FAIL $obj: no loop found in microkernel<$mr>"; status=1; return
  fi
  local fmas spills
  fmas=$(grep -cE "vfmadd[0-9]+ps +[^,]*%$reg[0-9]+,[^,]*%$reg[0-9]+,%$reg[0-9]+" <<<"$loop" || true)
  spills=$(grep -cE "\(%r[sb]p" <<<"$loop" || true)
  if ((verbose)); then echo "$loop"; fi
  if [[ "$fmas" -eq "$want" && "$spills" -eq 0 ]]; then
    echo "ok   $(basename "$obj"): microkernel<$mr> k loop: $fmas vfmadd*ps on $reg, no stack access ($(wc -l <<<"$loop") instructions)"
  else
    echo "FAIL $(basename "$obj"): microkernel<$mr> k loop: $fmas vfmadd*ps on $reg (want $want), $spills stack accesses"
    status=1
  fi
  checked=$((checked + 1))
}

# check_rowops OBJECT SUFFIX REG: each row kernel of rowops_*.cpp computes
# with vfmadd*ps on REG, counted over its entry point and the helpers the
# compiler kept out of line (attention's scoreBlock<> and contextBlock<>). A
# weaker check than the microkernel's: these kernels are not one loop.
check_rowops() {
  local obj=$1 isa=$2 reg=$3 fn pattern fmas
  local dis
  dis=$("$objdump" -d --no-show-raw-insn -C "$obj")
  for fn in layerNormRows embedLayerNormRows attentionRows; do
    pattern="detail::$fn$isa\\("
    if [[ $fn == attentionRows ]]; then pattern="$pattern|::scoreBlock<|::contextBlock<"; fi
    fmas=$(awk -v pat="$pattern" -v reg="$reg" '
      /^[0-9a-f]+ </ { infn = ($0 ~ pat); next }
      infn && $0 ~ ("vfmadd[0-9]+ps +[^,]*%" reg "[0-9]+,[^,]*%" reg "[0-9]+,%" reg "[0-9]+") { n++ }
      END { print n + 0 }' <<<"$dis")
    if [[ "$fmas" -gt 0 ]]; then
      echo "ok   $(basename "$obj"): $fn$isa: $fmas vfmadd*ps on $reg"
    else
      echo "FAIL $(basename "$obj"): $fn$isa: no vfmadd*ps on $reg"
      status=1
    fi
  done
  checked=$((checked + 1))
}

for obj in "$@"; do
  case "$obj" in
    *gemm_avx512*) check "$obj" 8 zmm 16 ;;
    *gemm_avx2*) check "$obj" 6 ymm 12 ;;
    *rowops_avx512*) check_rowops "$obj" Avx512 zmm ;;
    *rowops_avx2*) check_rowops "$obj" Avx2 ymm ;;
    *bertc_libmodel_v4*/linear.cpp.o) check "$obj" 8 zmm 16 ;;
    *bertc_libmodel_v3*/linear.cpp.o) check "$obj" 6 ymm 12 ;;
  esac
done
if ((checked != 6)); then
  echo "FAIL: expected the AVX2 and AVX-512 GEMM, row-kernel and model-library GEMM objects, checked $checked"
  status=1
fi
exit $status
