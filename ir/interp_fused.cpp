/// Reference semantics of the fused ops (the BERTC_FUSED_OP rows of ops.def).
///
/// Each is written as the unfused computation it stands for, in double, and
/// rounded once to the result dtype: the oracle the fusions are checked
/// against must not share their shortcuts. Normalisation statistics are
/// always computed in double (as evalLayerNorm does); dot products
/// accumulate in the type InterpOptions chooses (withAcc).
#include <cmath>
#include <limits>

#include "ir/interp_kernels.h"

namespace bertc::ir::interp {
namespace {

/// ONNX Runtime's default epsilon for SkipLayerNormalization and
/// EmbedLayerNormalization, used when a node has no epsilon attribute.
constexpr double kContribEpsilon = 1e-12;

/// Requires a 1-D float tensor of n elements (a gamma, beta or bias over the last axis).
void requireVector(const Tensor& t, int64_t n, const char* what) {
  requireType(t, kFloat, what);
  if (t.shape().size() != 1 || t.shape()[0] != n)
    fail(std::string(what) + " must have shape [" + std::to_string(n) + "], got " + dimsStr(t.shape()));
}

/// Requires a 2-D float tensor; returns {rows, cols}.
std::pair<int64_t, int64_t> requireMatrix(const Tensor& t, const char* what) {
  requireType(t, kFloat, what);
  if (t.shape().size() != 2) fail(std::string(what) + " must be 2-D, got " + dimsStr(t.shape()));
  return {t.shape()[0], t.shape()[1]};
}

/// In place over `row` (len elements): (x - mean) / sqrt(var + eps) * gamma + beta,
/// mean and variance two-pass in double.
void layerNormRow(double* row, int64_t len, double eps, const std::vector<double>& gamma,
                  const std::vector<double>* beta) {
  RowStats st = rowStats(row, len, eps);
  for (int64_t k = 0; k < len; ++k) row[k] = (row[k] - st.mean) * st.invStd * gamma[k] + (beta ? (*beta)[k] : 0.0);
}

/// C (M x N) = A (M x K) * B (K x N), row-major, summed in Acc in k order.
template <class Acc>
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t M, int64_t K,
                           int64_t N) {
  std::vector<double> c(static_cast<size_t>(M * N));
  std::vector<Acc> row(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    std::fill(row.begin(), row.end(), Acc(0));
    for (int64_t k = 0; k < K; ++k) {
      Acc av = static_cast<Acc>(a[m * K + k]);
      const double* brow = b.data() + k * N;
      for (int64_t n = 0; n < N; ++n) row[n] += av * static_cast<Acc>(brow[n]);
    }
    for (int64_t n = 0; n < N; ++n) c[m * N + n] = static_cast<double>(row[n]);
  }
  return c;
}

/// SkipLayerNorm(X, Skip, Gamma, Beta?, Bias?) = LayerNorm(X + Skip + Bias)
/// over the last axis. Skip may broadcast (one way) to X, as ORT's
/// (1, S, H) and (S, H) skips do.
Tensor evalSkipLayerNorm(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor& skip = ctx.operand(1, "Skip");
  const Tensor& gammaT = ctx.operand(2, "Gamma");
  const Tensor* betaT = ctx.optional(3);
  const Tensor* biasT = ctx.optional(4);
  requireType(x, kFloat, "X");
  requireType(skip, kFloat, "Skip");
  if (x.shape().empty()) fail("X must have rank >= 1");
  if (!broadcastsTo(skip.shape(), x.shape()))
    fail("Skip of shape " + dimsStr(skip.shape()) + " does not broadcast to X's " + dimsStr(x.shape()));
  int64_t h = x.shape().back();
  requireVector(gammaT, h, "Gamma");
  if (betaT) requireVector(*betaT, h, "Beta");
  if (biasT) requireVector(*biasT, h, "Bias");
  double eps = ctx.node.getFloat("epsilon", kContribEpsilon);

  std::vector<double> v = allDoubles(x), gamma = allDoubles(gammaT), beta, bias;
  if (betaT) beta = allDoubles(*betaT);
  if (biasT) bias = allDoubles(*biasT);
  BroadcastMap ms(skip.shape(), x.shape());
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i)
    v[i] += loadF(skip, ms(i)) + (biasT ? bias[i % h] : 0.0);
  Tensor r = newTensor(x.dtype(), x.shape());
  if (h == 0) return r;
  for (int64_t o = 0, rows = x.numel() / h; o < rows; ++o) {
    layerNormRow(v.data() + o * h, h, eps, gamma, betaT ? &beta : nullptr);
    for (int64_t k = 0; k < h; ++k) storeF(r, o * h + k, v[o * h + k]);
  }
  return r;
}

