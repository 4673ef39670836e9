// fp32 GEMM over a weight matrix prepacked once, with the epilogue fused into
// the store of each register tile:
//
//   C[M,N] = epilogue(A[M,K] x B[K,N] + bias[N])
//
// A is row-major with leading dimension lda; B is a constant weight packed by
// packB() into the microkernel's panel layout, so the compiler can do it once
// at compile time (DESIGN.md "Codegen", STYLE.md §7). One kernel per ISA
// (gemm_avx2.cpp, gemm_avx512.cpp, each built with its own -m flags); the
// PackedB says which one it was packed for. No threads inside: a caller splits
// M with gemmRows() over disjoint row ranges.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace bertc::cpu {

/// The instruction sets with a kernel. Avx2 means x86-64-v3 (AVX2 + FMA),
/// the baseline; Avx512 needs AVX-512F.
enum class Isa { Avx2, Avx512 };

/// What happens to each tile of A x B before it is stored.
enum class Epilogue {
  None,          ///< C = A x B
  Bias,          ///< C = A x B + bias
  BiasGelu,      ///< C = gelu(A x B + bias), gelu(x) = x/2 (1 + erf(x/sqrt 2))
  BiasGeluTanh,  ///< C = gelu_tanh(A x B + bias), x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  BiasResidual,  ///< C = A x B + bias + R
  BiasTanh,      ///< C = tanh(A x B + bias)
  BiasRelu,      ///< C = max(A x B + bias, 0)
};

const char* isaName(Isa isa);
/// Whether this CPU runs `isa`'s kernel.
bool isaSupported(Isa isa);
/// The widest ISA this CPU supports (Avx512 where it can, else Avx2).
Isa bestIsa();
/// Columns per packed panel (the microkernel's NR): 32 for Avx512, 16 for Avx2.
int panelWidth(Isa isa);
/// Rows of C per register tile of `isa`'s microkernel (its MR): 8 for Avx512,
/// 6 for Avx2. Row ranges that start on a multiple of it split work along tiles.
constexpr int microkernelRows(Isa isa) { return isa == Isa::Avx512 ? 8 : 6; }

/// What the microkernel reads of a packed B: ceil(N / nr) panels of nr
/// columns, panel j holding B[k][j*nr + c] at data[(j*K + k)*nr + c] (columns
/// past N zero). Not owning: a PackedB gives one (view()), and the model
/// library (codegen_cpu/libmodel) makes one over weights packed at compile
/// time, or over a range of a PackedB's panels to split a GEMM along N.
struct PackedBView {
  const float* data = nullptr;
  int K = 0, N = 0, nr = 0;

  int panels() const { return (N + nr - 1) / nr; }
  const float* panel(int j) const { return data + static_cast<std::ptrdiff_t>(j) * K * nr; }
};

/// Frees what std::aligned_alloc gave a packed weight.
struct AlignedFree {
  template <class T>
  void operator()(T* p) const {
    std::free(p);
  }
};

/// B re-laid out for one ISA's microkernel, owning its memory: the layout of
/// PackedBView, so a panel is read K-major, one nr-wide row per k.
/// 64-byte aligned.
struct PackedB {
  Isa isa = Isa::Avx2;
  int K = 0, N = 0, nr = 0;
  std::unique_ptr<float[], AlignedFree> data;

  PackedBView view() const { return {data.get(), K, N, nr}; }
  int panels() const { return view().panels(); }
  const float* panel(int j) const { return view().panel(j); }
};

/// Packs B[K,N] (row-major, ldb = N) for `isa`'s microkernel. With
/// `transposed`, B is given as its transpose, N rows of K (ONNX Gemm transB).
/// K, N >= 1. Packing does not need the ISA on this CPU.
PackedB packB(const float* B, int K, int N, Isa isa = bestIsa(), bool transposed = false);

/// One GEMM call. Pointers are not owned. bias (N floats) is required by every
/// epilogue but None; residual (M rows of N, leading dimension ldr) only by
/// BiasResidual, and may be C itself when ldr == ldc (an in-place residual
/// add). C must not overlap A or B.
struct GemmArgs {
  const float* A = nullptr;
  std::ptrdiff_t lda = 0;
  const PackedB* B = nullptr;
  const float* bias = nullptr;
  const float* residual = nullptr;
  std::ptrdiff_t ldr = 0;
  float* C = nullptr;
  std::ptrdiff_t ldc = 0;
  int M = 0;
  Epilogue epilogue = Epilogue::None;
};

/// Computes rows [0, M) of C, on the kernel for B->isa (which this CPU must
/// support: see isaSupported).
void gemm(const GemmArgs& args);

/// Computes rows [m0, m1) of C only. Calls on disjoint row ranges touch
/// disjoint rows of C (and of the residual), so they may run on different
/// threads at once.
void gemmRows(const GemmArgs& args, int m0, int m1);

namespace detail {
// The per-ISA kernels behind gemmRows, each in its own translation unit.
void gemmRowsAvx2(const GemmArgs& args, int m0, int m1);
void gemmRowsAvx512(const GemmArgs& args, int m0, int m1);
}  // namespace detail

}  // namespace bertc::cpu

// The bf16-weight GEMM (packB16, gemmBf16Rows) over the same epilogues.
#include "gemm_bf16.h"
