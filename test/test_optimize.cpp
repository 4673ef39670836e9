// The optimizer on every fixture: each encoder layer fuses fully, and the
// optimized graph computes what the original does (reference interpreter on
// the fixture inputs, with padded masks; normalised max error <= 1e-5).
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "ir/verify.h"
#include "passes/architecture.h"
#include "passes/pipeline.h"
#include "passes/report.h"
#include "test/fusion_graphs.h"
#include "test/model_fixtures.h"

using namespace bertc;

namespace {

std::string countsStr(const passes::OpCounts& c) {
  std::string s;
  for (const auto& [op, n] : c) s += op + " " + std::to_string(n) + ", ";
  return s;
}

}  // namespace

TEST_CASE("every fixture's encoder layers fuse fully and compute the same outputs", "[optimize]") {
  for (const auto& dir : test::fixtureDirs()) {
    DYNAMIC_SECTION(dir.filename().string()) {
      auto original = frontend::importOnnxFile((dir / "model.onnx").string());
      REQUIRE(original.ok());
      auto g = frontend::importOnnxFile((dir / "model.onnx").string());
      REQUIRE(g.ok());
      passes::Architecture arch = passes::detectArchitecture(**g);
      passes::PipelineOptions opts;
      opts.verifyEach = true;
      opts.explain = true;
      auto run = passes::runPipeline(**g, opts);
      INFO((run.ok() ? "" : run.message()));
      REQUIRE(run.ok());
      std::string why;
      for (const auto& e : run->explanations) why += e + "\n";
      INFO("explain:\n" << why);

      // Each layer: 1 Attention, 2 SkipLayerNorm, 1 BiasGelu or FastGelu, the 2 FFN MatMuls; nothing else.
      passes::FusionReport rep = passes::fusionReport(**g);
      REQUIRE(rep.layers.size() == static_cast<size_t>(arch.layers));
      const char* gelu = arch.activation == "gelu_tanh" ? "FastGelu" : "BiasGelu";
      passes::OpCounts want{{"Attention", 1}, {"SkipLayerNorm", 2}, {gelu, 1}, {"MatMul", 2}};
      for (size_t l = 0; l < rep.layers.size(); ++l) {
        INFO(dir.filename().string() << " layer " << l << ": " << countsStr(rep.layers[l]));
        CHECK(rep.layers[l] == want);
      }
      INFO("embeddings: " << countsStr(rep.embeddings) << " head: " << countsStr(rep.head));
      CHECK(rep.total["EmbedLayerNorm"] == 1);

      auto inputs = test::loadInputs(**original, dir);
      auto want_out = ir::interpret(**original, inputs);
      auto got_out = ir::interpret(**g, inputs);
      REQUIRE(want_out.ok());
      INFO((got_out.ok() ? "" : got_out.message()));
      REQUIRE(got_out.ok());
      REQUIRE(got_out->size() == want_out->size());
      for (size_t i = 0; i < got_out->size(); ++i) {
        double err = test::normalizedMaxError((*got_out)[i], (*want_out)[i]);
        fmt::print("{:<26} {:<18} optimized vs original (interpreter) {:.3g}\n", dir.filename().string(),
                   (*g)->outputs()[i]->name, err);
        CHECK(err <= 1e-5);
      }
    }
  }
}

TEST_CASE("a model the passes cannot fully fuse still optimizes correctly, and --explain says why", "[optimize]") {
  // A causal mask is not a key-padding mask: attention must stay unfused,
  // everything else the pipeline can do it does, and the outputs stay the same.
  for (int layers : {1, 2}) {
    DYNAMIC_SECTION(layers << " layer(s)") {
      auto before = test::buildAttention(test::MaskForm::Causal, layers);
      auto g = test::buildAttention(test::MaskForm::Causal, layers);
      passes::PipelineOptions opts;
      opts.verifyEach = true;
      opts.explain = true;
      auto run = passes::runPipeline(*g, opts);
      REQUIRE(run.ok());
      int attention = 0, softmax = 0;
      for (const auto& n : g->nodes()) {
        attention += n->op == ir::OpKind::Attention;
        softmax += n->op == ir::OpKind::Softmax;
      }
      CHECK(attention == 0);
      CHECK(softmax == layers);
      bool explained = false;
      for (const auto& e : run->explanations)
        explained |= e.find("fuse-attention") != std::string::npos && e.find("query and key position") != std::string::npos;
      CHECK(explained);
      CHECK(test::fusedVsUnfusedError(*before, *g) <= 1e-5);
    }
  }
}
