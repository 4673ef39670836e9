/// Reference semantics of linear algebra, normalisation and reductions (the
/// BERTC_LINALG_OP rows of ops.def).
///
/// Floating operands are read as double; sums accumulate in `Acc`, double
/// when InterpOptions::accumulateInDouble (the default) and float otherwise.
/// f64 data always accumulates in double. Integer data accumulates in int64
/// with wrapping.
#include <cmath>
#include <limits>

#include "ir/interp_kernels.h"

namespace bertc::ir::interp {
namespace {

int64_t wrapMulAdd(int64_t acc, int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

/// C[m, n] = sum_k A[m, k] * B[k, n] for row-major A (M x K) and B (K x N),
/// rows accumulated in k order; the inner loop runs over n so that each
/// output element sums its products in the same order whatever the
/// compiler vectorises.
template <class Acc, class V>
void gemmRows(const V* a, const V* b, Acc* c, int64_t M, int64_t K, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    Acc* row = c + m * N;
    for (int64_t n = 0; n < N; ++n) row[n] = Acc(0);
    for (int64_t k = 0; k < K; ++k) {
      Acc av = static_cast<Acc>(a[m * K + k]);
      const V* brow = b + k * N;
      if constexpr (std::is_same_v<Acc, int64_t>) {
        for (int64_t n = 0; n < N; ++n) row[n] = wrapMulAdd(row[n], av, brow[n]);
      } else {
        for (int64_t n = 0; n < N; ++n) row[n] += av * static_cast<Acc>(brow[n]);
      }
    }
  }
}

/// Batched row-major products for MatMul: `a` holds aBatches matrices M x K,
/// `b` bBatches K x N; `out` (batchShape) picks them by broadcasting.
template <class Acc, class V>
void batchedMatMul(const std::vector<V>& a, const Dims& aBatch, const std::vector<V>& b, const Dims& bBatch,
                   const Dims& batch, int64_t M, int64_t K, int64_t N, Tensor& r) {
  BroadcastMap ma(aBatch, batch), mb(bBatch, batch);
  std::vector<Acc> c(M * N);
  for (int64_t i = 0, nb = numelOf(batch); i < nb; ++i) {
    gemmRows<Acc>(a.data() + ma(i) * M * K, b.data() + mb(i) * K * N, c.data(), M, K, N);
    for (int64_t j = 0; j < M * N; ++j) {
      if constexpr (std::is_same_v<Acc, int64_t>)
        storeI(r, i * M * N + j, c[j]);
      else
        storeF(r, i * M * N + j, static_cast<double>(c[j]));
    }
  }
}

Tensor evalMatMul(const KernelCtx& ctx) {
  const Tensor& A = ctx.operand(0, "A");
  const Tensor& B = ctx.operand(1, "B");
  requireType(A, kFloat | kSignedInt, "A");
  requireSameType(A, B, "A", "B");
  Dims as = A.shape(), bs = B.shape();
  if (as.empty() || bs.empty()) fail("MatMul operands must have rank >= 1, got " + dimsStr(as) + " and " + dimsStr(bs));
  // numpy: a 1-D A is a row [1, K] and a 1-D B a column [K, 1]; the added dim is dropped from the result.
  bool rowA = as.size() == 1, colB = bs.size() == 1;
  if (rowA) as.insert(as.begin(), 1);
  if (colB) bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  if (bs[bs.size() - 2] != K)
    fail("inner dimensions differ: A is " + dimsStr(A.shape()) + ", B is " + dimsStr(B.shape()));
  Dims aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
  Dims batch = broadcastShapes({aBatch, bBatch});
  Dims outShape = batch;
  if (!rowA) outShape.push_back(M);
  if (!colB) outShape.push_back(N);
  Tensor r = newTensor(A.dtype(), outShape);

  if (isFloating(A.dtype())) {
    std::vector<double> a = allDoubles(A), b = allDoubles(B);
    withAcc(ctx, A, [&]<class Acc>() { batchedMatMul<Acc>(a, aBatch, b, bBatch, batch, M, K, N, r); });
  } else {
    std::vector<int64_t> a = allInts(A), b = allInts(B);
    batchedMatMul<int64_t>(a, aBatch, b, bBatch, batch, M, K, N, r);
  }
  return r;
}

Tensor evalGemm(const KernelCtx& ctx) {
  const Tensor& A = ctx.operand(0, "A");
  const Tensor& B = ctx.operand(1, "B");
  const Tensor* C = ctx.optional(2);
  requireType(A, kFloat | kSignedInt, "A");
  requireSameType(A, B, "A", "B");
  if (C) requireSameType(A, *C, "A", "C");
  if (A.shape().size() != 2 || B.shape().size() != 2)
    fail("A and B must be 2-D, got " + dimsStr(A.shape()) + " and " + dimsStr(B.shape()));
  bool transA = ctx.node.getInt("transA", 0) != 0, transB = ctx.node.getInt("transB", 0) != 0;
  double alpha = ctx.node.getFloat("alpha", 1.0), beta = ctx.node.getFloat("beta", 1.0);
  int64_t M = transA ? A.shape()[1] : A.shape()[0], K = transA ? A.shape()[0] : A.shape()[1];
  int64_t KB = transB ? B.shape()[1] : B.shape()[0], N = transB ? B.shape()[0] : B.shape()[1];
  if (K != KB)
    fail("inner dimensions differ: op(A) is [" + std::to_string(M) + ", " + std::to_string(K) + "], op(B) is [" +
         std::to_string(KB) + ", " + std::to_string(N) + "]");
  Dims out = {M, N};
  if (C && !broadcastsTo(C->shape(), out))
    fail("C of shape " + dimsStr(C->shape()) + " does not broadcast to " + dimsStr(out));
  Tensor r = newTensor(A.dtype(), out);

  // op(A) and op(B) laid out row-major, then the plain product.
  auto laidOut = [](const auto& v, int64_t rows, int64_t cols, bool trans) {
    if (!trans) return v;
    std::remove_cvref_t<decltype(v)> t(v.size());
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) t[i * cols + j] = v[j * rows + i];
    return t;
  };
  BroadcastMap mc(C ? C->shape() : Dims{}, out);

