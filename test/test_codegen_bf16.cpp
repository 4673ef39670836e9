// --precision bf16 on the CPU target: GEMM weights in bfloat16, fp32
// accumulation, every other op fp32. Each fixture architecture JIT-compiled
// at bf16 on every GEMM tier this CPU has (BERTC_CPU_TIER caps the tier the
// library picks), against the reference interpreter on the unfused fp32
// model: minimum cosine per real token and per pooled sequence >= 0.9995,
// max error relative to the output's largest value <= 2e-2. (bf16 keeps 8
// bits of mantissa: each weight is off by up to 2^-9 relative; over K-long
// dot products the errors are independent and average out.)
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "codegen_cpu/compile.h"
#include "codegen_cpu/libmodel/bertc_k.h"
#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "passes/pipeline.h"
#include "test/jit_run.h"
#include "test/model_fixtures.h"

using namespace bertc;

namespace {

/// The tiers this CPU runs, by the names BERTC_CPU_TIER takes.
std::vector<std::string> tiersHere() {
  std::vector<std::string> tiers = {"avx2"};
  const std::string flags = [] {
    std::FILE* f = std::fopen("/proc/cpuinfo", "r");
    std::string s;
    if (!f) return s;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, f)) {
      s += buf;
      if (s.find("flags") != std::string::npos && s.back() == '\n') break;
    }
    std::fclose(f);
    return s;
  }();
  if (flags.find(" avx512f") != std::string::npos) tiers.push_back("avx512");
  else WARN("this CPU lacks avx512f: the avx512 and avx512_bf16 tiers are not tested");
  if (flags.find(" avx512_bf16") != std::string::npos) tiers.push_back("avx512_bf16");
  else WARN("this CPU lacks avx512_bf16: the avx512_bf16 tier is not tested");
  return tiers;
}

/// Minimum cosine over rows of `rowElems` (rows with keep[r] false skipped).
double minCosine(const ir::Tensor& a, const ir::Tensor& b, int64_t rowElems, const std::vector<bool>& keep) {
  double worst = 1;
  for (int64_t r = 0; r * rowElems < a.numel(); ++r) {
    if (!keep[static_cast<size_t>(r)]) continue;
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = r * rowElems; i < (r + 1) * rowElems; ++i) {
      const double x = a.getDouble(static_cast<size_t>(i)), y = b.getDouble(static_cast<size_t>(i));
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

}  // namespace

TEST_CASE("precision bf16: every fixture architecture on every GEMM tier against the interpreter", "[codegen]") {
  for (const std::string& tier : tiersHere()) {
    for (const auto& dir : test::fixtureDirs()) {
      const std::string name = dir.filename().string();
      if (name.find("_ts17_eager") == std::string::npos) continue;
      INFO(name << " on tier " << tier);
      ::setenv("BERTC_CPU_TIER", tier.c_str(), 1);
      auto original = frontend::importOnnxFile((dir / "model.onnx").string());
      auto fused = frontend::importOnnxFile((dir / "model.onnx").string());
      REQUIRE(original.ok());
      REQUIRE(fused.ok());
      REQUIRE(passes::runPipeline(**fused, passes::PipelineOptions{}).ok());
      cpu::CompileOptions opts;
      opts.name = "m";
      opts.maxBatch = 3;
      opts.maxSeq = 16;
      opts.precision = cpu::Precision::Bf16;
      opts.cpu = "native";
      auto jit = cpu::JitModel::create(**fused, name, opts);
      INFO((jit.ok() ? std::string() : jit.message()));
      REQUIRE(jit.ok());
      cpu::JitModel& m = **jit;
      CHECK(std::string(m.cpuTier()) == tier);
      // Batch 3 of lengths 16, 9, 4 (right-padded).
      const int64_t batch = 3, seq = 16;
      const std::vector<int64_t> lengths = {16, 9, 4};
      std::mt19937_64 rng(3);
      std::vector<ir::Tensor> inputs;
      for (const ir::Value* in : (*fused)->inputs()) {
        ir::Tensor t = ir::Tensor::allocate(in->type.dtype, {batch, seq});
        auto limit = m.plan().idLimits.find(in);
        for (int64_t i = 0; i < batch * seq; ++i) {
          const bool real = i % seq < lengths[static_cast<size_t>(i / seq)];
          int64_t v = 0;
          if (in == ir::throughIdentityAndCast(m.plan().mask)) v = real;
          else if (limit != m.plan().idLimits.end() && real) v = std::uniform_int_distribution<int64_t>(1, limit->second - 1)(rng);
          t.setInt(static_cast<size_t>(i), v);
        }
        inputs.push_back(std::move(t));
      }
      auto want = ir::interpret(**original, inputs);
      REQUIRE(want.ok());
      std::string error;
      auto got = test::runJit(m, batch, seq, inputs, *want, 1, &error);
      INFO(error);
      REQUIRE(error.empty());
      for (size_t o = 0; o < got.size(); ++o) {
        INFO("output " << (*fused)->outputs()[o]->name);
        const auto& shape = got[o].shape();
        const bool tokens = shape.size() == 3 && shape[1] == seq;
        std::vector<bool> keep;
        for (int64_t r = 0; r < (tokens ? batch * seq : batch); ++r)
          keep.push_back(!tokens || r % seq < lengths[static_cast<size_t>(r / seq)]);
        const int64_t rowElems = got[o].numel() / static_cast<int64_t>(keep.size());
        const double cos = minCosine(got[o], (*want)[o], rowElems, keep);
        double err = 0, top = 0;
        for (int64_t i = 0; i < got[o].numel(); ++i) {
          if (!keep[static_cast<size_t>(i / rowElems)]) continue;
          err = std::max(err, std::fabs(got[o].getDouble(i) - (*want)[o].getDouble(i)));
          top = std::max(top, std::fabs((*want)[o].getDouble(i)));
        }
        CHECK(cos >= 0.9995);
        CHECK(err / top <= 2e-2);
      }
      ::unsetenv("BERTC_CPU_TIER");
    }
  }
}
