// Tests of the model library's float kernels (libmodel/linear.cpp,
// rowops.cpp) against double-precision references, and of their threading:
// a run on a pool of 2 is bit for bit the run on the calling thread.
//
// Tolerances are those of test_cpu_gemm.cpp and test_cpu_kernels.cpp, whose
// kernels these reuse: 2e-6 sqrt(K) S per GEMM element (S the sum of the
// magnitudes added), 2e-6 of the largest value for the row kernels.
#include <cstdlib>
#include <string>

#include "attention.h"
#include "libmodel_test.h"

using namespace libmodel_test;
using bertc::cpu::packB;

namespace {

double act(int epilogue, double x) {
  switch (epilogue) {
    case BERTC_K_EPI_BIAS_GELU: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case BERTC_K_EPI_BIAS_GELU_TANH:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case BERTC_K_EPI_BIAS_TANH: return std::tanh(x);
    case BERTC_K_EPI_BIAS_RELU: return std::max(x, 0.0);
    default: return x;
  }
}

/// One linear problem: A [M, K] with lda = K + 3, B [K, N], C with ldc = N + 2.
struct Linear {
  int M, K, N;
  int64_t lda, ldc;
  std::vector<float> A, B, bias, R;

  Linear(int m, int k, int n)
      : M(m), K(k), N(n), lda(k + 3), ldc(n + 2), A(randomFloats(m * lda, 1)), B(randomFloats(k * n, 2)),
        bias(randomFloats(n, 3)), R(randomFloats(m * ldc, 4)) {}

  std::vector<float> run(const bertc_k_exec* exec, int epilogue, bool residualInC = false) const {
    const auto packed = packB(B.data(), K, N, kIsa);
    std::vector<float> C(M * ldc, 7.0f);
    if (residualInC)
      for (int i = 0; i < M; ++i) std::copy_n(R.begin() + i * ldc, N, C.begin() + i * ldc);
    const int status = bertc_k_linear(exec, A.data(), lda, M, packed.data.get(), K, N, bias.data(),
                                      residualInC ? C.data() : R.data(), ldc, C.data(), ldc, epilogue);
    REQUIRE(status == BERTC_OK);
    return C;
  }

  void check(const std::vector<float>& C, int epilogue) const {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double x = 0, s = 0;
        for (int k = 0; k < K; ++k) {
          x += double(A[i * lda + k]) * B[k * N + j];
          s += std::fabs(double(A[i * lda + k]) * B[k * N + j]);
        }
        if (epilogue != BERTC_K_EPI_NONE) x += bias[j], s += std::fabs(bias[j]);
        if (epilogue == BERTC_K_EPI_BIAS_RESIDUAL) x += R[i * ldc + j], s += std::fabs(R[i * ldc + j]);
        INFO("M=" << M << " K=" << K << " N=" << N << " epilogue " << epilogue << " at " << i << "," << j);
        REQUIRE(std::fabs(C[i * ldc + j] - act(epilogue, x)) <= 2e-6 * std::sqrt(double(K)) * s + 1e-30);
      }
    // The columns between N and ldc are not C's.
    for (int i = 0; i < M; ++i)
      for (int j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == 7.0f);
  }
};

}  // namespace

