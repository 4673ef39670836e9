/// Embedding fusion: the LayerNorm of the summed embedding lookups becomes
/// one EmbedLayerNorm.
///
///   LayerNorm(Word[ids] + Pos[position_ids] + Seg[segment_ids], gamma, beta)   (any Add order; Seg optional)
///     -> EmbedLayerNorm(ids, segment_ids?, Word, Pos, Seg?, gamma, beta, position_ids?) {epsilon}
///
/// Legal because EmbedLayerNorm is defined as exactly that sum of row
/// lookups normalised over the last axis, and addition is commutative, so
/// the Add order does not matter. PositionIds is omitted only when the
/// lookup provably reads rows 0..S-1 (a [1, S] Slice from 0, step 1, of a
/// constant buffer holding 0, 1, 2, ...), which is the op's default;
/// otherwise the ids are passed as computed. Two lookups indexed straight by
/// graph inputs are word and token-type lookups; the sum does not depend on
/// which is which, and the larger table is called Word, as architecture
/// detection does. The index computations stay in the graph; they are small.
///
/// Token types the export left out are folded into the position table:
///
///   Word[ids] + Pos[p] + Seg[Z]   (Z provably all zero)
///     -> EmbedLayerNorm(ids, -, Word, Pos', -, gamma, beta, ...),  Pos' = Pos + Seg[0] (row 0 added to every row)
///
/// legal because every element of Seg[Z] is Seg[0], and
/// Word[i] + Pos[p] + Seg[0] = Word[i] + (Pos + Seg[0])[p] for every p (Pos'
/// is rounded once, so the sum differs from the unfused one by rounding
/// only). Z is provably zero when it is a constant, or a ConstantOfShape of
/// value 0, through Slice, Expand, Reshape, Unsqueeze, Squeeze and Cast:
/// each of those only moves, repeats or converts elements, and converts 0 to
/// 0, whatever its shape operands compute. (Where Z's shape arithmetic
/// would have failed at run time, e.g. a sequence longer than the buffer
/// Z is sliced from, the position lookup fails the same way.)
///
/// Exporter variants matched:
///  * BERT, ELECTRA, ALBERT, MiniLM: position ids sliced from the constant
///    `position_ids` buffer (TorchScript and dynamo slice forms) -> omitted;
///    token types a graph input -> passed as SegmentIds; or, when the export
///    left that input out, Expand(Slice(the all-zero buffer HF registers))
///    or ConstantOfShape(0) -> folded into Pos, no Seg, no SegmentIds;
///  * RoBERTa, XLM-R: position ids computed from the ids,
///    CumSum(ids != pad) * (ids != pad) + pad -> kept, passed as PositionIds;
///  * DistilBERT: no token-type table -> no Seg, no SegmentIds;
///  * the LayerNorm as imported from opset-17 LayerNormalization, or as
///    fuse-layernorm rebuilds it from older exports' decomposed form;
///  * ALBERT's and ELECTRA's embedding projection after the LayerNorm is left
///    as it is (a MatMul + Add).
#include <algorithm>

#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Tensor;
using ir::Value;

constexpr const char* kPass = "fuse-embed-layernorm";

/// A row lookup Gather(table, ids) along axis 0 of a constant matrix.
struct Lookup {
  Node* gather = nullptr;
  Value* table = nullptr;
  Value* ids = nullptr;
};

/// v through Casts, back to a graph input if it is one (else null).
const Value* inputBehindCasts(const Value* v) {
  while (Node* n = defOf(v, OpKind::Cast)) v = n->operand(0);
  return v->isInput ? v : nullptr;
}

bool allZero(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.getDouble(static_cast<size_t>(i)) != 0) return false;
  return true;
}

