#include "ir/verify.h"

#include <unordered_set>

#include "ir/shape_infer.h"

namespace bertc::ir {
namespace {

/// True if `e` mentions a symbol at index >= first (one the re-run of a shape
/// rule just made up); such dims cannot be compared with the stored ones.
bool mentionsFreshSymbol(const SymExpr& e, size_t first) {
  for (const auto& [mono, coeff] : e.terms())
    for (SymId s : mono)
      if (s >= first) return true;
  return false;
}

void verifyNodeTypes(const Graph& g, const Node& n) {
  SymbolTable scratch = g.symbols();
  size_t before = scratch.size();
  NodeTypes expect = inferNode(n, scratch);
  for (size_t i = 0; i < n.results.size(); ++i) {
    const Type& have = n.results[i]->type;
    const Type& want = expect.types[i];
    bool ok = have.dtype == want.dtype && have.rank() == want.rank();
    for (size_t k = 0; ok && k < have.rank(); ++k)
      ok = have.shape[k] == want.shape[k] || mentionsFreshSymbol(want.shape[k], before);
    if (!ok)
      throw UserError(n.describe() + ": result " + std::to_string(i) + " has type " + have.str(g.symbols()) +
                      " but its operands give " + want.str(scratch));
  }
}

}  // namespace

Status verify(const Graph& g) {
  return catchUserError([&]() -> Status {
    std::unordered_set<const Value*> defined;
    for (const Value* v : g.inputs()) {
      if (!v->type.known()) throw UserError("input '" + v->name + "' has no type");
      defined.insert(v);
    }
    for (const Value* v : g.constants()) {
      if (!v->isConstant()) throw UserError("constant '" + v->name + "' has no data");
      auto shape = v->type.constShape();
      if (!shape || *shape != v->constant->shape() || v->type.dtype != v->constant->dtype())
        throw UserError("constant '" + v->name + "' has a type that disagrees with its data");
      if (v->constant->nbytes() != static_cast<size_t>(v->constant->numel()) * dtypeSize(v->constant->dtype()))
        throw UserError("constant '" + v->name + "' has the wrong number of bytes");
      defined.insert(v);
    }
    for (const auto& np : g.nodes()) {
      const Node& n = *np;
      const OpInfo& info = opInfo(n.op);
      if (info.results >= 0 && n.results.size() != static_cast<size_t>(info.results))
        throw UserError(n.describe() + ": has " + std::to_string(n.results.size()) + " results, expected " +
                        std::to_string(info.results));
      for (size_t i = 0; i < n.operands.size(); ++i) {
        const Value* o = n.operands[i];
        if (!o) continue;
        if (!defined.count(o))
          throw UserError(n.describe() + ": operand " + std::to_string(i) + " ('" + o->name +
                          "') is used before it is defined");
      }
      for (const Value* r : n.results) {
        if (r->producer != &n) throw UserError(n.describe() + ": result '" + r->name + "' names another producer");
        if (!defined.insert(r).second) throw UserError(n.describe() + ": result '" + r->name + "' is defined twice");
        if (!r->type.known()) throw UserError(n.describe() + ": result '" + r->name + "' has no type");
      }
      verifyNodeTypes(g, n);
    }
    for (const Value* o : g.outputs())
      if (!defined.count(o)) throw UserError("output '" + o->name + "' is not defined by the graph");
    return Status();
  });
}

}  // namespace bertc::ir
