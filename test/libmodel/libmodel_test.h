// Helpers shared by the model library's tests (test_libmodel_*.cpp), which
// are built twice: against bertc_libmodel_v3 (BERTC_LIBMODEL_ISA=Avx2) and
// bertc_libmodel_v4 (Avx512), one executable each, since both libraries
// define the same extern "C" names.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "bertc_k.h"
#include "gemm.h"

namespace libmodel_test {

using bertc::cpu::Isa;

/// The ISA of the library this executable links.
constexpr Isa kIsa = Isa::BERTC_LIBMODEL_ISA;

/// A test of the library returns early, passing with a warning, on a CPU
/// without its ISA (the v4 library on an AVX2-only machine).
#define LIBMODEL_REQUIRE_ISA()                                                                                    \
  do {                                                                                                          \
    if (!bertc::cpu::isaSupported(libmodel_test::kIsa)) {                                                      \
      WARN("skipped: this CPU lacks " << bertc::cpu::isaName(libmodel_test::kIsa)                               \
                                      << ", which this build of the model library (bertc_libmodel_v4) needs"); \
      SUCCEED();                                                                                                \
      return;                                                                                                   \
    }                                                                                                           \
  } while (0)

/// A kernel's bertc_k_exec with its own error record and worker scratch, on
/// `pool` (null: inline).
struct Exec {
  bertc_rt_error err{};
  std::vector<float> scratch;
  bertc_k_exec e{};

  explicit Exec(bertc_rt_pool* pool = nullptr, size_t scratchFloats = 0) {
    e.pool = pool;
    e.num_workers = bertc_rt_pool_num_workers(pool);
    scratch.assign(std::max<size_t>(1, scratchFloats * e.num_workers), 0.0f);
    e.worker_scratch = scratch.data();
    e.worker_scratch_floats = scratchFloats;
    e.err = &err;
  }
};

/// An owned pool of n threads.
struct Pool {
  bertc_rt_pool* p;
  explicit Pool(int n) : p(bertc_rt_pool_create(n)) { REQUIRE(p); }
  ~Pool() { bertc_rt_pool_destroy(p); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
};

inline std::vector<float> randomFloats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

/// max |got - want| / max(1e-30, max |want|) over n elements.
inline double normalizedError(const float* got, const double* want, size_t n) {
  double err = 0, ref = 1e-30;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(got[i] - want[i]));
    ref = std::max(ref, std::fabs(want[i]));
  }
  return err / ref;
}

}  // namespace libmodel_test
