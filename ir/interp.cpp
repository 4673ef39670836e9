/// The reference interpreter's driver: checks the inputs against the graph's
/// declared types, runs the nodes in order, hands each to its kernel, and
/// frees every intermediate after its last use. The kernels live in one file
/// per op family: interp_elementwise.cpp, interp_linalg.cpp, interp_shape.cpp
/// (data movement) and interp_fused.cpp.
#include "ir/interp.h"

#include <map>
#include <new>
#include <optional>
#include <unordered_map>

#include "ir/interp_kernels.h"

namespace bertc::ir {
namespace {

using interp::dimsStr;
using interp::KernelCtx;
using interp::typeName;

/// Throws unless t has the bytes its dtype and shape promise, so that no
/// kernel can read past the end of an input, a constant or an attribute.
void checkBytes(const Tensor& t, const std::string& what) {
  if (dtypeSize(t.dtype()) == 0) interp::fail(what + " has unsupported dtype " + typeName(t.dtype()));
  int64_t n = interp::numelOf(t.shape());
  if (t.nbytes() < static_cast<size_t>(n) * dtypeSize(t.dtype()))
    interp::fail(what + " has " + std::to_string(t.nbytes()) + " bytes, too few for " + typeName(t.dtype()) + " " +
                 dimsStr(t.shape()));
  if (n > 0 && t.data() == nullptr) interp::fail(what + " has no data");
}

/// Checks the inputs against the declared types: count, dtype, rank and
/// constant dims. A symbolic dim takes any value, but the same symbol must
/// take the same value in every input (`batch` of input_ids and of
/// attention_mask).
void checkInputs(const Graph& g, const std::vector<Tensor>& inputs) {
  const auto& decl = g.inputs();
  if (inputs.size() != decl.size())
    interp::fail("expected " + std::to_string(decl.size()) + " inputs, got " + std::to_string(inputs.size()));
  std::map<SymId, std::pair<int64_t, std::string>> bound;  // symbol -> (value, input that bound it)
  for (size_t i = 0; i < decl.size(); ++i) {
    const Value& v = *decl[i];
    const Tensor& t = inputs[i];
    std::string what = "input '" + v.name + "'";
    const Type& ty = v.type;
    if ((ty.known() && t.dtype() != ty.dtype) || t.shape().size() != ty.rank())
      interp::fail(what + ": expected " + typeName(ty.dtype) + " rank " + std::to_string(ty.rank()) + ", got " +
                   typeName(t.dtype()) + " rank " + std::to_string(t.shape().size()));
    checkBytes(t, what);
    for (size_t d = 0; d < ty.rank(); ++d) {
      int64_t got = t.shape()[d];
      const Dim& dim = ty.shape[d];
      if (auto c = dim.constValue()) {
        if (*c != got)
          interp::fail(what + ": dim " + std::to_string(d) + " is " + std::to_string(got) + ", expected " +
                       std::to_string(*c) + " (shape " + dimsStr(t.shape()) + ")");
      } else if (auto s = dim.asSymbol()) {
        auto [it, fresh] = bound.emplace(*s, std::make_pair(got, v.name));
        if (!fresh && it->second.first != got)
          interp::fail(what + ": dim " + std::to_string(d) + " (" + g.symbols()[*s].name + ") is " +
                       std::to_string(got) + ", but input '" + it->second.second + "' has " + g.symbols()[*s].name +
                       " = " + std::to_string(it->second.first));
      }
    }
  }
  // Dims written as expressions of symbols (`2*seq`) must agree with the values bound above.
  std::vector<int64_t> env(g.symbols().size(), -1);
  for (const auto& [sym, val] : bound) env[sym] = val.first;
  for (size_t i = 0; i < decl.size(); ++i) {
    const Type& ty = decl[i]->type;
    for (size_t d = 0; d < ty.rank(); ++d) {
      if (ty.shape[d].isConst() || ty.shape[d].asSymbol()) continue;
      std::optional<int64_t> want = ty.shape[d].eval(env);
      if (want && *want != inputs[i].shape()[d])
        interp::fail("input '" + decl[i]->name + "': dim " + std::to_string(d) + " is " +
                     std::to_string(inputs[i].shape()[d]) + ", expected " + ty.shape[d].str(g.symbols()) + " = " +
                     std::to_string(*want));
    }
  }
}

/// Runs one node's kernel: visitOp hands it to its family's evalOp, whose
/// switch lists every op of the family (ops.def's families).
std::vector<Tensor> runKernel(const KernelCtx& ctx) {
  return visitOp(ctx.op(), [&](auto op) { return interp::evalOp(ctx, op); });
}

/// Checks the node's operand and result counts against the op table.
void checkArity(const Node& n) {
  const OpInfo& info = opInfo(n.op);
  int ops = static_cast<int>(n.operands.size());
  if (ops < info.minOperands || (info.maxOperands >= 0 && ops > info.maxOperands))
    interp::fail("has " + std::to_string(ops) + " operands, expected " + std::to_string(info.minOperands) +
                 (info.maxOperands == info.minOperands ? ""
                  : info.maxOperands < 0               ? " or more"
                                                       : " to " + std::to_string(info.maxOperands)));
  for (int i = 0; i < info.minOperands; ++i)
    if (!n.operands[i]) interp::fail("required operand " + std::to_string(i) + " is missing");
  int res = static_cast<int>(n.results.size());
  if ((info.results >= 0 && res != info.results) || res == 0)
    interp::fail("has " + std::to_string(res) + " results, expected " + std::to_string(info.results));
}

}  // namespace

Result<std::vector<Tensor>> interpret(const Graph& g, const std::vector<Tensor>& inputs, const InterpOptions& opts) {
  try {
    checkInputs(g, inputs);
  } catch (const UserError& e) {
    return Status::error(e.what());
  }

  // Values computed so far (inputs and node results; constants are read in
  // place) and how many uses each has left; a graph output is never freed.
  std::unordered_map<const Value*, Tensor> env;
  std::unordered_map<const Value*, int64_t> usesLeft;
  for (size_t i = 0; i < inputs.size(); ++i) env.emplace(g.inputs()[i], inputs[i]);
  for (const auto& n : g.nodes())
    for (const Value* v : n->operands)
      if (v) ++usesLeft[v];
  for (const Value* v : g.outputs()) usesLeft[v] = INT64_MAX;

  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    try {
      checkArity(n);
      KernelCtx ctx{n, {}, opts};
      for (const Value* v : n.operands) {
        if (!v) {
          ctx.in.push_back(nullptr);
        } else if (v->isConstant()) {
          checkBytes(*v->constant, "constant '" + v->name + "'");
          ctx.in.push_back(&*v->constant);
        } else if (auto it = env.find(v); it != env.end()) {
          ctx.in.push_back(&it->second);
        } else {
          interp::fail("operand '" + v->name + "' is not defined before its use");
        }
      }
      std::vector<Tensor> results = runKernel(ctx);
      BERTC_INTERNAL_ASSERT(results.size() == n.results.size(), "kernel made the wrong number of results");
      for (size_t i = 0; i < results.size(); ++i) {
        auto it = usesLeft.find(n.results[i]);
        if (it != usesLeft.end() && it->second > 0) env.insert_or_assign(n.results[i], std::move(results[i]));
      }
    } catch (const UserError& e) {
      // Some errors (the attribute getters') already name the node.
      std::string what = e.what(), where = n.describe();
      return Status::error(what.starts_with(where) ? what : where + ": " + what);
    } catch (const std::bad_alloc&) {
      return Status::error(n.describe() + ": out of memory");
    }
    // Drop operands whose last use this was.
    for (const Value* v : n.operands) {
      if (!v) continue;
      auto it = usesLeft.find(v);
      if (it != usesLeft.end() && it->second != INT64_MAX && --it->second == 0) env.erase(v);
    }
  }

  std::vector<Tensor> outputs;
  for (const Value* v : g.outputs()) {
    if (v && v->isConstant()) {
      outputs.push_back(*v->constant);
    } else if (auto it = v ? env.find(v) : env.end(); it != env.end()) {
      outputs.push_back(it->second);
    } else {
      return Status::error("graph output '" + (v ? v->name : std::string("<null>")) + "' is never computed");
    }
  }
  return outputs;
}

Result<std::vector<Tensor>> evalNode(const Node& n, const std::vector<const Tensor*>& operands,
                                     const InterpOptions& opts) {
  try {
    checkArity(n);
    KernelCtx ctx{n, operands, opts};
    return runKernel(ctx);
  } catch (const UserError& e) {
    return Status::error(n.describe() + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::error(n.describe() + ": out of memory");
  }
}

}  // namespace bertc::ir
