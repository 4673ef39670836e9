/// Canonicalisation: the normal form the fusion patterns are written against.
///
///   Identity(x)                    -> x
///   Cast(x, to = dtype(x))         -> x
///   Concat(x) (one operand)        -> x  (sentence-transformers' head)
///   Op(c1, c2, ...) (all constant) -> constant  (evaluated by the reference kernels)
///   v with constant contents known to shape inference -> constant
///                                     (static Shape -> Gather -> Concat chains)
///   Div(x, c), c a float constant  -> Mul(x, 1/c)
///   Gemm(A, B, C) (B constant, no transA, alpha = beta = 1)
///                                  -> Add(MatMul(A, B'), C), B' = B or B^T
///   two nodes with the same op, operands, attributes and result types
///                                  -> one (CSE)
///   dead nodes and constants       -> removed
///
/// Folding is legal because every folded node is evaluated by the same
/// kernels the interpreter runs; 1/c is rounded once (within an ulp of
/// dividing), and the Gemm form computes the same sums.
#include "passes/canonicalize.h"

#include <cstdio>
#include <map>

#include "ir/interp.h"
#include "ir/shape_infer.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::Tensor;
using ir::Value;

/// Folding that would turn small constants into a large one (Expand,
/// ConstantOfShape, Tile, Range) is skipped above this many elements, so the
/// graph stays about as small as the file was.
constexpr int64_t kMaxGrowth = int64_t{1} << 20;

/// True while v still matters: some node uses it or it is a graph output.
bool isLive(const ir::Graph& g, const Value* v) { return isGraphOutput(g, v) || !g.users(v).empty(); }

/// Replaces every use of `from` by `to`; a graph output keeps its name.
void replaceValue(ir::Graph& g, Value* from, Value* to) {
  if (isGraphOutput(g, from)) std::swap(from->name, to->name);
  g.replaceAllUsesWith(from, to);
}

/// A graph output cannot be rewired to a graph input, a constant or another
/// output (it would lose its name or alias another); keep the node then.
bool canBypass(const ir::Graph& g, const Value* result, const Value* source) {
  return !isGraphOutput(g, result) || (!source->isInput && !source->isConstant() && !isGraphOutput(g, source));
}

size_t removeIdentities(ir::Graph& g) {
  size_t changes = 0;
  for (const auto& n : g.nodes()) {
    bool noop = n->op == OpKind::Identity ||
                (n->op == OpKind::Cast && static_cast<int64_t>(n->operand(0)->type.dtype) == n->getInt("to", -1)) ||
                (n->op == OpKind::Concat && n->operands.size() == 1);
    if (!noop || !isLive(g, n->result()) || !canBypass(g, n->result(), n->operand(0))) continue;
    replaceValue(g, n->result(), n->operand(0));
    ++changes;
  }
  return changes;
}

size_t foldConstants(ir::Graph& g) {
  size_t changes = 0;
  bool retype = false;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node& n = *g.nodes()[i];
    if (n.operands.empty() || !isLive(g, n.result())) continue;
    std::vector<const Tensor*> in;
    int64_t inElems = 0;
    bool allConst = true;
    for (const Value* o : n.operands) {
      if (o && !o->isConstant()) allConst = false;
      in.push_back(o ? &*o->constant : nullptr);
      if (o && o->isConstant()) inElems += o->constant->numel();
    }
    if (!allConst) continue;
    int64_t outElems = 0;
    for (const Value* r : n.results) {
      auto e = r->type.numel().constValue();
      outElems += e ? *e : kMaxGrowth + 1;
    }
    if (outElems > kMaxGrowth && outElems > inElems) {
      // Left computed, but its operands are constants now: its type may
      // name a derived symbol (a Range's length) that re-inference makes a
      // constant. Types are inferred again at the end of the round.
      retype = true;
      continue;
    }
    auto out = ir::evalNode(n, in);
    if (!out.ok()) throw UserError(out.message());  // a constant subgraph that cannot run is the model's fault
    for (size_t k = 0; k < n.results.size(); ++k) {
      Value* r = n.results[k];
      if (isGraphOutput(g, r)) continue;  // a graph output stays computed, never a constant
      Value* c = g.addConstant(r->name, std::move((*out)[k]));
      replaceValue(g, r, c);
      ++changes;
    }
  }
  if (retype) {
    Status st = ir::inferShapes(g);
    if (!st.ok()) throw UserError(st.message());
  }
  return changes;
}

/// Values whose contents shape inference knows as constants (static shapes).
size_t foldKnownContents(ir::Graph& g) {
  size_t changes = 0;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node& n = *g.nodes()[i];
    for (Value* r : n.results) {
      if (!r->symbolic || !ir::isInteger(r->type.dtype) || !isLive(g, r) || isGraphOutput(g, r)) continue;
      auto shape = r->type.constShape();
      if (!shape) continue;
      std::vector<int64_t> vals;
      for (const auto& e : *r->symbolic) {
        auto c = e.constValue();
        if (!c) break;
        vals.push_back(*c);
      }
      if (vals.size() != r->symbolic->size()) continue;
      Tensor t = Tensor::allocate(r->type.dtype, *shape);
      if (t.numel() != static_cast<int64_t>(vals.size())) continue;
      for (size_t k = 0; k < vals.size(); ++k) t.setInt(k, vals[k]);
      replaceValue(g, r, g.addConstant(r->name, std::move(t)));
      ++changes;
    }
  }
  return changes;
}

