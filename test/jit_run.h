#pragma once
// One run of a JIT-compiled model (codegen_cpu/compile.h) on tensors, for
// the tests that compare it with the reference interpreter.
#include <string>
#include <vector>

#include "codegen_cpu/compile.h"
#include "ir/tensor.h"

namespace bertc::test {

/// Runs m at (batch, seq) on `inputs` in a fresh context of `threads`
/// threads; the outputs are allocated like `like` (the reference's). Returns
/// the outputs, or sets *error to the model's message (empty on success).
inline std::vector<ir::Tensor> runJit(cpu::JitModel& m, int64_t batch, int64_t seq,
                                      const std::vector<ir::Tensor>& inputs, const std::vector<ir::Tensor>& like,
                                      int threads, std::string* error) {
  std::vector<ir::Tensor> got;
  std::vector<const void*> in;
  std::vector<void*> out;
  for (const auto& t : inputs) in.push_back(t.data());
  for (const auto& w : like) got.push_back(ir::Tensor::allocate(w.dtype(), w.shape()));
  for (auto& t : got) out.push_back(t.mutableData());
  void* ctx = nullptr;
  if (m.createContext(&ctx, threads) != 0) {
    *error = std::string("create: ") + m.lastError(nullptr);
    return got;
  }
  const int rc = m.runV(ctx, batch, seq, in.data(), out.data());
  *error = rc ? std::string(m.lastError(ctx)) + " (status " + std::to_string(rc) + ")" : "";
  m.destroyContext(ctx);
  return got;
}

}  // namespace bertc::test
