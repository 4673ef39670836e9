// Tests of the model library's float kernels (libmodel/linear.cpp,
// rowops.cpp) against double-precision references, and of their threading:
// a run on a pool of 2 is bit for bit the run on the calling thread.
//
// Tolerances are those of test_cpu_gemm.cpp and test_cpu_kernels.cpp, whose
// kernels these reuse: 2e-6 sqrt(K) S per GEMM element (S the sum of the
// magnitudes added), 2e-6 of the largest value for the row kernels.
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