  if (isFloating(A.dtype())) {
    std::vector<double> a = laidOut(allDoubles(A), M, K, transA), b = laidOut(allDoubles(B), K, N, transB);
    withAcc(ctx, A, [&]<class Acc>() {
      std::vector<Acc> c(M * N);
      gemmRows<Acc>(a.data(), b.data(), c.data(), M, K, N);
      for (int64_t i = 0; i < M * N; ++i) {
        double y = alpha * static_cast<double>(c[i]);
        if (C) y += beta * loadF(*C, mc(i));
        storeF(r, i, y);
      }
    });
  } else {
    std::vector<int64_t> a = laidOut(allInts(A), M, K, transA), b = laidOut(allInts(B), K, N, transB);
    std::vector<int64_t> c(M * N);
    gemmRows<int64_t>(a.data(), b.data(), c.data(), M, K, N);
    bool unit = alpha == 1.0 && beta == 1.0;  // the usual case stays exact integer arithmetic
    for (int64_t i = 0; i < M * N; ++i) {
      int64_t cv = C ? loadI(*C, mc(i)) : 0;
      if (unit)
        storeI(r, i, static_cast<int64_t>(static_cast<uint64_t>(c[i]) + static_cast<uint64_t>(cv)));
      else
        storeI(r, i, doubleToInt(alpha * static_cast<double>(c[i]) + beta * static_cast<double>(cv)));
    }
  }
  return r;
}

/// Splits `shape` around `axis` into outer * len * inner (row-major).
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
  AxisSplit(const Dims& shape, int64_t axis) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      if (d < axis)
        outer *= shape[d];
      else if (d == axis)
        len = shape[d];
      else
        inner *= shape[d];
    }
  }
};

