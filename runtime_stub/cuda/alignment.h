// Alignment of the device memory a CUDA context hands to its kernels and to
// cuBLASLt, without CUDA (tested in test/test_cuda_runtime.cpp).
//
// cuBLASLt's heuristics assume 256-byte aligned A, B, C and D unless the
// preference says otherwise, and may then pick a kernel whose vector loads
// fault or read wrongly on a less aligned pointer. So the runtime
//   - aligns every device allocation to 256 bytes (cudaMalloc gives 256
//     today; alignedSize leaves room to align by hand should it not);
//   - strides the arena so that a buffer at a 16-byte per-slot offset (what
//     codegen_cuda's planner emits) starts on a 256-byte boundary; and
//   - tells cuBLASLt each GEMM's actual pointer alignment
//     (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES), so a plan with less
//     aligned offsets gets a kernel that copes rather than a wrong one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bertc::cuda_rt {

/// What cuBLASLt assumes without a MIN_ALIGNMENT preference.
constexpr uint32_t kGemmAlignment = 256;
/// The per-slot offset alignment codegen_cuda's planner guarantees.
constexpr int64_t kSlotOffsetAlignment = 16;

/// The largest power of two dividing `address`, at most `cap` (a power of
/// two); cap for address 0.
constexpr uint32_t pointerAlignment(uintptr_t address, uint32_t cap = kGemmAlignment) {
  uint32_t a = 1;
  while (a < cap && address % (uintptr_t{a} * 2) == 0) a *= 2;
  return a;
}

/// n rounded up to a multiple of a (a power of two).
constexpr uint64_t roundUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/// `address` rounded up to a multiple of kGemmAlignment.
constexpr uintptr_t alignAddress(uintptr_t address) { return roundUp(address, kGemmAlignment); }

/// Bytes to allocate so that `bytes` fit after aligning the start by hand.
constexpr size_t alignedSize(size_t bytes) { return (bytes ? bytes : 1) + kGemmAlignment - 1; }

/// The arena's slot stride: buffer(offset) = arena + offset * slotStride.
/// max_batch * max_seq rounded up to a multiple of 16, so that a 16-byte
/// aligned per-slot offset gives a 256-byte aligned buffer (16 * 16). A
/// buffer of b bytes per slot still fits: the next buffer starts at least
/// b * slotStride >= b * maxSlots bytes later.
constexpr int64_t slotStride(int64_t maxSlots) {
  return static_cast<int64_t>(roundUp(static_cast<uint64_t>(maxSlots), kGemmAlignment / kSlotOffsetAlignment));
}

}  // namespace bertc::cuda_rt
