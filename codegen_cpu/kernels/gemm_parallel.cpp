// gemmParallel: MR-aligned row ranges of one GEMM over a bertc_rt pool.
#include "gemm_parallel.h"

#include <algorithm>

namespace bertc::cpu {

namespace {

struct Split {
  const GemmArgs* args;
  int mr;
};

/// Tiles [begin, end) of MR rows are rows [begin*MR, min(end*MR, M)).
void runTiles(void* ctx, size_t begin, size_t end, int /*worker*/) {
  const Split& s = *static_cast<const Split*>(ctx);
  const int m0 = static_cast<int>(begin) * s.mr;
  const int m1 = std::min(static_cast<int>(end) * s.mr, s.args->M);
  gemmRows(*s.args, m0, m1);
}

}  // namespace

int gemmParallel(const GemmArgs& args, bertc_rt_pool* pool) {
  Split s{&args, microkernelRows(args.B->isa)};
  const size_t tiles = static_cast<size_t>((args.M + s.mr - 1) / s.mr);
  return bertc_rt_parallel_for(pool, tiles, runTiles, &s);
}

}  // namespace bertc::cpu