TEST_CASE("libmodel: linear, every epilogue on odd shapes, inline and on 2 threads", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Pool pool(2);
  Exec inline_, threaded(pool.p);
  // K = 800 is cut into two K slices; M = 1 and 3 split along N on 2 threads.
  const struct {
    int M, K, N;
  } shapes[] = {{1, 1, 1}, {3, 5, 200}, {7, 37, 17}, {13, 64, 33}, {50, 800, 45}, {1, 16, 100}};
  for (const auto& s : shapes)
    for (int epilogue = BERTC_K_EPI_NONE; epilogue <= BERTC_K_EPI_BIAS_RELU; ++epilogue) {
      const Linear p(s.M, s.K, s.N);
      const std::vector<float> C = p.run(&inline_.e, epilogue);
      p.check(C, epilogue);
      CHECK(p.run(&threaded.e, epilogue) == C);
    }
  SECTION("in-place residual: C is R") {
    const Linear p(19, 40, 70);
    for (Exec* e : {&inline_, &threaded})
      p.check(p.run(&e->e, BERTC_K_EPI_BIAS_RESIDUAL, true), BERTC_K_EPI_BIAS_RESIDUAL);
  }
  SECTION("no tokens is no work") {
    CHECK(bertc_k_linear(&inline_.e, nullptr, 8, 0, nullptr, 8, 8, nullptr, nullptr, 0, nullptr, 8,
                         BERTC_K_EPI_NONE) == BERTC_OK);
  }
  SECTION("a bad epilogue is an error with a message") {
    CHECK(bertc_k_linear(&inline_.e, nullptr, 8, 1, nullptr, 8, 8, nullptr, nullptr, 0, nullptr, 8, 42) ==
          BERTC_ERR_INVALID);
    CHECK(std::string(inline_.err.message) == "linear: unknown epilogue 42");
  }
}

// ---- bertc_k_linear_bf16 and its tiers ----
//
// Each tier against the double product of its own operands (A x bf16(W) on
// avx2 and avx512, bf16(A) x bf16(W) on avx512_bf16) to the fp32 tolerance
// above; test_cpu_gemm.cpp checks the kernels against the exact A x W too.
// BERTC_CPU_TIER caps the tier, so one CPU tests every tier it has and the
// dispatch: the dot tier's results differ from the widening tiers'.

namespace {

using bertc::cpu::Tier;

/// Sets BERTC_CPU_TIER (null: unsets it) for a scope, then restores it.
class TierCap {
 public:
  explicit TierCap(const char* value) {
    const char* old = std::getenv("BERTC_CPU_TIER");
    had_ = old != nullptr;
    if (had_) old_ = old;
    set(value);
  }
  ~TierCap() { set(had_ ? old_.c_str() : nullptr); }
  TierCap(const TierCap&) = delete;
  TierCap& operator=(const TierCap&) = delete;

 private:
  static void set(const char* value) {
    if (value) setenv("BERTC_CPU_TIER", value, 1);
    else unsetenv("BERTC_CPU_TIER");
  }
  bool had_;
  std::string old_;
};

float bf16(float x) { return bertc::cpu::bf16ToFloat(bertc::cpu::floatToBf16(x)); }

/// Linear's problem with the weight packed as bf16 for this library.
struct LinearBf16 : Linear {
  bertc::cpu::PackedB16 packed;

  LinearBf16(int m, int k, int n)
      : Linear(m, k, n), packed(bertc::cpu::packB16(B.data(), k, n, bertc::cpu::panelWidth(kIsa))) {}

  std::vector<float> run(const bertc_k_exec* exec, int epilogue, bool residualInC = false) const {
    std::vector<float> C(M * ldc, 7.0f);
    if (residualInC)
      for (int i = 0; i < M; ++i) std::copy_n(R.begin() + i * ldc, N, C.begin() + i * ldc);
    const int status = bertc_k_linear_bf16(exec, A.data(), lda, M, packed.data.get(), K, N, bias.data(),
                                           residualInC ? C.data() : R.data(), ldc, C.data(), ldc, epilogue);
    INFO((status == BERTC_OK ? "" : exec->err->message));
    REQUIRE(status == BERTC_OK);
    return C;
  }

