/// Reference semantics of the shape and data-movement ops. Data movement
/// copies element bytes and never converts, so it is exact for every dtype;
/// every index is checked against its dim before it is used.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/interp_kernels.h"

namespace bertc::ir::interp {
namespace {

int64_t rankOf(const Tensor& t) { return static_cast<int64_t>(t.shape().size()); }

/// A copy of x's bytes with a new shape of the same element count.
Tensor reshaped(const Tensor& x, const Dims& shape) {
  BERTC_INTERNAL_ASSERT(numelOf(shape) == x.numel(), "reshaped: element count changes");
  Tensor r = newTensor(x.dtype(), shape);
  copyElems(r, 0, x, 0, x.numel());
  return r;
}

/// r[c] = x[offset + sum_d c[d] * strides[d]] for every coordinate c of r.
void gatherStrided(Tensor& r, const Tensor& x, int64_t offset, const Dims& strides) {
  forEachCoord(r.shape(), [&](const Dims& c, int64_t i) {
    int64_t src = offset;
    for (size_t d = 0; d < c.size(); ++d) src += c[d] * strides[d];
    copyElems(r, i, x, src, 1);
  });
}

Tensor evalShape(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  int64_t rank = rankOf(x);
  // start/end clamp to [0, rank] after adding rank to negative values.
  auto clampEnd = [rank](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t(0), rank); };
  int64_t start = clampEnd(ctx.node.getInt("start", 0));
  int64_t end = ctx.node.has("end") ? clampEnd(ctx.node.getInt("end", rank)) : rank;
  int64_t n = std::max<int64_t>(end - start, 0);
  Tensor r = newTensor(DType::I64, {n});
  for (int64_t i = 0; i < n; ++i) storeI(r, i, x.shape()[start + i]);
  return r;
}

Tensor evalReshape(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  std::vector<int64_t> want = intVector(ctx.operand(1, "shape"), "shape");
  bool allowZero = ctx.node.getInt("allowzero", 0) != 0;
  Dims out(want.size());
  int64_t inferAt = -1, known = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    int64_t d = want[i];
    if (d == -1) {
      if (inferAt >= 0) fail("shape " + dimsStr(want) + " has more than one -1");
      inferAt = static_cast<int64_t>(i);
      continue;
    }
    if (d == 0 && !allowZero) {
      if (i >= x.shape().size())
        fail("shape " + dimsStr(want) + " copies dim " + std::to_string(i) + " of a rank-" + std::to_string(rankOf(x)) +
             " input");
      d = x.shape()[i];
    }
    if (d < 0) fail("shape " + dimsStr(want) + " has a negative dim");
    out[i] = d;
    known = numelOf({known, d});
  }
  if (inferAt >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail("cannot reshape " + dimsStr(x.shape()) + " to " + dimsStr(want) + ": -1 has no integer value");
    out[inferAt] = x.numel() / known;
  }
  if (numelOf(out) != x.numel())
    fail("cannot reshape " + dimsStr(x.shape()) + " (" + std::to_string(x.numel()) + " elements) to " + dimsStr(out));
  return reshaped(x, out);
}

Tensor evalFlatten(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  int64_t rank = rankOf(x);
  int64_t axis = ctx.node.getInt("axis", 1);
  if (axis < -rank || axis > rank)
    fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= x.shape()[d];
  return reshaped(x, {outer, inner});
}

Tensor evalTranspose(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  int64_t rank = rankOf(x);
  std::vector<int64_t> perm = ctx.node.getInts("perm");
  if (perm.empty()) {
    for (int64_t d = rank; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    fail("perm " + dimsStr(perm) + " does not have one entry per dim of " + dimsStr(x.shape()));
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    p = normAxis(p, rank, "perm entry");
    if (seen[p]) fail("perm " + dimsStr(ctx.node.getInts("perm")) + " is not a permutation");
    seen[p] = true;
  }
  Dims in = stridesOf(x.shape()), out(rank), strides(rank);
  for (int64_t d = 0; d < rank; ++d) {
    out[d] = x.shape()[perm[d]];
    strides[d] = in[perm[d]];
  }
  Tensor r = newTensor(x.dtype(), out);
  gatherStrided(r, x, 0, strides);
  return r;
}

Tensor evalUnsqueeze(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  std::vector<int64_t> axes = ctx.node.getInts("axes");
  if (axes.empty()) fail("attribute axes is empty");
  int64_t outRank = rankOf(x) + static_cast<int64_t>(axes.size());
  std::vector<bool> inserted(outRank, false);
  for (int64_t a : axes) {
    int64_t d = normAxis(a, outRank, "axes entry");
    if (inserted[d]) fail("axes " + dimsStr(axes) + " lists a dim twice");
    inserted[d] = true;
  }
  Dims out;
  size_t next = 0;
  for (int64_t d = 0; d < outRank; ++d) out.push_back(inserted[d] ? 1 : x.shape()[next++]);
  return reshaped(x, out);
}

Tensor evalSqueeze(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  int64_t rank = rankOf(x);
  std::vector<int64_t> axes = ctx.node.getInts("axes");
  std::vector<bool> drop(rank, false);
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) drop[d] = x.shape()[d] == 1;
  }
  for (int64_t a : axes) {
    int64_t d = normAxis(a, rank, "axes entry");
    if (x.shape()[d] != 1)
      fail("cannot squeeze dim " + std::to_string(d) + " of size " + std::to_string(x.shape()[d]) + " in " +
           dimsStr(x.shape()));
    drop[d] = true;
  }
  Dims out;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[d]) out.push_back(x.shape()[d]);
  return reshaped(x, out);
}

