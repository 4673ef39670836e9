#!/usr/bin/env bash
# Checks that the model library's bitcode needs nothing from the host but
# malloc, calloc, free, memcpy, memmove, memset, getenv (BERTC_CPU_TIER, read
# by bertc_k_cpu_tier) and the runtime stub (bertc_rt_*): no libstdc++, no
# libm, no libgcc or compiler-rt (__builtin_cpu_supports' __cpu_model), no
# exception or RTTI support. Each
# file's undefined symbols are listed by llvm-nm, and again from the object
# llc makes of it, which shows what intrinsics lower to (llvm.memcpy to
# memcpy; llvm.exp would be expf).
#
#   check_undefined.sh LLVM_NM LLC BITCODE...
set -euo pipefail
nm=$1 llc=$2
shift 2
allowed='^(malloc|calloc|free|memcpy|memmove|memset|getenv|bertc_rt_[a-z_]+)$'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for bc in "$@"; do
  "$llc" -O3 -filetype=obj "$bc" -o "$tmp/lib.o"
  for file in "$bc" "$tmp/lib.o"; do
    undefined=$("$nm" -u "$file" | awk '{print $NF}' | sort -u)
    bad=$(grep -vE "$allowed" <<<"$undefined" || true)
    what=$(basename "$bc")
    [[ $file == "$bc" ]] || what="$what (as an object)"
    if [[ -n "$bad" ]]; then
      echo "FAIL $what needs:" $bad
      status=1
    else
      echo "ok   $what needs only:" $undefined
    fi
  done
done
exit $status
