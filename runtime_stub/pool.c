/* Thread pool and parallel_for.
 *
 * A pool of T threads is the caller plus T - 1 workers that sleep on a
 * condition variable. parallel_for publishes one job (fn, ctx, n) under the
 * mutex and bumps a generation counter; worker i runs chunk i, the caller
 * runs chunk 0, and the caller waits until the workers with a chunk have
 * counted themselves done. The split is static (chunk i always goes to
 * worker i), so which thread sees which index is deterministic. A busy flag
 * turns a second concurrent or nested call into BERTC_ERR_BUSY instead of a
 * deadlock or a corrupted job. */
#define _POSIX_C_SOURCE 200809L

#include "bertc_rt.h"
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

enum { kPoolThreads = 0, kPoolScheduler = 1 };

typedef struct worker {
  bertc_rt_pool* pool;
  int index; /* 1 .. numWorkers - 1; the caller is 0 */
} worker;

struct bertc_rt_pool {
  int kind;
  int numWorkers;
  bertc_rt_scheduler scheduler; /* kPoolScheduler only */

  /* kPoolThreads only. Everything below `mutex` is guarded by it. */
  pthread_t* threads;
  worker* workers;
  int numThreads; /* started workers: numWorkers - 1 once created */
  pthread_mutex_t mutex;
  pthread_cond_t wake; /* workers: a new job or shutdown */
  pthread_cond_t done; /* caller: pending reached 0 */
  unsigned long generation;
  int shutdown;
  int busy;
  bertc_rt_task_fn fn;
  void* ctx;
  size_t n;
  size_t chunks;
  size_t pending; /* workers (not the caller) still running a chunk */
};

/* Chunk i of [0, n) split into k near-equal contiguous parts, the first
 * n % k parts one longer. No overflow: i * (n / k) <= n. */
static size_t chunkBegin(size_t n, size_t k, size_t i) {
  size_t base = n / k, rem = n % k;
  return i * base + (i < rem ? i : rem);
}

static void* workerMain(void* arg) {
  worker* self = (worker*)arg;
  bertc_rt_pool* pool = self->pool;
  size_t index = (size_t)self->index;
  unsigned long seen = 0;
  pthread_mutex_lock(&pool->mutex);
  for (;;) {
    while (!pool->shutdown && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
    if (pool->shutdown) break;
    seen = pool->generation;
    if (index >= pool->chunks) continue; /* no chunk for this worker in this job */
    bertc_rt_task_fn fn = pool->fn;
    void* ctx = pool->ctx;
    size_t begin = chunkBegin(pool->n, pool->chunks, index);
    size_t end = chunkBegin(pool->n, pool->chunks, index + 1);
    pthread_mutex_unlock(&pool->mutex);
    fn(ctx, begin, end, self->index);
    pthread_mutex_lock(&pool->mutex);
    if (--pool->pending == 0) pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->mutex);
  return NULL;
}

/* Stops and joins the started workers, frees everything. */
static void destroyThreads(bertc_rt_pool* pool) {
  if (pool->numThreads > 0) {
    pthread_mutex_lock(&pool->mutex);
    pool->shutdown = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->numThreads; ++i) pthread_join(pool->threads[i], NULL);
  }
  pthread_cond_destroy(&pool->done);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->workers);
  free(pool->threads);
  free(pool);
}

static int onlineCpus(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) return 1;
  return cpus > BERTC_RT_MAX_THREADS ? BERTC_RT_MAX_THREADS : (int)cpus;
}