Tensor evalSoftmax(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  requireType(x, kFloat, "input");
  int64_t rank = static_cast<int64_t>(x.shape().size());
  if (rank == 0) fail("input must have rank >= 1");
  int64_t axis = normAxis(ctx.node.getInt("axis", -1), rank);
  AxisSplit s(x.shape(), axis);
  Tensor r = newTensor(x.dtype(), x.shape());
  std::vector<double> v = allDoubles(x);
  withAcc(ctx, x, [&]<class Acc>() {
    std::vector<Acc> e(s.len);
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t in = 0; in < s.inner; ++in) {
        auto at = [&](int64_t k) { return (o * s.len + k) * s.inner + in; };
        // Subtracting the max keeps exp() in range; it cancels in the ratio.
        Acc mx = -std::numeric_limits<Acc>::infinity();
        for (int64_t k = 0; k < s.len; ++k) mx = std::max(mx, static_cast<Acc>(v[at(k)]));
        Acc sum = 0;
        for (int64_t k = 0; k < s.len; ++k) sum += e[k] = std::exp(static_cast<Acc>(v[at(k)]) - mx);
        for (int64_t k = 0; k < s.len; ++k) storeF(r, at(k), static_cast<double>(e[k] / sum));
      }
    }
  });
  return r;
}

Tensor evalLayerNorm(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  const Tensor* scale = ctx.optional(1);
  const Tensor* bias = ctx.optional(2);
  requireType(x, kFloat, "X");
  int64_t rank = static_cast<int64_t>(x.shape().size());
  if (rank == 0) fail("X must have rank >= 1");
  int64_t axis = normAxis(ctx.node.getInt("axis", -1), rank);
  double eps = ctx.node.getFloat("epsilon", 1e-5);
  // Scale and B broadcast (numpy, one way) to X; normally they have X's trailing [axis, rank) dims.
  for (const Tensor* p : {scale, bias}) {
    if (!p) continue;
    const char* what = p == scale ? "Scale" : "B";
    requireType(*p, kFloat, what);
    if (!broadcastsTo(p->shape(), x.shape()))
      fail(std::string(what) + " of shape " + dimsStr(p->shape()) + " does not broadcast to X's " + dimsStr(x.shape()));
  }
  int64_t outer = 1, len = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : len) *= x.shape()[d];
  Tensor r = newTensor(x.dtype(), x.shape());
  std::vector<double> v = allDoubles(x);
  BroadcastMap ms(scale ? scale->shape() : Dims{}, x.shape()), mb(bias ? bias->shape() : Dims{}, x.shape());
  for (int64_t o = 0; o < outer; ++o) {
    const double* row = v.data() + o * len;
    RowStats st = rowStats(row, len, eps);
    for (int64_t k = 0; k < len; ++k) {
      int64_t i = o * len + k;
      double y = (row[k] - st.mean) * st.invStd;
      if (scale) y *= loadF(*scale, ms(i));
      if (bias) y += loadF(*bias, mb(i));
      storeF(r, i, y);
    }
  }
  return r;
}

