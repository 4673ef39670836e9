// The model library's row kernels: (Skip)LayerNorm, bias + activation, add,
// EmbedLayerNorm and attention over packed tokens, each split over the
// context's pool. The per-row work is kernels/rowops_kernel.inc's (and
// vec_act.inc's activations), compiled for this library's ISA.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attention.h"
#include "embed_layernorm.h"
#include "internal.h"
#include "layernorm.h"

namespace bertc::cpu {
namespace {

#include "vec_isa.inc"
#include "rowops_kernel.inc"
#include "vec_act.inc"

// ---- Row-parallel kernels ----

void runLayerNorm(void* ctx, size_t begin, size_t end, int /*worker*/) {
  layerNormRowsImpl(*static_cast<const LayerNormArgs*>(ctx), static_cast<int>(begin), static_cast<int>(end));
}

/// Y = act(X + bias) or Y = X + Z: one row loop for both elementwise kernels.
struct RowsJob {
  const float* X;
  std::ptrdiff_t ldx;
  const float* Z;  ///< bias (ldz 0) or the addend
  std::ptrdiff_t ldz;
  float* Y;
  std::ptrdiff_t ldy;
  int N;
  Epilogue act;
};

void runRows(void* ctx, size_t begin, size_t end, int /*worker*/) {
  const RowsJob& j = *static_cast<const RowsJob*>(ctx);
  for (size_t r = begin; r < end; ++r) {
    const float* x = j.X + r * j.ldx;
    const float* z = j.Z ? j.Z + r * j.ldz : nullptr;
    float* y = j.Y + r * j.ldy;
    for (int c = 0; c < j.N; c += Vec::L) {
      const int n = j.N - c;
      V v = Vec::loadN(x + c, n);
      if (z) v = Vec::add(v, Vec::loadN(z + c, n));
      Vec::storeN(y + c, activate(v, j.act), n);
    }
  }
}

void runEmbed(void* ctx, size_t begin, size_t end, int /*worker*/) {
  embedLayerNormRowsImpl(*static_cast<const EmbedLayerNormArgs*>(ctx), static_cast<int>(begin),
                         static_cast<int>(end));
}

// ---- Attention ----

/// Queries per work item: enough that transposing the head's keys (once per
/// call) is a small part of an item, few enough to balance short batches.
constexpr int kQueryBlock = 32;

/// Items are (sequence b, head h, query block q), b-major then h then q; the
/// items of sequence b start at first[b]. A chunk of items becomes one
/// attentionRowsImpl call per (b, h) it touches, so keys are transposed once
/// per call, not per block.
struct AttentionJob {
  AttentionArgs args;  ///< all but qkv, context and length, set per sequence
  const std::int32_t* seqStart;
  int batch;
  const bertc_k_exec* exec;
};

int blocksOf(int length) { return (length + kQueryBlock - 1) / kQueryBlock; }

void runAttention(void* ctx, size_t begin, size_t end, int worker) {
  const AttentionJob& job = *static_cast<const AttentionJob*>(ctx);
  float* scratch = job.exec->worker_scratch + static_cast<size_t>(worker) * job.exec->worker_scratch_floats;
  size_t first = 0;  // the first item of sequence b
  for (int b = 0; b < job.batch && first < end; ++b) {
    const int length = job.seqStart[b + 1] - job.seqStart[b];
    const int blocks = blocksOf(length);
    const size_t items = static_cast<size_t>(job.args.heads) * blocks;
    if (first + items > begin) {
      AttentionArgs a = job.args;
      a.qkv += job.seqStart[b] * a.ldqkv;
      a.context += job.seqStart[b] * a.ldctx;
      a.length = length;
      const size_t i0 = std::max(begin, first) - first, i1 = std::min(end, first + items) - first;
      for (size_t i = i0; i < i1;) {
        const int head = static_cast<int>(i / blocks);
        const size_t headEnd = std::min(i1, static_cast<size_t>(head + 1) * blocks);
        const int q0 = static_cast<int>(i % blocks) * kQueryBlock;
        const int q1 = std::min(length, static_cast<int>(headEnd - static_cast<size_t>(head) * blocks) * kQueryBlock);
        attentionRowsImpl(a, head, q0, q1, scratch);
        i = headEnd;
      }
    }
    first += items;
  }
}

}  // namespace
}  // namespace bertc::cpu

using namespace bertc::cpu;

extern "C" int bertc_k_layernorm(const bertc_k_exec* exec, const float* X, int64_t ldx, const float* skip,
                                 int64_t ldskip, const float* bias, const float* gamma, const float* beta, float* Y,
                                 int64_t ldy, int64_t H, int64_t rows, float epsilon) {
  LayerNormArgs a;
  a.X = X;
  a.ldx = ldx;
  a.skip = skip;
  a.ldskip = ldskip;
  a.bias = bias;
  a.gamma = gamma;
  a.beta = beta;
  a.Y = Y;
  a.ldy = ldy;
  a.H = static_cast<int>(H);
  a.rows = static_cast<int>(rows);
  a.epsilon = epsilon;
  return libmodel::parallelFor(exec, rows > 0 ? static_cast<size_t>(rows) : 0, runLayerNorm, &a, "layernorm");
}

