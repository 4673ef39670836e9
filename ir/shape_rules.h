#pragma once
/// Private to ir/: helpers shared by the shape-rule files.
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_infer.h"
#include "ir/status.h"

namespace bertc::ir::rules {

/// Everything a rule needs: the node, its operands' types, the symbol table.
struct Ctx {
  const Node& n;
  SymbolTable& syms;

  [[noreturn]] void fail(const std::string& what) const { throw UserError(n.describe() + ": " + what); }
  const Value& in(size_t i) const;
  const Type& type(size_t i) const { return in(i).type; }
  bool has(size_t i) const { return n.operand(i) != nullptr; }
  /// Operand i's symbolic contents, or nullopt.
  const std::optional<std::vector<SymExpr>>& sym(size_t i) const { return in(i).symbolic; }
  /// Operand i's contents as constants, or nullopt if any element is symbolic or unknown.
  std::optional<std::vector<int64_t>> constInts(size_t i) const;
  /// A fresh symbol for a dim the polynomial form cannot express.
  SymExpr fresh(const std::string& what) const;
  std::string str(const SymExpr& e) const { return e.str(syms); }
  std::string str(const Type& t) const { return t.str(syms); }
};

/// axis in [-rank, rank) -> [0, rank); fails naming the node otherwise.
size_t normAxis(const Ctx& c, int64_t axis, size_t rank);
/// Numpy multidirectional broadcasting of shapes.
Shape broadcast(const Ctx& c, const std::vector<const Shape*>& shapes);

/// One result of the given type, no symbolic contents.
NodeTypes one(Type t, std::optional<std::vector<SymExpr>> symbolic = std::nullopt);

/// The rules of each op family (ops.def), for inferNode to reach through
/// visitOp; op is c.n.op. Each switches over its family with no default.
NodeTypes infer(const Ctx& c, ElementwiseOp op);  // shape_infer.cpp
NodeTypes infer(const Ctx& c, LinalgOp op);       // shape_infer.cpp
NodeTypes infer(const Ctx& c, MovementOp op);     // shape_infer_movement.cpp
NodeTypes infer(const Ctx& c, FusedOp op);        // shape_infer_fused.cpp

}  // namespace bertc::ir::rules
