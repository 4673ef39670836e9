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
#include <cstring>
#include <random>
#include <stdexcept>
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

// ---- The bf16-weight GEMM (gemm_bf16.h) ----
//
// References, in double, for each element: the tier's own product (A x
// bf16(B) on the widening tiers, bf16(A) x bf16(B) on Avx512Bf16), to the
// fp32 GEMM's tolerance 2e-6 sqrt(K) S; and the exact A x B, to which the
// rounding of the weights adds at most u S with u = 2^-8 (bf16 keeps 8
// significant bits), and the rounding of A on Avx512Bf16 as much again:
// (2u + u^2) S. S = sum_k |a_ik b_kj| (+ |bias| + |r|), times 1.13 through
// GELU's slope. Measured on these uniform [-1, 1] operands: up to 0.95 u S
// (widening) and 1.14 u S (Avx512Bf16) at K = 2, and below 0.16 u S at
// K >= 300, where the independent rounding errors mostly cancel; against
// the tier's own product, below 0.07 of the fp32 tolerance.

namespace {

std::vector<Tier> tiersHere() {
  std::vector<Tier> tiers;
  for (Tier t : {Tier::Avx2, Tier::Avx512, Tier::Avx512Bf16}) {
    if (tierSupported(t)) {
      tiers.push_back(t);
    } else {
      const char* flag = t == Tier::Avx512Bf16 ? "avx512_bf16" : t == Tier::Avx512 ? "avx512f/bw/vl/dq/cd" : "avx2/fma";
      WARN("bf16 GEMM tier " << tierName(t) << " skipped: this CPU lacks " << flag);
    }
  }
  return tiers;
}

float roundedToBf16(float x) { return bf16ToFloat(floatToBf16(x)); }

/// One bf16 GEMM problem (Problem's operands) and its three references.
struct Bf16Problem {
  Problem p;
  std::vector<double> exact, widened, dotted, absAB;  // A x B, A x bf16(B), bf16(A) x bf16(B), sum |a b|

  Bf16Problem(int m, int n, int k, int ldaPad = 0) : p(m, n, k, ldaPad) {
    const std::size_t mn = static_cast<std::size_t>(m) * n;
    exact.assign(mn, 0.0);
    widened.assign(mn, 0.0);
    dotted.assign(mn, 0.0);
    absAB.assign(mn, 0.0);
    for (int i = 0; i < m; ++i)
      for (int kk = 0; kk < k; ++kk) {
        const float a = p.A[i * p.lda + kk];
        for (int j = 0; j < n; ++j) {
          const float b = p.B[static_cast<std::size_t>(kk) * n + j];
          exact[i * n + j] += double(a) * b;
          widened[i * n + j] += double(a) * roundedToBf16(b);
          dotted[i * n + j] += double(roundedToBf16(a)) * roundedToBf16(b);
          absAB[i * n + j] += std::fabs(double(a) * b);
        }
      }
  }

  double withEpilogue(Epilogue e, double x, int i, int j) const {
    if (e != Epilogue::None) x += p.bias[j];
    if (e == Epilogue::BiasResidual) x += p.R[i * p.N + j];
    if (e == Epilogue::BiasGelu) x = geluRef(x);
    if (e == Epilogue::BiasGeluTanh) x = geluTanhRef(x);
    if (e == Epilogue::BiasTanh) x = std::tanh(x);
    if (e == Epilogue::BiasRelu) x = std::max(x, 0.0);
    return x;
  }

  GemmBf16Args args(const PackedB16& packed, Epilogue e, float* C, std::ptrdiff_t ldc) const {
    GemmBf16Args g;
    g.A = p.A.data();
    g.lda = p.lda;
    g.B = packed.view();
    g.bias = p.bias.data();
    g.residual = p.R.data();
    g.ldr = p.N;
    g.C = C;
    g.ldc = ldc;
    g.M = p.M;
    g.epilogue = e;
    return g;
  }
};

/// Runs one bf16 GEMM (ldc = N + 3, sentinel padding and row) and checks it
/// against both references; returns C.
std::vector<float> checkBf16(const Bf16Problem& q, const PackedB16& packed, Tier tier, Epilogue e) {
  const Problem& p = q.p;
  const std::ptrdiff_t ldc = p.N + 3;
  std::vector<float> C(static_cast<std::size_t>(p.M + 1) * ldc, kSentinel);
  gemmBf16(q.args(packed, e, C.data(), ldc), tier);
  INFO("M=" << p.M << " N=" << p.N << " K=" << p.K << " nr=" << packed.nr << " tier=" << tierName(tier)
            << " epilogue=" << epilogueName(e));
  const double u = 1.0 / 256, rounding = tier == Tier::Avx512Bf16 ? 2 * u + u * u : u;
  int bad = 0, badExact = 0;
  double worst = 0, worstExact = 0;
  for (int i = 0; i <= p.M; ++i)
    for (int j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      if (i == p.M || j >= p.N) {
        if (got != kSentinel) ++bad;
        continue;
      }
      const double own = q.withEpilogue(e, (tier == Tier::Avx512Bf16 ? q.dotted : q.widened)[i * p.N + j], i, j);
      const double tol = p.tolerance(e, i, j), S = q.absAB[i * p.N + j];
      worst = std::max(worst, std::fabs(got - own) / tol);
      if (!(std::fabs(got - own) <= tol)) ++bad;
      const double errExact = std::fabs(got - q.withEpilogue(e, q.exact[i * p.N + j], i, j));
      worstExact = std::max(worstExact, errExact / (u * S + 1e-30));
      if (!(errExact <= 1.13 * rounding * S + tol)) ++badExact;
    }
  INFO("worst error / tolerance against the tier's own product = " << worst
       << "; worst error against A x B = " << worstExact << " u S");
  CHECK(bad == 0);
  CHECK(badExact == 0);
  return C;
}

}  // namespace

