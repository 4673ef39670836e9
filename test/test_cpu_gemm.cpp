// Tests of the CPU GEMM kernels (codegen_cpu/kernels/gemm.h) against a naive
// double-precision reference, on every epilogue and on each ISA this CPU has
// (the AVX2 kernel is forced by packing for it).
//
// Tolerance. The kernel accumulates each element as one fp32 FMA chain over
// K (split into KC slices), so its rounding error is at most about K eps S and
// in practice about sqrt(K) eps S, where S = sum_k |a_ik b_kj| + |bias_j| +
// |r_ij| bounds every partial sum. We allow 2e-6 sqrt(K) S (2e-6 is ~17 eps):
// it covers the accumulation, GELU's slope (<= 1.13) and the activations'
// own approximation error (below 3e-7 |x|, checked separately below).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gemm.h"
#include "gemm_parallel.h"

using namespace bertc::cpu;

namespace {

std::vector<Isa> isasHere() {
  std::vector<Isa> isas;
  if (isaSupported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isaSupported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  return isas;
}

std::vector<float> randomVector(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double geluRef(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double geluTanhRef(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

const Epilogue kEpilogues[] = {Epilogue::None, Epilogue::Bias, Epilogue::BiasGelu,
                               Epilogue::BiasGeluTanh, Epilogue::BiasResidual, Epilogue::BiasTanh,
                               Epilogue::BiasRelu};

const char* epilogueName(Epilogue e) {
  switch (e) {
    case Epilogue::None: return "none";
    case Epilogue::Bias: return "bias";
    case Epilogue::BiasGelu: return "bias+gelu";
    case Epilogue::BiasGeluTanh: return "bias+gelu_tanh";
    case Epilogue::BiasResidual: return "bias+residual";
    case Epilogue::BiasTanh: return "bias+tanh";
    case Epilogue::BiasRelu: return "bias+relu";
  }
  return "?";
}

/// One problem: A (M x K, leading dimension lda >= K), B (K x N), bias, R,
/// and the reference product in double with its magnitude sum S.
struct Problem {
  int M, N, K;
  std::ptrdiff_t lda;
  std::vector<float> A, B, bias, R;
  std::vector<double> AB, absAB;  // M x N

  Problem(int m, int n, int k, int ldaPad = 0) : M(m), N(n), K(k), lda(k + ldaPad) {
    const std::uint32_t seed = 1000003u * m + 1009u * n + k;
    A = randomVector(static_cast<std::size_t>(M) * lda, seed);
    B = randomVector(static_cast<std::size_t>(K) * N, seed + 1);
    bias = randomVector(N, seed + 2);
    R = randomVector(static_cast<std::size_t>(M) * N, seed + 3);
    AB.assign(static_cast<std::size_t>(M) * N, 0.0);
    absAB.assign(AB.size(), 0.0);
    for (int i = 0; i < M; ++i)
      for (int k2 = 0; k2 < K; ++k2) {
        const double a = A[i * lda + k2];
        for (int j = 0; j < N; ++j) {
          const double p = a * B[static_cast<std::size_t>(k2) * N + j];
          AB[i * N + j] += p;
          absAB[i * N + j] += std::fabs(p);
        }
      }
  }

  double reference(Epilogue e, int i, int j) const {
    double x = AB[i * N + j];
    if (e != Epilogue::None) x += bias[j];
    if (e == Epilogue::BiasResidual) x += R[i * N + j];
    if (e == Epilogue::BiasGelu) x = geluRef(x);
    if (e == Epilogue::BiasGeluTanh) x = geluTanhRef(x);
    if (e == Epilogue::BiasTanh) x = std::tanh(x);
    if (e == Epilogue::BiasRelu) x = std::max(x, 0.0);
    return x;
  }
  /// The GEMM of this problem into C (leading dimension ldc) with epilogue e;
  /// the residual is R (callers may point it elsewhere).
  GemmArgs args(const PackedB& packed, Epilogue e, float* C, std::ptrdiff_t ldc) const {
    GemmArgs g;
    g.A = A.data();
    g.lda = lda;
    g.B = &packed;
    g.bias = bias.data();
    g.residual = R.data();
    g.ldr = N;
    g.C = C;
    g.ldc = ldc;
    g.M = M;
    g.epilogue = e;
    return g;
  }
  double tolerance(Epilogue e, int i, int j) const {
    double s = absAB[i * N + j];
    if (e != Epilogue::None) s += std::fabs(bias[j]);
    if (e == Epilogue::BiasResidual) s += std::fabs(R[i * N + j]);
    return 2e-6 * std::sqrt(double(K)) * s + 1e-30;
  }
};

constexpr float kSentinel = 12345.0f;

/// Runs one GEMM into C with ldc = N + 3 and sentinel-filled padding (and a
/// sentinel row after the last), then checks every element and that no
/// padding was written.
void check(const Problem& p, const PackedB& packed, Epilogue e) {
  const std::ptrdiff_t ldc = p.N + 3;
  std::vector<float> C(static_cast<std::size_t>(p.M + 1) * ldc, kSentinel);
  gemm(p.args(packed, e, C.data(), ldc));
  INFO("M=" << p.M << " N=" << p.N << " K=" << p.K << " isa=" << isaName(packed.isa)
            << " epilogue=" << epilogueName(e));
  int bad = 0;
  double worst = 0;
  for (int i = 0; i <= p.M; ++i)
    for (int j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      if (i == p.M || j >= p.N) {
        if (got != kSentinel) ++bad;
        continue;
      }
      const double err = std::fabs(got - p.reference(e, i, j));
      worst = std::max(worst, err / p.tolerance(e, i, j));
      if (!(err <= p.tolerance(e, i, j))) ++bad;
    }
  INFO("worst error / tolerance = " << worst);
  CHECK(bad == 0);
}

void checkAllEpilogues(const Problem& p) {
  for (Isa isa : isasHere()) {
    const PackedB packed = packB(p.B.data(), p.K, p.N, isa);
    for (Epilogue e : kEpilogues) check(p, packed, e);
  }
}

}  // namespace

TEST_CASE("GEMM: small odd shapes, every epilogue and ISA", "[gemm]") {
  REQUIRE(!isasHere().empty());
  for (int m : {1, 7, 17, 33})
    for (int n : {1, 7, 17, 33})
      for (int k : {1, 7, 17, 33}) checkAllEpilogues(Problem(m, n, k));
}

TEST_CASE("GEMM: BERT-sized and K-sliced shapes", "[gemm]") {
  // K > 768 takes several K slices (the split epilogue); N = 768 and 100 are
  // whole and partial panels for both NR; M = 800 > MC takes three M blocks.
  const int shapes[][3] = {{100, 768, 768}, {7, 768, 3072}, {33, 100, 3072}, {17, 3072, 33},
                           {100, 33, 300},  {800, 17, 300}, {1, 2304, 768},  {17, 33, 1000}};
  for (const auto& s : shapes) checkAllEpilogues(Problem(s[0], s[1], s[2]));
}

TEST_CASE("GEMM: A with a leading dimension beyond K", "[gemm]") {
  checkAllEpilogues(Problem(17, 33, 100, /*ldaPad=*/5));
}

TEST_CASE("GEMM: packing a transposed weight (ONNX Gemm transB)", "[gemm]") {
  const Problem p(17, 33, 300);
  std::vector<float> Bt(p.B.size());
  for (int k = 0; k < p.K; ++k)
    for (int n = 0; n < p.N; ++n) Bt[static_cast<std::size_t>(n) * p.K + k] = p.B[k * p.N + n];
  for (Isa isa : isasHere()) {
    const PackedB a = packB(p.B.data(), p.K, p.N, isa), b = packB(Bt.data(), p.K, p.N, isa, true);
    const std::size_t count = static_cast<std::size_t>(a.panels()) * a.K * a.nr;
    CHECK(std::equal(a.data.get(), a.data.get() + count, b.data.get()));
    check(p, b, Epilogue::BiasGelu);
  }
}

TEST_CASE("GEMM: row ranges compose to the whole, bit for bit", "[gemm]") {
  const Problem p(100, 100, 1000);
  for (Isa isa : isasHere()) {
    const PackedB packed = packB(p.B.data(), p.K, p.N, isa);
    std::vector<float> whole(static_cast<std::size_t>(p.M) * p.N), parts(whole.size());
    GemmArgs g = p.args(packed, Epilogue::BiasGeluTanh, whole.data(), p.N);
    gemm(g);
    g.C = parts.data();
    for (auto [m0, m1] : {std::pair{37, 100}, std::pair{0, 5}, std::pair{5, 37}, std::pair{9, 9}})
      gemmRows(g, m0, m1);
    CHECK(whole == parts);
  }
}

TEST_CASE("GEMM: gemmParallel over a pool is gemm, bit for bit", "[gemm]") {
  bertc_rt_pool* pools[] = {nullptr, bertc_rt_pool_create(1), bertc_rt_pool_create(2), bertc_rt_pool_create(3)};
  for (int M : {1, 7, 37, 130}) {
    const Problem p(M, 70, 300);
    for (Isa isa : isasHere()) {
      const PackedB packed = packB(p.B.data(), p.K, p.N, isa);
      std::vector<float> whole(static_cast<std::size_t>(p.M) * p.N);
      GemmArgs g = p.args(packed, Epilogue::BiasGelu, whole.data(), p.N);
      gemm(g);
      for (int i = 0; i < 4; ++i) {
        std::vector<float> split(whole.size(), -1.0f);
        g.C = split.data();
        INFO("M " << M << " " << isaName(isa) << " pool " << i);
        REQUIRE(gemmParallel(g, pools[i]) == BERTC_OK);
        CHECK(whole == split);
      }
    }
  }
  for (bertc_rt_pool* pool : pools) bertc_rt_pool_destroy(pool);
}

TEST_CASE("GEMM: in-place residual add (C is R)", "[gemm]") {
  const Problem p(33, 100, 1700);  // three K slices: C holds partial sums between them
  for (Isa isa : isasHere()) {
    const PackedB packed = packB(p.B.data(), p.K, p.N, isa);
    std::vector<float> C = p.R;
    GemmArgs g = p.args(packed, Epilogue::BiasResidual, C.data(), p.N);
    g.residual = C.data();  // in place: C is R
    gemm(g);
    int bad = 0;
    for (int i = 0; i < p.M; ++i)
      for (int j = 0; j < p.N; ++j)
        if (!(std::fabs(C[i * p.N + j] - p.reference(g.epilogue, i, j)) <=
              p.tolerance(g.epilogue, i, j)))
          ++bad;
    INFO("isa=" << isaName(isa));
    CHECK(bad == 0);
  }
}

TEST_CASE("GEMM: GELU and tanh epilogues match erf GELU, tanh GELU and tanh on [-10, 10]", "[gemm]") {
  // A K = 1 GEMM with B = [1] is the activation alone: C = act(x + 0).
  // Measured: max |error| below 3e-7 max(1, |x|) for each (the erf GELU's
  // error near x = -5 is absolute, from 1 + erf(x) cancelling, as in every
  // float implementation of the formula).
  const int M = 20001;
  std::vector<float> x(M);
  for (int i = 0; i < M; ++i) x[i] = -10.0f + 20.0f * i / (M - 1);
  const float one = 1.0f, zero = 0.0f;
  for (Isa isa : isasHere()) {
    const PackedB packed = packB(&one, 1, 1, isa);
    for (Epilogue e : {Epilogue::BiasGelu, Epilogue::BiasGeluTanh, Epilogue::BiasTanh}) {
      std::vector<float> C(M);
      GemmArgs g;
      g.A = x.data();
      g.lda = 1;
      g.B = &packed;
      g.bias = &zero;
      g.C = C.data();
      g.ldc = 1;
      g.M = M;
      g.epilogue = e;
      gemm(g);
      double worst = 0;
      for (int i = 0; i < M; ++i) {
        const double ref = e == Epilogue::BiasGelu ? geluRef(x[i])
                           : e == Epilogue::BiasTanh ? std::tanh(double(x[i]))
                                                     : geluTanhRef(x[i]);
        worst = std::max(worst, std::fabs(C[i] - ref) / std::max(1.0, std::fabs(double(x[i]))));
      }
      INFO("isa=" << isaName(isa) << " epilogue=" << epilogueName(e) << " max |err|/max(1,|x|) = " << worst);
      CHECK(worst < 3e-7);
    }
  }
}
