// The CUDA target's kernels and launch plan for one model: from a fused
// graph (after passes::runPipeline) the specialised CUDA C kernels it needs,
// as one program for NVRTC (nvrtc.h), and the plan the CUDA runtime stub
// (runtime_stub/cuda/bertc_cuda.h) runs: kernel launches and cuBLASLt GEMMs
// over arena buffers, with the weights in the storage precision.
//
// What runs where is the lowering plan's (passes/plan.h), as on the CPU: tokens are
// packed by the attention mask (kernels/tokens.cuh); GEMMs (MatMul, Linear,
// Attention's projections) are cuBLASLt calls with bias, ReLU or residual
// epilogues, so they need no kernel here; everything else is a kernel of
// kernels/*.cuh, specialised by template arguments for each distinct width,
// head count and epsilon. Exact (erf) GELU and tanh have no cuBLASLt
// epilogue: they are bias_act kernels after the GEMM.
#pragma once

#include <string>
#include <vector>

#include "bertc_cuda.h"
#include "ir/graph.h"
#include "ir/status.h"
#include "passes/plan.h"

namespace bertc::cuda {

/// cuda-fp16: half storage, fp32 accumulation and statistics; cuda-fp32.
enum class Precision { Fp16, Fp32 };

const char* precisionName(Precision p);

/// The CUDA target as the lowering plan (passes/plan.h) sees it.
const plan::TargetCaps& targetCaps(Precision p);

/// One extern "C" __global__ entry point of the generated program.
struct KernelSpec {
  std::string entry;   ///< its symbol, e.g. "bertc_layernorm_h384"
  std::string family;  ///< the kernels/*.cuh function it instantiates, e.g. "layernorm"
  std::string call;    ///< the body: that function with the model's constants
  int threads = 0;     ///< threads per block it is written for (__launch_bounds__)
  std::vector<const ir::Node*> nodes;  ///< the nodes it runs for (none: packing, outputs)
};

/// What the runtime runs, as the tables of bertc_cuda_model (strings and
/// bytes owned here; CompiledModel::view points into them).
struct LaunchPlan {
  int64_t maxBatch = 0, maxSeq = 0;
  int64_t minSeq = 1;  ///< the shortest sequence the model accepts (a pooled token index + 1)
  struct Input {
    std::string name;
    int dtype = 0;  ///< ONNX code
    bool isMask = false;
    int64_t idLimit = 0;
  };
  struct Output {
    std::string name;
    int layout = BERTC_CUDA_OUT_TOKENS;
    int dtype = 1;  ///< ONNX code
    int64_t width = 0;
  };
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::vector<bertc_cuda_step> steps;  ///< KERNEL steps index KernelSet::kernels
  std::vector<bertc_cuda_arg> args;
  std::string weights;                 ///< bytes, every entry 256-byte aligned
  uint64_t arenaBytesPerSlot = 0;
};

struct KernelSet {
  Precision precision = Precision::Fp32;
  std::vector<KernelSpec> kernels;  ///< in first-use order, each entry once
  std::string source;               ///< the whole CUDA C program: kernels/*.cuh + #defines + entry points
  LaunchPlan plan;
};

struct GenerateOptions {
  int64_t maxBatch = 0;  ///< 0: the model's fixed batch, else 64
  int64_t maxSeq = 0;    ///< 0: the model's fixed seq, else the position table's rows
};

/// The kernels and plan of `g`, which must have been through the default
/// pass pipeline. A node the CUDA target cannot lower is an error naming it
/// and its op; `file` is for messages.
Result<KernelSet> generateKernels(const ir::Graph& g, Precision precision, const std::string& file,
                                  const GenerateOptions& opts = {});

/// The kernel library (kernels/*.cuh, in include order, the #include lines
/// removed) as embedded at build time: the head of every generated program.
const std::string& kernelLibrarySource();

}  // namespace bertc::cuda