  void check(const std::vector<float>& C, int epilogue, int tier) const {
    const bool dot = tier == BERTC_K_TIER_AVX512_BF16;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double x = 0, s = 0;
        for (int k = 0; k < K; ++k) {
          const double p = double(dot ? bf16(A[i * lda + k]) : A[i * lda + k]) * bf16(B[k * N + j]);
          x += p;
          s += std::fabs(p);
        }
        if (epilogue != BERTC_K_EPI_NONE) x += bias[j], s += std::fabs(bias[j]);
        if (epilogue == BERTC_K_EPI_BIAS_RESIDUAL) x += R[i * ldc + j], s += std::fabs(R[i * ldc + j]);
        INFO("M=" << M << " K=" << K << " N=" << N << " epilogue " << epilogue << " tier "
                  << bertc_k_cpu_tier_name(tier) << " at " << i << "," << j);
        REQUIRE(std::fabs(C[i * ldc + j] - act(epilogue, x)) <= 2e-6 * std::sqrt(double(K)) * s + 1e-30);
      }
    for (int i = 0; i < M; ++i)
      for (int j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == 7.0f);
  }
};

/// The tiers this CPU runs, each with BERTC_CPU_TIER capping at it; a WARN
/// names the flag behind each tier it lacks.
std::vector<int> tiersHere() {
  std::vector<int> tiers;
  for (Tier t : {Tier::Avx2, Tier::Avx512, Tier::Avx512Bf16}) {
    if (bertc::cpu::tierSupported(t))
      tiers.push_back(static_cast<int>(t));
    else
      WARN("bf16 tier " << bertc::cpu::tierName(t) << " skipped: this CPU lacks "
                        << (t == Tier::Avx512Bf16 ? "avx512_bf16" : "avx512f/bw/vl/dq/cd"));
  }
  return tiers;
}

}  // namespace

TEST_CASE("libmodel: linear_bf16 on each tier, every epilogue on odd shapes, inline and on 2 threads", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Pool pool(2);
  Exec inline_(nullptr, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS), threaded(pool.p, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS);
  // K odd, K = 800 in two K slices, 1001 in an even and an odd one; N off
  // the panel widths; M = 1 and 3 split along N on 2 threads.
  const struct {
    int M, K, N;
  } shapes[] = {{1, 1, 1}, {3, 5, 200}, {7, 37, 17}, {13, 64, 33}, {50, 800, 45}, {1, 16, 100}, {17, 1001, 70}};
  for (int tier : tiersHere()) {
    TierCap cap(bertc_k_cpu_tier_name(tier));
    REQUIRE(bertc_k_cpu_tier() == tier);
    for (const auto& s : shapes)
      for (int epilogue = BERTC_K_EPI_NONE; epilogue <= BERTC_K_EPI_BIAS_RELU; ++epilogue) {
        const LinearBf16 p(s.M, s.K, s.N);
        const std::vector<float> C = p.run(&inline_.e, epilogue);
        p.check(C, epilogue, tier);
        CHECK(p.run(&threaded.e, epilogue) == C);
      }
    // Every M up to 17: partial register tiles of 6 and 8 rows.
    for (int M = 1; M <= 17; ++M) {
      const LinearBf16 p(M, 37, 45);
      p.check(p.run(&threaded.e, BERTC_K_EPI_BIAS_GELU), BERTC_K_EPI_BIAS_GELU, tier);
    }
    const LinearBf16 p(19, 800, 70);
    for (Exec* e : {&inline_, &threaded})
      p.check(p.run(&e->e, BERTC_K_EPI_BIAS_RESIDUAL, true), BERTC_K_EPI_BIAS_RESIDUAL, tier);
  }
}

