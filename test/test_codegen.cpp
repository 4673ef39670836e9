// The CPU code generator through the ORC JIT: each architecture's fixture,
// compiled in process, matches the reference interpreter on the original
// model for every batch 1..4, several sequence lengths, right- and
// left-padded masks, and 1 or 2 threads. Tolerance: 1e-4 relative
// (normalizedMaxError) at the positions where both define the output: real
// tokens for token outputs, rows whose token 0 is real for the pooler.
// (test/python/test_compile.py does the same for the linked object against
// ONNX Runtime.)
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <random>

#include "codegen_cpu/compile.h"
#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "model_fixtures.h"
#include "test/jit_run.h"
#include "passes/pipeline.h"

namespace {

using namespace bertc;

constexpr double kTolerance = 1e-4;

struct Case {
  int64_t batch, seq;
  bool left;
  int threads;
};

/// ids in [1, table) where the plan says the input is ids, the mask from
/// random lengths (one full row), everything else 0.
std::vector<ir::Tensor> makeInputs(const ir::Graph& g, const cpu::Plan& plan, const Case& c, std::mt19937_64& rng,
                                   std::vector<std::vector<bool>>& real) {
  real.assign(static_cast<size_t>(c.batch), std::vector<bool>(static_cast<size_t>(c.seq), false));
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t len = b == 0 ? c.seq : std::uniform_int_distribution<int64_t>(1, c.seq)(rng);
    for (int64_t s = 0; s < len; ++s) real[b][c.left ? c.seq - 1 - s : s] = true;
  }
  const ir::Value* mask = plan.mask;
  while (mask && mask->producer) mask = mask->producer->operand(0);
  std::vector<ir::Tensor> inputs;
  for (const ir::Value* in : g.inputs()) {
    ir::Tensor t = ir::Tensor::allocate(in->type.dtype, {c.batch, c.seq});
    auto range = plan.idLimits.find(in);
    for (int64_t i = 0; i < c.batch * c.seq; ++i) {
      const bool r = real[i / c.seq][i % c.seq];
      int64_t v = 0;
      if (in == mask) v = r;
      else if (range != plan.idLimits.end() && r) v = std::uniform_int_distribution<int64_t>(1, range->second - 1)(rng);
      t.setInt(static_cast<size_t>(i), v);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

/// Copies the rows both sides define into a new tensor pair's first halves.
double comparedError(const ir::Tensor& got, const ir::Tensor& want, const std::vector<std::vector<bool>>& real) {
  const auto& shape = want.shape();
  const int64_t batch = static_cast<int64_t>(real.size()), seq = static_cast<int64_t>(real[0].size());
  const bool tokens = shape.size() >= 2 && shape[0] == batch && shape[1] == seq;
  const int64_t row = tokens ? want.numel() / (batch * seq) : want.numel() / batch;
  std::vector<float> a, b;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const int64_t r = i / row;
    const bool keep = tokens ? real[r / seq][r % seq] : real[r][0];
    if (!keep) continue;
    a.push_back(static_cast<float>(got.getDouble(static_cast<size_t>(i))));
    b.push_back(static_cast<float>(want.getDouble(static_cast<size_t>(i))));
  }
  if (a.empty()) return 0.0;
  auto n = static_cast<int64_t>(a.size());
  return test::normalizedMaxError(ir::Tensor::fromVector(ir::DType::F32, {n}, a),
                                  ir::Tensor::fromVector(ir::DType::F32, {n}, b));
}

/// Compiles the fixture in `dir` (after `passes`, or the default pipeline)
/// with the JIT and compares every output with the reference interpreter on
/// the unfused model, over batches, lengths, padding sides and threads.
void checkAgainstInterpreter(const std::filesystem::path& dir, std::optional<std::vector<std::string>> passes = {}) {
  const std::string name = dir.filename().string();
  auto original = frontend::importOnnxFile((dir / "model.onnx").string());
  REQUIRE(original.ok());
  auto fused = frontend::importOnnxFile((dir / "model.onnx").string());
  REQUIRE(fused.ok());
  passes::PipelineOptions popts;
  popts.passes = std::move(passes);
  REQUIRE(passes::runPipeline(**fused, popts).ok());
  cpu::CompileOptions opts;
  opts.name = "m";
  opts.maxBatch = 4;
  opts.maxSeq = 24;
  auto jit = cpu::JitModel::create(**fused, name, opts);
  INFO((jit.ok() ? std::string() : jit.message()));
  REQUIRE(jit.ok());
  cpu::JitModel& m = **jit;
  std::mt19937_64 rng(7);
  for (int64_t batch = 1; batch <= 4; ++batch)
    for (int64_t seq : {1, 9, 24})
      for (bool left : {false, true}) {
        const Case c{batch, seq, left, 1 + static_cast<int>(batch % 2)};
        std::vector<std::vector<bool>> real;
        auto inputs = makeInputs(**fused, m.plan(), c, rng, real);
        auto want = ir::interpret(**original, inputs);
        REQUIRE(want.ok());
        std::string error;
        auto got = test::runJit(m, batch, seq, inputs, *want, c.threads, &error);
        INFO(fmt::format("batch {} seq {} {} threads {}: {}", batch, seq, left ? "left" : "right", c.threads, error));
        REQUIRE(error.empty());
        for (size_t o = 0; o < got.size(); ++o) {
          INFO("output " << (**fused).outputs()[o]->name);
          CHECK(comparedError(got[o], (*want)[o], real) <= kTolerance);
        }
      }
}

}  // namespace

TEST_CASE("JIT-compiled fixtures match the reference interpreter", "[codegen]") {
  for (const auto& dir : test::fixtureDirs()) {
    const std::string name = dir.filename().string();
    // One export per architecture here (all 36 link and run in test_compile.py).
    if (name.find("_ts17_eager") == std::string::npos) continue;
    DYNAMIC_SECTION(name) { checkAgainstInterpreter(dir); }
  }
}

TEST_CASE("a partly fused BERT (no SkipLayerNorm or BiasGelu fusion) matches the reference interpreter", "[codegen]") {
  // Its plan has standalone Add, LayerNorm and GELU steps and a GEMM that
  // folds a bias Add (test/golden/plan_cpu_bert_partly_fused.plan).
  std::vector<std::string> passes;
  for (const std::string& pass : passes::defaultPipeline())
    if (pass != "fuse-skip-layernorm" && pass != "fuse-bias-gelu") passes.push_back(pass);
  checkAgainstInterpreter(std::filesystem::path(BERTC_SOURCE_DIR) / "test/models/bert_ts17_eager", passes);
}
