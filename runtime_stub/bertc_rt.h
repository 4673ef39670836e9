/* bertc_rt.h - the runtime a bertc-compiled model links (libbertc_rt).
 *
 * Plain C (C99 or later, C++ too), depending on libc and pthreads only, so a
 * host links `model.o libbertc_rt.a -lpthread` and nothing else: no C++
 * runtime, no hidden libraries (the link failures users report against
 * tfcompile, onnx-mlir and IREE are what this avoids).
 *
 * Four parts:
 *   - status codes and error messages: every call that can fail returns a
 *     status (or NULL) and records a one-line message for the calling thread;
 *   - a thread pool with parallel_for, or a host's own scheduler in its place;
 *   - a scratch arena: bump allocation over caller-owned or owned memory;
 *   - weights side files: what `bertc compile --weights-file` writes and a
 *     model's create maps (checked against the model's size and checksum).
 *
 * Every exported symbol starts with `bertc_rt_` (macros and enumerators with
 * `BERTC_`), so the runtime never clashes with a host's names.
 */
#ifndef BERTC_RT_H
#define BERTC_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

/** Status codes. 0 is success; every other value is an error. */
typedef enum bertc_rt_status {
  BERTC_OK = 0,
  BERTC_ERR_NULL_ARG = 1,     /**< a required pointer argument was NULL */
  BERTC_ERR_OUT_OF_RANGE = 2, /**< a value outside its allowed range (token id, thread count) */
  BERTC_ERR_NO_MEMORY = 3,    /**< malloc failed, or an arena is exhausted */
  BERTC_ERR_INVALID = 4,      /**< an argument that makes no sense (alignment not a power of two) */
  BERTC_ERR_SHAPE = 5,        /**< a tensor shape the model does not accept (sequence too long) */
  BERTC_ERR_BUSY = 6,         /**< a pool already running a parallel_for, or a model context already running a call, was asked for another */
  BERTC_ERR_SYSTEM = 7,       /**< the OS refused (thread creation failed) */
  BERTC_ERR_DEVICE = 8        /**< the GPU or its libraries failed (CUDA targets: no device, no image for it, a CUDA or cuBLASLt error) */
} bertc_rt_status;

/** One past the largest status code. */
#define BERTC_RT_STATUS_COUNT 9

/** Capacity of an error message, terminating NUL included; longer ones are cut. */
#define BERTC_RT_MESSAGE_MAX 256

/** A status with its message. A model context can embed one to keep its own
 *  last error; the runtime also keeps one per thread (bertc_rt_last_error). */
typedef struct bertc_rt_error {
  int status;
  char message[BERTC_RT_MESSAGE_MAX];
} bertc_rt_error;

/** A static, never-NULL name for a status: "BERTC_OK", ..., or
 *  "BERTC_ERR_UNKNOWN" for a value that is not a status. */
const char* bertc_rt_status_string(int status);

/** Records an error: formats `fmt` (printf-style, cut to BERTC_RT_MESSAGE_MAX)
 *  into the calling thread's record, and into `*err` too when `err` is not
 *  NULL. Returns `status`, so `return bertc_rt_error_set(...)` reads well.
 *  Allocates nothing: the message goes into fixed buffers with vsnprintf.
 *  status BERTC_OK with fmt NULL clears the record(s). */