TEST_CASE("libmodel: BERTC_CPU_TIER caps the tier linear_bf16 runs, and a bad one is an error", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Exec exec(nullptr, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS);
  const int best = static_cast<int>(bertc::cpu::bestTier());
  {
    TierCap none(nullptr);
    CHECK(bertc_k_cpu_tier() == best);
    WARN("bf16 tier here: " << bertc_k_cpu_tier_name(bertc_k_cpu_tier()));
  }
  CHECK(std::string(bertc_k_cpu_tier_name(BERTC_K_TIER_AVX2)) == "avx2");
  CHECK(std::string(bertc_k_cpu_tier_name(BERTC_K_TIER_AVX512)) == "avx512");
  CHECK(std::string(bertc_k_cpu_tier_name(BERTC_K_TIER_AVX512_BF16)) == "avx512_bf16");
  CHECK(std::string(bertc_k_cpu_tier_name(-1)) == "unknown");
  {
    TierCap empty("");
    CHECK(bertc_k_cpu_tier() == best);
  }
  {
    TierCap top("avx512_bf16");  // a cap above the CPU's best is no cap
    CHECK(bertc_k_cpu_tier() == best);
  }
  // The cap changes the kernel, not only the number reported: the dot tier
  // rounds A to bf16, the widening tiers do not.
  const LinearBf16 p(9, 64, 40);
  std::vector<std::vector<float>> results;
  for (int tier = BERTC_K_TIER_AVX2; tier <= best; ++tier) {
    TierCap cap(bertc_k_cpu_tier_name(tier));
    REQUIRE(bertc_k_cpu_tier() == tier);
    results.push_back(p.run(&exec.e, BERTC_K_EPI_BIAS));
    p.check(results.back(), BERTC_K_EPI_BIAS, tier);
  }
  if (best == BERTC_K_TIER_AVX512_BF16) CHECK(results.back() != results.front());
  {
    TierCap bad("sse2");
    CHECK(bertc_k_cpu_tier() == -1);
    CHECK(bertc_k_linear_bf16(&exec.e, p.A.data(), p.lda, p.M, p.packed.data.get(), p.K, p.N, p.bias.data(),
                              nullptr, 0, std::vector<float>(p.M * p.ldc).data(), p.ldc,
                              BERTC_K_EPI_BIAS) == BERTC_ERR_INVALID);
    CHECK(std::string(exec.err.message) == "linear_bf16: BERTC_CPU_TIER=sse2 is not avx2, avx512 or avx512_bf16");
  }
}

TEST_CASE("libmodel: linear_bf16's argument errors", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  TierCap none(nullptr);
  Exec small(nullptr, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS - 1), exec(nullptr, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS);
  const LinearBf16 p(3, 8, 8);
  std::vector<float> C(p.M * p.ldc);
  SECTION("too little worker scratch, on every tier alike") {
    CHECK(bertc_k_linear_bf16(&small.e, p.A.data(), p.lda, p.M, p.packed.data.get(), p.K, p.N, nullptr, nullptr, 0,
                              C.data(), p.ldc, BERTC_K_EPI_NONE) == BERTC_ERR_INVALID);
    CHECK(std::string(small.err.message) ==
          "linear_bf16: needs " + std::to_string(BERTC_K_LINEAR_BF16_SCRATCH_FLOATS) +
              " scratch floats per worker, the context has " + std::to_string(BERTC_K_LINEAR_BF16_SCRATCH_FLOATS - 1));
  }
  SECTION("no tokens is no work") {
    CHECK(bertc_k_linear_bf16(&small.e, nullptr, 8, 0, nullptr, 8, 8, nullptr, nullptr, 0, nullptr, 8,
                              BERTC_K_EPI_NONE) == BERTC_OK);
  }
  SECTION("a bad epilogue, a missing bias") {
    CHECK(bertc_k_linear_bf16(&exec.e, nullptr, 8, 1, nullptr, 8, 8, nullptr, nullptr, 0, nullptr, 8, 42) ==
          BERTC_ERR_INVALID);
    CHECK(std::string(exec.err.message) == "linear_bf16: unknown epilogue 42");
    CHECK(bertc_k_linear_bf16(&exec.e, p.A.data(), p.lda, p.M, p.packed.data.get(), p.K, p.N, nullptr, nullptr, 0,
                              C.data(), p.ldc, BERTC_K_EPI_BIAS) == BERTC_ERR_NULL_ARG);
  }
}

