#include "passes/architecture.h"

#include <algorithm>
#include <map>
#include <set>

namespace bertc::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

/// A constant float matrix (2-D weight), or null.
const Value* weightMatrix(const Value* v) {
  if (!v || !v->isConstant() || !ir::isFloat(v->type.dtype) || v->type.rank() != 2) return nullptr;
  return v;
}

int64_t dim(const Value* v, size_t i) {
  auto c = v->type.shape.at(i).constValue();
  return c ? *c : 0;
}

/// Follows single-input casts/reshapes back towards a graph input.
const Value* throughCasts(const Value* v) {
  while (v && v->producer &&
         (v->producer->op == OpKind::Cast || v->producer->op == OpKind::Identity ||
          v->producer->op == OpKind::Reshape || v->producer->op == OpKind::Unsqueeze))
    v = v->producer->operand(0);
  return v;
}

bool anyOp(const Graph& g, OpKind op) {
  return std::any_of(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->op == op; });
}

}  // namespace

Architecture detectArchitecture(const Graph& g) {
  Architecture a;

  // Embedding tables: constant matrices gathered along axis 0. Those indexed
  // straight by a graph input are word and token-type tables (the larger is
  // the word table); the rest are position tables.
  std::vector<const Value*> direct, computed;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::Gather || n->getInt("axis", 0) != 0) continue;
    const Value* table = weightMatrix(n->operand(0));
    if (!table) continue;
    const Value* idx = throughCasts(n->operand(1));
    (idx && idx->isInput ? direct : computed).push_back(table);
  }
  auto byRows = [](const Value* x, const Value* y) { return dim(x, 0) > dim(y, 0); };
  std::sort(direct.begin(), direct.end(), byRows);
  if (!direct.empty()) {
    a.vocab = dim(direct[0], 0);
    a.embeddingSize = dim(direct[0], 1);
  }
  if (direct.size() > 1) a.typeVocab = dim(direct[1], 0);
  if (!computed.empty()) a.maxPositions = dim(*std::max_element(computed.begin(), computed.end(), byRows), 0);

  // Attention blocks: each has one Softmax over [batch, heads, seq, seq].
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::Softmax || n->result()->type.rank() != 4) continue;
    ++a.layers;
    if (auto h = n->result()->type.shape[1].constValue()) a.heads = *h;
  }

  // Hidden size: the width of the layer norms (the last one is the encoder's).
  for (const auto& n : g.nodes())
    if (n->op == OpKind::LayerNorm && n->result()->type.rank() >= 1)
      if (auto h = n->result()->type.shape.back().constValue()) a.hidden = *h;
  if (a.hidden == 0) a.hidden = a.embeddingSize;
  if (a.embeddingSize == 0) a.embeddingSize = a.hidden;

  // Projection weights [in, out] (MatMul) or [out, in] (Gemm with transB).
  // The FFN's inner width is the most common `out` of a weight whose `in` is
  // the hidden size and whose `out` is neither hidden nor a multiple of it.
  std::map<const Value*, int> uses;
  std::map<int64_t, int> inner;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::MatMul && n->op != OpKind::Gemm) continue;
    const Value* w = weightMatrix(n->operand(1));
    if (!w) continue;
    ++uses[w];
    bool t = n->op == OpKind::Gemm && n->getInt("transB", 0) != 0;
    int64_t in = dim(w, t ? 1 : 0), out = dim(w, t ? 0 : 1);
    if (in == a.hidden && out != a.hidden && out % std::max<int64_t>(a.hidden, 1) != 0) ++inner[out];
    // A square hidden x hidden projection consumed by Tanh after the last layer is the pooler.
    if (in == a.hidden && out == a.hidden) {
      for (const Node* u : g.users(n->result())) {
        const Node* act = u;
        if (u->op == OpKind::Add && !g.users(u->result()).empty()) act = g.users(u->result())[0];
        if (act->op == OpKind::Tanh) a.hasPooler = true;
      }
    }
  }
  int best = 0;
  for (auto [width, count] : inner)
    if (count > best) best = count, a.intermediate = width;
  a.sharedLayers = a.layers > 1 && std::any_of(uses.begin(), uses.end(), [&](auto& u) { return u.second >= a.layers; });

  // Activation: erf-based GELU, the tanh approximation (x^3 term), or ReLU.
  bool erf = anyOp(g, OpKind::Erf), cube = false, tanhGelu = false, exactGelu = false;
  for (const auto& n : g.nodes()) {
    if (n->op == OpKind::Gelu) (n->getString("approximate", "none") == "tanh" ? tanhGelu : exactGelu) = true;
    if (n->op == OpKind::Pow && n->operand(1) && n->operand(1)->isConstant() && n->operand(1)->constant->numel() == 1 &&
        n->operand(1)->constant->getDouble(0) == 3.0)
      cube = true;
  }
  if (erf || exactGelu) a.activation = "gelu";
  else if (cube || tanhGelu) a.activation = "gelu_tanh";
  else if (anyOp(g, OpKind::Relu)) a.activation = "relu";

  // Family, from structure alone.
  if (a.layers == 0 || a.vocab == 0) {
    a.familyNote = "no embedding lookup feeding attention blocks was found";
  } else if (a.sharedLayers) {
    a.family = "albert";
    a.familyNote = "layers share one set of weights";
  } else if (anyOp(g, OpKind::CumSum)) {
    a.family = "roberta";
    a.familyNote = "position ids are computed from the padding mask (RoBERTa / XLM-RoBERTa)";
  } else if (a.typeVocab == 0) {
    a.family = "distilbert";
    a.familyNote = "no token-type embeddings";
  } else if (a.embeddingSize != a.hidden) {
    a.family = "electra";
    a.familyNote = "embeddings are projected to the hidden size without shared layers";
  } else {
    a.family = "bert";
    a.familyNote = "word, position and token-type embeddings; no weight sharing";
  }
  return a;
}

ParamStats paramStats(const Graph& g) {
  ParamStats s;
  for (const Value* c : g.constants()) {
    s.bytes += static_cast<int64_t>(c->constant->nbytes());
    if (ir::isFloat(c->type.dtype)) s.parameters += c->constant->numel();
  }
  return s;
}

std::optional<double> matmulFlops(const Graph& g, const std::vector<int64_t>& env) {
  double total = 0;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::MatMul && n->op != OpKind::Gemm) continue;
    const ir::Type& a = n->operand(0)->type;
    const ir::Type& out = n->result()->type;
    // MACs = numel(result) * K, K the contracted dim of A.
    size_t kAxis = (n->op == OpKind::Gemm && n->getInt("transA", 0) != 0) ? 0 : a.rank() - 1;
    auto k = a.shape.at(kAxis).eval(env);
    auto m = out.numel().eval(env);
    if (!k || !m) return std::nullopt;
    total += 2.0 * static_cast<double>(*m) * static_cast<double>(*k);
  }
  return total;
}

std::vector<int64_t> bindBatchSeq(const Graph& g, int64_t batch, int64_t seq) {
  std::vector<int64_t> env(g.symbols().size(), -1);
  for (const Value* in : g.inputs()) {
    if (in->type.rank() != 2 || !ir::isInteger(in->type.dtype)) continue;
    if (auto s = in->type.shape[0].asSymbol()) env[*s] = batch;
    if (auto s = in->type.shape[1].asSymbol()) env[*s] = seq;
    break;
  }
  return env;
}

}  // namespace bertc::passes