Tensor evalConcat(const KernelCtx& ctx) {
  const Tensor& first = ctx.operand(0, "inputs[0]");
  if (!ctx.node.has("axis")) fail("missing attribute axis");
  int64_t rank = rankOf(first);
  if (rank == 0) fail("cannot concatenate scalars");
  int64_t axis = normAxis(ctx.node.getInt("axis", 0), rank);
  Dims out = first.shape();
  out[axis] = 0;
  for (size_t k = 0; k < ctx.in.size(); ++k) {
    const Tensor& t = ctx.operand(k, "inputs[k]");
    requireSameType(first, t, "inputs[0]", ("inputs[" + std::to_string(k) + "]").c_str());
    bool ok = rankOf(t) == rank;
    for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || t.shape()[d] == first.shape()[d];
    if (!ok)
      fail("inputs[" + std::to_string(k) + "] of shape " + dimsStr(t.shape()) + " does not match inputs[0]'s " +
           dimsStr(first.shape()) + " off axis " + std::to_string(axis));
    out[axis] += t.shape()[axis];
  }
  Tensor r = newTensor(first.dtype(), out);
  // Row-major: each operand contributes a contiguous block of len*inner per outer index.
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= out[d];
    if (d > axis) inner *= out[d];
  }
  int64_t rowOut = out[axis] * inner, at = 0;
  for (const Tensor* t : ctx.in) {
    int64_t block = t->shape()[axis] * inner;
    for (int64_t o = 0; o < outer; ++o) copyElems(r, o * rowOut + at, *t, o * block, block);
    at += block;
  }
  return r;
}

std::vector<Tensor> evalSplit(const KernelCtx& ctx, size_t numResults) {
  const Tensor& x = ctx.operand(0, "input");
  int64_t rank = rankOf(x);
  if (rank == 0) fail("cannot split a scalar");
  int64_t axis = normAxis(ctx.node.getInt("axis", 0), rank);
  int64_t dim = x.shape()[axis];
  int64_t n = static_cast<int64_t>(numResults);
  std::vector<int64_t> sizes = ctx.node.getInts("split");
  if (sizes.empty()) {
    if (ctx.node.has("num_outputs")) {
      // Opset 18: ceil(dim / num_outputs) each, the last one smaller if need be.
      int64_t k = ctx.node.getInt("num_outputs", n);
      if (k != n) fail("num_outputs " + std::to_string(k) + " but the node has " + std::to_string(n) + " results");
      int64_t chunk = (dim + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) sizes.push_back(std::clamp(dim - i * chunk, int64_t(0), chunk));
    } else {
      if (n == 0 || dim % n != 0)
        fail("dim " + std::to_string(dim) + " does not split evenly into " + std::to_string(n) + " parts");
      sizes.assign(n, dim / n);
    }
  }
  if (static_cast<int64_t>(sizes.size()) != n)
    fail("split " + dimsStr(sizes) + " has " + std::to_string(sizes.size()) + " sizes for " + std::to_string(n) +
         " results");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) fail("split " + dimsStr(sizes) + " has a negative size");
    total += s;
  }
  if (total != dim)
    fail("split " + dimsStr(sizes) + " sums to " + std::to_string(total) + ", not dim " + std::to_string(axis) +
         " of " + dimsStr(x.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= x.shape()[d];
    if (d > axis) inner *= x.shape()[d];
  }
  std::vector<Tensor> results;
  int64_t at = 0;
  for (int64_t s : sizes) {
    Dims shape = x.shape();
    shape[axis] = s;
    Tensor r = newTensor(x.dtype(), shape);
    for (int64_t o = 0; o < outer; ++o) copyElems(r, o * s * inner, x, (o * dim + at) * inner, s * inner);
    at += s;
    results.push_back(std::move(r));
  }
  return results;
}

