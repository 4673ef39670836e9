// generateKernels: the CUDA target's caps for the lowering plan, and the
// kernels, launches and program of a planned graph (emitter.h walks it).
#include "codegen_cuda/generate.h"

#include <fmt/core.h>

#include <algorithm>

#include "codegen_cuda/emitter.h"
#include "ir/ops.h"

namespace bertc::cuda {

// Defined by the source that embed_kernels.cmake generates.
std::string_view embeddedKernelFile(size_t i, std::string_view* name);

const plan::TargetCaps& targetCaps(Precision p) {
  auto make = [](Precision p) {
    plan::TargetCaps c;
    c.name = "CUDA";
    c.store = p == Precision::Fp16 ? ir::DType::F16 : ir::DType::F32;
    c.gemmWeights = c.store;
    // cuBLASLt's heuristics assume 256-byte aligned operands; buffer
    // offsets are per slot, so this aligns every address.
    c.slotAlign = 256;
    c.packBytesPerSlot = 0;  // the runtime keeps tok, row_of and seq_start
    // kernels/common.cuh's load_int / store_as and the runtime's host checks.
    c.paddedDtypes = {ir::DType::F32, ir::DType::F64, ir::DType::U8,  ir::DType::I8,
                      ir::DType::I32, ir::DType::I64, ir::DType::Bool};
    // cuBLASLt's bias epilogue adds in fp32 before rounding; folding an Add
    // or an activation's bias would change fp16 results, so nothing folds.
    c.foldedEpilogues = 0;
    c.constPositionIds = true;
    c.maxTokens = int64_t{1} << 24;
    c.maxHeadSize = 128;  // kernels/attention.cuh keeps a head's row in registers
    return c;
  };
  static const plan::TargetCaps fp16 = make(Precision::Fp16), fp32 = make(Precision::Fp32);
  return p == Precision::Fp16 ? fp16 : fp32;
}

const char* precisionName(Precision p) { return p == Precision::Fp16 ? "fp16" : "fp32"; }

const std::string& kernelLibrarySource() {
  static const std::string text = [] {
    std::string all;
    std::string_view name;
    for (size_t i = 0;; ++i) {
      std::string_view body = embeddedKernelFile(i, &name);
      if (body.empty()) break;
      all += fmt::format("// ---- kernels/{} ----\n", name);
      // The files include each other for editors and nvcc; here they are
      // already in order.
      for (size_t at = 0; at < body.size();) {
        size_t end = body.find('\n', at);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(at, end - at);
        if (!line.starts_with("#include \"") && line != "#pragma once") {
          all += line;
          all += '\n';
        }
        at = end + 1;
      }
    }
    return all;
  }();
  return text;
}

Result<KernelSet> generateKernels(const ir::Graph& g, Precision precision, const std::string& file,
                                  const GenerateOptions& opts) {
  auto planned = plan::planGraph(g, targetCaps(precision), plan::PlanOptions{opts.maxBatch, opts.maxSeq}, file);
  if (!planned) return planned.status();
  return catchUserError([&]() -> Result<KernelSet> {
    const plan::Plan& p = *planned;
    KernelSet set;
    set.precision = precision;
    LaunchPlan& lp = set.plan;
    lp.maxBatch = p.maxBatch;
    lp.maxSeq = p.maxSeq;
    lp.minSeq = p.minSeq;
    const ir::Value* mask = p.mask ? ir::throughIdentityAndCast(p.mask) : nullptr;
    for (const ir::Value* in : g.inputs()) {
      auto limit = p.idLimits.find(in);
      lp.inputs.push_back({in->name, static_cast<int>(in->type.dtype), in == mask,
                           limit == p.idLimits.end() ? 0 : limit->second});
    }
    Emitter e(g, p, set);
    e.emitAll();
    lp.arenaBytesPerSlot = static_cast<uint64_t>(p.bytesPerSlot);
    set.source = e.program();
    return set;
  });
}

}  // namespace bertc::cuda