bertc_rt_pool* bertc_rt_pool_create(int threads) {
  if (threads > BERTC_RT_MAX_THREADS) {
    BERTC_RT_FAIL(BERTC_ERR_OUT_OF_RANGE, "bertc_rt_pool_create: %d threads asked, at most %d allowed", threads,
                  BERTC_RT_MAX_THREADS);
    return NULL;
  }
  if (threads <= 0) threads = onlineCpus();

  bertc_rt_pool* pool = (bertc_rt_pool*)calloc(1, sizeof *pool);
  pthread_t* handles = threads > 1 ? (pthread_t*)calloc((size_t)threads - 1, sizeof *handles) : NULL;
  worker* workers = threads > 1 ? (worker*)calloc((size_t)threads - 1, sizeof *workers) : NULL;
  if (pool == NULL || (threads > 1 && (handles == NULL || workers == NULL))) {
    free(workers);
    free(handles);
    free(pool);
    BERTC_RT_FAIL(BERTC_ERR_NO_MEMORY, "bertc_rt_pool_create: cannot allocate a pool of %d threads", threads);
    return NULL;
  }
  pool->kind = kPoolThreads;
  pool->numWorkers = threads;
  pool->threads = handles;
  pool->workers = workers;
  if (pthread_mutex_init(&pool->mutex, NULL) != 0) {
    free(workers);
    free(handles);
    free(pool);
    BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "bertc_rt_pool_create: pthread_mutex_init failed");
    return NULL;
  }
  if (pthread_cond_init(&pool->wake, NULL) != 0 || pthread_cond_init(&pool->done, NULL) != 0) {
    /* Destroying a condition that was never initialised is undefined, so
     * handle this rare case by hand rather than through destroyThreads. */
    pthread_mutex_destroy(&pool->mutex);
    free(workers);
    free(handles);
    free(pool);
    BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "bertc_rt_pool_create: pthread_cond_init failed");
    return NULL;
  }

  /* Workers run model code only: keep the host's signals off them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = 0;
  for (int i = 0; i < threads - 1; ++i) {
    workers[i].pool = pool;
    workers[i].index = i + 1;
    err = pthread_create(&handles[i], NULL, workerMain, &workers[i]);
    if (err != 0) break;
    pool->numThreads = i + 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    int started = pool->numThreads;
    destroyThreads(pool);
    BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "bertc_rt_pool_create: pthread_create failed (error %d) after %d of %d workers", err,
                  started, threads - 1);
    return NULL;
  }
  return pool;
}

bertc_rt_pool* bertc_rt_pool_from_scheduler(const bertc_rt_scheduler* scheduler) {
  if (scheduler == NULL) {
    BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_pool_from_scheduler: scheduler is NULL");
    return NULL;
  }
  if (scheduler->parallel_for == NULL) {
    BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_pool_from_scheduler: scheduler->parallel_for is NULL");
    return NULL;
  }
  if (scheduler->num_workers < 1) {
    BERTC_RT_FAIL(BERTC_ERR_OUT_OF_RANGE, "bertc_rt_pool_from_scheduler: num_workers is %d, must be at least 1",
                  scheduler->num_workers);
    return NULL;
  }
  bertc_rt_pool* pool = (bertc_rt_pool*)calloc(1, sizeof *pool);
  if (pool == NULL) {
    BERTC_RT_FAIL(BERTC_ERR_NO_MEMORY, "bertc_rt_pool_from_scheduler: cannot allocate");
    return NULL;
  }
  pool->kind = kPoolScheduler;
  pool->numWorkers = scheduler->num_workers;
  pool->scheduler = *scheduler;
  return pool;
}

int bertc_rt_pool_destroy(bertc_rt_pool* pool) {
  if (pool == NULL) return BERTC_OK;
  if (pool->kind == kPoolScheduler) {
    free(pool);
    return BERTC_OK;
  }
  destroyThreads(pool);
  return BERTC_OK;
}

int bertc_rt_pool_num_workers(const bertc_rt_pool* pool) { return pool == NULL ? 1 : pool->numWorkers; }

int bertc_rt_parallel_for(bertc_rt_pool* pool, size_t n, bertc_rt_task_fn fn, void* ctx) {
  if (fn == NULL) return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_parallel_for: fn is NULL");
  if (n == 0) return BERTC_OK;
  if (pool == NULL) {
    fn(ctx, 0, n, 0);
    return BERTC_OK;
  }
  if (pool->kind == kPoolScheduler) {
    pool->scheduler.parallel_for(pool->scheduler.user, n, fn, ctx);
    return BERTC_OK;
  }

  size_t chunks = (size_t)pool->numWorkers < n ? (size_t)pool->numWorkers : n;
  pthread_mutex_lock(&pool->mutex);
  if (pool->busy) {
    pthread_mutex_unlock(&pool->mutex);
    return BERTC_RT_FAIL(BERTC_ERR_BUSY,
                         "bertc_rt_parallel_for: the pool is already running a parallel_for (one caller at a time; "
                         "no nested calls on the same pool)");
  }
  pool->busy = 1;
  if (chunks > 1) {
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->chunks = chunks;
    pool->pending = chunks - 1;
    ++pool->generation;
    pthread_cond_broadcast(&pool->wake);
  }
  pthread_mutex_unlock(&pool->mutex);

  fn(ctx, 0, chunkBegin(n, chunks, 1), 0);

  pthread_mutex_lock(&pool->mutex);
  while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mutex);
  pool->busy = 0;
  pthread_mutex_unlock(&pool->mutex);
  return BERTC_OK;
}
