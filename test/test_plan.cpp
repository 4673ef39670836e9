// The lowering plan (passes/plan.h) that both code generators read: golden
// plans of a BERT, a RoBERTa, an ALBERT, the pretrained mean-pooling MiniLM
// and a partly fused BERT; the memory plan's invariants on every fixture for
// both targets; and the checks both targets now share.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "codegen_cpu/target.h"
#include "codegen_cuda/generate.h"
#include "frontend/onnx_import.h"
#include "ir/ops.h"
#include "passes/pipeline.h"
#include "passes/plan.h"
#include "test/golden.h"
#include "test/model_fixtures.h"

using namespace bertc;
using plan::Layout;
using plan::Step;

namespace {

std::string fixture(const std::string& name) { return std::string(BERTC_SOURCE_DIR) + "/test/models/" + name + "/model.onnx"; }

/// The model at `path` after the pipeline (the default one, or `passes`).
std::unique_ptr<ir::Graph> fused(const std::string& path, std::optional<std::vector<std::string>> passes = {}) {
  auto g = frontend::importOnnxFile(path);
  REQUIRE(g.ok());
  passes::PipelineOptions opts;
  opts.passes = std::move(passes);
  auto r = passes::runPipeline(**g, opts);
  INFO((r.ok() ? "" : r.message()));
  REQUIRE(r.ok());
  return std::move(*g);
}

/// Compares text with test/golden/<name>.plan (BERTC_UPDATE_GOLDEN=1 rewrites it).
void checkGoldenPlan(const std::string& got, const std::string& name) {
  const std::string path = std::string(BERTC_SOURCE_DIR) + "/test/golden/" + name + ".plan";
  if (const char* u = std::getenv("BERTC_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path) << got;
    WARN("updated " << path);
    return;
  }
  std::ifstream f(path);
  INFO("golden file " << path << " (run with BERTC_UPDATE_GOLDEN=1 to create or update it)");
  REQUIRE(f.good());
  std::stringstream want;
  want << f.rdbuf();
  CHECK(got == want.str());
}

/// What every plan must satisfy, whatever the target: steps read only what
/// is defined before them; buffers live at the same step never share bytes;
/// every buffer is aligned as the target asks and inside the arena.
void checkInvariants(const ir::Graph& g, const plan::Plan& p, const plan::TargetCaps& caps) {
  std::set<const ir::Value*> defined(g.inputs().begin(), g.inputs().end());
  size_t packs = 0;
  std::map<const ir::Value*, std::pair<size_t, size_t>> live;  // first, last step
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    packs += s.kind == Step::Kind::Pack;
    for (const ir::Value* r : s.reads) {
      INFO("step " << i << " reads " << r->name);
      CHECK(defined.count(p.resolve(r)) == 1);
      if (live.count(p.resolve(r))) live[p.resolve(r)].second = i;
    }
    // Token steps run after the packing.
    if (s.out && p.layouts.at(s.out) != Layout::Padded) CHECK(packs == 1);
    if (s.out) {
      defined.insert(s.out);
      live[s.out] = {i, i};
      for (const auto& [from, to] : p.aliases)
        if (to == s.out) defined.insert(from);
    }
  }
  CHECK(packs == 1);
  for (const ir::Value* o : g.outputs())
    if (live.count(p.resolve(o))) live[p.resolve(o)].second = p.steps.size();
  struct Block {
    int64_t begin, end;
    size_t first, last;
    std::string what;
  };
  std::vector<Block> blocks;
  for (const auto& [v, range] : live) {
    const plan::Buffer& b = p.buffers.at(v);
    blocks.push_back({b.offsetPerSlot, b.offsetPerSlot + b.bytesPerSlot, range.first, range.second, v->name});
    if (b.bytesPerSlot >= caps.slotAlign) CHECK(b.offsetPerSlot % caps.slotAlign == 0);
  }
  for (size_t i = 0; i < p.steps.size(); ++i)
    for (const Step::Temp& t : p.steps[i].temps) {
      CHECK(t.offsetPerSlot % caps.slotAlign == 0);
      blocks.push_back({t.offsetPerSlot, t.offsetPerSlot + t.bytesPerSlot, i, i, "temp of step " + std::to_string(i)});
    }
  for (const Block& b : blocks) {
    CHECK(b.begin >= caps.packBytesPerSlot);
    CHECK(b.end <= p.bytesPerSlot);
  }
  for (size_t i = 0; i < blocks.size(); ++i)
    for (size_t j = i + 1; j < blocks.size(); ++j) {
      const Block &a = blocks[i], &b = blocks[j];
      const bool sameTime = a.first <= b.last && b.first <= a.last;
      const bool sameBytes = a.begin < b.end && b.begin < a.end;
      INFO(a.what << " [" << a.begin << ", " << a.end << ") and " << b.what << " [" << b.begin << ", " << b.end << ")");
      CHECK_FALSE((sameTime && sameBytes));
    }
}

}  // namespace

