// `bertc bench --target=cuda-fp16|cuda-fp32`: the model compiled in process
// (kernels by NVRTC, the plan as tables) and run by the CUDA runtime stub
// (libbertc_rt_cuda) on device buffers. A run is bertc_cuda_run_device and
// a stream synchronisation, timed on the host: the launch of the captured
// graph included, the copies of inputs and outputs to the host not.
#include "cmd/bench_runner.h"

#include <fmt/core.h>

#ifdef BERTC_HAVE_CUDA_RT
#include <cuda_runtime.h>

#include "bertc_cuda.h"
#include "codegen_cuda/artifact.h"
#endif

namespace bertc::cli {

#ifdef BERTC_HAVE_CUDA_RT
namespace {

class CudaRunner : public BenchRunner {
 public:
  CudaRunner(std::unique_ptr<cuda::CudaModel> model, int device) : model_(std::move(model)), device_(device) {
    const cuda::LaunchPlan& p = model_->plan();
    for (size_t i = 0; i < p.inputs.size(); ++i) {
      idLimit.push_back(p.inputs[i].idLimit);
      if (p.inputs[i].isMask) maskInput = static_cast<int>(i);
    }
  }
  ~CudaRunner() override { release(); }

  std::string describe() const override {
    cudaDeviceProp prop{};
    const std::string gpu = cudaGetDeviceProperties(&prop, device_) == cudaSuccess ? prop.name : "?";
    return fmt::format("{} on GPU {} ({})", model_->kernels().precision == cuda::Precision::Fp16 ? "cuda-fp16" : "cuda-fp32",
                       device_, gpu);
  }

  std::vector<int64_t> outputShape(size_t o, int64_t batch, int64_t seq) const override {
    const auto& out = model_->plan().outputs.at(o);
    if (out.layout == BERTC_CUDA_OUT_TOKENS) return {batch, seq, out.width};
    if (out.layout == BERTC_CUDA_OUT_SEQUENCES) return {batch, out.width};
    return {batch, seq};
  }

  Status start(int64_t batch, int64_t seq, const std::vector<const void*>& in, const std::vector<void*>& out) override {
    batch_ = batch;
    seq_ = seq;
    hostOut_ = out;
    if (bertc_cuda_create(&model_->view(), device_, &ctx_) != 0)
      return Status::error(std::string("bench: ") + bertc_cuda_last_error(nullptr));
    if (cudaSetDevice(device_) != cudaSuccess || cudaStreamCreate(&stream_) != cudaSuccess)
      return Status::error("bench: cannot create a CUDA stream");
    for (size_t i = 0; i < in.size(); ++i) {
      const size_t bytes = bertc_cuda_input_bytes(&model_->view(), static_cast<int>(i), batch, seq);
      void* d = nullptr;
      if (cudaMalloc(&d, bytes) != cudaSuccess || cudaMemcpy(d, in[i], bytes, cudaMemcpyHostToDevice) != cudaSuccess)
        return Status::error("bench: cannot put the inputs on the GPU");
      devIn_.push_back(d);
    }
    for (size_t o = 0; o < out.size(); ++o) {
      void* d = nullptr;
      if (cudaMalloc(&d, outputBytes(o)) != cudaSuccess) return Status::error("bench: cannot allocate the outputs on the GPU");
      devOut_.push_back(d);
    }
    return Status();
  }

  Status run() override {
    std::vector<const void*> in(devIn_.begin(), devIn_.end());
    if (bertc_cuda_run_device(ctx_, stream_, batch_, seq_, in.data(), devOut_.data()) != 0 ||
        bertc_cuda_sync(ctx_, stream_) != 0)
      return Status::error(std::string("bench: run failed: ") + bertc_cuda_last_error(ctx_));
    return Status();
  }

  Status finish() override {
    for (size_t o = 0; o < devOut_.size(); ++o)
      if (cudaMemcpy(hostOut_[o], devOut_[o], outputBytes(o), cudaMemcpyDeviceToHost) != cudaSuccess)
        return Status::error("bench: cannot copy the outputs back");
    release();
    return Status();
  }

 private:
  size_t outputBytes(size_t o) const {
    return bertc_cuda_output_bytes(&model_->view(), static_cast<int>(o), batch_, seq_);
  }

  void release() {
    for (void* p : devIn_) cudaFree(p);
    for (void* p : devOut_) cudaFree(p);
    devIn_.clear();
    devOut_.clear();
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    bertc_cuda_destroy(ctx_);
    ctx_ = nullptr;
  }

  std::unique_ptr<cuda::CudaModel> model_;
  int device_;
  bertc_cuda_context* ctx_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int64_t batch_ = 0, seq_ = 0;
  std::vector<void*> devIn_, devOut_, hostOut_;
};

}  // namespace

Result<std::unique_ptr<BenchRunner>> makeCudaRunner(const ir::Graph& g, const std::string& file,
                                                    const CudaBenchOptions& opts) {
  cuda::CudaCompileOptions o;
  o.name = "bench";
  o.precision = opts.fp16 ? cuda::Precision::Fp16 : cuda::Precision::Fp32;
  o.maxBatch = opts.maxBatch;
  o.maxSeq = opts.maxSeq;
  o.archs = opts.archs;
  // No GPU: say so before compiling. Otherwise compile for this GPU only.
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return Status::error(fmt::format("bench: --target=cuda-{} needs a GPU, and there is no CUDA device ({})",
                                     opts.fp16 ? "fp16" : "fp32", e != cudaSuccess ? cudaGetErrorString(e) : "none found"));
  if (opts.device < 0 || opts.device >= count)
    return Status::error(fmt::format("bench: --device {}: there are {} CUDA devices", opts.device, count));
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, opts.device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, opts.device);
  if (o.archs.empty()) o.archs = {fmt::format("sm_{}{}", major, minor)};
  auto model = cuda::compileModel(g, file, o);
  if (!model) return model.status();
  return std::unique_ptr<BenchRunner>(new CudaRunner(std::move(*model), opts.device));
}

#else

Result<std::unique_ptr<BenchRunner>> makeCudaRunner(const ir::Graph&, const std::string&, const CudaBenchOptions&) {
  return Status::error("bench: the CUDA targets need the CUDA runtime, and this bertc was built without the CUDA toolkit");
}

#endif

}  // namespace bertc::cli