/// True if every element of v is provably 0: v is sliced, expanded,
/// reshaped, (un)squeezed or cast from an all-zero constant or a
/// ConstantOfShape of value 0. Those ops only move, repeat or convert
/// elements, so this holds whatever their other operands compute.
bool isProvablyZero(const Value* v) {
  while (v && !v->isConstant() && v->producer) {
    OpKind op = v->producer->op;
    if (op == OpKind::ConstantOfShape) {
      const Tensor* value = v->producer->getTensor("value");
      return !value || allZero(*value);  // ONNX's default value is a float 0
    }
    if (op != OpKind::Slice && op != OpKind::Expand && op != OpKind::Cast && op != OpKind::Reshape &&
        op != OpKind::Unsqueeze && op != OpKind::Squeeze)
      return false;
    v = v->producer->operand(0);
  }
  return v && v->isConstant() && allZero(*v->constant);
}

/// Pos + Seg[0], row 0 of the token-type table added to every position row,
/// summed in double and rounded once.
Tensor foldTokenTypeZero(const Tensor& pos, const Tensor& seg) {
  Tensor out = Tensor::allocate(pos.dtype(), pos.shape());
  const int64_t width = pos.shape()[1];
  for (int64_t i = 0; i < pos.numel(); ++i)
    out.setDouble(static_cast<size_t>(i),
                  pos.getDouble(static_cast<size_t>(i)) + seg.getDouble(static_cast<size_t>(i % width)));
  return out;
}

/// True if `ids` ([1, S] with S the sequence length) is provably 0..S-1: a
/// Slice from 0 with step 1 of a constant [1, P] buffer whose row is 0..P-1.
bool isPositionRange(const Value* ids, const SymExpr& seq) {
  const Node* s = defOf(ids, OpKind::Slice);
  if (!s || ids->type.shape != ir::Shape{SymExpr(1), seq}) return false;
  const Value* buf = s->operand(0);
  if (!buf->isConstant() || buf->type.rank() != 2 || buf->constant->shape()[0] != 1) return false;
  for (int64_t i = 0; i < buf->constant->numel(); ++i)
    if (buf->constant->getInt(static_cast<size_t>(i)) != i) return false;
  bool startsAtZero = isConstSplat(s->operand(1), 0);
  bool stepOne = !s->operand(4) || isConstSplat(s->operand(4), 1);
  return startsAtZero && stepOne;
}

std::variant<std::vector<Lookup>, std::string> collectLookups(Value* sum, int64_t width,
                                                              std::vector<const Node*>& absorbed) {
  std::vector<Lookup> out;
  std::vector<Value*> work{sum};
  while (!work.empty()) {
    Value* v = work.back();
    work.pop_back();
    if (Node* add = defOf(v, OpKind::Add)) {
      absorbed.push_back(add);
      work.push_back(add->operand(1));
      work.push_back(add->operand(0));
      continue;
    }
    Node* g = defOf(v, OpKind::Gather);
    if (!g || g->getInt("axis", 0) != 0 || !g->operand(0)->isConstant() || g->operand(0)->type.rank() != 2 ||
        constDim(g->operand(0), 1) != width || !ir::isInteger(g->operand(1)->type.dtype))
      return "not a sum of embedding lookups: the term " + describeDef(v) +
             " is not a row lookup in a constant [rows, " + std::to_string(width) + "] table";
    absorbed.push_back(g);
    out.push_back({g, g->operand(0), g->operand(1)});
    if (out.size() > 3) return std::string("more than three embedding terms");
  }
  if (out.size() < 2) return std::string("fewer than two embedding terms");
  return out;
}