namespace {

/// LayerNorm of v = x (+ skip) (+ bias) in double.
std::vector<double> layerNormRef(const float* X, const float* skip, const float* bias, const float* gamma,
                                 const float* beta, int64_t H, int64_t rows, double eps) {
  std::vector<double> y(H * rows);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> v(H);
    double mean = 0, var = 0;
    for (int64_t c = 0; c < H; ++c) {
      v[c] = double(X[r * H + c]) + (skip ? skip[r * H + c] : 0.0) + (bias ? bias[c] : 0.0);
      mean += v[c] / H;
    }
    for (int64_t c = 0; c < H; ++c) var += (v[c] - mean) * (v[c] - mean) / H;
    for (int64_t c = 0; c < H; ++c)
      y[r * H + c] = (v[c] - mean) / std::sqrt(var + eps) * gamma[c] + (beta ? beta[c] : 0.0);
  }
  return y;
}

}  // namespace

TEST_CASE("libmodel: layernorm with and without skip, bias and beta, and in place", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Pool pool(2);
  Exec inline_, threaded(pool.p);
  const int64_t H = 37, rows = 11;
  const auto X = randomFloats(H * rows, 5, -2, 3), skip = randomFloats(H * rows, 6), bias = randomFloats(H, 7),
             gamma = randomFloats(H, 8, 0.5, 1.5), beta = randomFloats(H, 9);
  for (int mask = 0; mask < 8; ++mask) {
    const float* s = mask & 1 ? skip.data() : nullptr;
    const float* b = mask & 2 ? bias.data() : nullptr;
    const float* be = mask & 4 ? beta.data() : nullptr;
    INFO("skip " << bool(s) << ", bias " << bool(b) << ", beta " << bool(be));
    const auto want = layerNormRef(X.data(), s, b, gamma.data(), be, H, rows, 1e-5);
    std::vector<float> Y(H * rows);
    REQUIRE(bertc_k_layernorm(&inline_.e, X.data(), H, s, H, b, gamma.data(), be, Y.data(), H, H, rows, 1e-5f) ==
            BERTC_OK);
    CHECK(normalizedError(Y.data(), want.data(), Y.size()) <= 2e-6);
    std::vector<float> inPlace = X;
    REQUIRE(bertc_k_layernorm(&threaded.e, inPlace.data(), H, s, H, b, gamma.data(), be, inPlace.data(), H, H, rows,
                              1e-5f) == BERTC_OK);
    CHECK(inPlace == Y);
  }
}

TEST_CASE("libmodel: bias + activation and add", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Pool pool(2);
  Exec inline_, threaded(pool.p);
  const int64_t N = 21, rows = 6, ld = 24;
  const auto X = randomFloats(ld * rows, 10, -4, 4), bias = randomFloats(N, 11), Z = randomFloats(ld * rows, 12);
  for (int a : {BERTC_K_EPI_NONE, BERTC_K_EPI_BIAS, BERTC_K_EPI_BIAS_GELU, BERTC_K_EPI_BIAS_GELU_TANH,
                BERTC_K_EPI_BIAS_TANH, BERTC_K_EPI_BIAS_RELU})
    for (bool withBias : {false, true}) {
      INFO("act " << a << ", bias " << withBias);
      std::vector<float> Y(ld * rows, 7.0f);
      REQUIRE(bertc_k_bias_act(&inline_.e, X.data(), ld, withBias ? bias.data() : nullptr, Y.data(), ld, N, rows,
                               a) == BERTC_OK);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < ld; ++c) {
          if (c >= N) {
            REQUIRE(Y[r * ld + c] == 7.0f);
            continue;
          }
          const double x = double(X[r * ld + c]) + (withBias ? bias[c] : 0.0);
          REQUIRE(std::fabs(Y[r * ld + c] - act(a, x)) <= 3e-7 * std::max(1.0, std::fabs(x)));
        }
      std::vector<float> inPlace = X;
      REQUIRE(bertc_k_bias_act(&threaded.e, inPlace.data(), ld, withBias ? bias.data() : nullptr, inPlace.data(), ld,
                               N, rows, a) == BERTC_OK);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < N; ++c) REQUIRE(inPlace[r * ld + c] == Y[r * ld + c]);
    }
  CHECK(bertc_k_bias_act(&inline_.e, X.data(), ld, nullptr, nullptr, ld, N, rows, BERTC_K_EPI_BIAS_RESIDUAL) ==
        BERTC_ERR_INVALID);
  for (int64_t ldz : {int64_t(0), ld}) {
    INFO("ldz " << ldz);
    std::vector<float> Y(ld * rows, 7.0f);
    REQUIRE(bertc_k_add(&threaded.e, X.data(), ld, Z.data(), ldz, Y.data(), ld, N, rows) == BERTC_OK);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < N; ++c) REQUIRE(Y[r * ld + c] == X[r * ld + c] + Z[r * ldz + c]);
  }
}

