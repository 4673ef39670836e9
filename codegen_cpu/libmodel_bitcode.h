// The model library (libmodel/bertc_k.h) as LLVM bitcode, one module per
// ISA, embedded in the compiler: the CPU code generator links it into each
// model's module, where its kernels are specialised on the model's shapes
// and internalized.
#pragma once

#include <string_view>

#include "gemm.h"  // Isa

namespace bertc::cpu {

/// The bitcode of the library built for `isa` (Avx2: -march=x86-64-v3,
/// Avx512: -march=x86-64-v4). Static storage; never empty.
std::string_view libmodelBitcode(Isa isa);

}  // namespace bertc::cpu