/// BiasGelu(X, Bias) = Gelu(X + Bias), exact; FastGelu(X, Bias?) = the tanh
/// approximation of Gelu(X + Bias). Bias is 1-D over the last axis.
Tensor evalBiasGelu(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor* bias = ctx.optional(1);
  requireType(x, kFloat, "X");
  bool tanhApprox = ctx.op() == OpKind::FastGelu;
  if (!tanhApprox && !bias) fail("missing operand Bias");
  if (bias) {
    if (x.shape().empty()) fail("X must have rank >= 1 to take a bias");
    requireVector(*bias, x.shape().back(), "Bias");
  }
  Tensor r = newTensor(x.dtype(), x.shape());
  int64_t h = x.shape().empty() ? 1 : x.shape().back();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    double y = loadF(x, i) + (bias ? loadF(*bias, i % h) : 0.0);
    storeF(r, i, gelu(y, tanhApprox));
  }
  return r;
}

/// Linear(X, W, B?) = act(X W + B) over the last axis of X.
Tensor evalLinear(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor& w = ctx.operand(1, "W");
  const Tensor* b = ctx.optional(2);
  requireType(x, kFloat, "X");
  requireSameType(x, w, "X", "W");
  auto [K, N] = requireMatrix(w, "W");
  if (x.shape().empty() || x.shape().back() != K)
    fail("X of shape " + dimsStr(x.shape()) + " does not chain with W of shape " + dimsStr(w.shape()));
  if (b) requireVector(*b, N, "B");
  std::string act = ctx.node.getString("activation", "none");
  if (act != "none" && act != "tanh" && act != "gelu" && act != "relu")
    fail("attribute activation must be none, tanh, gelu or relu, got '" + act + "'");

  Dims outShape = x.shape();
  outShape.back() = N;
  Tensor r = newTensor(x.dtype(), outShape);
  int64_t M = numelOf(Dims(x.shape().begin(), x.shape().end() - 1));  // rows of X as a matrix
  std::vector<double> xv = allDoubles(x), wv = allDoubles(w), bv;
  if (b) bv = allDoubles(*b);
  std::vector<double> y = withAcc(ctx, x, [&]<class Acc>() { return matmul<Acc>(xv, wv, M, K, N); });
  for (int64_t i = 0; i < M * N; ++i) {
    double v = y[i] + (b ? bv[i % N] : 0.0);
    if (act == "tanh") v = std::tanh(v);
    else if (act == "relu") v = v > 0 ? v : (std::isnan(v) ? v : 0.0);
    else if (act == "gelu") v = gelu(v, false);
    storeF(r, i, v);
  }
  return r;
}

