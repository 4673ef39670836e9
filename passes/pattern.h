#pragma once
/// The small pattern toolkit the fusions are written with (STYLE.md §4): a
/// pattern first matches without touching the IR, reading the graph through
/// these helpers, then rewrites through a Rewriter. A driver applies a set of
/// patterns greedily until none fires, and records why each root did not
/// match for --explain.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"

namespace bertc::passes {

// ---- reading the graph -----------------------------------------------------

/// v's producer if it is an `op` node, else null (also null for null v).
ir::Node* defOf(const ir::Value* v, ir::OpKind op);
/// v's producer, whatever its op (null for inputs and constants).
ir::Node* defOf(const ir::Value* v);
/// The value of a constant holding exactly one element, as double.
std::optional<double> constScalar(const ir::Value* v);
/// True if v is a constant with every element equal to `x`.
bool isConstSplat(const ir::Value* v, double x);
/// True if v is used by exactly one node and is not a graph output, so a
/// fusion may absorb the node that makes it.
bool hasOneUse(const ir::Graph& g, const ir::Value* v);
/// True if v is a graph output.
bool isGraphOutput(const ir::Graph& g, const ir::Value* v);
/// For a binary node, the operand that is not `known` (null if neither is).
ir::Value* otherOperand(const ir::Node& n, const ir::Value* known);
/// A constant 1-D vector of length n (or a scalar / [1] broadcast of it), the shape a bias or gamma has.
bool isConstVector(const ir::Value* v, int64_t n);
/// The constant dim i of v's type, or nullopt.
std::optional<int64_t> constDim(const ir::Value* v, int64_t i);
/// A name for a node fused from `first` .. `last`: their common scope (the
/// exporters' "/model/encoder/layer.0/output/LayerNorm/") plus `op`, or
/// `last`'s name plus "_" + op when they share none.
std::string fusedName(const ir::Node& first, const ir::Node& last, std::string_view op);
/// A node of `absorbed` (the nodes a fusion replaces; the fused node takes
/// over `replaced`, their final result) that would stay alive after the
/// rewrite because something outside `absorbed` still uses one of its
/// results, directly or through shape arithmetic (the last such node in graph
/// order, nearest to that user). Null when the fusion leaves none behind,
/// i.e. it computes nothing twice. One pass over the graph; unlike a
/// one-use check it accepts the Shape users exporters hang on intermediates,
/// which die with the nodes they size.
const ir::Node* survivingNode(const ir::Graph& g, const std::vector<const ir::Node*>& absorbed,
                              const ir::Value* replaced);
/// For --explain notes: "node 'n' (Op)" for the node that makes v, or 'v' for
/// an input or constant.
std::string describeDef(const ir::Value* v);

// ---- rewriting -------------------------------------------------------------

class Rewriter {
 public:
  explicit Rewriter(ir::Graph& g) : g_(g) {}
  /// A new node placed before `anchor`, its result types inferred. A node
  /// its own shape rule rejects is a fusion bug (internal assert).
  ir::Node* create(const ir::Node* anchor, ir::OpKind op, const std::string& name, std::vector<ir::Value*> operands,
                   std::map<std::string, ir::Attr> attrs = {}, size_t numResults = 1);
  /// A new constant (named uniquely from `hint`).
  ir::Value* constant(const std::string& hint, ir::Tensor t);
  /// Rewires every use of `from` to `to` (types must agree; internal assert).
  /// A graph output keeps its name: `to` takes it over, so that fusing the
  /// last node of a model does not rename the model's outputs.
  void replace(ir::Value* from, ir::Value* to);
  /// A constant accepted by isConstVector as the plain 1-D [n] vector that
  /// fused ops' shape rules want: `v` itself if it is 1-D, else a copy.
  ir::Value* vector1d(ir::Value* v);
  ir::Graph& graph() { return g_; }

 private:
  ir::Graph& g_;
  int counter_ = 0;
};

// ---- the driver --------------------------------------------------------------

/// What a pattern says about one root node.
struct MatchResult {
  bool applied = false;
  std::string why;  ///< when not applied: the first thing that broke the pattern
  static MatchResult ok() { return {true, ""}; }
  static MatchResult miss(std::string why) { return {false, std::move(why)}; }
};

struct Pattern {
  const char* name;      ///< for --explain
  ir::OpKind root;       ///< the op the pattern is anchored at
  std::function<MatchResult(ir::Node& root, Rewriter& rw)> apply;
};

/// Applies the patterns greedily, one rewrite at a time followed by dead-code
/// removal, until none fires. Misses are noted once per root for --explain.
size_t applyPatterns(ir::Graph& g, PassContext& ctx, std::string_view pass, const std::vector<Pattern>& patterns);

}  // namespace bertc::passes
