/// Attention fusion: a multi-head self-attention block, from the Q/K/V
/// projections to the output projection, becomes one Attention node.
///
///   Qh = Transpose(Reshape(X Wq + bq, [B,S,N,d]), [0,2,1,3]) * cq
///   Kt = Transpose(Reshape(X Wk + bk, [B,S,N,d]), [0,2,3,1]) * ck
///   Vh = Transpose(Reshape(X Wv + bv, [B,S,N,d]), [0,2,1,3])
///   P  = Softmax(MatMul(Qh, Kt) * cs + M)          M[b,n,q,k] = mask[b,k] ? 0 : f,  f <= -1e4
///   Y  = MatMul(Reshape(Transpose(MatMul(P, Vh), [0,2,1,3]), [B,S,N*d]), Wout)
///     -> Y = Attention(X, [Wq|Wk|Wv], [bq|bk|bv], mask, Wout)
///              {num_heads = N, scale = cq*ck*cs, mask_filter_value = -10000}
///
/// Legal because Attention computes exactly this: X [Wq|Wk|Wv] + [bq|bk|bv]
/// is the three projections side by side; the head split, K's transpose and
/// the head merge are the op's own indexing, so they are folded into how it
/// reads Wqkv's column blocks and never materialised; scalar factors commute
/// with the products and multiply into one scale (read from the constants,
/// not assumed to be 1/sqrt(d)); and M is proven (attention_mask.h) to be 0
/// at attended keys and a fill f <= -1e4 (finfo.min or -inf) at padded keys.
/// After the softmax, adding -10000 instead of f gives padded keys the same
/// weight, exp(-10000 + s - max) = 0 in float, whenever the row has an
/// attended key; so does DistilBERT's form, which replaces the score by f
/// rather than adding it. A row whose keys are all padded (an all-zero mask
/// row, i.e. a sequence of padding only) differs: the exporters give uniform
/// weights (finfo.min) or zeros (SDPA's NaN guard), the fused op softmax of
/// the raw scores. The mask operand is the raw [B,S] graph input the mask
/// path reads; its values are taken as 0/1, as Hugging Face documents them
/// (nonzero = attend in the fused op). The output projection's bias Add
/// stays after Attention, for SkipLayerNorm to absorb.
///
/// Exporter variants matched (TorchScript opsets 14/17, dynamo opset 20;
/// eager and SDPA attention of HF BERT, RoBERTa, XLM-R, ELECTRA, ALBERT,
/// DistilBERT, MiniLM):
///  * projections MatMul + Add in either operand order (Gemm arrives as that
///    after canonicalize); a projection without bias gets zeros;
///  * head split and merge as any chain of Transpose / Reshape whose net
///    effect is the layout above: K as Transpose [0,2,3,1], as [0,2,1,3]
///    followed by a swap of the last two axes, or dynamo's
///    Reshape [B*N,S,d] -> Transpose [0,2,1] -> Reshape [B,N,d,S]; no-op
///    Reshapes anywhere (the layout is tracked, not listed);
///  * the scale as Mul or Div by a one-element constant on the scores, or on
///    Q and K (SDPA's sqrt(scale) on both), in any combination;
///  * the mask added (HF eager's (1 - Cast(mask)) * min at [B,1,1,S]; SDPA's
///    Where(bool, 0, -inf), Expand-ed to [B,1,S,S]; transformers 5's
///    index-arithmetic masks), selected (DistilBERT's Where(mask == 0, min,
///    scores)), or absent (no Mask operand); SDPA's NaN guard
///    Where(IsNaN(P), 0, P) after the Softmax;
///  * the output projection, a MatMul by a constant [H, Hout]; without one,
///    the fused node has no Wout.
/// Bails out, naming the node, on: causal, windowed or per-query masks, a
/// position bias or any other added term, non-constant weights, Q/K/V from
/// different inputs, a scale on V, and intermediates used outside the block.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>

#include "passes/attention_mask.h"
#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Tensor;
using ir::Value;