/// Attention(X, Wqkv, Bqkv, Mask?, Wout?): multi-head self-attention.
///
///   QKV = X Wqkv + Bqkv, split into column blocks Q | K | V (H wide each);
///   head h of Q, K, V is columns [h*d, (h+1)*d) of its block, d = H / heads;
///   P_h = softmax over keys j of (Q_h K_h^T * scale + (Mask[b, j] == 0 ? mask_filter_value : 0));
///   out[:, :, h*d:(h+1)*d] = P_h V_h; then out Wout if Wout is given.
Tensor evalAttention(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor& w = ctx.operand(1, "Wqkv");
  const Tensor& bqkv = ctx.operand(2, "Bqkv");
  const Tensor* mask = ctx.optional(3);
  const Tensor* wout = ctx.optional(4);
  requireType(x, kFloat, "X");
  requireSameType(x, w, "X", "Wqkv");
  if (x.shape().size() != 3) fail("X must be [batch, seq, hidden], got " + dimsStr(x.shape()));
  const int64_t B = x.shape()[0], S = x.shape()[1], Hin = x.shape()[2];
  auto [wRows, wCols] = requireMatrix(w, "Wqkv");
  if (wRows != Hin || wCols % 3 != 0)
    fail("Wqkv must be [" + std::to_string(Hin) + ", 3 * hidden], got " + dimsStr(w.shape()));
  const int64_t H = wCols / 3;
  const int64_t heads = ctx.node.getInt("num_heads", 0);
  if (heads <= 0 || H % heads != 0)
    fail("num_heads " + std::to_string(heads) + " must be positive and divide the hidden size " + std::to_string(H));
  const int64_t d = H / heads;
  requireVector(bqkv, wCols, "Bqkv");
  if (mask) {
    requireType(*mask, kAny, "Mask");
    if (mask->shape() != Dims{B, S}) fail("Mask must be [batch, seq] = " + dimsStr({B, S}) + ", got " + dimsStr(mask->shape()));
  }
  int64_t Hout = H;
  if (wout) {
    auto [oRows, oCols] = requireMatrix(*wout, "Wout");
    if (oRows != H) fail("Wout must have " + std::to_string(H) + " rows, got " + dimsStr(wout->shape()));
    Hout = oCols;
  }
  double scale = ctx.node.getFloat("scale", 0.0);
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
  const double maskFilter = ctx.node.getFloat("mask_filter_value", -10000.0);

  std::vector<double> xv = allDoubles(x), wv = allDoubles(w), bv = allDoubles(bqkv);
  Tensor r = newTensor(x.dtype(), {B, S, Hout});
  withAcc(ctx, x, [&]<class Acc>() {
    // [B*S, 3H] rows of Q | K | V.
    std::vector<double> qkv = matmul<Acc>(xv, wv, B * S, Hin, wCols);
    for (int64_t i = 0; i < B * S; ++i)
      for (int64_t c = 0; c < wCols; ++c) qkv[i * wCols + c] += bv[c];
    auto q = [&](int64_t b, int64_t s, int64_t c) { return qkv[(b * S + s) * wCols + c]; };
    auto k = [&](int64_t b, int64_t s, int64_t c) { return qkv[(b * S + s) * wCols + H + c]; };
    auto v = [&](int64_t b, int64_t s, int64_t c) { return qkv[(b * S + s) * wCols + 2 * H + c]; };

    std::vector<double> merged(static_cast<size_t>(B * S * H));
    std::vector<double> p(static_cast<size_t>(S));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < S; ++i) {
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j < S; ++j) {
            Acc dot = 0;
            for (int64_t c = h * d; c < (h + 1) * d; ++c) dot += static_cast<Acc>(q(b, i, c)) * static_cast<Acc>(k(b, j, c));
            double s = static_cast<double>(dot) * scale;
            if (mask && loadF(*mask, b * S + j) == 0.0) s += maskFilter;
            p[j] = s;
            mx = std::max(mx, s);
          }
          double sum = 0;
          for (int64_t j = 0; j < S; ++j) sum += p[j] = std::exp(p[j] - mx);
          for (int64_t c = h * d; c < (h + 1) * d; ++c) {
            Acc acc = 0;
            for (int64_t j = 0; j < S; ++j) acc += static_cast<Acc>(p[j] / sum) * static_cast<Acc>(v(b, j, c));
            merged[(b * S + i) * H + c] = static_cast<double>(acc);
          }
        }
      }
    }
    std::vector<double> out = wout ? matmul<Acc>(merged, allDoubles(*wout), B * S, H, Hout) : std::move(merged);
    for (int64_t i = 0; i < B * S * Hout; ++i) storeF(r, i, out[i]);
  });
  return r;
}

/// EmbedLayerNorm(InputIds, SegmentIds?, Word, Pos, Seg?, Gamma, Beta?, PositionIds?)
///   = LayerNorm(Word[ids] + Pos[position ids] + Seg[segment ids]) over the last axis,
/// position ids 0..S-1 by default, or PositionIds [B, S] or [1, S] (broadcast
/// over the batch). An index outside its table is an error.
Tensor evalEmbedLayerNorm(const KernelCtx& ctx) {
  const Tensor& ids = ctx.operand(0, "InputIds");
  const Tensor* segIds = ctx.optional(1);
  const Tensor& word = ctx.operand(2, "Word");
  const Tensor& pos = ctx.operand(3, "Pos");
  const Tensor* seg = ctx.optional(4);
  const Tensor& gammaT = ctx.operand(5, "Gamma");
  const Tensor* betaT = ctx.optional(6);
  const Tensor* posIds = ctx.optional(7);

  requireType(ids, kInt, "InputIds");
  if (ids.shape().size() != 2) fail("InputIds must be [batch, seq], got " + dimsStr(ids.shape()));
  const int64_t B = ids.shape()[0], S = ids.shape()[1];
  auto [vocab, H] = requireMatrix(word, "Word");
  auto [positions, posH] = requireMatrix(pos, "Pos");
  if (posH != H) fail("Pos must be [positions, " + std::to_string(H) + "], got " + dimsStr(pos.shape()));
  int64_t types = 0;
  if (segIds && !seg) fail("SegmentIds is given without Seg");
  if (seg && !segIds) fail("Seg is given without SegmentIds");
  if (seg) {
    auto [t, segH] = requireMatrix(*seg, "Seg");
    if (segH != H) fail("Seg must be [types, " + std::to_string(H) + "], got " + dimsStr(seg->shape()));
    types = t;
    requireType(*segIds, kInt, "SegmentIds");
    if (segIds->shape() != ids.shape())
      fail("SegmentIds of shape " + dimsStr(segIds->shape()) + " must match InputIds' " + dimsStr(ids.shape()));
  }
  requireVector(gammaT, H, "Gamma");
  if (betaT) requireVector(*betaT, H, "Beta");
  bool posBroadcast = false;
  if (posIds) {
    requireType(*posIds, kInt, "PositionIds");
    const Dims& ps = posIds->shape();
    if (ps.size() != 2 || ps[1] != S || (ps[0] != B && ps[0] != 1))
      fail("PositionIds must be [batch, seq] or [1, seq] with batch " + std::to_string(B) + ", seq " +
           std::to_string(S) + ", got " + dimsStr(ps));
    posBroadcast = ps[0] == 1 && B != 1;
  }
  double eps = ctx.node.getFloat("epsilon", kContribEpsilon);

  /// Row `index` of `table` (rows x H) for the element at [b, s] of `what`.
  auto row = [&](const Tensor& table, int64_t rows, int64_t index, const char* what, const char* tableName,
                 int64_t b, int64_t s) {
    if (index < 0 || index >= rows)
      fail(std::string(what) + "[" + std::to_string(b) + ", " + std::to_string(s) + "] = " + std::to_string(index) +
           " is out of range for " + tableName + " with " + std::to_string(rows) + " rows");
    return index * H;
  };
  std::vector<double> gamma = allDoubles(gammaT), beta;
  if (betaT) beta = allDoubles(*betaT);
  Tensor r = newTensor(word.dtype(), {B, S, H});
  std::vector<double> sum(static_cast<size_t>(H));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t s = 0; s < S; ++s) {
      int64_t at = b * S + s;
      int64_t w = row(word, vocab, loadI(ids, at), "InputIds", "Word", b, s);
      int64_t p = posIds ? row(pos, positions, loadI(*posIds, posBroadcast ? s : at), "PositionIds", "Pos", b, s)
                         : row(pos, positions, s, "position", "Pos", b, s);
      int64_t g = seg ? row(*seg, types, loadI(*segIds, at), "SegmentIds", "Seg", b, s) : 0;
      for (int64_t k = 0; k < H; ++k)
        sum[k] = loadF(word, w + k) + loadF(pos, p + k) + (seg ? loadF(*seg, g + k) : 0.0);
      if (H > 0) layerNormRow(sum.data(), H, eps, gamma, betaT ? &beta : nullptr);
      for (int64_t k = 0; k < H; ++k) storeF(r, at * H + k, sum[k]);
    }
  }
  return r;
}

