// The bf16-weight GEMM: the weight is stored as bf16 (half the bytes of
// fp32), A, C, bias and residual stay fp32, products are summed in fp32, and
// the epilogues are the fp32 GEMM's (gemm.h):
//
//   C[M,N] = epilogue(A[M,K] x bf16(B)[K,N] + bias[N])
//
// packB16() rounds B to bf16 and lays it out once, at compile time, in
// panels of (k, k + 1) pairs: the layout vdpbf16ps reads (each 32-bit lane
// one column's pair) and that widens to fp32 with a shift and a mask. The
// same packed weight runs on every tier below, so the kernel is chosen at run
// time from what the CPU has (cpu_features.h), not when the weight is packed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu_features.h"
#include "gemm.h"

namespace bertc::cpu {

/// The bf16 GEMM's kernels, by the instructions they need. Avx2 and Avx512
/// widen each weight to fp32 in registers (exactly) and multiply as the fp32
/// GEMM does, A in fp32: the result is A x bf16(B) up to fp32 summation.
/// Avx512Bf16 also rounds A to bf16 (once per MC x KC block, into scratch)
/// and multiplies pairs with vdpbf16ps (AVX512_BF16): A and B both bf16, sums
/// in fp32. Later tiers (AMX) go after it; the order is "better". Measured
/// on one AMD EPYC (Zen 4) core, BERT-base's GEMMs at M = 128 and 1024
/// (bench/libmodel_gemm_bench.cpp): Avx2 and Avx512 at 82-97% of the fp32
/// GEMM's GFLOP/s (the widening costs vector ALU slots), Avx512Bf16 at
/// 1.85-2.0x it (vdpbf16ps: twice the multiply-adds per instruction).
enum class Tier { Avx2, Avx512, Avx512Bf16 };
constexpr int kTierCount = 3;

// The queries are inline, for the model library, which has no kernels
// library to link (and no __builtin_cpu_supports: cpu_features.h).

/// "avx2", "avx512", "avx512_bf16": the names BERTC_CPU_TIER takes.
inline const char* tierName(Tier tier) {
  switch (tier) {
    case Tier::Avx2: return "avx2";
    case Tier::Avx512: return "avx512";
    case Tier::Avx512Bf16: return "avx512_bf16";
  }
  return "?";
}

/// Whether this CPU (and OS) runs `tier`'s kernel.
inline bool tierSupported(Tier tier) {
  const CpuFeatures f = cpuFeatures();
  switch (tier) {
    case Tier::Avx2: return f.avx2Fma;
    case Tier::Avx512: return f.avx512;
    case Tier::Avx512Bf16: return f.avx512Bf16;
  }
  return false;
}

/// The best tier this CPU runs (Avx2 on an x86-64-v3 CPU, which every
/// caller needs anyway).
inline Tier bestTier() {
  return tierSupported(Tier::Avx512Bf16) ? Tier::Avx512Bf16 : tierSupported(Tier::Avx512) ? Tier::Avx512 : Tier::Avx2;
}

/// Rows and columns of each tier's register tile (MR x NR). A GEMM split
/// over threads along M (N) on multiples of these keeps whole tiles.
constexpr int microkernelRows(Tier tier) { return tier == Tier::Avx2 ? 6 : 8; }
constexpr int microkernelCols(Tier tier) { return tier == Tier::Avx2 ? 16 : 32; }

/// `x` rounded to bf16, to nearest with ties to even; NaN stays NaN (made
/// quiet, sign kept), +-inf stays inf, a finite value beyond bf16's largest
/// rounds to inf as IEEE rounding does.
inline std::uint16_t floatToBf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

/// The fp32 value of a bf16 (exact).
inline float bf16ToFloat(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

/// What the kernels read of a packed bf16 B: ceil(N / nr) panels of nr
/// columns, each ceil(K / 2) k-pairs deep, element (k, column j*nr + c) at
/// data[(j*pairs() + k/2)*2*nr + 2*c + (k&1)]; zero past K and past N. nr is
/// 16 or 32, and any tier reads either (its tile may span two panels, or half
/// of one). Not owning: a PackedB16 gives one (view()), and the model library
/// makes one over weights packed at compile time. data is 64-byte aligned.
struct PackedB16View {
  const std::uint16_t* data = nullptr;
  int K = 0, N = 0, nr = 0;

  int pairs() const { return (K + 1) / 2; }
  int panels() const { return (N + nr - 1) / nr; }
  const std::uint16_t* panel(int j) const { return data + static_cast<std::ptrdiff_t>(j) * pairs() * 2 * nr; }
  /// Columns [n0, n0 + width) as a view of their own; n0 a multiple of nr.
  PackedB16View columns(int n0, int width) const { return {panel(n0 / nr), K, width, nr}; }
};

/// B rounded to bf16 and packed (PackedB16View's layout), owning its memory.
struct PackedB16 {
  int K = 0, N = 0, nr = 0;
  std::unique_ptr<std::uint16_t[], AlignedFree> data;

  PackedB16View view() const { return {data.get(), K, N, nr}; }
  /// Elements of data: panels x pairs x 2 nr.
  std::size_t count() const { return static_cast<std::size_t>(view().panels()) * view().pairs() * 2 * nr; }
};

/// Packs B[K,N] (row-major, ldb = N; with `transposed`, given as its
/// transpose, N rows of K) into panels of nr columns, nr = panelWidth(isa) of
/// the library that will run it (16 or 32; anything else throws
/// std::invalid_argument). K, N >= 1.
PackedB16 packB16(const float* B, int K, int N, int nr, bool transposed = false);

/// Floats of scratch the Avx512Bf16 tier needs per concurrent caller: one A
/// block (MC x KC) as bf16 pairs.
constexpr std::size_t kGemmBf16ScratchFloats = 384 * 768 / 2;

/// One bf16 GEMM call: GemmArgs with B a packed bf16 view, and the scratch of
/// the Avx512Bf16 tier. Pointers are not owned; the rules of GemmArgs hold.
struct GemmBf16Args {
  const float* A = nullptr;
  std::ptrdiff_t lda = 0;
  PackedB16View B;
  const float* bias = nullptr;
  const float* residual = nullptr;
  std::ptrdiff_t ldr = 0;
  float* C = nullptr;
  std::ptrdiff_t ldc = 0;
  int M = 0;
  Epilogue epilogue = Epilogue::None;
  /// Avx512Bf16 only: kGemmBf16ScratchFloats floats, any alignment, used by
  /// this call alone (one per thread). Null: gemmBf16Rows allocates them.
  float* scratch = nullptr;
};

/// Computes rows [m0, m1) of C on `tier`'s kernel, which this CPU must run
/// (tierSupported; else an internal error aborts). Calls on disjoint row
/// ranges (with their own scratch) may run on different threads at once.
/// On a given tier each element of C is the same sum whatever the row range
/// or the columns of the view: a split over threads is bit for bit the whole.
void gemmBf16Rows(const GemmBf16Args& args, int m0, int m1, Tier tier);
/// All of C on `tier`.
void gemmBf16(const GemmBf16Args& args, Tier tier = bestTier());

namespace detail {
// The per-tier kernels behind gemmBf16Rows, each in its own translation unit
// built with its tier's -m flags. args.scratch is set for Avx512Bf16.
void gemmBf16RowsAvx2(const GemmBf16Args& args, int m0, int m1);
void gemmBf16RowsAvx512(const GemmBf16Args& args, int m0, int m1);
void gemmBf16RowsAvx512Bf16(const GemmBf16Args& args, int m0, int m1);
}  // namespace detail

}  // namespace bertc::cpu