/// Div(x, c) -> Mul(x, 1/c) for float constants c with no zero.
size_t divToMul(ir::Graph& g) {
  size_t changes = 0;
  Rewriter rw(g);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node* n = g.nodes()[i].get();
    if (n->op != OpKind::Div || !isLive(g, n->result())) continue;
    const Value* c = n->operand(1);
    if (!c->isConstant() || !ir::isFloat(c->type.dtype) || n->operand(0)->isConstant()) continue;
    Tensor inv = Tensor::allocate(c->type.dtype, c->constant->shape());
    bool ok = true;
    for (int64_t k = 0; k < inv.numel() && ok; ++k) {
      double v = c->constant->getDouble(static_cast<size_t>(k));
      ok = v != 0;
      inv.setDouble(static_cast<size_t>(k), 1.0 / v);
    }
    if (!ok) continue;
    Node* mul = rw.create(n, OpKind::Mul, n->name, {n->operand(0), rw.constant(c->name + "_reciprocal", std::move(inv))});
    replaceValue(g, n->result(), mul->result());
    ++i;  // skip the node just inserted before n
    ++changes;
  }
  return changes;
}

/// Gemm with a constant B, no transA, alpha = beta = 1 -> MatMul (+ Add).
size_t gemmToMatMul(ir::Graph& g) {
  size_t changes = 0;
  Rewriter rw(g);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node* n = g.nodes()[i].get();
    if (n->op != OpKind::Gemm || !isLive(g, n->result())) continue;
    const Value* b = n->operand(1);
    if (!b->isConstant() || n->getInt("transA", 0) != 0 || n->getFloat("alpha", 1) != 1 ||
        n->getFloat("beta", 1) != 1)
      continue;
    Value* w = const_cast<Value*>(b);
    if (n->getInt("transB", 0) != 0) {
      const Tensor& t = *b->constant;
      int64_t rows = t.shape()[0], cols = t.shape()[1];
      Tensor tt = Tensor::allocate(t.dtype(), {cols, rows});
      size_t es = ir::dtypeSize(t.dtype());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          std::memcpy(tt.mutableData() + (c * rows + r) * es, t.data() + (r * cols + c) * es, es);
      w = rw.constant(b->name + "_t", std::move(tt));
    }
    Node* mm = rw.create(n, OpKind::MatMul, n->name + "_matmul", {n->operand(0), w});
    Value* out = mm->result();
    if (n->operand(2)) out = rw.create(n, OpKind::Add, n->name + "_bias", {out, n->operand(2)})->result();
    replaceValue(g, n->result(), out);
    i += n->operand(2) ? 2 : 1;
    ++changes;
  }
  return changes;
}

/// The identity of a node for CSE: op, operands and attributes.
std::string cseKey(const Node& n) {
  std::string k(ir::opName(n.op));
  for (const Value* o : n.operands) k += "|" + std::to_string(o ? o->id : -1);
  for (const auto& [name, a] : n.attrs) {
    k += ";" + name + "=" + std::to_string(a.index()) + ":";
    char buf[40];
    if (auto* v = std::get_if<int64_t>(&a)) k += std::to_string(*v);
    else if (auto* d = std::get_if<double>(&a)) std::snprintf(buf, sizeof buf, "%a", *d), k += buf;
    else if (auto* s = std::get_if<std::string>(&a)) k += *s;
    else if (auto* vi = std::get_if<std::vector<int64_t>>(&a)) for (auto x : *vi) k += std::to_string(x) + ",";
    else if (auto* vd = std::get_if<std::vector<double>>(&a)) for (auto x : *vd) std::snprintf(buf, sizeof buf, "%a,", x), k += buf;
    else if (auto* vs = std::get_if<std::vector<std::string>>(&a)) for (auto& x : *vs) k += x + ",";
    else if (auto* t = std::get_if<Tensor>(&a)) {
      k += std::to_string(static_cast<int>(t->dtype()));
      for (auto d : t->shape()) k += "x" + std::to_string(d);
      k.append(reinterpret_cast<const char*>(t->data()), t->nbytes());
    }
  }
  return k;
}

size_t eliminateCommonSubexpressions(ir::Graph& g) {
  size_t changes = 0;
  std::map<std::string, Node*> seen;
  for (const auto& n : g.nodes()) {
    if (!std::all_of(n->results.begin(), n->results.end(), [&](Value* r) { return isLive(g, r); })) continue;
    auto [it, fresh] = seen.emplace(cseKey(*n), n.get());
    if (fresh) continue;
    // Equal types too: a Reshape's -1 or a Range gives each node's result a
    // symbol of its own, and the users of the dropped result were typed
    // with its symbol, which the kept result does not have.
    bool ok = true;
    for (size_t k = 0; k < n->results.size(); ++k)
      ok = ok && canBypass(g, n->results[k], it->second->results[k]) &&
           n->results[k]->type == it->second->results[k]->type;
    if (!ok) continue;
    for (size_t k = 0; k < n->results.size(); ++k) replaceValue(g, n->results[k], it->second->results[k]);
    ++changes;
  }
  return changes;
}

}  // namespace

size_t canonicalize(ir::Graph& g, PassContext&) {
  size_t total = 0;
  for (int round = 0; round < 16; ++round) {
    size_t changes = removeIdentities(g);
    changes += foldConstants(g);
    changes += foldKnownContents(g);
    changes += divToMul(g);
    changes += gemmToMatMul(g);
    changes += eliminateCommonSubexpressions(g);
    changes += g.removeDeadNodes();
    total += changes;
    if (changes == 0) break;
  }
  return total;
}

}  // namespace bertc::passes
