// The kernel families of kernels/*.cuh as data: each family's parameters
// (C type, name, and the kind of launch argument each takes) and the
// compile-time constants its call adds. The generated entry points take the
// parameters and pass them on; a launch is checked against the kinds, since
// nothing else can check it without a GPU. Keep in step with kernels/*.cuh.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bertc_cuda.h"

namespace bertc::cuda {

/// What a parameter is at the C level, which decides the launch arguments
/// (bertc_cuda_arg kinds) it may take.
enum class ParamType { Pointer, Int, I64 };

/// One item of a family's call: a parameter of the entry point, or a
/// compile-time constant ("{eps}") substituted when the kernel is added.
struct CallItem {
  const char* ctype;  ///< C type; null for a constant
  const char* name;   ///< parameter name, or the constant's key
  ParamType type = ParamType::Pointer;
};

struct KernelFamily {
  const char* name;  ///< e.g. "layernorm": the function bertc::layernorm of kernels/*.cuh
  std::vector<CallItem> call;
};

/// Every family, by name.
const std::map<std::string, KernelFamily>& kernelFamilies();

/// The parameter types of a family's entry point, in order.
std::vector<ParamType> paramTypes(const KernelFamily& f);

/// The C type class a launch argument of this kind has.
ParamType argType(int kind);

}  // namespace bertc::cuda
