/// Shape rules for shape and data-movement ops. These are where the
/// exporters' shape arithmetic (`Shape -> Gather -> Unsqueeze -> Concat ->
/// Reshape`) is resolved: each rule also propagates the symbolic contents of
/// small integer tensors.
#include <algorithm>
#include <climits>

#include "ir/shape_rules.h"

namespace bertc::ir::rules {
namespace {

/// The contents of operand i as a shape (a 1-D integer tensor): symbolic
/// elements if known, else fresh symbols (the rank must still be constant).
Shape shapeOperand(const Ctx& c, size_t i, const char* what) {
  const Type& t = c.type(i);
  if (t.dtype != DType::I64) c.fail(std::string(what) + " must be an i64 tensor, got " + c.str(t));
  if (t.rank() != 1) c.fail(std::string(what) + " must be 1-D, got " + c.str(t));
  if (const auto& s = c.sym(i)) return *s;
  auto len = t.shape[0].constValue();
  if (!len) c.fail(std::string(what) + " has a length that is not known at compile time");
  Shape out;
  for (int64_t k = 0; k < *len; ++k) out.push_back(c.fresh(std::string(what) + "[" + std::to_string(k) + "]"));
  return out;
}

/// Elements [first, first+count) of a symbolic 1-D tensor, as a result value.
std::optional<std::vector<SymExpr>> sub(const std::optional<std::vector<SymExpr>>& s, size_t first, size_t count) {
  if (!s || first + count > s->size()) return std::nullopt;
  return std::vector<SymExpr>(s->begin() + static_cast<std::ptrdiff_t>(first),
                              s->begin() + static_cast<std::ptrdiff_t>(first + count));
}

/// Slice length along one dim for start/end/step, symbolically where possible.
SymExpr sliceLength(const Ctx& c, const SymExpr& dim, const SymExpr& start, const SymExpr& end, int64_t step) {
  auto d = dim.constValue(), s = start.constValue(), e = end.constValue();
  if (d && s && e) {  // ONNX's clamping rules, exactly.
    int64_t st = *s < 0 ? *s + *d : *s, en = *e < 0 ? *e + *d : *e;
    if (step > 0) {
      st = std::clamp<int64_t>(st, 0, *d);
      en = std::clamp<int64_t>(en, 0, *d);
      return SymExpr(en > st ? (en - st + step - 1) / step : 0);
    }
    st = std::clamp<int64_t>(st, 0, *d - 1);
    en = std::clamp<int64_t>(en, -1, *d - 1);
    return SymExpr(st > en ? (st - en + (-step) - 1) / (-step) : 0);
  }
  if (step != 1) return c.fresh("slice length");
  // Symbolic: assume the bounds lie inside the dim (what exporters produce
  // for `x[:, :seq]` and `x[..., -k:]`); "very large" ends mean the dim's end.
  SymExpr st = (s && *s < 0) ? dim + start : start;
  SymExpr en = (e && *e >= INT32_MAX) ? dim : (e && *e < 0) ? dim + end : end;
  if (d && e && !s) return c.fresh("slice length");
  SymExpr len = en - st;
  if (auto l = len.constValue(); l && *l < 0) return SymExpr(0);
  return len;
}

}  // namespace

NodeTypes infer(const Ctx& c, MovementOp op) {
  using M = MovementOp;
  const Node& n = c.n;
  switch (op) {
    case M::Shape: {
      const Shape& s = c.type(0).shape;
      auto r = static_cast<int64_t>(s.size());
      int64_t start = n.getInt("start", 0), end = n.getInt("end", r);
      start = std::clamp<int64_t>(start < 0 ? start + r : start, 0, r);
      end = std::clamp<int64_t>(end < 0 ? end + r : end, 0, r);
      std::vector<SymExpr> dims;
      for (int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<size_t>(i)]);
      return one(Type{DType::I64, {SymExpr(static_cast<int64_t>(dims.size()))}}, dims);
    }
    case M::Reshape: {
      const Type& x = c.type(0);
      Shape target = shapeOperand(c, 1, "shape");
      bool allowZero = n.getInt("allowzero", 0) != 0;
      std::optional<size_t> inferred;
      SymExpr known(1);
      for (size_t i = 0; i < target.size(); ++i) {
        auto v = target[i].constValue();
        if (v == 0 && !allowZero) {
          if (i >= x.rank()) c.fail("shape has 0 at position " + std::to_string(i) + " beyond the input's rank");
          target[i] = x.shape[i];
        } else if (v == -1) {
          if (inferred) c.fail("shape has more than one -1");
          inferred = i;
          continue;
        } else if (v && *v < -1) {
          c.fail("shape has the invalid dim " + std::to_string(*v));
        }
        known = known * target[i];
      }
      if (inferred) {
        if (auto q = x.numel().divExact(known)) {
          target[*inferred] = *q;
        } else {
          auto tot = x.numel().constValue(), k = known.constValue();
          if (tot && k) c.fail("cannot reshape " + c.str(x) + " to " + std::to_string(*k) + " x -1 elements");
          target[*inferred] = c.fresh("reshape -1");
        }
      } else {
        auto a = x.numel().constValue(), b = known.constValue();
        if (a && b && *a != *b) c.fail("cannot reshape " + c.str(x) + ": element count " + std::to_string(*a) +
                                        " != " + std::to_string(*b));
      }
      std::optional<std::vector<SymExpr>> s;
      if (target.size() <= 1 && c.sym(0)) s = c.sym(0);
      return one(Type{x.dtype, target}, s);
    }
    case M::Flatten: {
      const Type& x = c.type(0);
      auto r = static_cast<int64_t>(x.rank());
      int64_t axis = n.getInt("axis", 1);
      if (axis < -r || axis > r) c.fail("axis " + std::to_string(axis) + " out of range");
      if (axis < 0) axis += r;
      SymExpr a(1), b(1);
      for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) = (i < axis ? a : b) * x.shape[static_cast<size_t>(i)];
      return one(Type{x.dtype, {a, b}});
    }
    case M::Transpose: {
      const Type& x = c.type(0);
      std::vector<int64_t> perm = n.getInts("perm");
      if (perm.empty())
        for (size_t i = x.rank(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
      if (perm.size() != x.rank()) c.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(x.rank()));
      std::vector<bool> seen(x.rank(), false);
      Shape out;
      for (int64_t p : perm) {
        size_t a = normAxis(c, p, x.rank());
        if (seen[a]) c.fail("perm repeats axis " + std::to_string(p));
        seen[a] = true;
        out.push_back(x.shape[a]);
      }
      return one(Type{x.dtype, out});
    }
    case M::Unsqueeze: {
      const Type& x = c.type(0);
      std::vector<int64_t> axes = n.getInts("axes");
      if (axes.empty()) c.fail("axes are missing");
      size_t outRank = x.rank() + axes.size();
      std::vector<bool> isNew(outRank, false);
      for (int64_t a : axes) {
        size_t k = normAxis(c, a, outRank);
        if (isNew[k]) c.fail("axes repeat " + std::to_string(a));
        isNew[k] = true;
      }
      Shape out;
      size_t j = 0;
      for (size_t i = 0; i < outRank; ++i) out.push_back(isNew[i] ? SymExpr(1) : x.shape[j++]);
      std::optional<std::vector<SymExpr>> s;
      if (outRank <= 1) s = c.sym(0);
      return one(Type{x.dtype, out}, s);
    }
    case M::Squeeze: {
      const Type& x = c.type(0);
      std::vector<int64_t> axes = n.getInts("axes");
      std::vector<bool> drop(x.rank(), false);
      if (axes.empty()) {
        for (size_t i = 0; i < x.rank(); ++i) {
          auto d = x.shape[i].constValue();
          if (!d) c.fail("cannot squeeze the symbolic dim " + c.str(x.shape[i]) + " without explicit axes");
          drop[i] = *d == 1;
        }
      }
      for (int64_t a : axes) {
        size_t k = normAxis(c, a, x.rank());
        if (auto d = x.shape[k].constValue(); d && *d != 1) c.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(*d));
        drop[k] = true;
      }
      Shape out;
      for (size_t i = 0; i < x.rank(); ++i)
        if (!drop[i]) out.push_back(x.shape[i]);
      std::optional<std::vector<SymExpr>> s;
      if (out.size() <= 1) s = c.sym(0);
      return one(Type{x.dtype, out}, s);
    }
    case M::Concat: {
      const Type& first = c.type(0);
      size_t axis = normAxis(c, n.getInt("axis", 0), first.rank());
      Shape out = first.shape;
      out[axis] = SymExpr(0);
      std::vector<SymExpr> contents;
      bool allSym = first.rank() == 1;
      for (size_t i = 0; i < n.operands.size(); ++i) {
        const Type& t = c.type(i);
        if (t.dtype != first.dtype) c.fail("operands have different element types: " + c.str(first) + " and " + c.str(t));
        if (t.rank() != first.rank()) c.fail("operands have different ranks: " + c.str(first) + " and " + c.str(t));
        for (size_t k = 0; k < t.rank(); ++k) {
          if (k == axis) continue;
          auto a = out[k].constValue(), b = t.shape[k].constValue();
          if (a && b && *a != *b) c.fail("operand dims differ off the concat axis: " + c.str(first) + " and " + c.str(t));
          if (!a && b) out[k] = t.shape[k];  // a constant pins a symbolic dim
        }
        out[axis] = out[axis] + t.shape[axis];
        if (allSym && c.sym(i)) contents.insert(contents.end(), c.sym(i)->begin(), c.sym(i)->end());
        else allSym = false;
      }
      std::optional<std::vector<SymExpr>> s;
      if (allSym) s = std::move(contents);
      return one(Type{first.dtype, out}, s);
    }
    case M::Split: {
      const Type& x = c.type(0);
      size_t axis = normAxis(c, n.getInt("axis", 0), x.rank());
      std::vector<int64_t> sizes = n.getInts("split");
      NodeTypes r;
      if (sizes.empty()) {
        int64_t parts = n.has("num_outputs") ? n.getInt("num_outputs", 1) : static_cast<int64_t>(n.results.size());
        if (parts <= 0 || static_cast<size_t>(parts) != n.results.size()) c.fail("num_outputs does not match the results");
        auto d = x.shape[axis].constValue();
        if (!d) {
          auto q = x.shape[axis].divExact(SymExpr(parts));
          if (!q) c.fail("cannot split the symbolic dim " + c.str(x.shape[axis]) + " evenly");
          for (int64_t i = 0; i < parts; ++i) sizes.push_back(-1);
          for (size_t i = 0; i < n.results.size(); ++i) {
            Shape s = x.shape;
            s[axis] = *q;
            r.types.push_back(Type{x.dtype, s});
            r.symbolic.emplace_back();
          }
          return r;
        }
        int64_t chunk = (*d + parts - 1) / parts;  // ONNX: the last chunk may be smaller
        for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(chunk, *d - i * chunk));
      }
      if (sizes.size() != n.results.size()) c.fail("split has " + std::to_string(sizes.size()) + " sizes for " + std::to_string(n.results.size()) + " results");
      SymExpr total(0);
      for (int64_t s : sizes) total = total + SymExpr(s);
      if (auto d = x.shape[axis].constValue(); d && total != SymExpr(*d))
        c.fail("split sizes sum to " + c.str(total) + " but the dim is " + std::to_string(*d));
      size_t offset = 0;
      for (int64_t sz : sizes) {
        Shape s = x.shape;
        s[axis] = SymExpr(sz);
        r.types.push_back(Type{x.dtype, s});
        r.symbolic.push_back(x.rank() == 1 ? sub(c.sym(0), offset, static_cast<size_t>(sz)) : std::nullopt);
        offset += static_cast<size_t>(sz);
      }
      return r;
    }
    case M::Slice: {
      const Type& x = c.type(0);
      Shape starts = shapeOperand(c, 1, "starts"), ends = shapeOperand(c, 2, "ends");
      if (starts.size() != ends.size()) c.fail("starts and ends have different lengths");
      std::vector<int64_t> axes, steps(starts.size(), 1);
      if (c.has(3)) {
        auto a = c.constInts(3);
        if (!a) c.fail("axes must be known at compile time");
        axes = *a;
      } else {
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      }
      if (c.has(4)) {
        auto s = c.constInts(4);
        if (!s) c.fail("steps must be known at compile time");
        steps = *s;
      }
      if (axes.size() != starts.size() || steps.size() != starts.size()) c.fail("starts, ends, axes and steps differ in length");
      Shape out = x.shape;
      std::optional<std::vector<SymExpr>> s;
      for (size_t i = 0; i < axes.size(); ++i) {
        size_t a = normAxis(c, axes[i], x.rank());
        if (steps[i] == 0) c.fail("step is 0");
        out[a] = sliceLength(c, x.shape[a], starts[i], ends[i], steps[i]);
      }
      // Slicing the contents of a symbolic 1-D tensor (Shape(x)[1:3]).
      if (x.rank() == 1 && c.sym(0) && steps[0] == 1) {
        auto st = starts[0].constValue(), en = ends[0].constValue();
        auto len = static_cast<int64_t>(c.sym(0)->size());
        if (st && en) {
          int64_t b = std::clamp<int64_t>(*st < 0 ? *st + len : *st, 0, len);
          int64_t e = std::clamp<int64_t>(*en < 0 ? *en + len : *en, 0, len);
          if (e >= b) s = sub(c.sym(0), static_cast<size_t>(b), static_cast<size_t>(e - b));
        }
      }
      return one(Type{x.dtype, out}, s);
    }
    case M::Gather: {
      const Type& x = c.type(0);
      const Type& idx = c.type(1);
      if (idx.dtype != DType::I64 && idx.dtype != DType::I32) c.fail("indices must be i32 or i64, got " + c.str(idx));
      size_t axis = normAxis(c, n.getInt("axis", 0), x.rank());
      Shape out(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis));
      out.insert(out.end(), idx.shape.begin(), idx.shape.end());
      out.insert(out.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.shape.end());
      std::optional<std::vector<SymExpr>> s;
      if (x.rank() == 1 && c.sym(0)) {
        if (auto ids = c.constInts(1)) {
          auto len = static_cast<int64_t>(c.sym(0)->size());
          std::vector<SymExpr> picked;
          for (int64_t i : *ids) {
            int64_t k = i < 0 ? i + len : i;
            if (k < 0 || k >= len) c.fail("index " + std::to_string(i) + " is out of range for length " + std::to_string(len));
            picked.push_back((*c.sym(0))[static_cast<size_t>(k)]);
          }
          s = std::move(picked);
        }
      }
      return one(Type{x.dtype, out}, s);
    }
    case M::GatherND: {
      const Type& x = c.type(0);
      const Type& idx = c.type(1);
      if (idx.dtype != DType::I64) c.fail("indices must be i64, got " + c.str(idx));
      if (idx.rank() == 0) c.fail("indices must have rank >= 1");
      auto b = static_cast<size_t>(n.getInt("batch_dims", 0));
      auto tuple = idx.shape.back().constValue();
      if (!tuple) c.fail("the last dim of indices must be known at compile time");
      if (b >= idx.rank() || b + static_cast<size_t>(*tuple) > x.rank())
        c.fail("indices " + c.str(idx) + " do not fit data " + c.str(x) + " with batch_dims " + std::to_string(b));
      Shape out(idx.shape.begin(), idx.shape.end() - 1);
      out.insert(out.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(b + static_cast<size_t>(*tuple)), x.shape.end());
      return one(Type{x.dtype, out});
    }
    case M::Expand: {
      const Type& x = c.type(0);
      Shape target = shapeOperand(c, 1, "shape");
      // A target dim of 1 keeps the input's dim (bidirectional broadcasting).
      Shape out = broadcast(c, {&x.shape, &target});
      std::optional<std::vector<SymExpr>> s;
      if (out.size() <= 1 && c.sym(0) && c.sym(0)->size() == 1 && out.size() == 1) {
        if (auto len = out[0].constValue(); len && *len <= 64) s = std::vector<SymExpr>(static_cast<size_t>(*len), (*c.sym(0))[0]);
      }
      return one(Type{x.dtype, out}, s);
    }
    case M::Tile: {
      const Type& x = c.type(0);
      Shape reps = shapeOperand(c, 1, "repeats");
      if (reps.size() != x.rank()) c.fail("repeats has " + std::to_string(reps.size()) + " entries for rank " + std::to_string(x.rank()));
      Shape out;
      for (size_t i = 0; i < x.rank(); ++i) out.push_back(x.shape[i] * reps[i]);
      return one(Type{x.dtype, out});
    }
    case M::ConstantOfShape: {
      Shape out = shapeOperand(c, 0, "shape");
      DType dt = DType::F32;
      std::optional<std::vector<SymExpr>> s;
      if (const Tensor* v = n.getTensor("value")) {
        if (v->numel() != 1) c.fail("value must hold one element");
        dt = v->dtype();
        if (isInteger(dt) && out.size() == 1)
          if (auto len = out[0].constValue(); len && *len <= 64)
            s = std::vector<SymExpr>(static_cast<size_t>(*len), SymExpr(v->getInt(0)));
      }
      if (out.empty() && s == std::nullopt && n.getTensor("value") && isInteger(dt)) s = std::vector<SymExpr>{SymExpr(n.getTensor("value")->getInt(0))};
      return one(Type{dt, out}, s);
    }
    case M::Range: {
      DType dt = c.type(0).dtype;
      for (size_t i = 0; i < 3; ++i) {
        if (c.type(i).dtype != dt) c.fail("start, limit and delta must share a type");
        if (c.type(i).rank() != 0 && c.type(i).numel() != SymExpr(1)) c.fail("start, limit and delta must be scalars");
      }
      SymExpr len = c.fresh("range length");
      if (isInteger(dt) && c.sym(0) && c.sym(1) && c.sym(2)) {
        const SymExpr &st = (*c.sym(0))[0], &li = (*c.sym(1))[0], &de = (*c.sym(2))[0];
        auto a = st.constValue(), b = li.constValue(), d = de.constValue();
        if (a && b && d && *d != 0) len = SymExpr(std::max<int64_t>(0, (*b - *a + *d + (*d > 0 ? -1 : 1)) / *d));
        else if (d == 1) len = li - st;  // exporters' arange(seq): assume start <= limit
      }
      std::optional<std::vector<SymExpr>> s;
      if (auto l = len.constValue(); l && *l <= 64 && c.sym(0) && c.sym(2)) {
        std::vector<SymExpr> vals;
        for (int64_t i = 0; i < *l; ++i) vals.push_back((*c.sym(0))[0] + SymExpr(i) * (*c.sym(2))[0]);
        s = std::move(vals);
      }
      return one(Type{dt, {len}}, s);
    }
    case M::Trilu:
      if (c.type(0).rank() < 2) c.fail("input must have rank >= 2");
      return one(c.type(0));
  }
  BERTC_INTERNAL_ASSERT(false, "infer: not a data-movement op");
}

}  // namespace bertc::ir::rules
