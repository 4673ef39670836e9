#include "passes/pattern.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "ir/shape_infer.h"

namespace bertc::passes {

using ir::Node;
using ir::OpKind;
using ir::Value;

Node* defOf(const Value* v, OpKind op) { return v && v->producer && v->producer->op == op ? v->producer : nullptr; }
Node* defOf(const Value* v) { return v ? v->producer : nullptr; }

std::optional<double> constScalar(const Value* v) {
  if (!v || !v->isConstant() || v->constant->numel() != 1) return std::nullopt;
  return v->constant->getDouble(0);
}

bool isConstSplat(const Value* v, double x) {
  if (!v || !v->isConstant() || v->constant->numel() == 0) return false;
  for (int64_t i = 0; i < v->constant->numel(); ++i)
    if (v->constant->getDouble(static_cast<size_t>(i)) != x) return false;
  return true;
}

bool isGraphOutput(const ir::Graph& g, const Value* v) {
  return std::find(g.outputs().begin(), g.outputs().end(), v) != g.outputs().end();
}

bool hasOneUse(const ir::Graph& g, const Value* v) {
  if (isGraphOutput(g, v)) return false;
  size_t uses = 0;
  for (const auto& n : g.nodes())
    for (const Value* o : n->operands)
      if (o == v) ++uses;
  return uses == 1;
}

Value* otherOperand(const Node& n, const Value* known) {
  if (n.operands.size() != 2) return nullptr;
  if (n.operands[0] == known) return n.operands[1];
  if (n.operands[1] == known) return n.operands[0];
  return nullptr;
}

bool isConstVector(const Value* v, int64_t n) {
  if (!v || !v->isConstant()) return false;
  const auto& s = v->constant->shape();
  int64_t numel = v->constant->numel();
  // [n], or [1, ..., 1, n]
  if (numel != n || s.empty() || s.back() != n) return false;
  return std::all_of(s.begin(), s.end() - 1, [](int64_t d) { return d == 1; });
}

std::optional<int64_t> constDim(const Value* v, int64_t i) {
  if (!v) return std::nullopt;
  auto r = static_cast<int64_t>(v->type.rank());
  if (i < 0) i += r;
  if (i < 0 || i >= r) return std::nullopt;
  return v->type.shape[static_cast<size_t>(i)].constValue();
}

std::string fusedName(const Node& first, const Node& last, std::string_view op) {
  size_t n = 0;
  while (n < first.name.size() && n < last.name.size() && first.name[n] == last.name[n]) ++n;
  size_t slash = first.name.rfind('/', n == 0 ? 0 : n - 1);
  if (n == 0 || slash == std::string::npos || slash == 0) return last.name + "_" + std::string(op);
  return first.name.substr(0, slash + 1) + std::string(op);
}

const Node* survivingNode(const ir::Graph& g, const std::vector<const Node*>& absorbed, const Value* replaced) {
  std::set<const Node*> inside(absorbed.begin(), absorbed.end());
  std::set<const Value*> live(g.outputs().begin(), g.outputs().end());
  live.erase(replaced);  // the fused node's result takes its place
  for (size_t i = g.nodes().size(); i-- > 0;) {  // reverse topological order
    const Node* n = g.nodes()[i].get();
    bool used = std::any_of(n->results.begin(), n->results.end(), [&](const Value* r) { return live.count(r) != 0; });
    if (!used) continue;
    if (inside.count(n)) return n;  // the absorbed node nearest to its outside user
    for (const Value* o : n->operands)
      if (o && o != replaced) live.insert(o);
  }
  return nullptr;
}

std::string describeDef(const Value* v) { return v->producer ? v->producer->describe() : "'" + v->name + "'"; }

Node* Rewriter::create(const Node* anchor, OpKind op, const std::string& name, std::vector<Value*> operands,
                       std::map<std::string, ir::Attr> attrs, size_t numResults) {
  std::vector<std::string> names;
  for (size_t i = 0; i < numResults; ++i)
    names.push_back(name + (numResults > 1 ? "_" + std::to_string(i) : "") + "_out");
  Node* n = g_.addNodeBefore(anchor, op, name, std::move(operands), names, std::move(attrs));
  try {
    ir::NodeTypes t = ir::inferNode(*n, g_.symbols());
    for (size_t i = 0; i < n->results.size(); ++i) {
      n->results[i]->type = std::move(t.types[i]);
      n->results[i]->symbolic = std::move(t.symbolic[i]);
    }
  } catch (const UserError& e) {
    BERTC_INTERNAL_ASSERT(false, std::string("a fusion built a malformed node: ") + e.what());
  }
  return n;
}

Value* Rewriter::constant(const std::string& hint, ir::Tensor t) {
  return g_.addConstant(hint + "_" + std::to_string(counter_++), std::move(t));
}

void Rewriter::replace(Value* from, Value* to) {
  BERTC_INTERNAL_ASSERT(from->type.dtype == to->type.dtype && from->type.rank() == to->type.rank(),
                        "replace: '" + from->name + "' and '" + to->name + "' have different types");
  // A node result that is not itself an output can take the output's name;
  // an input, constant or other output cannot (it would lose its own).
  if (isGraphOutput(g_, from) && to->producer && !isGraphOutput(g_, to)) std::swap(from->name, to->name);
  g_.replaceAllUsesWith(from, to);
}

Value* Rewriter::vector1d(Value* v) {
  BERTC_INTERNAL_ASSERT(v && v->isConstant(), "vector1d: not a constant");
  const ir::Tensor& t = *v->constant;
  if (t.shape().size() == 1) return v;
  ir::Tensor flat = ir::Tensor::allocate(t.dtype(), {t.numel()});
  std::memcpy(flat.mutableData(), t.data(), t.nbytes());
  return constant(v->name, std::move(flat));
}

size_t applyPatterns(ir::Graph& g, PassContext& ctx, std::string_view pass, const std::vector<Pattern>& patterns) {
  size_t changes = 0;
  std::set<std::pair<const Node*, const char*>> explained;
  Rewriter rw(g);
  for (bool progress = true; progress;) {
    progress = false;
    for (const Pattern& p : patterns) {
      std::vector<Node*> roots;
      for (const auto& n : g.nodes())
        if (n->op == p.root) roots.push_back(n.get());
      for (Node* root : roots) {
        MatchResult r = p.apply(*root, rw);
        if (r.applied) {
          ++changes;
          progress = true;
          g.removeDeadNodes();
          break;  // node pointers may be stale now: rescan
        }
        if (ctx.explain && !r.why.empty() && explained.insert({root, p.name}).second)
          ctx.note(pass, *root, std::string(p.name) + ": " + r.why);
      }
      if (progress) break;
    }
  }
  // Misses noted for roots that a later rewrite consumed are stale: keep only
  // the notes of nodes still in the graph.
  if (ctx.explain) {
    std::set<std::string> live;
    for (const auto& n : g.nodes()) live.insert(n->describe());
    std::erase_if(ctx.notes, [&](const std::string& note) {
      if (note.rfind(std::string(pass) + ": ", 0) != 0) return false;
      for (const auto& d : live)
        if (note.find(d) != std::string::npos) return false;
      return true;
    });
  }
  return changes;
}

}  // namespace bertc::passes
