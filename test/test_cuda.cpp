// The CUDA target's kernels, without a GPU: for every committed fixture and
// the pretrained MiniLM, after the default pipeline, the kernel generator
// (codegen_cuda/generate.h) gives a program for cuda-fp16 and cuda-fp32,
// and NVRTC compiles it to a cubin for each default architecture (sm_80,
// sm_86, sm_89, sm_90) plus PTX naming every entry point. Without the CUDA
// toolkit the NVRTC part is skipped with a warning; the generator's checks
// still run.
//
// NVRTC is slow, so each distinct program text is compiled once (fixtures of
// the same shapes give the same program): 74 programs, 14 distinct, about
// 21 s for all four architectures on the 2-core build machine (NVRTC 13.0).
// That is well under the two minutes we allow this test, so every program
// gets every architecture.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <chrono>
#include <tuple>
#include <map>
#include <set>

#include "codegen_cuda/generate.h"
#include "frontend/onnx_import.h"
#include "graph_builder.h"
#include "ir/ops.h"
#include "model_fixtures.h"
#include "passes/pipeline.h"
#ifdef BERTC_HAVE_NVRTC
#include "codegen_cuda/nvrtc.h"
#endif

namespace {

using namespace bertc;
using cuda::Precision;


/// Every model to check: (label, path).
std::vector<std::pair<std::string, std::string>> models() {
  std::vector<std::pair<std::string, std::string>> m;
  for (const auto& dir : test::fixtureDirs()) m.push_back({dir.filename().string(), (dir / "model.onnx").string()});
  if (std::string p = test::pretrainedModelPath(); !p.empty()) m.push_back({"pretrained MiniLM", p});
  else WARN("the pretrained model package is not installed (tools/setup.sh installs it); checking the fixtures only");
  return m;
}

size_t count(const cuda::KernelSet& set, const std::string& family) {
  size_t n = 0;
  for (const auto& k : set.kernels) n += k.family == family;
  return n;
}

#ifdef BERTC_HAVE_NVRTC
/// Compiles each distinct program text once.
const Result<cuda::CompiledProgram>& compiled(const std::string& source) {
  static std::map<std::string, Result<cuda::CompiledProgram>> cache;
  auto it = cache.find(source);
  if (it == cache.end()) it = cache.emplace(source, cuda::compileProgram(source)).first;
  return it->second;
}
#endif

}  // namespace

