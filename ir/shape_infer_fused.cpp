/// Shape rules for the fused ops (the BERTC_FUSED_OP rows of ops.def). They
/// check operand shapes strictly: a fusion that builds a malformed node is a
/// compiler bug, and the verifier catches it here.
#include "ir/shape_rules.h"

namespace bertc::ir::rules {
namespace {

/// Requires operand i to be a float tensor of exactly `shape` and X's dtype.
void expectShape(const Ctx& c, size_t i, const char* what, const Shape& shape, DType dt) {
  const Type& t = c.type(i);
  if (t.dtype != dt || t.shape != shape)
    c.fail(std::string(what) + " must be " + c.str(Type{dt, shape}) + ", got " + c.str(t));
}

/// The last dim of X, which 1-D parameters (gamma, beta, bias) must match.
const Dim& lastDim(const Ctx& c, const Type& x) {
  if (x.rank() == 0) c.fail("X must have rank >= 1");
  return x.shape.back();
}

void expectIndices(const Ctx& c, size_t i, const char* what) {
  if (!isInteger(c.type(i).dtype)) c.fail(std::string(what) + " must be an integer tensor, got " + c.str(c.type(i)));
}

}  // namespace

NodeTypes infer(const Ctx& c, FusedOp op) {
  using F = FusedOp;
  const Node& n = c.n;
  switch (op) {
    case F::SkipLayerNorm: {
      const Type& x = c.type(0);
      if (!isFloat(x.dtype)) c.fail("X must be a float tensor");
      const Dim& h = lastDim(c, x);
      if (c.type(1).shape != x.shape || c.type(1).dtype != x.dtype)
        c.fail("Skip " + c.str(c.type(1)) + " must match X " + c.str(x));
      expectShape(c, 2, "Gamma", {h}, x.dtype);
      if (c.has(3)) expectShape(c, 3, "Beta", {h}, x.dtype);
      if (c.has(4)) expectShape(c, 4, "Bias", {h}, x.dtype);
      return one(x);
    }
    case F::BiasGelu: case F::FastGelu: {
      const Type& x = c.type(0);
      if (!isFloat(x.dtype)) c.fail("X must be a float tensor");
      if (c.has(1)) expectShape(c, 1, "Bias", {lastDim(c, x)}, x.dtype);
      return one(x);
    }
    case F::Linear: {
      const Type& x = c.type(0);
      const Type& w = c.type(1);
      if (!isFloat(x.dtype) || w.dtype != x.dtype || w.rank() != 2)
        c.fail("X and W must be float with W 2-D, got " + c.str(x) + " and " + c.str(w));
      if (lastDim(c, x) != w.shape[0]) c.fail("X " + c.str(x) + " and W " + c.str(w) + " do not chain");
      if (c.has(2)) expectShape(c, 2, "B", {w.shape[1]}, x.dtype);
      std::string act = n.getString("activation", "none");
      if (act != "none" && act != "tanh" && act != "gelu" && act != "relu") c.fail("unknown activation '" + act + "'");
      Shape out = x.shape;
      out.back() = w.shape[1];
      return one(Type{x.dtype, out});
    }
    case F::Attention: {
      const Type& x = c.type(0);
      const Type& w = c.type(1);
      if (!isFloat(x.dtype) || x.rank() != 3) c.fail("X must be a float [batch, seq, hidden] tensor, got " + c.str(x));
      if (w.dtype != x.dtype || w.rank() != 2 || w.shape[0] != x.shape[2])
        c.fail("Wqkv " + c.str(w) + " must be [" + c.str(x.shape[2]) + ", 3 * hidden]");
      auto qkv = w.shape[1].constValue();
      int64_t heads = n.getInt("num_heads", 0);
      if (!qkv || *qkv % 3 != 0) c.fail("Wqkv's columns must be 3 * hidden");
      int64_t hidden = *qkv / 3;
      if (heads <= 0 || hidden % heads != 0)
        c.fail("num_heads " + std::to_string(heads) + " must divide the hidden size " + std::to_string(hidden));
      expectShape(c, 2, "Bqkv", {SymExpr(*qkv)}, x.dtype);
      if (c.has(3)) {
        const Type& m = c.type(3);
        if (m.rank() != 2 || m.shape[0] != x.shape[0] || m.shape[1] != x.shape[1])
          c.fail("Mask " + c.str(m) + " must be [batch, seq] of X " + c.str(x));
      }
      Shape out{x.shape[0], x.shape[1], SymExpr(hidden)};
      if (c.has(4)) {
        const Type& wo = c.type(4);
        if (wo.dtype != x.dtype || wo.rank() != 2 || wo.shape[0] != SymExpr(hidden))
          c.fail("Wout " + c.str(wo) + " must be [" + std::to_string(hidden) + ", out]");
        out[2] = wo.shape[1];
      }
      return one(Type{x.dtype, out});
    }
    case F::EmbedLayerNorm: {
      // Operands: 0 InputIds, 1 SegmentIds?, 2 Word, 3 Pos, 4 Seg?, 5 Gamma, 6 Beta, 7 PositionIds?
      for (size_t i : {2, 3, 5, 6})
        if (!c.has(i)) c.fail("operand " + std::to_string(i) + " (Word, Pos, Gamma, Beta) is required");
      const Type& ids = c.type(0);
      expectIndices(c, 0, "InputIds");
      if (ids.rank() != 2) c.fail("InputIds must be [batch, seq], got " + c.str(ids));
      const Type& word = c.type(2);
      if (!isFloat(word.dtype) || word.rank() != 2) c.fail("Word must be a float matrix, got " + c.str(word));
      const Dim& h = word.shape[1];
      const Type& pos = c.type(3);
      if (pos.dtype != word.dtype || pos.rank() != 2 || pos.shape[1] != h) c.fail("Pos must be [positions, " + c.str(h) + "]");
      if (c.has(1)) {
        expectIndices(c, 1, "SegmentIds");
        if (c.type(1).shape != ids.shape) c.fail("SegmentIds must match InputIds");
        if (!c.has(4)) c.fail("SegmentIds needs Seg");
      }
      if (c.has(4) && !c.has(1)) c.fail("Seg needs SegmentIds");
      if (c.has(4)) {
        const Type& seg = c.type(4);
        if (seg.dtype != word.dtype || seg.rank() != 2 || seg.shape[1] != h) c.fail("Seg must be [types, " + c.str(h) + "]");
      }
      expectShape(c, 5, "Gamma", {h}, word.dtype);
      expectShape(c, 6, "Beta", {h}, word.dtype);
      if (c.has(7)) {
        expectIndices(c, 7, "PositionIds");
        const Type& p = c.type(7);
        if (p.rank() != 2 || p.shape[1] != ids.shape[1] || (p.shape[0] != ids.shape[0] && p.shape[0] != SymExpr(1)))
          c.fail("PositionIds " + c.str(p) + " must be [batch or 1, seq]");
      }
      return one(Type{word.dtype, {ids.shape[0], ids.shape[1], h}});
    }
    case F::MeanPool: {
      const Type& x = c.type(0);
      const Type& m = c.type(1);
      if (!isFloat(x.dtype) || x.rank() != 3) c.fail("X must be a float [batch, seq, hidden] tensor, got " + c.str(x));
      if (m.rank() != 2 || m.shape[0] != x.shape[0] || m.shape[1] != x.shape[1])
        c.fail("Mask " + c.str(m) + " must be [batch, seq] of X " + c.str(x));
      return one(Type{x.dtype, {x.shape[0], x.shape[2]}});
    }
  }
  BERTC_INTERNAL_ASSERT(false, "infer: not a fused op");
}

}  // namespace bertc::ir::rules