Tensor evalReduce(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  OpKind op = ctx.op();
  requireType(x, kNumeric, "data");
  int64_t rank = static_cast<int64_t>(x.shape().size());
  std::vector<int64_t> axes = ctx.node.getInts("axes");
  bool keepdims = ctx.node.getInt("keepdims", 1) != 0;
  if (axes.empty() && ctx.node.getInt("noop_with_empty_axes", 0) != 0) {
    Tensor r = newTensor(x.dtype(), x.shape());
    copyElems(r, 0, x, 0, x.numel());
    return r;
  }
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) {
    int64_t d = normAxis(a, rank, "axes entry");
    if (reduced[d]) fail("axes lists dim " + std::to_string(d) + " twice");
    reduced[d] = true;
  }
  Dims kept = x.shape(), outShape;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) kept[d] = 1;
    if (!reduced[d] || keepdims) outShape.push_back(kept[d]);
  }
  Tensor r = newTensor(x.dtype(), outShape);
  int64_t n = x.numel(), m = numelOf(kept);
  int64_t count = m == 0 ? 0 : n / m;  // elements per reduced group
  // Each input element belongs to the output element it broadcasts from.
  BroadcastMap toOut(kept, x.shape());

  if (isFloating(x.dtype())) {
    withAcc(ctx, x, [&]<class Acc>() {
      if (op == OpKind::ReduceMax) {
        // An empty reduction gives -inf (ONNX: the lowest value of the type).
        std::vector<double> acc(m, -std::numeric_limits<double>::infinity());
        for (int64_t i = 0; i < n; ++i) {
          double v = loadF(x, i);
          double& a = acc[toOut(i)];
          if (std::isnan(v) || v > a) a = std::isnan(a) ? a : v;
        }
        for (int64_t j = 0; j < m; ++j) storeF(r, j, acc[j]);
        return;
      }
      std::vector<Acc> acc(m, Acc(0));
      for (int64_t i = 0; i < n; ++i) acc[toOut(i)] += static_cast<Acc>(loadF(x, i));
      for (int64_t j = 0; j < m; ++j) {
        Acc y = acc[j];
        if (op == OpKind::ReduceMean) y /= static_cast<Acc>(count);  // 0 / 0 = NaN for an empty mean
        storeF(r, j, static_cast<double>(y));
      }
    });
  } else {
    std::vector<int64_t> acc(m, op == OpKind::ReduceMax ? std::numeric_limits<int64_t>::min() : 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = loadI(x, i);
      int64_t& a = acc[toOut(i)];
      a = op == OpKind::ReduceMax ? std::max(a, v) : wrapMulAdd(a, v, 1);
    }
    for (int64_t j = 0; j < m; ++j) {
      int64_t y = acc[j];
      if (op == OpKind::ReduceMean) {
        if (count == 0) fail("mean over an empty integer tensor");
        y /= count;
      }
      storeI(r, j, y);
    }
  }
  return r;
}

Tensor evalCumSum(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "x");
  const Tensor& axisT = ctx.operand(1, "axis");
  requireType(x, kNumeric, "x");
  int64_t rank = static_cast<int64_t>(x.shape().size());
  if (rank == 0) fail("x must have rank >= 1");
  int64_t axis = normAxis(scalarInt(axisT, "axis"), rank);
  bool exclusive = ctx.node.getInt("exclusive", 0) != 0, reverse = ctx.node.getInt("reverse", 0) != 0;
  AxisSplit s(x.shape(), axis);
  Tensor r = newTensor(x.dtype(), x.shape());
  // Walks each line along the axis in the requested direction; `emit` writes
  // the running sum before (exclusive) or after (inclusive) adding x[k].
  auto scan = [&](auto zero, auto load, auto add, auto store) {
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t in = 0; in < s.inner; ++in) {
        auto sum = zero;
        for (int64_t step = 0; step < s.len; ++step) {
          int64_t k = reverse ? s.len - 1 - step : step;
          int64_t i = (o * s.len + k) * s.inner + in;
          if (exclusive) store(i, sum);
          sum = add(sum, load(i));
          if (!exclusive) store(i, sum);
        }
      }
    }
  };
  if (isFloating(x.dtype())) {
    withAcc(ctx, x, [&]<class Acc>() {
      scan(
          Acc(0), [&](int64_t i) { return static_cast<Acc>(loadF(x, i)); }, [](Acc a, Acc b) { return a + b; },
          [&](int64_t i, Acc v) { storeF(r, i, static_cast<double>(v)); });
    });
  } else {
    scan(
        int64_t(0), [&](int64_t i) { return loadI(x, i); }, [](int64_t a, int64_t b) { return wrapMulAdd(a, b, 1); },
        [&](int64_t i, int64_t v) { storeI(r, i, v); });
  }
  return r;
}

}  // namespace

std::vector<Tensor> evalOp(const KernelCtx& ctx, LinalgOp op) {
  using L = LinalgOp;
  switch (op) {
    case L::MatMul: return {evalMatMul(ctx)};
    case L::Gemm: return {evalGemm(ctx)};
    case L::Softmax: return {evalSoftmax(ctx)};
    case L::LayerNorm: return {evalLayerNorm(ctx)};
    case L::ReduceMean:
    case L::ReduceSum:
    case L::ReduceMax: return {evalReduce(ctx)};
    case L::CumSum: return {evalCumSum(ctx)};
  }
  BERTC_INTERNAL_ASSERT(false, "evalOp: not a linear-algebra op");
}

}  // namespace bertc::ir::interp