TEST_CASE("CUDA kernels are generated and NVRTC-compile for every fixture and the pretrained model", "[cuda]") {
#ifdef BERTC_HAVE_NVRTC
  WARN(fmt::format("NVRTC {}: compiling each distinct program for sm_80, sm_86, sm_89, sm_90 + compute_90 PTX",
                   cuda::nvrtcVersionString()));
#else
  WARN("bertc was built without the CUDA toolkit: the kernels are generated but not NVRTC-compiled (skipped)");
#endif
  const auto start = std::chrono::steady_clock::now();
  std::set<std::string> programs;
  size_t checked = 0;
  // One loop, not a section per model, so the cache and the timing span all
  // of them; INFO names the model in any failure.
  for (const auto& [label, path] : models()) {
    INFO(label);
    auto g = frontend::importOnnxFile(path);
    REQUIRE(g.ok());
    REQUIRE(passes::runPipeline(**g, passes::PipelineOptions{}).ok());
    size_t attentionNodes = 0;
    for (const auto& n : (*g)->nodes()) attentionNodes += n->op == ir::OpKind::Attention;
    for (Precision p : {Precision::Fp16, Precision::Fp32}) {
      INFO(cuda::precisionName(p));
      auto set = cuda::generateKernels(**g, p, label);
      INFO((set.ok() ? std::string() : set.message()));
      REQUIRE(set.ok());
      // The packing, the embeddings, one attention core (every layer has the
      // same shape), LayerNorms, and the outputs' scatter.
      CHECK(count(*set, "pack") == 1);
      CHECK(count(*set, "embed_layernorm") == 1);
      CHECK(count(*set, "attention") == 1);
      CHECK(count(*set, "layernorm") >= 1);
      CHECK(count(*set, "scatter_rows") + count(*set, "to_float") >= 1);
      size_t attentionUses = 0;
      for (const auto& k : set->kernels)
        if (k.family == "attention") attentionUses += k.nodes.size();
      CHECK(attentionUses == attentionNodes);
      CHECK(set->source.find(fmt::format("#define BERTC_FP16 {}", p == Precision::Fp16 ? 1 : 0)) !=
            std::string::npos);
      programs.insert(set->source);
      ++checked;
#ifdef BERTC_HAVE_NVRTC
      const auto& prog = compiled(set->source);
      INFO((prog.ok() ? std::string() : prog.message()));
      REQUIRE(prog.ok());
      const cuda::CompiledProgram& cp = prog.value();
      REQUIRE(cp.cubins.size() == cuda::defaultArchitectures().size());
      INFO(cp.log);
      CHECK(cp.log.empty());  // no NVRTC warnings either
      for (size_t i = 0; i < cp.cubins.size(); ++i) {
        CHECK(cp.cubins[i].arch == cuda::defaultArchitectures()[i]);
        CHECK(cp.cubins[i].image.size() > 1000);
        CHECK(cp.cubins[i].image.starts_with("\x7f" "ELF"));
      }
      CHECK(cp.ptxArch == "compute_90");
      CHECK(cp.ptx.find(".target sm_90") != std::string::npos);
      for (const auto& k : set->kernels) {
        INFO(k.entry);
        CHECK(cp.ptx.find(".entry " + k.entry + "(") != std::string::npos);
      }
#endif
    }
  }
  CHECK(checked >= 2 * 36);
  fmt::print("[cuda] {} models x 2 precisions: {} distinct programs, {:.1f} s\n", checked / 2, programs.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

TEST_CASE("the CUDA kernels of two fixtures, entry by entry", "[cuda]") {
  // Counts in the style of tinygrad's check_schedule: what a BERT layer
  // needs beside its cuBLASLt GEMMs. RoBERTa's TorchScript export computes
  // its position ids from the mask ([batch, seq] arithmetic and a CumSum),
  // which runs before the packing.
  const std::map<std::string, std::vector<std::string>> expected = {
      {"bert_ts17_eager",
       {"bertc_pack", "bertc_gather_ids", "bertc_embed_layernorm_h64", "bertc_attention_d16_h4",
        "bertc_layernorm_h64", "bertc_bias_gelu_n96", "bertc_gather_token_n64", "bertc_bias_tanh_n64",
        "bertc_scatter_rows_n64", "bertc_to_float_n64"}},
      {"roberta_ts14_eager",
       {"bertc_elementwise", "bertc_cumsum", "bertc_pack", "bertc_gather_ids", "bertc_embed_layernorm_h48",
        "bertc_attention_d16_h3", "bertc_layernorm_h48", "bertc_bias_gelu_n80", "bertc_gather_token_n48",
        "bertc_bias_tanh_n48", "bertc_scatter_rows_n48", "bertc_to_float_n48"}},
  };
  for (const auto& [name, entries] : expected) {
    INFO(name);
    auto g = frontend::importOnnxFile(std::string(BERTC_SOURCE_DIR) + "/test/models/" + name + "/model.onnx");
    REQUIRE(g.ok());
    REQUIRE(passes::runPipeline(**g, passes::PipelineOptions{}).ok());
    auto set = cuda::generateKernels(**g, Precision::Fp16, name);
    REQUIRE(set.ok());
    std::vector<std::string> got;
    for (const auto& k : set->kernels) got.push_back(k.entry);
    CHECK(got == entries);
    // The model's constants are in the calls: epsilon, the attention scale.
    const std::string width = name.starts_with("bert_") ? "64" : "48";
    CHECK(set->source.find("bertc::layernorm<" + width + ", 32>(x, ldx, skip, ldskip, bias, gamma, beta, y, ldy, "
                           "num_rows, 1e-12f);") != std::string::npos);
    CHECK(set->source.find("seq_start, 0.25f);") != std::string::npos);  // 1/sqrt(16)
  }
}

TEST_CASE("the CUDA launch plan of a BERT fixture", "[cuda]") {
  // bert_ts17_eager: 2 layers of hidden 64, 4 heads, FFN 96, vocab 200, a
  // tanh pooler. Per layer: the QKV GEMM (bias epilogue), attention, the
  // output projection and FFN GEMMs (their biases go to SkipLayerNorm and
  // BiasGelu), two SkipLayerNorms and a BiasGelu.
  auto g = frontend::importOnnxFile(std::string(BERTC_SOURCE_DIR) + "/test/models/bert_ts17_eager/model.onnx");
  REQUIRE(g.ok());
  REQUIRE(passes::runPipeline(**g, passes::PipelineOptions{}).ok());
  cuda::GenerateOptions opts;
  opts.maxBatch = 8;
  auto set = cuda::generateKernels(**g, Precision::Fp16, "bert", opts);
  REQUIRE(set.ok());
  const cuda::LaunchPlan& plan = set->plan;
  CHECK(plan.maxBatch == 8);
  CHECK(plan.maxSeq == 64);  // the position table's rows
  CHECK(plan.minSeq == 1);   // the pooler reads token 0
  std::vector<std::string> sequence;
  std::vector<std::tuple<int64_t, int64_t, int>> gemms;  // (n, k, epilogue)
  for (const bertc_cuda_step& s : plan.steps) {
    if (s.kind == BERTC_CUDA_STEP_GEMM) {
      sequence.push_back("gemm");
      gemms.emplace_back(s.n, s.k, s.epilogue);
    } else {
      sequence.push_back(set->kernels.at(static_cast<size_t>(s.kernel)).family);
    }
  }
  const std::vector<std::string> layer = {"gemm", "attention", "gemm", "layernorm", "gemm", "bias_act", "gemm",
                                          "layernorm"};
  std::vector<std::string> want = {"pack", "gather_ids", "gather_ids", "gather_ids", "embed_layernorm"};
  for (int l = 0; l < 2; ++l) want.insert(want.end(), layer.begin(), layer.end());
  want.insert(want.end(), {"gather_token", "gemm", "bias_act", "scatter_rows", "to_float"});
  CHECK(sequence == want);
  using G = std::tuple<int64_t, int64_t, int>;
  const std::vector<G> layerGemms = {G{192, 64, BERTC_CUDA_EPI_BIAS}, G{64, 64, BERTC_CUDA_EPI_NONE},
                                     G{96, 64, BERTC_CUDA_EPI_NONE}, G{64, 96, BERTC_CUDA_EPI_NONE}};
  std::vector<G> wantGemms = layerGemms;
  wantGemms.insert(wantGemms.end(), layerGemms.begin(), layerGemms.end());
  wantGemms.push_back(G{64, 64, BERTC_CUDA_EPI_BIAS});  // the pooler, then tanh
  CHECK(gemms == wantGemms);
  // Inputs: the ids are checked against the word table, the segments
  // against the type table; the mask is the packing mask.
  REQUIRE(plan.inputs.size() == 3);
  CHECK(plan.inputs[0].idLimit == 200);
  CHECK(plan.inputs[1].isMask);
  CHECK(plan.inputs[2].idLimit == 2);
  // The arena reuses buffers: far less than every activation of every
  // layer side by side (2 layers x (3H + H + H + H + 96 + 96 + H) halves).
  CHECK(plan.arenaBytesPerSlot < 2 * (7 * 64 + 2 * 96) * 2);
  CHECK(plan.arenaBytesPerSlot >= (3 * 64 + 64) * 2);  // QKV and the context live together
  // Weights in fp16: at least every parameter.
  CHECK(plan.weights.size() >= 2 * (200 * 64 + 2 * (64 * 192 + 64 * 64 + 64 * 96 * 2) + 64 * 64));
}

TEST_CASE("the CUDA target refuses inputs its kernels cannot read", "[cuda]") {
  auto g = frontend::importOnnxFile(std::string(BERTC_SOURCE_DIR) + "/test/models/bert_ts17_eager/model.onnx");
  REQUIRE(g.ok());
  REQUIRE(passes::runPipeline(**g, passes::PipelineOptions{}).ok());
  ir::Value* types = (*g)->inputs().at(2);
  REQUIRE(types->name == "token_type_ids");
  types->type.dtype = ir::DType::F16;  // load_int reads no half
  auto set = cuda::generateKernels(**g, Precision::Fp16, "m.onnx");
  REQUIRE_FALSE(set.ok());
  CHECK(set.message() ==
        "m.onnx: input 'token_type_ids' is f16; the CUDA target takes f32, f64, u8, i8, i32, i64 or bool inputs");
}

TEST_CASE("the CUDA generator names the node and op it cannot lower", "[cuda]") {
  test::GraphBuilder b;
  ir::Value* x = b.input("x", b.uniform({2, 4}), {"batch", "seq"});
  ir::Value* y = b.op(ir::OpKind::Softmax, {x}, {{"axis", int64_t{-1}}}, "my_softmax");
  b.g.addOutput(y);
  auto set = cuda::generateKernels(b.g, Precision::Fp16, "m.onnx");
  REQUIRE_FALSE(set.ok());
  CHECK(set.message() == "m.onnx: node 'my_softmax' (Softmax): is not supported by the CUDA target");
}

TEST_CASE("an NVRTC failure returns the program log", "[cuda]") {
#ifndef BERTC_HAVE_NVRTC
  WARN("bertc was built without the CUDA toolkit: NVRTC is not available (skipped)");
#else
  // The kernel library with an entry point that calls what does not exist.
  const std::string source = "#define BERTC_FP16 1\n" + cuda::kernelLibrarySource() +
                             "extern \"C\" __global__ void broken(float* x) { x[0] = bertc::no_such_kernel(x); }\n";
  cuda::NvrtcOptions opts;
  opts.archs = {"sm_80"};
  opts.programName = "broken.cu";
  auto r = cuda::compileProgram(source, opts);
  REQUIRE_FALSE(r.ok());
  INFO(r.message());
  CHECK(r.message().starts_with("NVRTC failed to compile broken.cu for sm_80"));
  CHECK(r.message().find("no_such_kernel") != std::string::npos);  // the log's line
  CHECK(r.message().find("broken.cu(") != std::string::npos);

  opts.archs = {"sm_12"};
  auto bad = cuda::compileProgram("extern \"C\" __global__ void k() {}", opts);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().find("'sm_12' is not one NVRTC") != std::string::npos);
#endif
}
