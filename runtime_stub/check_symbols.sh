#!/bin/sh
# Checks what libbertc_rt.a asks of the system and what it gives the host:
#   1. every undefined symbol is defined by libc, libpthread, libm or the
#      dynamic loader (glibc's own pieces): no libstdc++, libgcc_s or other
#      hidden dependency a host would have to find;
#   2. nothing from the C++ runtime is referenced at all (_Z*, __cxa_*,
#      __gxx_personality*, _Unwind_*), said separately for a clear message;
#   3. every global symbol it defines starts with bertc_rt_, so it cannot
#      clash with a host's own names.
# Usage: check_symbols.sh libbertc_rt.a [cc] [nm]
set -eu
lib=$1
cc=${2:-cc}
nm=${3:-nm}
[ -n "$nm" ] || nm=nm

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Undefined references of all members, less those another member defines
# (nm prints "member.o:" headers, skipped) and _GLOBAL_OFFSET_TABLE_, which
# the linker itself provides for position-independent code.
"$nm" -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/defined"
"$nm" -u "$lib" | awk 'NF && $NF !~ /:$/ && $NF != "_GLOBAL_OFFSET_TABLE_" { print $NF }' | sort -u |
  comm -23 - "$tmp/defined" >"$tmp/undefined"

# The system libraries a host links anyway with -lpthread (glibc 2.34+ keeps
# pthreads inside libc.so.6; older ones have libpthread.so.0).
: >"$tmp/provided"
for name in libc.so.6 libpthread.so.0 libm.so.6 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1; do
  path=$("$cc" -print-file-name="$name")
  [ -f "$path" ] || continue
  echo "system library: $path"
  "$nm" -D --defined-only "$path" | awk 'NF { sub(/@.*/, "", $NF); print $NF }' >>"$tmp/provided"
done
sort -u "$tmp/provided" -o "$tmp/provided"
[ -s "$tmp/provided" ] || { echo "FAIL: found no libc.so.6 through $cc -print-file-name"; exit 1; }

status=0
echo "undefined symbols of $lib:"
sed 's/^/  /' "$tmp/undefined"

cxx=$(grep -E '^(_Z|__cxa_|__gxx_personality|_Unwind_)' "$tmp/undefined" || true)
if [ -n "$cxx" ]; then
  echo "FAIL: C++ runtime symbols referenced:"; echo "$cxx" | sed 's/^/  /'; status=1
fi

foreign=$(comm -23 "$tmp/undefined" "$tmp/provided")
if [ -n "$foreign" ]; then
  echo "FAIL: symbols not defined by libc/libpthread/libm/ld.so:"; echo "$foreign" | sed 's/^/  /'; status=1
fi

exported=$(cat "$tmp/defined")
stray=$(echo "$exported" | grep -v '^bertc_rt_' || true)
if [ -n "$stray" ]; then
  echo "FAIL: global symbols without the bertc_rt_ prefix:"; echo "$stray" | sed 's/^/  /'; status=1
fi

[ "$status" -eq 0 ] && echo "OK: $(wc -l <"$tmp/undefined") undefined symbols, all from libc/libpthread/libm/ld.so; $(echo "$exported" | wc -l) exported, all bertc_rt_*"
exit "$status"
