// NVRTC compilation of a generated CUDA C program (generate.h) into one
// cubin per GPU architecture plus PTX for the newest, so GPUs newer than the
// list can JIT it. Built only with the CUDA toolkit (BERTC_HAVE_CUDA); the
// program needs no toolkit header, so only libnvrtc is used.
#pragma once

#include <string>
#include <vector>

#include "ir/status.h"

namespace bertc::cuda {

/// The architectures `bertc compile --arch` defaults to: Ampere (A100, A10/
/// RTX 30), Ada (L4/RTX 40), Hopper (H100).
const std::vector<std::string>& defaultArchitectures();

struct NvrtcOptions {
  std::vector<std::string> archs = defaultArchitectures();  ///< "sm_80", ...
  bool ptx = true;  ///< also PTX for the last (newest) architecture's compute_XX
  std::string programName = "bertc_model.cu";  ///< the name in the log's messages
};

struct Cubin {
  std::string arch;   ///< "sm_80"
  std::string image;  ///< the ELF bytes
};

struct CompiledProgram {
  std::vector<Cubin> cubins;  ///< in the order of NvrtcOptions::archs
  std::string ptx;            ///< for ptxArch; empty unless asked for
  std::string ptxArch;        ///< "compute_90"
  std::string log;            ///< NVRTC's warnings, if any
};

/// Compiles `source` once per architecture. An unknown architecture, or an
/// NVRTC failure, is an error whose message includes the program log.
Result<CompiledProgram> compileProgram(const std::string& source, const NvrtcOptions& opts = {});

/// "13.0": the NVRTC linked in.
std::string nvrtcVersionString();

/// The architectures this NVRTC can compile for, as "sm_XX".
std::vector<std::string> nvrtcSupportedArchitectures();

}  // namespace bertc::cuda