TEST_CASE("GEMM bf16: floatToBf16 rounds to nearest even and keeps NaN and infinity", "[gemm]") {
  auto bits = [](std::uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return floatToBf16(x);
  };
  CHECK(bits(0x3f800000) == 0x3f80);  // 1
  CHECK(bits(0x3f808000) == 0x3f80);  // 1 + 2^-8: a tie, to the even 1
  CHECK(bits(0x3f818000) == 0x3f82);  // 1 + 3 2^-8: a tie, to the even 1 + 2^-6
  CHECK(bits(0x3f808001) == 0x3f81);  // just above the tie
  CHECK(bits(0xbf80ffff) == 0xbf81);  // negative, just below 1 + 2^-7
  CHECK(bits(0x7f7fffff) == 0x7f80);  // FLT_MAX rounds to infinity
  CHECK(bits(0xff800000) == 0xff80);  // -inf
  CHECK(bits(0x00000001) == 0x0000);  // the smallest denormal rounds to +0
  CHECK(bits(0x80000000) == 0x8000);  // -0
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffffffffu, 0x7fffffffu}) {
    INFO("NaN " << std::hex << nan);
    const std::uint16_t h = bits(nan);
    CHECK((h & 0x7f80) == 0x7f80);
    CHECK((h & 0x7f) != 0);
    CHECK((h & 0x8000) == ((nan >> 16) & 0x8000));
  }
  // Against the bits of every 2^-16 step of [1, 2) and of random floats:
  // the nearest bf16, ties to even, and the round trip within u |x|.
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t u = i < 65536 ? 0x3f800000u + (static_cast<std::uint32_t>(i) << 7) : rng() & 0xbf7fffffu;
    float x;
    std::memcpy(&x, &u, sizeof x);
    const std::uint32_t low = u & 0xffff, down = u >> 16;
    const std::uint32_t want = low > 0x8000 || (low == 0x8000 && (down & 1)) ? down + 1 : down;
    INFO("x bits " << std::hex << u);
    REQUIRE(floatToBf16(x) == want);
  }
}

TEST_CASE("GEMM bf16: packB16's pair layout, padding and transposed weights", "[gemm]") {
  const int K = 7, N = 37;
  const std::vector<float> B = randomVector(static_cast<std::size_t>(K) * N, 5);
  std::vector<float> Bt(B.size());
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) Bt[static_cast<std::size_t>(n) * K + k] = B[k * N + n];
  for (int nr : {16, 32}) {
    const PackedB16 p = packB16(B.data(), K, N, nr), t = packB16(Bt.data(), K, N, nr, true);
    const int pairs = (K + 1) / 2, panels = (N + nr - 1) / nr;
    REQUIRE(p.count() == static_cast<std::size_t>(panels) * pairs * 2 * nr);
    CHECK(reinterpret_cast<std::uintptr_t>(p.data.get()) % 64 == 0);
    CHECK(std::equal(p.data.get(), p.data.get() + p.count(), t.data.get()));
    for (int j = 0; j < panels; ++j)
      for (int k = 0; k < 2 * pairs; ++k)
        for (int c = 0; c < nr; ++c) {
          const int col = j * nr + c;
          const std::uint16_t want = k < K && col < N ? floatToBf16(B[k * N + col]) : 0;
          INFO("nr " << nr << " k " << k << " column " << col);
          REQUIRE(p.data[(static_cast<std::size_t>(j) * pairs + k / 2) * 2 * nr + 2 * c + (k & 1)] == want);
        }
  }
  CHECK_THROWS_AS(packB16(B.data(), K, N, 24), std::invalid_argument);
}