TEST_CASE("libmodel: embed_layernorm, and ids outside their tables", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Pool pool(2);
  Exec inline_, threaded(pool.p);
  const int64_t H = 20, vocab = 30, positions = 8, types = 2, seq = 6;
  const auto word = randomFloats(vocab * H, 13), posTable = randomFloats(positions * H, 14),
             segTable = randomFloats(types * H, 15), gamma = randomFloats(H, 16, 0.5, 1.5), beta = randomFloats(H, 17);
  // Five packed tokens of a [2, 6] batch: (0, 0..2) and (1, 3..4).
  const std::vector<int32_t> tok = {0, 1, 2, 9, 10};
  const int64_t T = 5;
  std::vector<int64_t> ids = {3, 29, 0, 17, 5}, seg = {0, 1, 1, 0, 1}, pos(T);
  bertc_k_positions(tok.data(), T, seq, pos.data());
  for (bool withSeg : {false, true}) {
    INFO("segments " << withSeg);
    std::vector<float> sum(T * H);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < H; ++c)
        sum[t * H + c] = word[ids[t] * H + c] + posTable[pos[t] * H + c] + (withSeg ? segTable[seg[t] * H + c] : 0.0f);
    const auto want = layerNormRef(sum.data(), nullptr, nullptr, gamma.data(), beta.data(), H, T, 1e-12);
    for (Exec* e : {&inline_, &threaded}) {
      std::vector<float> Y(T * H);
      REQUIRE(bertc_k_embed_layernorm(&e->e, ids.data(), withSeg ? seg.data() : nullptr, pos.data(), word.data(),
                                      vocab, posTable.data(), positions, withSeg ? segTable.data() : nullptr, types,
                                      gamma.data(), beta.data(), Y.data(), H, T, 1e-12f, tok.data(), seq) == BERTC_OK);
      CHECK(normalizedError(Y.data(), want.data(), Y.size()) <= 2e-6);
    }
  }
  SECTION("an id outside its table names the batch row and position") {
    const struct {
      std::vector<int64_t>*ids;
      int64_t bad;
      const char* message;
    } cases[] = {
        {&ids, 30, "embed_layernorm: input id 30 outside [0, 30) at batch row 1, position 4"},
        {&ids, -1, "embed_layernorm: input id -1 outside [0, 30) at batch row 1, position 4"},
        {&pos, 8, "embed_layernorm: position id 8 outside [0, 8) at batch row 1, position 4"},
        {&seg, 2, "embed_layernorm: segment id 2 outside [0, 2) at batch row 1, position 4"},
    };
    for (const auto& c : cases) {
      const int64_t saved = (*c.ids)[4];
      (*c.ids)[4] = c.bad;
      std::vector<float> Y(T * H, 7.0f);
      CHECK(bertc_k_embed_layernorm(&inline_.e, ids.data(), seg.data(), pos.data(), word.data(), vocab,
                                    posTable.data(), positions, segTable.data(), types, gamma.data(), beta.data(),
                                    Y.data(), H, T, 1e-12f, tok.data(), seq) == BERTC_ERR_OUT_OF_RANGE);
      CHECK(std::string(inline_.err.message) == c.message);
      CHECK(std::string(bertc_rt_last_error()) == c.message);
      CHECK(Y == std::vector<float>(T * H, 7.0f));  // nothing written
      (*c.ids)[4] = saved;
    }
  }
}