TEST_CASE("golden lowering plans: BERT, RoBERTa, ALBERT on the CPU target, BERT on CUDA fp16 and CPU bf16", "[plan]") {
  for (const char* name : {"bert_ts17_eager", "roberta_ts14_eager", "albert_ts17_eager"}) {
    INFO(name);
    auto g = fused(fixture(name));
    auto p = cpu::planGraph(*g, 0, 0, "m.onnx");
    INFO((p.ok() ? "" : p.message()));
    REQUIRE(p.ok());
    checkGoldenPlan(plan::printPlan(*g, *p), std::string("plan_cpu_") + name);
  }
  auto g = fused(fixture("bert_ts17_eager"));
  auto p = plan::planGraph(*g, cuda::targetCaps(cuda::Precision::Fp16), {8, 0}, "m.onnx");
  REQUIRE(p.ok());
  checkGoldenPlan(plan::printPlan(*g, *p), "plan_cuda_fp16_bert_ts17_eager");
  // --precision bf16: the same steps, every GEMM weight bf16.
  auto bf16 = cpu::planGraph(*g, 0, 0, "m.onnx", cpu::Precision::Bf16);
  REQUIRE(bf16.ok());
  for (const Step& s : bf16->steps)
    if (s.kind == Step::Kind::Linear || s.kind == Step::Kind::Attention)
      CHECK(bf16->precision.at(s.node->operand(1)) == ir::DType::BF16);
  checkGoldenPlan(plan::printPlan(*g, *bf16), "plan_cpu_bf16_bert_ts17_eager");
}

TEST_CASE("golden lowering plan: a partly fused BERT (no SkipLayerNorm, no BiasGelu fusion)", "[plan]") {
  // Without those two fusions the plan has every step kind the fused one
  // lacks: a GEMM that folds a bias Add, GELU on its own, a residual Add
  // and a LayerNorm.
  std::vector<std::string> passes;
  for (const std::string& pass : passes::defaultPipeline())
    if (pass != "fuse-skip-layernorm" && pass != "fuse-bias-gelu") passes.push_back(pass);
  auto g = fused(fixture("bert_ts17_eager"), passes);
  auto p = cpu::planGraph(*g, 0, 0, "m.onnx");
  INFO((p.ok() ? "" : p.message()));
  REQUIRE(p.ok());
  std::set<Step::Kind> kinds;
  for (const Step& s : p->steps) kinds.insert(s.kind);
  CHECK(kinds.count(Step::Kind::BiasAct) == 1);
  CHECK(kinds.count(Step::Kind::Add) == 1);
  CHECK(kinds.count(Step::Kind::LayerNorm) == 1);
  checkGoldenPlan(plan::printPlan(*g, *p), "plan_cpu_bert_partly_fused");
}

