// compileProgram: NVRTC once per architecture, the cubin of each and the PTX
// of the newest.
#include "codegen_cuda/nvrtc.h"

#include <fmt/core.h>
#include <nvrtc.h>

#include <algorithm>
#include <iterator>

namespace bertc::cuda {
namespace {

/// The program, destroyed on every path out.
struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) nvrtcDestroyProgram(&p);
  }
};

std::string programLog(nvrtcProgram p) {
  size_t size = 0;
  if (nvrtcGetProgramLogSize(p, &size) != NVRTC_SUCCESS || size <= 1) return "";
  std::string log(size, '\0');
  if (nvrtcGetProgramLog(p, log.data()) != NVRTC_SUCCESS) return "";
  log.resize(size - 1);  // the terminating NUL
  while (!log.empty() && (log.back() == '\n' || log.back() == ' ')) log.pop_back();
  return log;
}

/// "sm_86" -> 86, or -1.
int archNumber(const std::string& arch) {
  if (!arch.starts_with("sm_") || arch.size() < 5) return -1;
  int n = 0;
  for (char c : arch.substr(3)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

struct Output {
  std::string cubin, ptx, log;
};

Result<Output> compileOne(const std::string& source, const std::string& name, const std::string& arch) {
  Program prog;
  if (nvrtcResult r = nvrtcCreateProgram(&prog.p, source.c_str(), name.c_str(), 0, nullptr, nullptr);
      r != NVRTC_SUCCESS)
    return Status::error(fmt::format("NVRTC: cannot create program {}: {}", name, nvrtcGetErrorString(r)));
  const std::string archFlag = "--gpu-architecture=" + arch;
  // No -use_fast_math: erff/tanhf/exp2f keep their accuracy; the kernels use
  // exp2f and rsqrtf where the fast form is meant.
  const char* flags[] = {archFlag.c_str(), "--std=c++17", "--extra-device-vectorization"};
  const nvrtcResult r = nvrtcCompileProgram(prog.p, static_cast<int>(std::size(flags)), flags);
  Output out;
  out.log = programLog(prog.p);
  if (r != NVRTC_SUCCESS)
    return Status::error(fmt::format("NVRTC failed to compile {} for {} ({}):\n{}", name, arch,
                                     nvrtcGetErrorString(r), out.log));
  size_t size = 0;
  if (arch.starts_with("sm_")) {
    if (nvrtcGetCUBINSize(prog.p, &size) != NVRTC_SUCCESS || size == 0)
      return Status::error(fmt::format("NVRTC produced no cubin for {} of {}", arch, name));
    out.cubin.resize(size);
    nvrtcGetCUBIN(prog.p, out.cubin.data());
  }
  if (nvrtcGetPTXSize(prog.p, &size) == NVRTC_SUCCESS && size > 1) {
    out.ptx.resize(size);
    nvrtcGetPTX(prog.p, out.ptx.data());
    out.ptx.resize(size - 1);  // the terminating NUL
  }
  return out;
}

}  // namespace

const std::vector<std::string>& defaultArchitectures() {
  static const std::vector<std::string> archs = {"sm_80", "sm_86", "sm_89", "sm_90"};
  return archs;
}

std::string nvrtcVersionString() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

std::vector<std::string> nvrtcSupportedArchitectures() {
  int n = 0;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0) return {};
  std::vector<int> nums(static_cast<size_t>(n));
  nvrtcGetSupportedArchs(nums.data());
  std::vector<std::string> out;
  for (int a : nums) out.push_back(fmt::format("sm_{}", a));
  return out;
}

Result<CompiledProgram> compileProgram(const std::string& source, const NvrtcOptions& opts) {
  if (opts.archs.empty()) return Status::error("NVRTC: no GPU architecture to compile for");
  const auto supported = nvrtcSupportedArchitectures();
  for (const std::string& a : opts.archs)
    if (archNumber(a) < 0 || std::find(supported.begin(), supported.end(), a) == supported.end()) {
      std::string list;
      for (const auto& s : supported) list += (list.empty() ? "" : ", ") + s;
      return Status::error(fmt::format("GPU architecture '{}' is not one NVRTC {} compiles for ({})", a,
                                       nvrtcVersionString(), list));
    }
  CompiledProgram prog;
  for (size_t i = 0; i < opts.archs.size(); ++i) {
    auto out = compileOne(source, opts.programName, opts.archs[i]);
    if (!out.ok()) return out.status();
    prog.cubins.push_back({opts.archs[i], std::move(out->cubin)});
    if (!out->log.empty()) prog.log += fmt::format("{}: {}\n", opts.archs[i], out->log);
    const bool newest = i + 1 == opts.archs.size();
    if (opts.ptx && newest) {
      prog.ptxArch = "compute_" + opts.archs[i].substr(3);
      // A compile for sm_XX keeps the PTX it made for compute_XX on the way
      // (`.target sm_XX`); ask NVRTC again only if this one does not.
      if (!out->ptx.empty()) {
        prog.ptx = std::move(out->ptx);
      } else {
        auto virt = compileOne(source, opts.programName, prog.ptxArch);
        if (!virt.ok()) return virt.status();
        prog.ptx = std::move(virt->ptx);
      }
      if (prog.ptx.empty()) return Status::error(fmt::format("NVRTC produced no PTX for {}", prog.ptxArch));
    }
  }
  return prog;
}

}  // namespace bertc::cuda