Tensor evalSlice(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  std::vector<int64_t> starts = intVector(ctx.operand(1, "starts"), "starts");
  std::vector<int64_t> ends = intVector(ctx.operand(2, "ends"), "ends");
  int64_t rank = rankOf(x);
  size_t n = starts.size();
  std::vector<int64_t> axes, steps(n, 1);
  if (const Tensor* a = ctx.optional(3)) {
    axes = intVector(*a, "axes");
  } else {
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (const Tensor* s = ctx.optional(4)) steps = intVector(*s, "steps");
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    fail("starts, ends, axes and steps have different lengths");

  Dims out = x.shape(), start(rank, 0), step(rank, 1);
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < n; ++i) {
    int64_t d = normAxis(axes[i], rank, "axes entry");
    if (seen[d]) fail("axes lists dim " + std::to_string(d) + " twice");
    seen[d] = true;
    int64_t dim = x.shape()[d], st = steps[i];
    if (st == 0) fail("steps must be nonzero");
    // ONNX: negative starts/ends count from the end, then clamp to the dim;
    // [0, dim] going forward, [-1, dim-1] (start [0, dim-1]) going backward.
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += dim;  // cannot overflow: dim >= 0
    if (e < 0) e += dim;
    if (dim == 0) {
      b = e = 0;
    } else if (st > 0) {
      b = std::clamp(b, int64_t(0), dim);
      e = std::clamp(e, int64_t(0), dim);
    } else {
      b = std::clamp(b, int64_t(0), dim - 1);
      e = std::clamp(e, int64_t(-1), dim - 1);
    }
    // Element count: ceil((e - b) / st) if positive. |e - b| <= dim + 1, so no overflow;
    // |st| may be huge, hence the division form rather than (e - b + st - 1).
    int64_t span = st > 0 ? e - b : b - e;
    int64_t mag = st > 0 ? st : (st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st);
    out[d] = span <= 0 ? 0 : (span - 1) / mag + 1;
    start[d] = b;
    step[d] = st;
  }
  Tensor r = newTensor(x.dtype(), out);
  Dims in = stridesOf(x.shape()), strides(rank);
  int64_t offset = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (out[d] == 0) return r;  // empty: nothing to read (start may equal dim)
    offset += start[d] * in[d];
    strides[d] = step[d] * in[d];
  }
  gatherStrided(r, x, offset, strides);
  return r;
}

Tensor evalGather(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  const Tensor& idx = ctx.operand(1, "indices");
  requireType(idx, kSignedInt, "indices");
  int64_t rank = rankOf(x);
  if (rank == 0) fail("data must have rank >= 1");
  int64_t axis = normAxis(ctx.node.getInt("axis", 0), rank);
  int64_t dim = x.shape()[axis];
  std::vector<int64_t> ix = allInts(idx);
  for (int64_t& k : ix) {
    // Check every index before reading anything.
    if (k < -dim || k >= dim)
      fail("index " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) + " of size " +
           std::to_string(dim) + " (data shape " + dimsStr(x.shape()) + ")");
    if (k < 0) k += dim;
  }
  Dims out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= x.shape()[d];
    if (d > axis) inner *= x.shape()[d];
  }
  Tensor r = newTensor(x.dtype(), out);
  int64_t ni = static_cast<int64_t>(ix.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < ni; ++j) copyElems(r, (o * ni + j) * inner, x, (o * dim + ix[j]) * inner, inner);
  return r;
}

