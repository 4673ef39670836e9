#pragma once
// Shared by the tests that build IR graphs by hand and feed them seeded
// random data (test_interp_fused.cpp, test_export.cpp).
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/interp.h"

namespace bertc::test {

/// A graph under construction, with the tensors to feed its inputs.
struct GraphBuilder {
  ir::Graph g;
  std::vector<ir::Tensor> feeds;
  std::mt19937 rng{1234};
  int count = 0;

  /// Uniform floats in [lo, hi) of the given shape.
  ir::Tensor uniform(std::vector<int64_t> shape, double lo = -1, double hi = 1, ir::DType dt = ir::DType::F32) {
    ir::Tensor t = ir::Tensor::allocate(dt, std::move(shape));
    std::uniform_real_distribution<double> d(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(static_cast<size_t>(i), d(rng));
    return t;
  }
  /// Integers in [0, n) of the given shape.
  ir::Tensor ints(std::vector<int64_t> shape, int64_t n, ir::DType dt = ir::DType::I64) {
    ir::Tensor t = ir::Tensor::allocate(dt, std::move(shape));
    std::uniform_int_distribution<int64_t> d(0, n - 1);
    for (int64_t i = 0; i < t.numel(); ++i) t.setInt(static_cast<size_t>(i), d(rng));
    return t;
  }
  /// A [batch, seq] padding mask of `dt`: row b keeps seq - b positions, on
  /// the right for even rows and on the left for odd ones.
  static ir::Tensor paddingMask(int64_t batch, int64_t seq, ir::DType dt = ir::DType::I64) {
    ir::Tensor t = ir::Tensor::allocate(dt, {batch, seq});
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t s = 0; s < seq; ++s) {
        int64_t pad = std::min(b, seq - 1);
        bool keep = b % 2 == 0 ? s < seq - pad : s >= pad;
        t.setInt(static_cast<size_t>(b * seq + s), keep ? 1 : 0);
      }
    return t;
  }

  /// A graph input fed with `t`; dims named in `symbols` ("" = constant dim).
  ir::Value* input(const std::string& name, ir::Tensor t, const std::vector<std::string>& symbols = {}) {
    ir::Shape s;
    for (size_t k = 0; k < t.shape().size(); ++k) {
      if (k < symbols.size() && !symbols[k].empty()) s.push_back(ir::SymExpr::symbol(g.symbols().intern(symbols[k])));
      else s.push_back(ir::SymExpr(t.shape()[k]));
    }
    ir::Value* v = g.addInput(name, ir::Type{t.dtype(), s});
    feeds.push_back(std::move(t));
    return v;
  }
  ir::Value* constant(ir::Tensor t, const std::string& name = "") {
    return g.addConstant(name.empty() ? "c" + std::to_string(count++) : name, std::move(t));
  }
  ir::Value* i64s(const std::vector<int64_t>& v) {
    return constant(ir::Tensor::fromVector(ir::DType::I64, {static_cast<int64_t>(v.size())}, v));
  }
  ir::Value* scalar(double v) { return constant(ir::Tensor::scalar(ir::DType::F32, v)); }
  ir::Node* node(ir::OpKind op, std::vector<ir::Value*> operands, std::map<std::string, ir::Attr> attrs = {},
                 int results = 1, const std::string& name = "") {
    std::string n = name.empty() ? std::string(ir::opName(op)) + "_" + std::to_string(count++) : name;
    std::vector<std::string> names;
    for (int i = 0; i < results; ++i) names.push_back(n + (results > 1 ? "_out" + std::to_string(i) : "_out"));
    return g.addNode(op, n, std::move(operands), names, std::move(attrs));
  }
  ir::Value* op(ir::OpKind op, std::vector<ir::Value*> operands, std::map<std::string, ir::Attr> attrs = {},
                const std::string& name = "") {
    return node(op, std::move(operands), std::move(attrs), 1, name)->result();
  }

  std::vector<ir::Tensor> run(const ir::InterpOptions& opts = {}) {
    auto r = ir::interpret(g, feeds, opts);
    INFO((r.ok() ? std::string() : r.message()));
    REQUIRE(r.ok());
    return std::move(*r);
  }
};

}  // namespace bertc::test
