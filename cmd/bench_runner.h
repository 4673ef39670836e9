// What `bertc bench` times, per target: a compiled model with a context,
// run on the same inputs (cmd/bench.cpp makes them). The CPU runner calls
// the JIT-compiled C API; the CUDA runner (bench_cuda.cpp, built with the
// CUDA toolkit) the CUDA runtime stub on device buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::cli {

class BenchRunner {
 public:
  virtual ~BenchRunner() = default;

  /// Per graph input: ids must lie in [0, limit) (0: no limit), and which
  /// input is the attention mask (-1: none), so the inputs are valid.
  std::vector<int64_t> idLimit;
  int maskInput = -1;

  /// "cpu (x86-64-v3), 1 thread(s)".
  virtual std::string describe() const = 0;
  /// Output o's shape at (batch, seq).
  virtual std::vector<int64_t> outputShape(size_t o, int64_t batch, int64_t seq) const = 0;
  /// Makes the context for runs on these inputs and outputs (host memory).
  virtual Status start(int64_t batch, int64_t seq, const std::vector<const void*>& in, const std::vector<void*>& out) = 0;
  /// One run, complete when it returns.
  virtual Status run() = 0;
  /// Leaves the last run's results in the outputs given to start, and frees
  /// the context.
  virtual Status finish() = 0;
};

struct CudaBenchOptions {
  bool fp16 = true;
  int device = 0;
  int64_t maxBatch = 0, maxSeq = 0;
  std::vector<std::string> archs;  ///< empty: the default list
};

/// The CUDA runner for the fused graph `g`; an error when bertc was built
/// without the CUDA toolkit. Creating it compiles (NVRTC); start() needs a GPU.
Result<std::unique_ptr<BenchRunner>> makeCudaRunner(const ir::Graph& g, const std::string& file,
                                                    const CudaBenchOptions& opts);

}  // namespace bertc::cli