TEST_CASE("GEMM bf16: the tiers this CPU has agree with CPUID as GCC reads it", "[gemm]") {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512cd");
  CHECK(tierSupported(Tier::Avx2) == (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
  CHECK(tierSupported(Tier::Avx512) == avx512);
  CHECK(tierSupported(Tier::Avx512Bf16) == (avx512 && __builtin_cpu_supports("avx512bf16")));
  INFO("best tier " << tierName(bestTier()));
  CHECK(tierSupported(bestTier()));
}

TEST_CASE("GEMM bf16: every tier, epilogue and panel width on edge shapes", "[gemm]") {
  // M 1..17 (partial tiles of 6 and 8 rows), K odd and even, K > KC in two
  // slices (800) and in two slices of which the first is rounded up to even
  // (1001: 502 + 499), N below, between and past the panel widths.
  const int shapes[][3] = {{1, 1, 1},   {2, 17, 2},   {3, 33, 7},    {5, 45, 37},  {6, 100, 64}, {7, 15, 33},
                           {8, 32, 16}, {9, 64, 100}, {13, 16, 301}, {17, 70, 800}, {4, 40, 1001}};
  const std::vector<Tier> tiers = tiersHere();
  for (const auto& s : shapes) {
    const Bf16Problem q(s[0], s[1], s[2]);
    for (int nr : {16, 32}) {
      const PackedB16 packed = packB16(q.p.B.data(), q.p.K, q.p.N, nr);
      for (Tier tier : tiers)
        for (Epilogue e : kEpilogues) checkBf16(q, packed, tier, e);
    }
  }
}

TEST_CASE("GEMM bf16: A with a leading dimension, M past MC, and each tier on both panel widths alike", "[gemm]") {
  const Bf16Problem q(400, 50, 300, /*ldaPad=*/5);  // two MC blocks
  const PackedB16 p16 = packB16(q.p.B.data(), q.p.K, q.p.N, 16), p32 = packB16(q.p.B.data(), q.p.K, q.p.N, 32);
  std::vector<float> widened;
  for (Tier tier : tiersHere()) {
    const std::vector<float> a = checkBf16(q, p16, tier, Epilogue::Bias), b = checkBf16(q, p32, tier, Epilogue::Bias);
    INFO("tier " << tierName(tier));
    // Each element is the same chain of fp32 operations whatever the layout.
    CHECK(a == b);
    // And the widening tiers run the same FMA chain per element.
    if (tier != Tier::Avx512Bf16) {
      if (widened.empty()) widened = a;
      CHECK(a == widened);
    }
  }
}

TEST_CASE("GEMM bf16: row ranges and column views compose to the whole, bit for bit", "[gemm]") {
  const Bf16Problem q(100, 100, 1000);
  for (Tier tier : tiersHere())
    for (int nr : {16, 32}) {
      INFO("tier " << tierName(tier) << " nr " << nr);
      const PackedB16 packed = packB16(q.p.B.data(), q.p.K, q.p.N, nr);
      std::vector<float> whole(static_cast<std::size_t>(q.p.M) * q.p.N), parts(whole.size());
      GemmBf16Args g = q.args(packed, Epilogue::BiasGeluTanh, whole.data(), q.p.N);
      gemmBf16(g, tier);
      g.C = parts.data();
      for (auto [m0, m1] : {std::pair{37, 100}, std::pair{0, 5}, std::pair{5, 37}, std::pair{9, 9}})
        gemmBf16Rows(g, m0, m1, tier);
      CHECK(whole == parts);
      // Columns [32, 100) through a view from panel 32 / nr, as the model
      // library splits along N.
      std::vector<float> right(whole.size(), -1.0f);
      GemmBf16Args r = q.args(packed, Epilogue::BiasGeluTanh, right.data() + 32, q.p.N);
      r.B = packed.view().columns(32, q.p.N - 32);
      r.bias += 32;
      r.residual += 32;
      std::vector<float> scratch(kGemmBf16ScratchFloats);
      r.scratch = scratch.data();
      gemmBf16(r, tier);
      for (int i = 0; i < q.p.M; ++i)
        for (int j = 0; j < q.p.N; ++j) REQUIRE(right[i * q.p.N + j] == (j < 32 ? -1.0f : whole[i * q.p.N + j]));
    }
}

TEST_CASE("GEMM bf16: in-place residual add across K slices (C is R)", "[gemm]") {
  const Bf16Problem q(33, 100, 1700);
  for (Tier tier : tiersHere()) {
    const PackedB16 packed = packB16(q.p.B.data(), q.p.K, q.p.N, 32);
    std::vector<float> C = q.p.R, separate(C.size());
    GemmBf16Args g = q.args(packed, Epilogue::BiasResidual, C.data(), q.p.N);
    g.residual = C.data();
    gemmBf16(g, tier);
    g = q.args(packed, Epilogue::BiasResidual, separate.data(), q.p.N);
    gemmBf16(g, tier);
    INFO("tier " << tierName(tier));
    CHECK(C == separate);
  }
}