/// MeanPool(X, Mask) = sum_s w[b,s] X[b,s,:] / max(sum_s w[b,s], epsilon),
/// w[b,s] = (Mask[b,s] != 0): a mask marks tokens, 0 padding and any other
/// value a real token, as Attention reads it and as the compiled code packs
/// them (README, "The attention mask"). For 0/1 masks this is the unfused
/// graph's Cast-and-weigh exactly. Sums in double, rounded once.
Tensor evalMeanPool(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor& mask = ctx.operand(1, "Mask");
  requireType(x, kFloat, "X");
  requireType(mask, kAny, "Mask");
  if (x.shape().size() != 3) fail("X must be [batch, seq, hidden], got " + dimsStr(x.shape()));
  const int64_t B = x.shape()[0], S = x.shape()[1], H = x.shape()[2];
  if (mask.shape() != Dims{B, S})
    fail("Mask must be [batch, seq] = " + dimsStr({B, S}) + ", got " + dimsStr(mask.shape()));
  const double eps = ctx.node.getFloat("epsilon", 1e-9);
  Tensor w = newTensor(x.dtype(), mask.shape());
  for (int64_t i = 0; i < B * S; ++i) storeF(w, i, loadF(mask, i) != 0.0 ? 1.0 : 0.0);
  Tensor r = newTensor(x.dtype(), {B, H});
  std::vector<double> sum(static_cast<size_t>(H));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(sum.begin(), sum.end(), 0.0);
    double weight = 0;
    for (int64_t s = 0; s < S; ++s) {
      double ws = loadF(w, b * S + s);
      weight += ws;
      for (int64_t h = 0; h < H; ++h) sum[h] += ws * loadF(x, (b * S + s) * H + h);
    }
    double den = weight < eps ? eps : weight;  // NaN stays NaN, as in Clip
    for (int64_t h = 0; h < H; ++h) storeF(r, b * H + h, sum[h] / den);
  }
  return r;
}

}  // namespace

std::vector<Tensor> evalOp(const KernelCtx& ctx, FusedOp op) {
  using F = FusedOp;
  switch (op) {
    case F::SkipLayerNorm: return {evalSkipLayerNorm(ctx)};
    case F::BiasGelu:
    case F::FastGelu: return {evalBiasGelu(ctx)};
    case F::Attention: return {evalAttention(ctx)};
    case F::EmbedLayerNorm: return {evalEmbedLayerNorm(ctx)};
    case F::Linear: return {evalLinear(ctx)};
    case F::MeanPool: return {evalMeanPool(ctx)};
  }
  BERTC_INTERNAL_ASSERT(false, "evalOp: not a fused op");
}

}  // namespace bertc::ir::interp
