/* A pure C host of libbertc_rt: compiled as C11 against bertc_rt.h, linked
 * with libbertc_rt.a and -lpthread only (ctest runtime_c and runtime_c_link).
 * Exercises each part once; test_runtime_stub.cpp has the thorough tests. */
#include "bertc_rt.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

enum { kN = 10007 };

typedef struct squares {
  unsigned hits[kN];
  long long values[kN];
} squares;

static void squareChunk(void* ctx, size_t begin, size_t end, int worker) {
  squares* s = (squares*)ctx;
  (void)worker;
  for (size_t i = begin; i < end; ++i) {
    s->values[i] = (long long)i * (long long)i;
    ++s->hits[i];
  }
}

static squares result; /* static: too big for some hosts' stacks */

int main(void) {
  /* Errors. */
  CHECK(strcmp(bertc_rt_status_string(BERTC_OK), "BERTC_OK") == 0);
  CHECK(strcmp(bertc_rt_status_string(BERTC_ERR_NULL_ARG), "BERTC_ERR_NULL_ARG") == 0);
  CHECK(strcmp(bertc_rt_status_string(-1), "BERTC_ERR_UNKNOWN") == 0);
  bertc_rt_error own;
  CHECK(bertc_rt_error_set(&own, BERTC_ERR_SHAPE, "sequence %d exceeds %d", 600, 512) == BERTC_ERR_SHAPE);
  CHECK(own.status == BERTC_ERR_SHAPE && strcmp(own.message, "sequence 600 exceeds 512") == 0);
  CHECK(bertc_rt_last_status() == BERTC_ERR_SHAPE);
  bertc_rt_clear_error();
  CHECK(bertc_rt_last_status() == BERTC_OK && bertc_rt_last_error()[0] == '\0');

  /* Thread pool. */
  bertc_rt_pool* pool = bertc_rt_pool_create(3);
  CHECK(pool != NULL);
  CHECK(bertc_rt_pool_num_workers(pool) == 3);
  CHECK(bertc_rt_parallel_for(pool, kN, squareChunk, &result) == BERTC_OK);
  for (size_t i = 0; i < kN; ++i) CHECK(result.hits[i] == 1 && result.values[i] == (long long)i * (long long)i);
  CHECK(bertc_rt_parallel_for(pool, kN, NULL, &result) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_rt_pool_destroy(pool) == BERTC_OK);

  /* Arena over a caller-owned buffer, then an owned one. */
  static unsigned char buffer[1024];
  bertc_rt_arena arena;
  CHECK(bertc_rt_arena_init(&arena, buffer, sizeof buffer) == BERTC_OK);
  void* a = bertc_rt_arena_alloc(&arena, 100, 64);
  CHECK(a != NULL && (uintptr_t)a % 64 == 0);
  CHECK(bertc_rt_arena_alloc(&arena, 2000, 8) == NULL);
  CHECK(bertc_rt_last_status() == BERTC_ERR_NO_MEMORY);
  CHECK(bertc_rt_arena_destroy(&arena) == BERTC_OK);
  bertc_rt_arena* owned = bertc_rt_arena_create(4096);
  CHECK(owned != NULL && bertc_rt_arena_alloc(owned, 4096, 64) != NULL);
  CHECK(bertc_rt_arena_destroy(owned) == BERTC_OK);

  if (failures != 0) {
    fprintf(stderr, "runtime_c_test: %d checks failed\n", failures);
    return 1;
  }
  printf("runtime_c_test: all checks passed\n");
  return 0;
}
