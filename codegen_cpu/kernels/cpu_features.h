// What this CPU and its operating system support, from CPUID and XGETBV.
//
// Written for the model library (codegen_cpu/libmodel), which must not need
// libgcc or compiler-rt: __builtin_cpu_supports reads __cpu_model from
// there. <cpuid.h>'s functions are inline assembly, and so is XGETBV here, so
// this header adds no symbol to link. An instruction set counts only when
// the OS saves its registers on a context switch (XCR0), as the Intel SDM
// asks ("Detection of Intel AVX-512 Foundation Instructions"): a CPU with
// AVX-512 under a kernel that leaves ZMM state off would fault.
#pragma once

#include <cpuid.h>

namespace bertc::cpu {

struct CpuFeatures {
  bool avx2Fma = false;     ///< AVX2 and FMA, YMM state on (x86-64-v3's vector part)
  bool avx512 = false;      ///< AVX-512 F, BW, VL, DQ and CD, ZMM and opmask state on (x86-64-v4's)
  bool avx512Bf16 = false;  ///< avx512 and AVX512_BF16 (vcvtne2ps2bf16, vdpbf16ps)
};

namespace detail {

inline unsigned long long xgetbv0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

inline CpuFeatures queryCpuFeatures() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;     // SSE, AVX
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;   // and opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  unsigned maxSub = 0, b7 = 0, c7 = 0, d7 = 0;
  __cpuid_count(7, 0, maxSub, b7, c7, d7);
  const bool avx2 = b7 & (1u << 5);
  const unsigned avx512Bits = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F DQ CD BW VL
  f.avx2Fma = ymmState && avx2 && fma;
  f.avx512 = f.avx2Fma && zmmState && (b7 & avx512Bits) == avx512Bits;
  if (f.avx512 && maxSub >= 1) {
    unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
    __cpuid_count(7, 1, a71, b71, c71, d71);
    f.avx512Bf16 = a71 & (1u << 5);
  }
  return f;
}

}  // namespace detail

/// This CPU's features, queried once (CPUID can cost microseconds in a
/// virtual machine, where it traps) and then read from a cache. The cache is
/// a constant-initialised int read and written with relaxed atomics, so no
/// guard variable (no __cxa_guard_acquire) and no data race: threads that
/// race on the first call compute the same value.
inline CpuFeatures cpuFeatures() {
  static int cached = 0;  // bit 0: valid; bits 1-3: the three features
  int bits = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (!bits) {
    const CpuFeatures f = detail::queryCpuFeatures();
    bits = 1 | f.avx2Fma << 1 | f.avx512 << 2 | f.avx512Bf16 << 3;
    __atomic_store_n(&cached, bits, __ATOMIC_RELAXED);
  }
  CpuFeatures f;
  f.avx2Fma = bits & 2;
  f.avx512 = bits & 4;
  f.avx512Bf16 = bits & 8;
  return f;
}

}  // namespace bertc::cpu