MatchResult fuse(Node& ln, Rewriter& rw) {
  ir::Graph& g = rw.graph();
  Value* x = ln.operand(0);
  auto rank = static_cast<int64_t>(x->type.rank());
  int64_t axis = ln.getInt("axis", -1);
  auto width = constDim(x, -1);
  if (rank != 3 || (axis != -1 && axis != rank - 1) || !width)
    return MatchResult::miss("not a LayerNorm over the last axis of [batch, seq, hidden]");
  Value* gamma = ln.operand(1);
  Value* beta = ln.operand(2);
  if (!gamma || !beta || !isConstVector(gamma, *width) || !isConstVector(beta, *width) ||
      gamma->type.rank() != 1 || beta->type.rank() != 1)
    return MatchResult::miss("gamma and beta are not constant [hidden] vectors");
  std::vector<const Node*> absorbed{&ln};
  auto c = collectLookups(x, *width, absorbed);
  if (auto* why = std::get_if<std::string>(&c)) return MatchResult::miss(*why);
  auto& lookups = std::get<std::vector<Lookup>>(c);

  // Word and token-type lookups are indexed by graph inputs (or, for token
  // types, an all-zero buffer); the one left is the position lookup.
  std::vector<Lookup> byInput, byZeros, computed;
  for (const Lookup& l : lookups) {
    if (inputBehindCasts(l.ids)) byInput.push_back(l);
    else if (isProvablyZero(l.ids)) byZeros.push_back(l);
    else computed.push_back(l);
  }
  if (computed.size() != 1) return MatchResult::miss("not exactly one position lookup among the terms");
  if (byInput.empty()) return MatchResult::miss("no lookup is indexed by a graph input (the token ids)");
  std::sort(byInput.begin(), byInput.end(), [](const Lookup& a, const Lookup& b) {
    return a.table->constant->shape()[0] > b.table->constant->shape()[0];
  });
  const Lookup& word = byInput[0];
  const Lookup* seg = byInput.size() > 1 ? &byInput[1] : nullptr;
  const Lookup* zeroSeg = byZeros.empty() ? nullptr : &byZeros[0];  // at most one: three terms, one position lookup
  const Lookup& pos = computed[0];
  if (zeroSeg && (zeroSeg->table->constant->shape()[0] < 1 || zeroSeg->table->type.dtype != pos.table->type.dtype))
    return MatchResult::miss(zeroSeg->gather->describe() +
                             ": the all-zero token types index an empty table, or one typed unlike the positions'");
  const ir::Shape& idsShape = word.ids->type.shape;
  if (idsShape.size() != 2 || x->type.shape != ir::Shape{idsShape[0], idsShape[1], SymExpr(*width)})
    return MatchResult::miss(word.gather->describe() + ": the token ids are not [batch, seq] of the sum");
  if (seg && seg->ids->type.shape != idsShape)
    return MatchResult::miss(seg->gather->describe() + ": the token-type ids are not shaped like the token ids");
  Value* positionIds = pos.ids;
  if (isPositionRange(pos.ids, idsShape[1])) {
    positionIds = nullptr;
  } else {
    const ir::Shape& p = pos.ids->type.shape;
    if (p.size() != 2 || p[1] != idsShape[1] || (p[0] != idsShape[0] && p[0] != SymExpr(1)))
      return MatchResult::miss(pos.gather->describe() + ": the position ids are not [batch or 1, seq]");
  }
  if (const Node* n = survivingNode(g, absorbed, ln.result()))
    return MatchResult::miss(n->describe() + " is also used outside the embedding sum");

  Value* posTable = pos.table;
  if (zeroSeg)
    posTable = rw.constant(pos.table->name + "_with_token_type",
                           foldTokenTypeZero(*pos.table->constant, *zeroSeg->table->constant));
  std::vector<Value*> operands{word.ids, seg ? seg->ids : nullptr, word.table, posTable, seg ? seg->table : nullptr,
                               gamma, beta, positionIds};
  while (!operands.back()) operands.pop_back();
  Node* e = rw.create(&ln, OpKind::EmbedLayerNorm, ln.name + "_embed", operands,
                      {{"epsilon", ln.getFloat("epsilon", 1e-5)}});
  rw.replace(ln.result(), e->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseEmbedLayerNorm(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, kPass, {{"embed-layernorm", OpKind::LayerNorm, fuse}});
}

}  // namespace bertc::passes
