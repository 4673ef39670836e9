// The model library's C API: the context (pool, worker scratch, arena, error
// record, busy flag) and the checks every run makes on the caller's arguments
// before the model's body runs. Each exported NAME_* function of a compiled model is a
// one-line call of one of these with the model's descriptor, so every
// message starts with the model's prefix ("bert_run: ...").
#include <stdlib.h>

#include "internal.h"

namespace {

constexpr size_t kAlign = 64;

/// p rounded up to the next 64-byte boundary.
unsigned char* alignUp(void* p) {
  return reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(p) + kAlign - 1) & ~uintptr_t(kAlign - 1));
}

/// What a context holds. Kernels see it as `exec`; memory is malloc'd (not
/// aligned_alloc: the library's only allocator symbols are malloc and free)
/// and aligned up by hand.
struct Context {
  bertc_rt_error err;
  bertc_k_exec exec;
  /// 1 while a run is in progress. A second run at the same time would
  /// share (and may free, growing it) the arena and the worker scratch, so
  /// it is refused with BERTC_ERR_BUSY instead, as bertc_rt_parallel_for
  /// refuses a second caller. Read and written only with __atomic builtins,
  /// which lower to lock cmpxchg / mov: no libatomic call.
  int busy;
  bool ownsPool;
  void* workerScratchRaw;
  void* arenaRaw;
  unsigned char* arena;  ///< 64-byte aligned, arenaBytes usable
  size_t arenaBytes;
  bertc_rt_weights weights;  ///< the side file, mapped (compile --weights-file)
};

/// Maps the weights side file of a model that has one into `w`: `path`, or
/// the one recorded at compile time. BERTC_OK with `w` closed for a model
/// whose weights are embedded (and no path given).
int openWeights(const bertc_k_model* m, const char* path, bertc_rt_weights* w) {
  if (!m->weights_file) {
    if (path)
      return bertc_rt_error_set(nullptr, BERTC_ERR_INVALID,
                                "%s_create: the model's weights are embedded; create it without a weights file (%s)",
                                m->name, path);
    return BERTC_OK;
  }
  return bertc_rt_weights_open(w, path ? path : m->weights_file, m->name, m->weights_bytes, m->weights_checksum);
}

int createContext(const bertc_k_model* m, void** out, bertc_rt_pool* pool, bool ownsPool,
                  const char* weightsPath = nullptr) {
  bertc_rt_weights weights = {};
  if (const int status = openWeights(m, weightsPath, &weights); status != BERTC_OK) {
    if (ownsPool) bertc_rt_pool_destroy(pool);
    return status;
  }
  Context* c = static_cast<Context*>(calloc(1, sizeof(Context)));
  // Worker blocks start 64-byte aligned: each is a whole number of lines.
  const size_t stride = (m->worker_scratch_floats + kAlign / sizeof(float) - 1) / (kAlign / sizeof(float)) *
                        (kAlign / sizeof(float));
  const int workers = bertc_rt_pool_num_workers(pool);
  void* scratch = stride ? malloc(stride * sizeof(float) * workers + kAlign) : nullptr;
  if (!c || (stride && !scratch)) {
    free(c);
    free(scratch);
    bertc_rt_weights_close(&weights);
    if (ownsPool) bertc_rt_pool_destroy(pool);
    return bertc_rt_error_set(nullptr, BERTC_ERR_NO_MEMORY, "%s_create: out of memory for the context", m->name);
  }
  c->exec.pool = pool;
  c->exec.num_workers = workers;
  c->exec.worker_scratch = scratch ? reinterpret_cast<float*>(alignUp(scratch)) : nullptr;
  c->exec.worker_scratch_floats = stride;
  c->exec.err = &c->err;
  c->weights = weights;
  c->exec.weights = weights.data;
  c->ownsPool = ownsPool;
  c->workerScratchRaw = scratch;
  *out = c;
  return BERTC_OK;
}

/// The size of dim d of tensor t at (batch, seq).
int64_t dimAt(const bertc_k_tensor& t, int d, int64_t batch, int64_t seq) {
  return t.kind[d] == BERTC_K_DIM_BATCH ? batch : t.kind[d] == BERTC_K_DIM_SEQ ? seq : t.dims[d];
}

bool inRange(const bertc_k_model* m, int64_t batch, int64_t seq) {
  return batch >= 1 && batch <= m->max_batch && seq >= 1 && seq <= m->max_seq;
}

