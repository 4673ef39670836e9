// A model compiled for a CUDA target: the kernels' images (nvrtc.h), the
// launch plan and weights (generate.h), held together as the
// bertc_cuda_model the CUDA runtime stub runs (runtime_stub/cuda/
// bertc_cuda.h). `bertc compile --target=cuda-*` writes it as an object file
// (one constant `<name>_cuda_model`) plus a C header of inline wrappers;
// `bertc bench` hands view() to the runtime in process.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bertc_cuda.h"
#include "codegen_cuda/generate.h"
#include "ir/status.h"

namespace bertc::cuda {

/// One image of the kernels: a cubin for sm_XX, or PTX for compute_XX.
struct Image {
  int arch = 0;  ///< 80 for sm_80 / compute_80
  bool isPtx = false;
  std::string bytes;  ///< PTX text ends in a NUL
};

class CudaModel {
 public:
  CudaModel(std::string name, KernelSet set, std::vector<Image> images);
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const std::string& name() const { return name_; }
  const KernelSet& kernels() const { return set_; }
  const LaunchPlan& plan() const { return set_.plan; }
  const std::vector<Image>& images() const { return images_; }

  /// The runtime's view: pointers into this object, valid while it lives.
  const bertc_cuda_model& view() const { return model_; }

  /// Keeps the weights out of the object: the view records `path` (what
  /// create opens by default) and the weights' size and checksum instead of
  /// the bytes. writeWeightsFile writes the file.
  void keepWeightsIn(std::string path);

 private:
  std::string name_;
  KernelSet set_;
  std::vector<Image> images_;
  std::vector<bertc_cuda_image> imageTable_;
  std::vector<bertc_cuda_input> inputTable_;
  std::vector<bertc_cuda_output> outputTable_;
  std::vector<const char*> kernelNames_;
  std::string weightsFile_;
  bertc_cuda_model model_{};
};

struct CudaCompileOptions {
  std::string name = "bert";  ///< symbol prefix
  Precision precision = Precision::Fp16;
  std::vector<std::string> archs;  ///< empty: defaultArchitectures() (nvrtc.h)
  int64_t maxBatch = 0, maxSeq = 0;
  /// Called with a line per finished stage, for -v.
  std::function<void(const std::string&)> progress;
};

/// Generates the kernels and plan of `g` (after the default pass pipeline)
/// and compiles the kernels with NVRTC. Without the CUDA toolkit at build
/// time, an error saying so.
Result<std::unique_ptr<CudaModel>> compileModel(const ir::Graph& g, const std::string& file,
                                                const CudaCompileOptions& opts);

/// "sm_86" -> 86; 0 when it is not sm_XX.
int archNumber(const std::string& arch);

/// Writes `model` as a relocatable x86-64 ELF object defining the constant
/// `<name>_cuda_model` (emitted through LLVM; no code, only data).
Status writeObject(const CudaModel& model, const std::string& path);

/// Writes the weights of `model` as a side file (bertc_rt.h's format) to
/// `path`, for a model whose object leaves them out (keepWeightsIn).
Status writeWeightsFile(const CudaModel& model, const std::string& path);

/// The C header of a model compiled for a CUDA target: inline wrappers
/// named `<name>_*` over bertc_cuda.h, documented for its users.
std::string headerText(const CudaModel& model, const ir::Graph& g);

}  // namespace bertc::cuda
