// A GEMM split over the threads of a bertc_rt pool: M is cut into contiguous
// row ranges whose boundaries fall on the microkernel's MR, one per worker,
// each computed with gemmRows(). Splitting M keeps every thread on whole
// register tiles and on its own rows of C; each thread streams all of the
// packed B, which at BERT's sizes (<= 9 MiB) is shared through L3.
#pragma once

#include "bertc_rt.h"
#include "gemm.h"

namespace bertc::cpu {

/// Computes all of C on `pool` (null: inline, on this thread). Returns
/// bertc_rt_parallel_for's status: BERTC_OK, or BERTC_ERR_BUSY (nothing
/// computed) when the pool is already running a parallel_for.
int gemmParallel(const GemmArgs& args, bertc_rt_pool* pool);

}  // namespace bertc::cpu
