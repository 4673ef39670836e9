// The runtime stub's functions for an LLJIT: every bertc_rt_* resolved to the
// copy linked into this process. Shared by the model JIT (jit.cpp) and
// bench/libmodel_gemm_bench.cpp, which JITs the model library alone.
#pragma once

#include <llvm/ExecutionEngine/Orc/LLJIT.h>

namespace bertc::cpu {

llvm::orc::SymbolMap runtimeSymbols(llvm::orc::LLJIT& jit);

}  // namespace bertc::cpu