Tensor evalGatherND(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "data");
  const Tensor& idx = ctx.operand(1, "indices");
  requireType(idx, kSignedInt, "indices");
  int64_t r = rankOf(x), q = rankOf(idx);
  int64_t b = ctx.node.getInt("batch_dims", 0);
  if (r < 1 || q < 1) fail("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    fail("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), rank(indices)))");
  int64_t k = idx.shape().back();
  if (k < 1 || k > r - b)
    fail("the last dim of indices " + dimsStr(idx.shape()) + " must be in [1, " + std::to_string(r - b) + "]");
  for (int64_t d = 0; d < b; ++d)
    if (x.shape()[d] != idx.shape()[d])
      fail("batch dims of data " + dimsStr(x.shape()) + " and indices " + dimsStr(idx.shape()) + " differ");
  // Output: indices.shape[:-1] + data.shape[b+k:]; each index tuple picks a
  // slice of data.shape[b+k:] within its batch.
  Dims out(idx.shape().begin(), idx.shape().end() - 1);
  out.insert(out.end(), x.shape().begin() + b + k, x.shape().end());
  int64_t batches = 1, tuples = 1, slice = 1;
  for (int64_t d = 0; d < b; ++d) batches *= x.shape()[d];
  for (int64_t d = b; d < q - 1; ++d) tuples *= idx.shape()[d];
  for (int64_t d = b + k; d < r; ++d) slice *= x.shape()[d];
  Dims strides = stridesOf(x.shape());
  int64_t batchStride = b > 0 ? strides[b - 1] : x.numel();
  std::vector<int64_t> ix = allInts(idx);
  Tensor res = newTensor(x.dtype(), out);
  for (int64_t bi = 0; bi < batches; ++bi) {
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t src = bi * batchStride;
      for (int64_t j = 0; j < k; ++j) {
        int64_t dim = x.shape()[b + j], v = ix[(bi * tuples + t) * k + j];
        if (v < -dim || v >= dim)
          fail("index " + std::to_string(v) + " is out of range for dim " + std::to_string(b + j) + " of size " +
               std::to_string(dim) + " (data shape " + dimsStr(x.shape()) + ")");
        src += (v < 0 ? v + dim : v) * strides[b + j];
      }
      copyElems(res, (bi * tuples + t) * slice, x, src, slice);
    }
  }
  return res;
}

Tensor evalExpand(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  std::vector<int64_t> shape = intVector(ctx.operand(1, "shape"), "shape");
  for (int64_t d : shape)
    if (d < 0) fail("shape " + dimsStr(shape) + " has a negative dim");
  Tensor r = newTensor(x.dtype(), broadcastShapes({x.shape(), shape}));
  BroadcastMap m(x.shape(), r.shape());
  for (int64_t i = 0, n = r.numel(); i < n; ++i) copyElems(r, i, x, m(i), 1);
  return r;
}

Tensor evalTile(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  std::vector<int64_t> reps = intVector(ctx.operand(1, "repeats"), "repeats");
  int64_t rank = rankOf(x);
  if (static_cast<int64_t>(reps.size()) != rank)
    fail("repeats " + dimsStr(reps) + " must have one entry per dim of " + dimsStr(x.shape()));
  Dims out(rank);
  for (int64_t d = 0; d < rank; ++d) {
    if (reps[d] < 0) fail("repeats " + dimsStr(reps) + " has a negative entry");
    out[d] = numelOf({x.shape()[d], reps[d]});
  }
  Tensor r = newTensor(x.dtype(), out);
  Dims in = stridesOf(x.shape());
  forEachCoord(out, [&](const Dims& c, int64_t i) {
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += (c[d] % x.shape()[d]) * in[d];
    copyElems(r, i, x, src, 1);
  });
  return r;
}

Tensor evalConstantOfShape(const KernelCtx& ctx) {
  std::vector<int64_t> shape = intVector(ctx.operand(0, "input"), "input");
  for (int64_t d : shape)
    if (d < 0) fail("shape " + dimsStr(shape) + " has a negative dim");
  const Tensor* value = ctx.node.getTensor("value");
  if (!value) return newTensor(DType::F32, shape);  // ONNX default: float 0
  requireType(*value, kAny, "attribute value");
  if (value->numel() != 1) fail("attribute value must hold one element, got shape " + dimsStr(value->shape()));
  if (value->nbytes() < dtypeSize(value->dtype())) fail("attribute value has no data");
  Tensor r = newTensor(value->dtype(), shape);
  for (int64_t i = 0, n = r.numel(); i < n; ++i) copyElems(r, i, *value, 0, 1);
  return r;
}