TEST_CASE("libmodel: attention over packed sequences of different lengths", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  const int64_t H = 48, heads = 3, d = H / heads, maxSeq = 70;
  // Lengths 5, 0 (an all-padding row), 70 (three query blocks) and 33.
  const std::vector<int32_t> seqStart = {0, 5, 5, 75, 108};
  const int64_t batch = 4, T = seqStart.back(), ldqkv = 3 * H + 5, ldctx = H + 3;
  const auto qkv = randomFloats(T * ldqkv, 18, -2, 2);
  const size_t scratch = bertc_k_attention_scratch_floats(H, heads, maxSeq);
  Pool pool(2);
  Exec inline_(nullptr, scratch), threaded(pool.p, scratch);

  for (float scale : {0.0f, 0.3f}) {
    INFO("scale " << scale);
    std::vector<float> got(T * ldctx, 7.0f);
    REQUIRE(bertc_k_attention(&inline_.e, qkv.data(), ldqkv, got.data(), ldctx, H, heads, seqStart.data(), batch,
                              scale) == BERTC_OK);
    // Naive, in double: softmax over the sequence's own keys only.
    const double sc = scale != 0.0f ? scale : 1.0 / std::sqrt(double(d));
    std::vector<double> want(T * ldctx, 7.0);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = seqStart[b]; i < seqStart[b + 1]; ++i) {
          std::vector<double> p;
          double mx = -1e300, sum = 0;
          for (int64_t j = seqStart[b]; j < seqStart[b + 1]; ++j) {
            double s = 0;
            for (int64_t c = 0; c < d; ++c) s += double(qkv[i * ldqkv + h * d + c]) * qkv[j * ldqkv + H + h * d + c];
            p.push_back(s * sc);
            mx = std::max(mx, s * sc);
          }
          for (double& x : p) sum += x = std::exp(x - mx);
          for (int64_t c = 0; c < d; ++c) {
            double o = 0;
            for (int64_t j = seqStart[b]; j < seqStart[b + 1]; ++j)
              o += p[j - seqStart[b]] * qkv[j * ldqkv + 2 * H + h * d + c];
            want[i * ldctx + h * d + c] = o / sum;
          }
        }
    CHECK(normalizedError(got.data(), want.data(), got.size()) <= 2e-6);

    // The existing per-sequence kernel gives the same bits, and so does a pool.
    std::vector<float> rows(T * ldctx, 7.0f), kernelScratch(scratch);
    for (int64_t b = 0; b < batch; ++b) {
      bertc::cpu::AttentionArgs a;
      a.qkv = qkv.data() + seqStart[b] * ldqkv;
      a.ldqkv = ldqkv;
      a.context = rows.data() + seqStart[b] * ldctx;
      a.ldctx = ldctx;
      a.H = int(H);
      a.heads = int(heads);
      a.length = seqStart[b + 1] - seqStart[b];
      a.scale = scale;
      for (int h = 0; h < heads; ++h) bertc::cpu::attentionRows(a, h, 0, a.length, kernelScratch.data(), kIsa);
    }
    CHECK(got == rows);
    std::vector<float> par(T * ldctx, 7.0f);
    REQUIRE(bertc_k_attention(&threaded.e, qkv.data(), ldqkv, par.data(), ldctx, H, heads, seqStart.data(), batch,
                              scale) == BERTC_OK);
    CHECK(par == got);
  }
  SECTION("a sequence longer than the worker scratch allows is an error") {
    Exec small(nullptr, bertc_k_attention_scratch_floats(H, heads, 32));
    std::vector<float> out(T * ldctx);
    CHECK(bertc_k_attention(&small.e, qkv.data(), ldqkv, out.data(), ldctx, H, heads, seqStart.data(), batch, 0) ==
          BERTC_ERR_INVALID);
    CHECK(std::string(small.err.message).find("attention: a sequence of 70 tokens") == 0);
  }
}