extern "C" int bertc_k_bias_act(const bertc_k_exec* exec, const float* X, int64_t ldx, const float* bias, float* Y,
                                int64_t ldy, int64_t N, int64_t rows, int act) {
  if (act < BERTC_K_EPI_NONE || act > BERTC_K_EPI_BIAS_RELU || act == BERTC_K_EPI_BIAS_RESIDUAL)
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID, "bias_act: %d is not an activation", act);
  RowsJob j{X, ldx, bias, 0, Y, ldy, static_cast<int>(N), static_cast<Epilogue>(act)};
  return libmodel::parallelFor(exec, rows > 0 ? static_cast<size_t>(rows) : 0, runRows, &j, "bias_act");
}

extern "C" int bertc_k_add(const bertc_k_exec* exec, const float* X, int64_t ldx, const float* Z, int64_t ldz, float* Y,
                           int64_t ldy, int64_t N, int64_t rows) {
  RowsJob j{X, ldx, Z, ldz, Y, ldy, static_cast<int>(N), Epilogue::None};
  return libmodel::parallelFor(exec, rows > 0 ? static_cast<size_t>(rows) : 0, runRows, &j, "add");
}

extern "C" int bertc_k_embed_layernorm(const bertc_k_exec* exec, const int64_t* ids, const int64_t* seg,
                                       const int64_t* pos, const float* word, int64_t vocab, const float* pos_table,
                                       int64_t positions, const float* seg_table, int64_t types, const float* gamma,
                                       const float* beta, float* Y, int64_t H, int64_t T, float epsilon,
                                       const int32_t* tok, int64_t seq) {
  // Segments count only with both their ids and their table: without ids
  // there is no segment embedding (a model whose segment ids are all 0 can
  // have row 0 folded into its position table at compile time).
  const int64_t* segIds = seg && seg_table ? seg : nullptr;
  // Every index before any row is read: a bad one names its token as the
  // user knows it, (batch row, position) of the padded input.
  struct Table {
    const int64_t* ids;
    int64_t size;
    const char* what;
  } const tables[] = {{ids, vocab, "input id"}, {pos, positions, "position id"}, {segIds, types, "segment id"}};
  for (const Table& t : tables) {
    if (!t.ids) continue;
    for (int64_t i = 0; i < T; ++i)
      if (t.ids[i] < 0 || t.ids[i] >= t.size)
        return bertc_rt_error_set(exec->err, BERTC_ERR_OUT_OF_RANGE,
                                  "embed_layernorm: %s %lld outside [0, %lld) at batch row %lld, position %lld",
                                  t.what, static_cast<long long>(t.ids[i]), static_cast<long long>(t.size),
                                  static_cast<long long>(tok[i] / seq), static_cast<long long>(tok[i] % seq));
  }
  EmbedLayerNormArgs a;
  a.ids = ids;
  a.segIds = segIds;
  a.posIds = pos;
  a.word = word;
  a.vocab = vocab;
  a.pos = pos_table;
  a.positions = positions;
  a.seg = segIds ? seg_table : nullptr;
  a.types = types;
  a.gamma = gamma;
  a.beta = beta;
  a.Y = Y;
  a.ldy = H;
  a.H = static_cast<int>(H);
  a.seq = static_cast<int>(seq);
  a.tokens = static_cast<int>(T);
  a.epsilon = epsilon;
  return libmodel::parallelFor(exec, T > 0 ? static_cast<size_t>(T) : 0, runEmbed, &a, "embed_layernorm");
}

extern "C" size_t bertc_k_attention_scratch_floats(int64_t H, int64_t heads, int64_t max_seq) {
  AttentionArgs a;
  a.H = static_cast<int>(H);
  a.heads = static_cast<int>(heads);
  a.length = static_cast<int>(max_seq);
  return static_cast<size_t>(attentionScratchFloats(a));
}

extern "C" int bertc_k_attention(const bertc_k_exec* exec, const float* qkv, int64_t ldqkv, float* context,
                                 int64_t ldctx, int64_t H, int64_t heads, const int32_t* seq_start, int64_t batch,
                                 float scale) {
  AttentionJob job;
  job.args.qkv = qkv;
  job.args.ldqkv = ldqkv;
  job.args.context = context;
  job.args.ldctx = ldctx;
  job.args.H = static_cast<int>(H);
  job.args.heads = static_cast<int>(heads);
  job.args.scale = scale;
  job.seqStart = seq_start;
  job.batch = static_cast<int>(batch);
  job.exec = exec;
  size_t items = 0;
  int longest = 0;
  for (int b = 0; b < job.batch; ++b) {
    const int length = seq_start[b + 1] - seq_start[b];
    longest = std::max(longest, length);
    items += static_cast<size_t>(heads) * blocksOf(length);
  }
  // The context sized worker scratch for max_seq; a longer sequence here is
  // the compiler's bug, reported rather than overrun.
  const size_t need = bertc_k_attention_scratch_floats(H, heads, longest);
  if (items > 0 && (!exec->worker_scratch || need > exec->worker_scratch_floats))
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID,
                              "attention: a sequence of %d tokens needs %zu scratch floats per worker, the context "
                              "has %zu",
                              longest, need, exec->worker_scratch ? exec->worker_scratch_floats : 0);
  return libmodel::parallelFor(exec, items, runAttention, &job, "attention");
}