/// Claims the context for one run: BERTC_OK, or BERTC_ERR_BUSY when a run on
/// it is in progress (on another thread, or re-entered from a host
/// scheduler's callback). The message goes to the calling thread's record
/// only: the context's record belongs to the run in progress, which may be
/// writing it. Acquire pairs with leave's release, so this run sees all the
/// last run wrote (the arena pointer, the error record).
int enter(const bertc_k_model* m, const char* fn, Context* c) {
  int idle = 0;
  if (__atomic_compare_exchange_n(&c->busy, &idle, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return BERTC_OK;
  return bertc_rt_error_set(nullptr, BERTC_ERR_BUSY,
                            "%s_%s: the context is busy: a run on it is in progress (on another thread, or this "
                            "call is nested in it); a context runs one call at a time, use one per thread",
                            m->name, fn);
}

/// Releases what enter claimed; every return path of a run that entered
/// passes here.
void leave(Context* c) { __atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE); }

/// Checks every element of an id input against [lo, hi); a bad one is named
/// by its batch row and position when the tensor has those dims.
int checkIds(const bertc_k_model* m, const char* fn, const bertc_k_tensor& t, const void* data, int64_t batch,
             int64_t seq, bertc_rt_error* err) {
  int64_t count = 1;
  for (int d = 0; d < t.rank; ++d) count *= dimAt(t, d, batch, seq);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t v = bertc::cpu::libmodel::loadInt(data, t.dtype, i);
    if (v >= t.lo && v < t.hi) continue;
    // Row-major coordinates of element i, the last dim fastest.
    int64_t row = -1, pos = -1, rest = i;
    for (int d = t.rank - 1; d >= 0; --d) {
      const int64_t size = dimAt(t, d, batch, seq), coord = rest % size;
      rest /= size;
      if (t.kind[d] == BERTC_K_DIM_BATCH) row = coord;
      if (t.kind[d] == BERTC_K_DIM_SEQ) pos = coord;
    }
    if (row >= 0 && pos >= 0)
      return bertc_rt_error_set(err, BERTC_ERR_OUT_OF_RANGE,
                                "%s_%s: %s value %lld outside [%lld, %lld) at batch row %lld, position %lld", m->name,
                                fn, t.name, static_cast<long long>(v), static_cast<long long>(t.lo),
                                static_cast<long long>(t.hi), static_cast<long long>(row), static_cast<long long>(pos));
    return bertc_rt_error_set(err, BERTC_ERR_OUT_OF_RANGE, "%s_%s: %s value %lld outside [%lld, %lld) at element %lld",
                              m->name, fn, t.name, static_cast<long long>(v), static_cast<long long>(t.lo),
                              static_cast<long long>(t.hi), static_cast<long long>(i));
  }
  return BERTC_OK;
}

/// Everything run and run_scratch check before the body: pointers, shape,
/// ids. `fn` names the API function in messages.
int checkRun(const bertc_k_model* m, const char* fn, Context* c, int64_t batch, int64_t seq, const void* const* in,
             void* const* out) {
  if (!in || !out)
    return bertc_rt_error_set(&c->err, BERTC_ERR_NULL_ARG, "%s_%s: %s is NULL", m->name, fn,
                              !in ? "the input array" : "the output array");
  for (int i = 0; i < m->num_inputs; ++i)
    if (!in[i])
      return bertc_rt_error_set(&c->err, BERTC_ERR_NULL_ARG, "%s_%s: input %d (%s) is NULL", m->name, fn, i,
                                m->inputs[i].name);
  for (int i = 0; i < m->num_outputs; ++i)
    if (!out[i])
      return bertc_rt_error_set(&c->err, BERTC_ERR_NULL_ARG, "%s_%s: output %d (%s) is NULL", m->name, fn, i,
                                m->outputs[i].name);
  if (batch < 1 || batch > m->max_batch)
    return bertc_rt_error_set(&c->err, BERTC_ERR_SHAPE, "%s_%s: batch %lld outside [1, %lld]", m->name, fn,
                              static_cast<long long>(batch), static_cast<long long>(m->max_batch));
  if (seq < 1 || seq > m->max_seq)
    return bertc_rt_error_set(&c->err, BERTC_ERR_SHAPE, "%s_%s: sequence length %lld outside [1, %lld]", m->name,
                              fn, static_cast<long long>(seq), static_cast<long long>(m->max_seq));
  for (int i = 0; i < m->num_inputs; ++i) {
    const bertc_k_tensor& t = m->inputs[i];
    if (t.hi > t.lo) {
      const int status = checkIds(m, fn, t, in[i], batch, seq, &c->err);
      if (status != BERTC_OK) return status;
    }
  }
  return BERTC_OK;
}

/// run's work once the context is claimed: checks, the arena grown to the
/// shape, the body.
int runOwned(const bertc_k_model* m, Context* c, int64_t batch, int64_t seq, const void* const* in,
             void* const* out) {
  int status = checkRun(m, "run", c, batch, seq, in, out);
  if (status != BERTC_OK) return status;
  const size_t need = m->scratch_bytes(batch, seq);
  if (need > c->arenaBytes) {
    // Grown to what this shape needs and kept: runs at smaller shapes reuse it.
    void* raw = malloc(need + kAlign);
    if (!raw)
      return bertc_rt_error_set(&c->err, BERTC_ERR_NO_MEMORY, "%s_run: out of memory for %zu bytes of scratch",
                                m->name, need);
    free(c->arenaRaw);
    c->arenaRaw = raw;
    c->arena = alignUp(raw);
    c->arenaBytes = need;
  }
  return m->body(&c->exec, batch, seq, in, out, c->arena);
}

