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
  while (v && v->producer && v->producer->op == OpKind::Identity) v = v->producer->operand(0);
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

/// The constant a computed index tensor comes from, through the slices,
/// expands and casts exporters put around buffers like `position_ids`; null
/// when the indices depend on a graph input.
const Value* constantSource(const Value* v) {
  while (v && !v->isConstant() && v->producer) {
    OpKind op = v->producer->op;
    if (op != OpKind::Slice && op != OpKind::Expand && op != OpKind::Cast && op != OpKind::Identity &&
        op != OpKind::Reshape && op != OpKind::Unsqueeze && op != OpKind::Squeeze)
      return nullptr;
    v = v->producer->operand(0);
  }
  return v && v->isConstant() ? v : nullptr;
}

bool allZero(const ir::Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.getDouble(static_cast<size_t>(i)) != 0) return false;
  return true;
}

/// FNV-1a over the bytes, to find weights stored twice with the same contents.
uint64_t contentHash(const ir::Tensor& t) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ static_cast<uint64_t>(t.data()[i])) * 1099511628211ull;
  return h;
}

/// The MatMul that multiplies attention probabilities with V: the first
/// rank-4 MatMul reached from the Softmax through casts, Where (the SDPA
/// exports' NaN guard) and Identity.
const Node* probsTimesV(const Graph& g, const Value* probs) {
  std::vector<std::pair<const Value*, int>> work{{probs, 0}};
  while (!work.empty()) {
    auto [x, depth] = work.back();
    work.pop_back();
    for (const Node* u : g.users(x)) {
      if (u->op == OpKind::MatMul && u->operand(0) == x && u->result()->type.rank() == 4) return u;
      if ((u->op == OpKind::Cast || u->op == OpKind::Where || u->op == OpKind::Identity) && depth < 3)
        work.push_back({u->result(), depth + 1});
    }
  }
  return nullptr;
}

/// True if v, or v plus a bias, is an operand of an `op` node.
bool feedsOp(const Graph& g, const Value* v, OpKind op) {
  for (const Node* u : g.users(v)) {
    if (u->op == op) return true;
    if (u->op == OpKind::Add)
      for (const Node* w : g.users(u->result()))
        if (w->op == op) return true;
  }
  return false;
}

/// True if v (plus a bias) reaches an activation function within a few
/// elementwise steps: GELU's erf and tanh forms, ReLU, or a fused Gelu.
bool feedsActivation(const Graph& g, const Value* v) {
  std::vector<std::pair<const Value*, int>> work{{v, 0}};
  while (!work.empty()) {
    auto [x, depth] = work.back();
    work.pop_back();
    for (const Node* u : g.users(x)) {
      switch (u->op) {
        case OpKind::Erf: case OpKind::Gelu: case OpKind::Relu: case OpKind::Tanh: case OpKind::Sigmoid:
          return true;
        case OpKind::Add: case OpKind::Mul: case OpKind::Div: case OpKind::Pow:
          if (depth < 4) work.push_back({u->result(), depth + 1});
          break;
        default:
          break;
      }
    }
  }
  return false;
}

bool anyOp(const Graph& g, OpKind op) {
  return std::any_of(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->op == op; });
}

}  // namespace