TEST_CASE("golden lowering plan: the pretrained mean-pooling MiniLM", "[plan]") {
  const std::string path = test::pretrainedModelPath();
  if (path.empty()) {
    WARN("the pretrained model package is not installed (tools/setup.sh installs it); skipped");
    return;
  }
  auto g = fused(path);
  auto p = cpu::planGraph(*g, 0, 0, "model.onnx");
  REQUIRE(p.ok());
  size_t pools = 0;
  for (const Step& s : p->steps) pools += s.kind == Step::Kind::MeanPool;
  CHECK(pools == 1);
  checkGoldenPlan(plan::printPlan(*g, *p), "plan_cpu_minilm_mean_pool");
}

TEST_CASE("every fixture's plan keeps the memory plan's invariants on both targets", "[plan]") {
  std::vector<std::string> paths;
  for (const auto& dir : test::fixtureDirs()) paths.push_back((dir / "model.onnx").string());
  if (std::string p = test::pretrainedModelPath(); !p.empty()) paths.push_back(p);
  for (const std::string& path : paths) {
    INFO(path);
    auto g = fused(path);
    for (const plan::TargetCaps* caps : {&cpu::targetCaps(), &cuda::targetCaps(cuda::Precision::Fp16),
                                         &cuda::targetCaps(cuda::Precision::Fp32)}) {
      INFO(caps->name << " stores " << ir::dtypeName(caps->store));
      auto p = plan::planGraph(*g, *caps, {4, 0}, "m.onnx");
      INFO((p.ok() ? "" : p.message()));
      REQUIRE(p.ok());
      checkInvariants(*g, *p, *caps);
      for (const auto& [v, l] : p->layouts)
        if (l != Layout::Padded) CHECK(p->precision.at(v) == caps->store);
    }
  }
}

TEST_CASE("both targets refuse the same bounds with the same message", "[plan]") {
  auto g = fused(fixture("bert_ts17_eager"));  // 64 positions
  for (const plan::TargetCaps* caps : {&cpu::targetCaps(), &cuda::targetCaps(cuda::Precision::Fp16)}) {
    auto p = plan::planGraph(*g, *caps, {0, 65}, "m.onnx");
    REQUIRE_FALSE(p.ok());
    CHECK(p.message() == "m.onnx: --max-seq 65 is longer than the model's 64 positions");
  }
  auto cuda = plan::planGraph(*g, cuda::targetCaps(cuda::Precision::Fp16), {1 << 20, 64}, "m.onnx");
  REQUIRE_FALSE(cuda.ok());
  CHECK(cuda.message() == "m.onnx: --max-batch 1048576 x --max-seq 64 is above the CUDA target's 16777216 tokens");
  CHECK(cpu::planGraph(*g, 1 << 20, 64, "m.onnx").ok());  // no such limit on the CPU
}

TEST_CASE("a gathered token past the longest sequence is a compile-time error on both targets", "[plan]") {
  auto g = fused(fixture("bert_ts17_eager"));
  ir::Node* gather = nullptr;
  for (const auto& n : g->nodes())
    if (n->op == ir::OpKind::Gather) gather = n.get();
  REQUIRE(gather != nullptr);
  // Index 5: sequences must be at least 6 long; with --max-seq 4 none is.
  ir::Value* index = g->addConstant("index5", ir::Tensor::scalar(ir::DType::I64, 5.0));
  gather->operands[1] = index;
  for (const plan::TargetCaps* caps : {&cpu::targetCaps(), &cuda::targetCaps(cuda::Precision::Fp32)}) {
    auto ok = plan::planGraph(*g, *caps, {0, 16}, "m.onnx");
    REQUIRE(ok.ok());
    CHECK(ok->minSeq == 6);
    auto p = plan::planGraph(*g, *caps, {0, 4}, "m.onnx");
    REQUIRE_FALSE(p.ok());
    CHECK(p.message().ends_with("(Gather): gathers position 5 of sequences of at most 4"));
  }
}
