// The op table (ir/ops.def) and what hangs off it. The compiler already
// checks that every op has a shape rule and a reference kernel (their
// switches over the family enums have no default); these tests check that
// the families agree with the table and that every rule and kernel answers
// operands it does not accept with a user error, not an internal assert.
#include <catch2/catch.hpp>

#include <string>

#include "ir/graph.h"
#include "ir/interp.h"
#include "ir/shape_infer.h"

using namespace bertc::ir;

namespace {

/// The family whose enum visitOp hands `op` to.
OpFamily visitedFamily(OpKind op) {
  struct Family {
    OpFamily operator()(ElementwiseOp) const { return OpFamily::Elementwise; }
    OpFamily operator()(LinalgOp) const { return OpFamily::Linalg; }
    OpFamily operator()(MovementOp) const { return OpFamily::Movement; }
    OpFamily operator()(FusedOp) const { return OpFamily::Fused; }
  };
  return visitOp(op, Family{});
}

/// A tensor of `dtype` and `shape` with every element 1.
Tensor ones(DType dtype, const std::vector<int64_t>& shape) {
  Tensor t = Tensor::allocate(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.setInt(static_cast<size_t>(i), 1);
  return t;
}

}  // namespace

TEST_CASE("every op has the family of its ops.def row, and its family enum holds its OpKind", "[ir]") {
  size_t perFamily[4] = {};
  for (size_t i = 0; i < numOps(); ++i) {
    auto k = static_cast<OpKind>(i);
    INFO(opName(k));
    CHECK(visitedFamily(k) == opInfo(k).family);
    CHECK(visitOp(k, [](auto op) { return static_cast<OpKind>(static_cast<uint16_t>(op)); }) == k);
    ++perFamily[static_cast<size_t>(opInfo(k).family)];
  }
  CHECK(opInfo(OpKind::Add).family == OpFamily::Elementwise);
  CHECK(opInfo(OpKind::ReduceSum).family == OpFamily::Linalg);
  CHECK(opInfo(OpKind::Reshape).family == OpFamily::Movement);
  CHECK(opInfo(OpKind::MeanPool).family == OpFamily::Fused);
  for (size_t n : perFamily) CHECK(n > 0);
}

TEST_CASE("every op's shape rule and reference kernel reject what they do not accept with a user error", "[ir]") {
  // Each op gets its minimum operand count (at least one) of one probe type;
  // most ops reject most probes. Whatever they say must name the node: an
  // internal assert (an op a family switch does not handle) aborts the test.
  const std::vector<std::pair<DType, std::vector<int64_t>>> probes = {
      {DType::F32, {2, 3}}, {DType::I64, {2}}, {DType::Bool, {}}};
  for (size_t i = 0; i < numOps(); ++i) {
    auto k = static_cast<OpKind>(i);
    const OpInfo& info = opInfo(k);
    for (const auto& [dtype, shape] : probes) {
      const Type type{dtype, Shape(shape.begin(), shape.end())};
      INFO(opName(k) << " on " << type.str(SymbolTable()));
      Graph g;
      Tensor value = ones(dtype, shape);
      std::vector<Value*> operands;
      std::vector<const Tensor*> tensors;
      for (int j = 0; j < std::max(info.minOperands, 1); ++j) {
        operands.push_back(g.addInput("x" + std::to_string(j), type));
        tensors.push_back(&value);
      }
      std::vector<std::string> results;
      for (int j = 0; j < std::max(info.results, 1); ++j) results.push_back("y" + std::to_string(j));
      const Node& n = *g.addNode(k, "probe", operands, results);

      try {
        NodeTypes t = inferNode(n, g.symbols());
        CHECK(t.types.size() == results.size());
      } catch (const bertc::UserError& e) {
        CHECK(std::string(e.what()).find("node 'probe'") != std::string::npos);
      }
      auto r = evalNode(n, tensors);
      if (r.ok()) CHECK(r->size() == results.size());
      else CHECK(r.message().find("node 'probe'") != std::string::npos);
    }
  }
}