constexpr const char* kPass = "fuse-attention";
/// ONNX Runtime's default, and what the fused op adds at padded keys.
constexpr double kMaskFilterValue = -10000.0;
/// The largest fill accepted as "masked": -10000 (old HF) or below.
constexpr double kMaxFill = -1e4;

// ---- head layouts ------------------------------------------------------------

/// The logical axes of a head tensor: batch, sequence, head, head dim.
enum class Axis : uint8_t { B, S, N, D };
/// A tensor's dims, each a row-major run of logical axes (a merged dim has
/// several, a size-1 dim none).
using Layout = std::vector<std::vector<Axis>>;

struct HeadDims {
  std::array<SymExpr, 4> extent;
  const SymExpr& of(Axis a) const { return extent[static_cast<size_t>(a)]; }
};

/// `l` without axes of extent 1 and the empty dims they leave: two layouts
/// equal in this form address every element the same way.
Layout normalized(const Layout& l, const HeadDims& d) {
  Layout out;
  for (const auto& dim : l) {
    std::vector<Axis> kept;
    for (Axis a : dim)
      if (d.of(a) != SymExpr(1)) kept.push_back(a);
    if (!kept.empty()) out.push_back(kept);
  }
  return out;
}

/// The layout of n's result from its input's: a Transpose permutes dims, a
/// Reshape regroups the row-major axis sequence into its result's dims (and
/// fails if that would split a logical axis), a scalar factor keeps it.
std::optional<Layout> layoutAfter(const Node& n, const Layout& in, const HeadDims& d) {
  if (n.op == OpKind::Transpose) {
    std::vector<int64_t> perm = n.getInts("perm");
    if (perm.empty())
      for (size_t i = in.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    if (perm.size() != in.size()) return std::nullopt;
    Layout out;
    for (int64_t p : perm) out.push_back(in.at(static_cast<size_t>(p)));
    return out;
  }
  if (n.op != OpKind::Reshape) return in;
  std::vector<Axis> axes;
  for (const auto& dim : normalized(in, d)) axes.insert(axes.end(), dim.begin(), dim.end());
  Layout out;
  size_t next = 0;
  for (const SymExpr& target : n.result()->type.shape) {
    std::vector<Axis> dim;
    SymExpr size(1);
    while (size != target) {
      if (next == axes.size()) return std::nullopt;
      size = size * d.of(axes[next]);
      dim.push_back(axes[next++]);
    }
    out.push_back(dim);
  }
  if (next != axes.size()) return std::nullopt;
  return out;
}

// ---- the pieces of a block -----------------------------------------------------

/// For x * c, c * x or x / c with c a one-element float constant: x and the factor.
std::optional<std::pair<Value*, double>> scalarFactor(const Node& n) {
  if ((n.op != OpKind::Mul && n.op != OpKind::Div) || n.operands.size() != 2) return std::nullopt;
  for (size_t k = 0; k < 2; ++k) {
    auto c = constScalar(n.operand(k));
    Value* x = n.operand(1 - k);
    if (!c || !x || x->isConstant() || !ir::isFloat(x->type.dtype) || !(n.result()->type == x->type)) continue;
    if (n.op == OpKind::Div) {
      if (k != 1 || *c == 0) continue;
      return std::pair{x, 1.0 / *c};
    }
    return std::pair{x, *c};
  }
  return std::nullopt;
}

/// v with scalar factors peeled off (their product in `scale`, their nodes in `nodes`).
Value* peelFactors(Value* v, double& scale, std::vector<const Node*>& nodes) {
  while (Node* n = defOf(v)) {
    auto f = scalarFactor(*n);
    if (!f) break;
    scale *= f->second;
    nodes.push_back(n);
    v = f->first;
  }
  return v;
}

/// True if v is a MatMul's result, possibly times scalars: the attention scores.
bool isScores(Value* v) {
  double s = 1;
  std::vector<const Node*> ignored;
  return defOf(peelFactors(v, s, ignored), OpKind::MatMul) != nullptr;
}

/// A projection X W (+ b) and the Transpose / Reshape / scale chain from it
/// to a head tensor.
struct Projection {
  Value* x = nullptr;
  Value* w = nullptr;     ///< [Hin, H] constant
  Value* bias = nullptr;  ///< [H] constant, or null
  double scale = 1;
  std::vector<const Node*> chain;  ///< from the head tensor back to the projection
  std::vector<const Node*> nodes;  ///< every node, projection included
};

std::variant<Projection, std::string> traceProjection(Value* v) {
  Projection p;
  for (;;) {
    Node* n = defOf(v);
    if (!n) return "'" + v->name + "' is not computed from a projection";
    if (n->op == OpKind::Transpose || n->op == OpKind::Reshape) {
      p.chain.push_back(n);
      v = n->operand(0);
      continue;
    }
    if (auto f = scalarFactor(*n)) {
      p.scale *= f->second;
      p.chain.push_back(n);
      v = f->first;
      continue;
    }
    break;
  }
  Node* add = defOf(v, OpKind::Add);
  Node* mm = defOf(v, OpKind::MatMul);
  for (size_t k = 0; add && k < 2 && !mm; ++k)
    if ((mm = defOf(add->operand(k), OpKind::MatMul))) p.bias = add->operand(1 - k);
  if (!mm) return describeDef(v) + ": not a projection X W + b";
  p.x = mm->operand(0);
  p.w = mm->operand(1);
  if (!p.w->isConstant() || p.w->type.rank() != 2 || p.w->type.dtype != p.x->type.dtype)
    return mm->describe() + ": the weight is not a constant matrix";
  if (p.x->type.rank() != 3) return mm->describe() + ": the input is not [batch, seq, hidden]";
  auto h = constDim(p.w, 1);
  if (p.bias && (!h || !isConstVector(p.bias, *h) || p.bias->type.dtype != p.x->type.dtype))
    return add->describe() + ": the bias is not a constant vector as wide as the projection";
  p.nodes.push_back(mm);
  if (p.bias) p.nodes.push_back(add);
  p.nodes.insert(p.nodes.end(), p.chain.begin(), p.chain.end());
  return p;
}

/// The projection's layout at the head tensor (its output is [B, S, N*D]).
std::optional<Layout> headLayout(const Projection& p, const HeadDims& d) {
  Layout l{{Axis::B}, {Axis::S}, {Axis::N, Axis::D}};
  for (auto it = p.chain.rbegin(); it != p.chain.rend(); ++it) {
    auto next = layoutAfter(**it, l, d);
    if (!next) return std::nullopt;
    l = *next;
  }
  return normalized(l, d);
}

/// The users of v other than Shape nodes (exporters size everything with Shape).
std::vector<Node*> realUsers(const ir::Graph& g, const Value* v) {
  std::vector<Node*> us = g.users(v);
  std::erase_if(us, [](const Node* u) { return u->op == OpKind::Shape; });
  return us;
}

/// How the logits are masked: the scores, the raw mask (null when none) and
/// the Add or Where that applies it (null when none).
struct MaskUse {
  Value* scores = nullptr;
  const Value* mask = nullptr;
  Node* node = nullptr;
};

std::variant<MaskUse, std::string> matchMask(const ir::Graph& g, Value* logits, const ir::Shape& scoresShape) {
  Node* n = defOf(logits);
  bool isAdd = n && n->op == OpKind::Add, isWhere = n && n->op == OpKind::Where;
  if (!isAdd && !isWhere) return MaskUse{logits, nullptr, nullptr};
  std::vector<size_t> candidates = isAdd ? std::vector<size_t>{0, 1} : std::vector<size_t>{1, 2};
  auto at = std::find_if(candidates.begin(), candidates.end(), [&](size_t k) { return isScores(n->operand(k)); });
  if (at == candidates.end()) return n->describe() + ": no operand is the scores Q K^T";
  size_t s = *at;
  MaskUse use{n->operand(s), nullptr, n};
  auto fmt = [](double x) { return std::to_string(x); };
  if (isAdd) {
    auto e = evaluateMaskElement(g, n->operand(1 - s), scoresShape);
    if (auto* why = std::get_if<std::string>(&e))
      return n->describe() + ": the added term is not a key-padding mask: " + *why;
    auto& m = std::get<MaskElement>(e);
    if (m.at[0] == 0 && m.at[1] == 0) return use;  // adds nothing
    if (m.at[1] != 0) return n->describe() + ": the mask adds " + fmt(m.at[1]) + " to attended keys";
    if (!(m.at[0] <= kMaxFill))
      return n->describe() + ": the mask adds " + fmt(m.at[0]) + " to padded keys, not <= -1e4";
    use.mask = m.mask;
    return use;
  }
  // Where(c, scores, fill) or Where(c, fill, scores).
  auto c = evaluateMaskElement(g, n->operand(0), scoresShape);
  if (auto* why = std::get_if<std::string>(&c))
    return n->describe() + ": the condition is not a key-padding mask: " + *why;
  auto f = evaluateMaskElement(g, n->operand(s == 1 ? 2 : 1), scoresShape);
  if (auto* why = std::get_if<std::string>(&f)) return n->describe() + ": the fill is not a constant: " + *why;
  auto& cond = std::get<MaskElement>(c);
  auto& fill = std::get<MaskElement>(f);
  bool keeps[2];
  for (int m = 0; m < 2; ++m) keeps[m] = (cond.at[m] != 0) == (s == 1);
  if (keeps[0] && keeps[1]) return use;  // selects the scores everywhere
  if (!keeps[1]) return n->describe() + ": the selection masks attended keys";
  if (!(fill.at[0] <= kMaxFill)) return n->describe() + ": padded keys get " + fmt(fill.at[0]) + ", not <= -1e4";
  if (fill.mask && fill.mask != cond.mask) return n->describe() + ": the condition and fill read different masks";
  use.mask = cond.mask;
  return use;
}

// ---- the match -------------------------------------------------------------------

struct AttentionMatch {
  Value* x = nullptr;
  std::array<Value*, 3> w{}, bias{};  // Q, K, V
  const Value* mask = nullptr;
  Value* wout = nullptr;
  Value* output = nullptr;  ///< what the fused node replaces
  int64_t heads = 0;
  double scale = 1;
  std::vector<const Node*> absorbed;
};

std::variant<AttentionMatch, std::string> matchAttention(const ir::Graph& g, Node& softmax) {
  AttentionMatch am;
  Value* logits = softmax.operand(0);
  const ir::Shape& ss = logits->type.shape;
  if (ss.size() != 4) return std::string("the softmax input is not [batch, heads, queries, keys]");
  int64_t axis = softmax.getInt("axis", -1);
  if (axis != -1 && axis != 3) return std::string("the softmax is not over the keys");
  auto heads = ss[1].constValue();
  if (!heads || *heads <= 0) return std::string("the head count is not a constant");
  if (ss[2] != ss[3]) return std::string("queries and keys differ in length (not self-attention)");
  am.heads = *heads;
  am.absorbed.push_back(&softmax);

  // The mask, then the scale factors down to Q K^T.
  auto mu = matchMask(g, logits, ss);
  if (auto* why = std::get_if<std::string>(&mu)) return *why;
  MaskUse& mask = std::get<MaskUse>(mu);
  am.mask = mask.mask;
  if (mask.node) am.absorbed.push_back(mask.node);
  Node* qk = defOf(peelFactors(mask.scores, am.scale, am.absorbed), OpKind::MatMul);
  if (!qk) return describeDef(mask.scores) + ": the scores are not a product Q K^T";
  am.absorbed.push_back(qk);

  // P V, through SDPA's NaN guard Where(IsNaN(P), 0, P).
  Value* probs = softmax.result();
  std::vector<Node*> us = realUsers(g, probs);
  if (us.size() == 2) {
    Node* isNan = us[0]->op == OpKind::IsNaN ? us[0] : us[1];
    Node* guard = us[0]->op == OpKind::IsNaN ? us[1] : us[0];
    if (isNan->op != OpKind::IsNaN || guard->op != OpKind::Where || guard->operand(0) != isNan->result() ||
        !isConstSplat(guard->operand(1), 0) || guard->operand(2) != probs)
      return softmax.describe() + ": its probabilities are used other than by P V";
    am.absorbed.push_back(isNan);
    am.absorbed.push_back(guard);
    probs = guard->result();
    us = realUsers(g, probs);
  }
  if (us.size() != 1 || us[0]->op != OpKind::MatMul || us[0]->operand(0) != probs)
    return "the probabilities are not multiplied by V alone";
  Node* pv = us[0];
  am.absorbed.push_back(pv);

  // Q, K and V: projections of one X, laid out as heads.
  std::array<Value*, 3> heads3{qk->operand(0), qk->operand(1), pv->operand(1)};
  std::array<Projection, 3> proj;
  for (size_t i = 0; i < 3; ++i) {
    auto p = traceProjection(heads3[i]);
    if (auto* why = std::get_if<std::string>(&p)) return std::string("QKV").substr(i, 1) + " path: " + *why;
    proj[i] = std::get<Projection>(p);
  }
  am.x = proj[0].x;
  if (proj[1].x != am.x || proj[2].x != am.x) return std::string("Q, K and V are projections of different inputs");
  const ir::Shape& xs = am.x->type.shape;
  auto hidden = constDim(proj[0].w, 1);
  if (!hidden || *hidden % am.heads != 0)
    return "the projection width is not a multiple of the " + std::to_string(am.heads) + " heads";
  for (size_t i = 1; i < 3; ++i)
    if (proj[i].w->type.shape != proj[0].w->type.shape) return std::string("Q, K and V have different widths");
  if (proj[0].w->type.shape[0] != xs[2] || xs[0] != ss[0] || xs[1] != ss[2])
    return "the input " + am.x->type.str(g.symbols()) + " does not match the scores";
  HeadDims dims{{ss[0], ss[2], SymExpr(am.heads), SymExpr(*hidden / am.heads)}};
  using A = Axis;
  const std::array<Layout, 3> expected{Layout{{A::B}, {A::N}, {A::S}, {A::D}}, Layout{{A::B}, {A::N}, {A::D}, {A::S}},
                                       Layout{{A::B}, {A::N}, {A::S}, {A::D}}};
  for (size_t i = 0; i < 3; ++i) {
    auto l = headLayout(proj[i], dims);
    if (!l || *l != normalized(expected[i], dims))
      return describeDef(heads3[i]) + ": " + std::string("QKV").substr(i, 1) +
             " is not split into heads as attention reads them";
    am.w[i] = proj[i].w;
    am.bias[i] = proj[i].bias;
    am.absorbed.insert(am.absorbed.end(), proj[i].nodes.begin(), proj[i].nodes.end());
  }
  if (proj[2].scale != 1) return describeDef(heads3[2]) + ": V is scaled";
  am.scale *= proj[0].scale * proj[1].scale;
  if (am.scale == 0 || !std::isfinite(am.scale)) return "the scale " + std::to_string(am.scale) + " is degenerate";

  // Merge the heads back to [B, S, N*D], then the output projection.
  Value* y = pv->result();
  Layout l{{A::B}, {A::N}, {A::S}, {A::D}};
  const Layout merged = normalized(Layout{{A::B}, {A::S}, {A::N, A::D}}, dims);
  while (!(y->type.rank() == 3 && normalized(l, dims) == merged)) {
    us = realUsers(g, y);
    if (us.size() != 1 || (us[0]->op != OpKind::Transpose && us[0]->op != OpKind::Reshape))
      return describeDef(y) + ": the heads are not merged back into [batch, seq, hidden]";
    auto next = layoutAfter(*us[0], l, dims);
    if (!next) return us[0]->describe() + ": the heads are not merged back into [batch, seq, hidden]";
    l = *next;
    am.absorbed.push_back(us[0]);
    y = us[0]->result();
  }
  us = realUsers(g, y);
  if (us.size() == 1 && us[0]->op == OpKind::MatMul && us[0]->operand(0) == y && us[0]->operand(1)->isConstant() &&
      us[0]->operand(1)->type.rank() == 2 && constDim(us[0]->operand(1), 0) == *hidden &&
      us[0]->operand(1)->type.dtype == y->type.dtype) {
    am.wout = us[0]->operand(1);
    am.absorbed.push_back(us[0]);
    y = us[0]->result();
  }
  am.output = y;
  if (const Node* n = survivingNode(g, am.absorbed, y))
    return n->describe() + " is also used outside the attention block";
  return am;
}

// ---- the rewrite ------------------------------------------------------------------

/// [W0 | W1 | W2]: three [rows, cols] matrices side by side, [rows, 3 cols].
Tensor concatColumns(const std::array<Value*, 3>& w) {
  const Tensor& w0 = *w[0]->constant;
  int64_t rows = w0.shape()[0], cols = w0.shape()[1];
  Tensor out = Tensor::allocate(w0.dtype(), {rows, 3 * cols});
  size_t es = ir::dtypeSize(w0.dtype()), row = static_cast<size_t>(cols) * es;
  for (int64_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < 3; ++k)
      std::memcpy(out.mutableData() + static_cast<size_t>(r) * 3 * row + k * row,
                  w[k]->constant->data() + static_cast<size_t>(r) * row, row);
  return out;
}

/// [b0 | b1 | b2], zeros for an absent bias.
Tensor concatBiases(const std::array<Value*, 3>& b, ir::DType dtype, int64_t width) {
  Tensor out = Tensor::allocate(dtype, {3 * width});
  size_t bytes = static_cast<size_t>(width) * ir::dtypeSize(dtype);
  for (size_t k = 0; k < 3; ++k)
    if (b[k]) std::memcpy(out.mutableData() + k * bytes, b[k]->constant->data(), bytes);
  return out;
}

/// Merged weights by the ids of the six originals: ALBERT's layers share
/// theirs, and so share one Wqkv.
using WeightCache = std::map<std::array<int, 6>, std::pair<Value*, Value*>>;

MatchResult fuse(Node& softmax, Rewriter& rw, WeightCache& cache) {
  auto m = matchAttention(rw.graph(), softmax);
  if (auto* why = std::get_if<std::string>(&m)) return MatchResult::miss(*why);
  AttentionMatch& am = std::get<AttentionMatch>(m);
  std::array<int, 6> key{};
  for (size_t k = 0; k < 3; ++k) key[k] = am.w[k]->id, key[3 + k] = am.bias[k] ? am.bias[k]->id : -1;
  auto it = cache.find(key);
  if (it == cache.end()) {
    int64_t width = *constDim(am.w[0], 1);
    Value* wqkv = rw.constant(softmax.name + "_Wqkv", concatColumns(am.w));
    Value* bqkv = rw.constant(softmax.name + "_Bqkv", concatBiases(am.bias, am.x->type.dtype, width));
    it = cache.emplace(key, std::pair{wqkv, bqkv}).first;
  }
  Value* mask = nullptr;  // the graph input the analysis read, as the graph holds it
  for (Value* in : rw.graph().inputs())
    if (in == am.mask) mask = in;
  std::vector<Value*> operands{am.x, it->second.first, it->second.second, mask, am.wout};
  while (!operands.back()) operands.pop_back();
  Node* attn = rw.create(am.output->producer, OpKind::Attention, softmax.name + "_attention", operands,
                         {{"num_heads", am.heads}, {"scale", am.scale}, {"mask_filter_value", kMaskFilterValue}});
  rw.replace(am.output, attn->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseAttention(ir::Graph& g, PassContext& ctx) {
  WeightCache cache;
  Pattern p{"attention", OpKind::Softmax, [&](Node& root, Rewriter& rw) { return fuse(root, rw, cache); }};
  return applyPatterns(g, ctx, kPass, {p});
}

}  // namespace bertc::passes