Tensor evalRange(const KernelCtx& ctx) {
  const Tensor& start = ctx.operand(0, "start");
  const Tensor& limit = ctx.operand(1, "limit");
  const Tensor& delta = ctx.operand(2, "delta");
  requireType(start, kFloat | kSignedInt, "start");
  requireSameType(start, limit, "start", "limit");
  requireSameType(start, delta, "start", "delta");
  for (const Tensor* t : {&start, &limit, &delta})
    if (t->numel() != 1 || t->shape().size() > 1) fail("start, limit and delta must be scalars");
  DType dt = start.dtype();
  if (isFloating(dt)) {
    double s = loadF(start, 0), l = loadF(limit, 0), d = loadF(delta, 0);
    if (d == 0 || !std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d))
      fail("range needs finite start, limit and a nonzero finite delta");
    // ONNX Runtime takes limit - start in the tensor's type, then divides in double.
    double span = dt == DType::F64 ? l - s : static_cast<float>(l) - static_cast<float>(s);
    double count = std::max(std::ceil(span / d), 0.0);
    if (count > static_cast<double>(int64_t(1) << 32)) fail("range is too long");
    Tensor r = newTensor(dt, {static_cast<int64_t>(count)});
    // ONNX Runtime (and the ONNX function body) accumulate `value += delta`
    // in the tensor's own type; f32 is done in float to match it bit for bit.
    if (dt == DType::F64) {
      double v = s;
      for (int64_t i = 0; i < r.numel(); ++i, v += d) storeF(r, i, v);
    } else {
      float v = static_cast<float>(s);
      for (int64_t i = 0; i < r.numel(); ++i, v += static_cast<float>(d)) storeF(r, i, v);
    }
    return r;
  }
  int64_t s = loadI(start, 0), l = loadI(limit, 0), d = loadI(delta, 0);
  if (d == 0) fail("delta must be nonzero");
  // ceil((l - s) / d) in 128-bit-safe form: the span fits in uint64 when it has d's sign.
  int64_t count = 0;
  if ((d > 0 && l > s) || (d < 0 && l < s)) {
    uint64_t span = d > 0 ? static_cast<uint64_t>(l) - static_cast<uint64_t>(s)
                          : static_cast<uint64_t>(s) - static_cast<uint64_t>(l);
    uint64_t mag = d > 0 ? static_cast<uint64_t>(d) : 0 - static_cast<uint64_t>(d);
    uint64_t c = (span - 1) / mag + 1;
    if (c > (uint64_t(1) << 32)) fail("range is too long");
    count = static_cast<int64_t>(c);
  }
  Tensor r = newTensor(dt, {count});
  // s + i * d lies in [s, l), so the wrapping arithmetic gives the exact value.
  for (int64_t i = 0; i < count; ++i)
    storeI(r, i, static_cast<int64_t>(static_cast<uint64_t>(s) + static_cast<uint64_t>(i) * static_cast<uint64_t>(d)));
  return r;
}

Tensor evalTrilu(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  int64_t rank = rankOf(x);
  if (rank < 2) fail("input must have rank >= 2, got " + dimsStr(x.shape()));
  int64_t k = 0;
  if (const Tensor* kt = ctx.optional(1)) k = scalarInt(*kt, "k");
  bool upper = ctx.node.getInt("upper", 1) != 0;
  int64_t rows = x.shape()[rank - 2], cols = x.shape()[rank - 1];
  Tensor r = newTensor(x.dtype(), x.shape());  // zero-filled: the dropped triangle stays 0
  int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t col = i % cols, row = (i / cols) % rows;
    // Keep j - i >= k (upper) or j - i <= k (lower).
    int64_t diff = col - row;
    if (upper ? diff >= k : diff <= k) copyElems(r, i, x, i, 1);
  }
  return r;
}

}  // namespace

std::vector<Tensor> evalOp(const KernelCtx& ctx, MovementOp op) {
  using M = MovementOp;
  switch (op) {
    case M::Shape: return {evalShape(ctx)};
    case M::Reshape: return {evalReshape(ctx)};
    case M::Flatten: return {evalFlatten(ctx)};
    case M::Transpose: return {evalTranspose(ctx)};
    case M::Unsqueeze: return {evalUnsqueeze(ctx)};
    case M::Squeeze: return {evalSqueeze(ctx)};
    case M::Concat: return {evalConcat(ctx)};
    case M::Split: return evalSplit(ctx, ctx.node.results.size());
    case M::Slice: return {evalSlice(ctx)};
    case M::Gather: return {evalGather(ctx)};
    case M::GatherND: return {evalGatherND(ctx)};
    case M::Expand: return {evalExpand(ctx)};
    case M::Tile: return {evalTile(ctx)};
    case M::ConstantOfShape: return {evalConstantOfShape(ctx)};
    case M::Range: return {evalRange(ctx)};
    case M::Trilu: return {evalTrilu(ctx)};
  }
  BERTC_INTERNAL_ASSERT(false, "evalOp: not a data-movement op");
}

}  // namespace bertc::ir::interp