/// run_scratch's work once the context is claimed (the worker scratch is
/// still the context's).
int runInScratch(const bertc_k_model* m, Context* c, int64_t batch, int64_t seq, const void* const* in,
                 void* const* out, void* scratch, size_t scratch_bytes) {
  int status = checkRun(m, "run_scratch", c, batch, seq, in, out);
  if (status != BERTC_OK) return status;
  if (!scratch)
    return bertc_rt_error_set(&c->err, BERTC_ERR_NULL_ARG, "%s_run_scratch: scratch is NULL", m->name);
  const size_t need = bertc_k_api_scratch_bytes(m, batch, seq);
  if (scratch_bytes < need)
    return bertc_rt_error_set(&c->err, BERTC_ERR_NO_MEMORY,
                              "%s_run_scratch: scratch of %zu bytes, batch %lld x sequence %lld needs %zu", m->name,
                              scratch_bytes, static_cast<long long>(batch), static_cast<long long>(seq), need);
  return m->body(&c->exec, batch, seq, in, out, alignUp(scratch));
}

}  // namespace

extern "C" {

int bertc_k_api_create_with_weights(const bertc_k_model* m, void** ctx, int threads, const char* path) {
  if (!m) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "create: NULL model");
  if (!ctx) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "%s_create: NULL ctx", m->name);
  *ctx = nullptr;
  if (threads < 0)
    return bertc_rt_error_set(nullptr, BERTC_ERR_OUT_OF_RANGE, "%s_create: threads %d < 0", m->name, threads);
  bertc_rt_pool* pool = nullptr;
  if (threads != 1) {
    pool = bertc_rt_pool_create(threads);  // 0: one thread per CPU
    if (!pool) return bertc_rt_last_status();  // the pool's message names the cause
  }
  return createContext(m, ctx, pool, pool != nullptr, path);
}

int bertc_k_api_create(const bertc_k_model* m, void** ctx, int threads) {
  return bertc_k_api_create_with_weights(m, ctx, threads, nullptr);
}

int bertc_k_api_create_with_pool(const bertc_k_model* m, void** ctx, bertc_rt_pool* pool) {
  if (!m) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "create_with_pool: NULL model");
  if (!ctx || !pool)
    return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "%s_create_with_pool: NULL %s", m->name,
                              !ctx ? "ctx" : "pool");
  *ctx = nullptr;
  return createContext(m, ctx, pool, false);
}

void bertc_k_api_destroy(void* ctx) {
  Context* c = static_cast<Context*>(ctx);
  if (!c) return;
  if (c->ownsPool) bertc_rt_pool_destroy(c->exec.pool);
  bertc_rt_weights_close(&c->weights);
  free(c->workerScratchRaw);
  free(c->arenaRaw);
  free(c);
}

size_t bertc_k_api_scratch_bytes(const bertc_k_model* m, int64_t batch, int64_t seq) {
  if (!m || !inRange(m, batch, seq)) return 0;
  return m->scratch_bytes(batch, seq) + kAlign;  // + the alignment run_scratch may cost
}

int bertc_k_api_run(const bertc_k_model* m, void* ctx, int64_t batch, int64_t seq, const void* const* in,
                    void* const* out) {
  Context* c = static_cast<Context*>(ctx);
  if (!m) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "run: NULL model");
  if (!c) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "%s_run: NULL context", m->name);
  int status = enter(m, "run", c);
  if (status != BERTC_OK) return status;
  status = runOwned(m, c, batch, seq, in, out);
  leave(c);
  return status;
}

int bertc_k_api_run_scratch(const bertc_k_model* m, void* ctx, int64_t batch, int64_t seq, const void* const* in,
                            void* const* out, void* scratch, size_t scratch_bytes) {
  Context* c = static_cast<Context*>(ctx);
  if (!m) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "run_scratch: NULL model");
  if (!c) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "%s_run_scratch: NULL context", m->name);
  int status = enter(m, "run_scratch", c);
  if (status != BERTC_OK) return status;
  status = runInScratch(m, c, batch, seq, in, out, scratch, scratch_bytes);
  leave(c);
  return status;
}

const bertc_k_tensor* bertc_k_api_tensor(const bertc_k_model* m, int is_output, int i) {
  if (!m || i < 0 || i >= (is_output ? m->num_outputs : m->num_inputs)) return nullptr;
  return is_output ? &m->outputs[i] : &m->inputs[i];
}

int bertc_k_api_shape(const bertc_k_model* m, int is_output, int i, int64_t batch, int64_t seq, int64_t* dims) {
  const bertc_k_tensor* t = bertc_k_api_tensor(m, is_output, i);
  if (!t || !dims || !inRange(m, batch, seq)) return -1;
  for (int d = 0; d < t->rank; ++d) dims[d] = dimAt(*t, d, batch, seq);
  return t->rank;
}

const char* bertc_k_api_last_error(const void* ctx) {
  return ctx ? static_cast<const Context*>(ctx)->err.message : "no context";
}

}  // extern "C"