Architecture detectArchitecture(const Graph& g) {
  Architecture a;

  // Embedding tables: constant matrices gathered along axis 0. Those indexed
  // straight by a graph input are word and token-type tables (the larger is
  // the word table). A table indexed by an all-zero constant buffer is a
  // token-type table whose input the exporter left out; the rest (indexed by
  // a range, or by ids computed from the mask) are position tables.
  std::vector<const Value*> direct, computed;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::Gather || n->getInt("axis", 0) != 0) continue;
    const Value* table = weightMatrix(n->operand(0));
    if (!table) continue;
    const Value* idx = throughCasts(n->operand(1));
    const Value* src = constantSource(n->operand(1));
    if ((idx && idx->isInput) || (src && allZero(*src->constant))) direct.push_back(table);
    else computed.push_back(table);
  }
  auto byRows = [](const Value* x, const Value* y) { return dim(x, 0) > dim(y, 0); };
  std::sort(direct.begin(), direct.end(), byRows);
  if (!direct.empty()) {
    a.vocab = dim(direct[0], 0);
    a.embeddingSize = dim(direct[0], 1);
  }
  if (direct.size() > 1) a.typeVocab = dim(direct[1], 0);
  if (!computed.empty()) a.maxPositions = dim(*std::max_element(computed.begin(), computed.end(), byRows), 0);

  // Attention blocks: each has one Softmax over [batch, heads, seq, seq],
  // whose probabilities multiply V as [batch, heads, seq, head_dim]; the
  // hidden size is heads * head_dim.
  for (const auto& n : g.nodes()) {
    if (n->op == OpKind::Attention) {  // already fused: heads and width are attributes and weights
      ++a.layers;
      a.heads = n->getInt("num_heads", 0);
      if (auto qkv = n->operand(1)->type.shape[1].constValue()) a.hidden = *qkv / 3;
      continue;
    }
    if (n->op != OpKind::Softmax || n->result()->type.rank() != 4) continue;
    ++a.layers;
    if (auto h = n->result()->type.shape[1].constValue()) a.heads = *h;
    if (const Node* pv = probsTimesV(g, n->result()))
      if (auto d = pv->result()->type.shape[3].constValue()) a.hidden = a.heads * *d;
  }
  // Otherwise: the width of the layer norms (the last one is the encoder's).
  if (a.hidden == 0)
    for (const auto& n : g.nodes())
      if (n->op == OpKind::LayerNorm && n->result()->type.rank() >= 1)
        if (auto h = n->result()->type.shape.back().constValue()) a.hidden = *h;
  if (a.hidden == 0) a.hidden = a.embeddingSize;
  if (a.embeddingSize == 0) a.embeddingSize = a.hidden;

  // Projection weights [in, out] (MatMul) or [out, in] (Gemm with transB).
  // The FFN's inner width is the most common `out` of a hidden-wide weight
  // whose product (after its bias) feeds an activation function.
  std::map<std::pair<uint64_t, std::vector<int64_t>>, int> uses;  // by contents: exporters may store shared weights twice
  std::map<int64_t, int> inner;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::MatMul && n->op != OpKind::Gemm) continue;
    const Value* w = weightMatrix(n->operand(1));
    if (!w) continue;
    ++uses[{contentHash(*w->constant), w->constant->shape()}];
    bool t = n->op == OpKind::Gemm && n->getInt("transB", 0) != 0;
    int64_t in = dim(w, t ? 1 : 0), out = dim(w, t ? 0 : 1);
    if (in != a.hidden) continue;
    if (out != a.hidden && feedsActivation(g, n->result())) ++inner[out];
    // A square projection whose product feeds a Tanh is the pooler.
    if (out == a.hidden && feedsOp(g, n->result(), OpKind::Tanh)) a.hasPooler = true;
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
    if (n->op == OpKind::Linear) {  // X [.., K] W [K, N]
      auto k = n->operand(1)->type.shape[0].eval(env);
      auto m = n->result()->type.numel().eval(env);
      if (!k || !m) return std::nullopt;
      total += 2.0 * static_cast<double>(*m) * static_cast<double>(*k);
      continue;
    }
    if (n->op == OpKind::Attention) {  // QKV projection, Q K^T, probs V, output projection
      const ir::Type& x = n->operand(0)->type;
      auto b = x.shape[0].eval(env), s = x.shape[1].eval(env), hin = x.shape[2].eval(env);
      auto qkv = n->operand(1)->type.shape[1].constValue();
      if (!b || !s || !hin || !qkv) return std::nullopt;
      double tokens = static_cast<double>(*b) * static_cast<double>(*s), h = static_cast<double>(*qkv) / 3;
      total += 2.0 * tokens * static_cast<double>(*hin) * static_cast<double>(*qkv);
      total += 2.0 * 2.0 * tokens * static_cast<double>(*s) * h;
      if (const ir::Value* wo = n->operand(4))
        if (auto hout = wo->type.shape[1].constValue()) total += 2.0 * tokens * h * static_cast<double>(*hout);
      continue;
    }
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
  // Every [batch, seq] integer input: an export may name the dims of each
  // input differently, or fix some of them.
  for (const Value* in : g.inputs()) {
    if (in->type.rank() != 2 || !ir::isInteger(in->type.dtype)) continue;
    if (auto s = in->type.shape[0].asSymbol(); s && env[*s] < 0) env[*s] = batch;
    if (auto s = in->type.shape[1].asSymbol(); s && env[*s] < 0) env[*s] = seq;
  }
  return env;
}

}  // namespace bertc::passes