int bertc_rt_error_set(bertc_rt_error* err, int status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** The calling thread's last error message ("" when none). The pointer stays
 *  valid for the thread's life; the text changes on its next error. */
const char* bertc_rt_last_error(void);

/** The calling thread's last error status (BERTC_OK when none). */
int bertc_rt_last_status(void);

/** Clears the calling thread's record. Successful calls do not clear it, so
 *  check the return value first and read the message only on failure. */
void bertc_rt_clear_error(void);

/* ------------------------------------------------------------- thread pool */

/** A unit of parallel work: handle indices [begin, end) of a parallel_for.
 *  `worker` is in [0, bertc_rt_pool_num_workers(pool)) and no two chunks
 *  that run at the same time share it, so it can index per-worker scratch. */
typedef void (*bertc_rt_task_fn)(void* ctx, size_t begin, size_t end, int worker);

/** A host's own scheduler, used in place of the runtime's threads.
 *  `parallel_for` must call fn(ctx, begin, end, worker) on disjoint ranges
 *  that together cover [0, n) exactly once, with worker in [0, num_workers)
 *  and no worker index used by two calls at once, and return only when all
 *  calls have returned. It is never called with n == 0. */
typedef struct bertc_rt_scheduler {
  void* user;
  void (*parallel_for)(void* user, size_t n, bertc_rt_task_fn fn, void* ctx);
  int num_workers; /**< the most worker indices it uses; >= 1 */
} bertc_rt_scheduler;

/** A pool of worker threads, or a host scheduler wrapped as one. Opaque. */
typedef struct bertc_rt_pool bertc_rt_pool;

/** The largest thread count bertc_rt_pool_create accepts. */
#define BERTC_RT_MAX_THREADS 1024

/** Creates a pool that runs parallel_for on `threads` threads: the calling
 *  thread plus threads - 1 workers. threads <= 0 means one per online CPU.
 *  Returns NULL on failure (BERTC_ERR_OUT_OF_RANGE above
 *  BERTC_RT_MAX_THREADS, BERTC_ERR_NO_MEMORY, BERTC_ERR_SYSTEM), with the
 *  message in bertc_rt_last_error(). Workers block all signals. */
bertc_rt_pool* bertc_rt_pool_create(int threads);

/** Wraps a host scheduler (copied; `user` must outlive the pool) so it can
 *  be passed wherever a pool is. Returns NULL on failure: BERTC_ERR_NULL_ARG
 *  for a NULL scheduler or callback, BERTC_ERR_OUT_OF_RANGE for
 *  num_workers < 1, BERTC_ERR_NO_MEMORY. */
bertc_rt_pool* bertc_rt_pool_from_scheduler(const bertc_rt_scheduler* scheduler);

/** Stops and joins the workers and frees the pool. NULL is a no-op (like
 *  free), returning BERTC_OK. Must not run while a parallel_for on the same
 *  pool is in flight. */
int bertc_rt_pool_destroy(bertc_rt_pool* pool);

/** How many worker indices a parallel_for on `pool` may use: its thread
 *  count, the scheduler's num_workers, or 1 for NULL (inline). */
int bertc_rt_pool_num_workers(const bertc_rt_pool* pool);

/** Splits [0, n) into at most num_workers contiguous chunks of near-equal
 *  size and runs fn on each, the calling thread taking chunk 0 (worker 0);
 *  returns when every chunk is done. pool NULL runs fn(ctx, 0, n, 0) inline.
 *  n == 0 calls nothing.
 *
 *  Threading contract: one pool serves one caller at a time. A second
 *  parallel_for on a pool that is busy (from another thread, or from inside
 *  fn) returns BERTC_ERR_BUSY and runs nothing; it never deadlocks. Separate
 *  pools used from separate threads are independent and safe.
 *
 *  Returns BERTC_OK, BERTC_ERR_NULL_ARG (fn NULL) or BERTC_ERR_BUSY. */
int bertc_rt_parallel_for(bertc_rt_pool* pool, size_t n, bertc_rt_task_fn fn, void* ctx);

/* ------------------------------------------------------------ scratch arena */

/** Alignment of bertc_rt_arena_create's memory, and the default of
 *  bertc_rt_arena_alloc when align is 0. */
#define BERTC_RT_ARENA_ALIGN 64

/** A bump allocator. Public so it can live on the stack or inside a model
 *  context; use the functions below rather than the fields. Not thread-safe:
 *  one arena per thread, or carve per-worker arenas out of one buffer. */
typedef struct bertc_rt_arena {
  unsigned char* base; /**< start of the memory (NULL when empty) */
  size_t capacity;     /**< bytes at base */
  size_t used;         /**< bytes handed out, padding included */
  size_t peak;         /**< the largest `used` since init/create */
  int owned;           /**< 1 when created by bertc_rt_arena_create */
} bertc_rt_arena;

/** Makes `arena` allocate from caller-owned memory [buffer, buffer + bytes),
 *  e.g. a buffer of a model's *_scratch_bytes(). The runtime never frees it.
 *  buffer may be NULL only when bytes is 0. Returns BERTC_OK or
 *  BERTC_ERR_NULL_ARG. */
int bertc_rt_arena_init(bertc_rt_arena* arena, void* buffer, size_t bytes);

/** Creates an arena that owns `bytes` of BERTC_RT_ARENA_ALIGN-aligned memory.
 *  Returns NULL with BERTC_ERR_NO_MEMORY when malloc fails. */
bertc_rt_arena* bertc_rt_arena_create(size_t bytes);

/** Returns `bytes` of memory aligned to `align` (a power of two; 0 means
 *  BERTC_RT_ARENA_ALIGN), or NULL when the arena is exhausted
 *  (BERTC_ERR_NO_MEMORY), NULL (BERTC_ERR_NULL_ARG), or align is not a power
 *  of two (BERTC_ERR_INVALID). A failed call changes nothing. bytes == 0
 *  in an arena with memory returns an aligned pointer that must not be
 *  dereferenced. */
void* bertc_rt_arena_alloc(bertc_rt_arena* arena, size_t bytes, size_t align);

/** Frees everything allocated from the arena at once (used = 0). */
int bertc_rt_arena_reset(bertc_rt_arena* arena);

/** Bytes in use now, padding included (0 for NULL). */
size_t bertc_rt_arena_used(const bertc_rt_arena* arena);

/** The most bytes ever in use at once (0 for NULL): what a host should pass
 *  to bertc_rt_arena_init next time. */
size_t bertc_rt_arena_peak(const bertc_rt_arena* arena);

/** Releases an arena: one from bertc_rt_arena_create is freed with its
 *  memory; one from bertc_rt_arena_init is emptied and its caller-owned
 *  buffer left alone. NULL is a no-op returning BERTC_OK. */
int bertc_rt_arena_destroy(bertc_rt_arena* arena);

/* ------------------------------------------------------ weights side files */

/** A model compiled with `bertc compile --weights-file=PATH` keeps its
 *  weights in PATH rather than in its object; its create maps the file. The
 *  file is a header of BERTC_RT_WEIGHTS_HEADER_BYTES, then the payload
 *  (the bytes the object would have embedded), all little-endian:
 *
 *    offset  0  char[8]  magic "BERTCWT1"
 *            8  uint64   header bytes (BERTC_RT_WEIGHTS_HEADER_BYTES)
 *           16  uint64   payload bytes
 *           24  uint64   payload checksum (bertc_rt_checksum)
 *           32  char[128] the model's symbol prefix, NUL-padded (for messages)
 *          160  zeros up to the header's end
 *
 *  The object records the payload's size and checksum: a file of another
 *  model, or of another compile of the same model, is refused, and so is a
 *  truncated or corrupted one. The payload starts page-aligned. */
#define BERTC_RT_WEIGHTS_HEADER_BYTES 4096
#define BERTC_RT_WEIGHTS_MAGIC "BERTCWT1"

/** An open weights file: `data` holds `bytes` bytes, read-only, valid until
 *  bertc_rt_weights_close. Use the functions below rather than the fields. */
typedef struct bertc_rt_weights {
  const unsigned char* data;
  size_t bytes;
  void* mapping; /**< the whole file as mapped (NULL when closed) */
  size_t mapping_bytes;
} bertc_rt_weights;

/** XXH64 (seed 0) of `bytes` bytes at `data` (`xxhsum -H64` prints the same
 *  of a payload). NULL with bytes 0 is the empty input. */
uint64_t bertc_rt_checksum(const void* data, size_t bytes);

/** Maps the weights file `path` for model `model` (its prefix, for
 *  messages), which expects `bytes` bytes of payload with checksum
 *  `checksum`, and checks it: the magic, the header, the file's size, the
 *  size and checksum the model expects, and the payload's checksum
 *  (reading the file once). On success `*w` is open; on failure it is
 *  closed and the message names the file and what is wrong:
 *  BERTC_ERR_NULL_ARG, BERTC_ERR_SYSTEM (the file cannot be opened or
 *  mapped) or BERTC_ERR_INVALID (not a weights file, truncated, of another
 *  model, or corrupt). */
int bertc_rt_weights_open(bertc_rt_weights* w, const char* path, const char* model, size_t bytes, uint64_t checksum);

/** Unmaps an open weights file; a closed one (or NULL) is a no-op. Returns
 *  BERTC_OK. */
int bertc_rt_weights_close(bertc_rt_weights* w);

/** Writes a weights file: the header for `model` (at most 127 bytes) and the
 *  payload. Returns BERTC_OK, BERTC_ERR_NULL_ARG, BERTC_ERR_INVALID (a model
 *  name too long) or BERTC_ERR_SYSTEM (the message names the file). bertc
 *  uses it; hosts do not need it. */
int bertc_rt_weights_write(const char* path, const char* model, const void* data, size_t bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BERTC_RT_H */
