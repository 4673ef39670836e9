// Every committed fixture (6 architectures x 3 exporters x 2 attention
// implementations) imports, verifies, and runs on the reference interpreter
// within 1e-5 of ONNX Runtime's outputs (normalised max error, see
// model_fixtures.h), with padded attention masks in the inputs.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "ir/verify.h"
#include "test/model_fixtures.h"

using namespace bertc;

namespace {

/// Every graph output's inferred shape, evaluated with the batch and sequence
/// of the inputs, must equal the shape the interpreter computed from data.
void checkInferredShapes(const ir::Graph& g, const std::vector<ir::Tensor>& inputs,
                         const std::vector<ir::Tensor>& outputs) {
  std::vector<int64_t> env(g.symbols().size(), -1);
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t k = 0; k < g.inputs()[i]->type.rank(); ++k)
      if (auto s = g.inputs()[i]->type.shape[k].asSymbol()) env[*s] = inputs[i].shape()[k];
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ir::Type& t = g.outputs()[i]->type;
    REQUIRE(t.rank() == outputs[i].shape().size());
    for (size_t k = 0; k < t.rank(); ++k) {
      INFO("output " << g.outputs()[i]->name << " dim " << k << " = " << t.shape[k].str(g.symbols()));
      CHECK(t.shape[k].eval(env) == outputs[i].shape()[k]);
    }
  }
}

}  // namespace

TEST_CASE("every fixture matches ONNX Runtime on the reference interpreter", "[models]") {
  auto dirs = test::fixtureDirs();
  REQUIRE(dirs.size() >= 36);
  for (const auto& dir : dirs) {
    DYNAMIC_SECTION(dir.filename().string()) {
      auto g = frontend::importOnnxFile((dir / "model.onnx").string());
      INFO((g.ok() ? "" : g.message()));
      REQUIRE(g.ok());
      REQUIRE(ir::verify(**g).ok());
      auto inputs = test::loadInputs(**g, dir);
      auto outs = ir::interpret(**g, inputs);
      INFO((outs.ok() ? "" : outs.message()));
      REQUIRE(outs.ok());
      REQUIRE(outs->size() == (*g)->outputs().size());
      checkInferredShapes(**g, inputs, *outs);
      for (size_t i = 0; i < outs->size(); ++i) {
        const std::string& name = (*g)->outputs()[i]->name;
        auto want = ir::readNpy((dir / "expected" / (test::fileNameFor(name) + ".npy")).string());
        REQUIRE(want.ok());
        double err = test::normalizedMaxError((*outs)[i], *want);
        fmt::print("{:<26} {:<18} normalised max error vs ONNX Runtime {:.3g}\n", dir.filename().string(), name, err);
        INFO(dir.filename().string() << " output " << name << ": normalised max error " << err);
        CHECK(err <= 1e-5);
      }
    }
  }
}
