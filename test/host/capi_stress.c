/* capi_stress: a compiled model's C API under hostile calls, seeded and
 * bounded, in the plain build and under ASan/UBSan (test_capi_stress.py).
 *
 *   1. Random calls on one context: NULL contexts, tensors and arrays; batch
 *      and seq from {-1, 0, 1, max, max + 1, INT64_MAX, INT64_MIN}; ids and
 *      token types outside their tables; odd but nonzero mask values; NULL,
 *      short and misaligned caller scratch; v-form arrays whose caller
 *      counted too few or too many tensors; bad create and query arguments.
 *      A rejected call must return its documented code with a fresh message
 *      and write nothing; a valid one, interleaved, must give the bytes of a
 *      reference run. Every tensor and scratch buffer is malloc'd at exactly
 *      its size, so ASan sees any access beyond it.
 *   2. The same on several contexts at once, one per thread.
 *   3. One context from several threads at once: each call returns BERTC_OK
 *      with the reference bytes or BERTC_ERR_BUSY having written nothing.
 *   4. The busy guard deterministically: a host scheduler that, inside a run,
 *      calls run on the same context from its own thread and from another.
 *
 * Linked with test/models/bert_ts17_eager compiled as "m" (inputs
 * input_ids, attention_mask, token_type_ids: int64 [batch, seq]).
 *
 *   capi_stress VOCAB TYPE_VOCAB SEED CALLS
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

_Static_assert(M_NUM_INPUTS == 3 && M_NUM_OUTPUTS == 2, "the fixture is a BERT with three inputs and two outputs");

enum { NI = M_NUM_INPUTS, NO = M_NUM_OUTPUTS, EXTRA = 2, MAX_REPORTS = 20 };
static const unsigned char kSentinel = 0xA5; /* outputs are filled with it before each call */

static int64_t vocab, type_vocab;
static int ids_at, mask_at, types_at; /* input indices, found by name */

/* Failures are counted from every thread; the first few are printed. */
static int failures;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

#define FAIL(...)                                          \
  do {                                                     \
    pthread_mutex_lock(&report_lock);                      \
    if (failures++ < MAX_REPORTS) {                        \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);      \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
    pthread_mutex_unlock(&report_lock);                    \
  } while (0)

#define EXPECT(cond) \
  do {               \
    if (!(cond)) FAIL("FAILED: %s", #cond); \
  } while (0)

/* ------------------------------------------------------------ random */

/* splitmix64: one state per thread, so a seed replays a thread's calls. */
typedef struct rng { uint64_t s; } rng;

static uint64_t next(rng* r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the bias is irrelevant here). */
static int64_t below(rng* r, int64_t n) { return (int64_t)(next(r) % (uint64_t)n); }

static int64_t pick(rng* r, const int64_t* values, int n) { return values[below(r, n)]; }

/* ---------------------------------------------------- reference cases */

/* A valid input and the bytes a single-threaded context computed for it. */
typedef struct ref_case {
  int64_t batch, seq;
  int64_t* in[NI];
  void* out[NO];
  size_t in_bytes, out_bytes[NO];
} ref_case;

enum { NCASES = 8 };
static ref_case cases[NCASES];

static size_t output_bytes(int o, int64_t batch, int64_t seq) {
  int64_t dims[4];
  const int rank = m_output_shape(o, batch, seq, dims);
  size_t n = sizeof(float);
  for (int d = 0; d < rank; ++d) n *= (size_t)dims[d];
  return rank < 0 ? 0 : n;
}

/* Random valid contents: ids and types anywhere in their tables (padded
 * positions too), about a quarter of the tokens padded. */
static void fill_case(ref_case* k, rng* r, int64_t batch, int64_t seq) {
  k->batch = batch;
  k->seq = seq;
  const int64_t n = batch * seq;
  k->in_bytes = sizeof(int64_t) * (size_t)n;
  for (int i = 0; i < NI; ++i) k->in[i] = malloc(k->in_bytes);
  for (int64_t t = 0; t < n; ++t) {
    k->in[ids_at][t] = below(r, vocab);
    k->in[types_at][t] = below(r, type_vocab);
    k->in[mask_at][t] = below(r, 4) != 0;
  }
  for (int o = 0; o < NO; ++o) {
    k->out_bytes[o] = output_bytes(o, batch, seq);
    k->out[o] = malloc(k->out_bytes[o]);
  }
}

static void make_cases(rng* r) {
  /* The corners of the shape range first: the shape fault picks them. */
  const int64_t shapes[4][2] = {{1, 1}, {1, M_MAX_SEQ}, {M_MAX_BATCH, 1}, {M_MAX_BATCH, M_MAX_SEQ}};
  for (int c = 0; c < NCASES; ++c) {
    if (c < 4) fill_case(&cases[c], r, shapes[c][0], shapes[c][1]);
    else fill_case(&cases[c], r, 1 + below(r, M_MAX_BATCH), 1 + below(r, M_MAX_SEQ));
  }
  m_context* ctx = NULL;
  if (m_create(&ctx, 1) != BERTC_OK) {
    FAIL("m_create: %s", bertc_rt_last_error());
    return;
  }
  for (int c = 0; c < NCASES; ++c) {
    ref_case* k = &cases[c];
    if (m_run(ctx, k->batch, k->seq, k->in[0], k->in[1], k->in[2], k->out[0], k->out[1]) != BERTC_OK)
      FAIL("reference run %d: %s", c, m_last_error(ctx));
  }
  m_destroy(ctx);
}

static const ref_case* case_of_shape(int64_t batch, int64_t seq) {
  for (int c = 0; c < NCASES; ++c)
    if (cases[c].batch == batch && cases[c].seq == seq) return &cases[c];
  return NULL;
}

/* --------------------------------------------------------------- a call */

enum form { RUN, RUN_SCRATCH, RUN_V, RUN_V_SCRATCH };
static int has_scratch(int form) { return form == RUN_SCRATCH || form == RUN_V_SCRATCH; }
static int is_v(int form) { return form == RUN_V || form == RUN_V_SCRATCH; }

/* One call's arguments. The tensors are copies of a case's, each in its own
 * allocation of exactly its size; the v arrays have EXTRA slots past the
 * model's count for callers that count too many. */
typedef struct call {
  int form;
  m_context* ctx;
  int64_t batch, seq;
  const ref_case* k;
  void* own_in[NI];
  void* own_out[NO];
  const void* in[NI + EXTRA];
  void* out[NO + EXTRA];
  const void* const* in_array; /* what the v forms get: `in` or NULL */
  void* const* out_array;
  unsigned char* scratch_block; /* malloc'd; scratch points into it */
  void* scratch;
  size_t scratch_bytes;
} call;

static void prepare(call* c, int form, m_context* ctx, const ref_case* k) {
  memset(c, 0, sizeof *c);
  c->form = form;
  c->ctx = ctx;
  c->batch = k->batch;
  c->seq = k->seq;
  c->k = k;
  for (int i = 0; i < NI; ++i) {
    c->own_in[i] = malloc(k->in_bytes);
    memcpy(c->own_in[i], k->in[i], k->in_bytes);
    c->in[i] = c->own_in[i];
  }
  for (int o = 0; o < NO; ++o) {
    c->own_out[o] = malloc(k->out_bytes[o]);
    memset(c->own_out[o], kSentinel, k->out_bytes[o]);
    c->out[o] = c->own_out[o];
  }
  c->in_array = c->in;
  c->out_array = c->out;
}

/* Caller scratch of `bytes` at `offset` bytes into its allocation (any
 * alignment is allowed); the allocation ends where the scratch does. */
static void give_scratch(call* c, size_t bytes, size_t offset) {
  free(c->scratch_block);
  c->scratch_block = malloc(bytes + offset + 1);
  c->scratch = c->scratch_block + offset;
  c->scratch_bytes = bytes;
}

static void release(call* c) {
  for (int i = 0; i < NI; ++i) free(c->own_in[i]);
  for (int o = 0; o < NO; ++o) free(c->own_out[o]);
  free(c->scratch_block);
}

static int invoke(const call* c) {
  const void* const* in = c->in;
  void* const* out = c->out;
  switch (c->form) {
    case RUN: return m_run(c->ctx, c->batch, c->seq, in[0], in[1], in[2], out[0], out[1]);
    case RUN_SCRATCH:
      return m_run_scratch(c->ctx, c->batch, c->seq, in[0], in[1], in[2], out[0], out[1], c->scratch,
                           c->scratch_bytes);
    case RUN_V: return m_run_v(c->ctx, c->batch, c->seq, c->in_array, c->out_array);
    default:
      return m_run_v_scratch(c->ctx, c->batch, c->seq, c->in_array, c->out_array, c->scratch, c->scratch_bytes);
  }
}

/* Whether output o still holds only the sentinel: the call wrote nothing. */
static int untouched(const call* c, int o) {
  const unsigned char* p = c->own_out[o];
  for (size_t i = 0; i < c->k->out_bytes[o]; ++i)
    if (p[i] != kSentinel) return 0;
  return 1;
}

static int matches_reference(const call* c) {
  for (int o = 0; o < NO; ++o)
    if (memcmp(c->own_out[o], c->k->out[o], c->k->out_bytes[o]) != 0) return 0;
  return 1;
}

/* ------------------------------------------------------------- faults */

enum fault {
  F_NONE,          /* valid: any form, misaligned scratch, extra v slots */
  F_MASK,          /* valid: every real token's mask value a random nonzero */
  F_CTX_NULL,      /* BERTC_ERR_NULL_ARG */
  F_TENSOR_NULL,   /* an input or output NULL: BERTC_ERR_NULL_ARG */
  F_ARRAY_NULL,    /* v forms: the inputs or outputs array NULL */
  F_SHORT_V,       /* v forms: the caller counted too few, the rest NULL */
  F_SHAPE,         /* batch and seq from the edge set; SHAPE unless both fit */
  F_ID,            /* an id outside [0, vocab): OUT_OF_RANGE */
  F_TYPE,          /* a token type outside [0, type_vocab): OUT_OF_RANGE */
  F_SCRATCH_NULL,  /* scratch forms: BERTC_ERR_NULL_ARG */
  F_SCRATCH_SMALL, /* scratch forms: BERTC_ERR_NO_MEMORY */
  F_COUNT
};
static const char* const fault_names[F_COUNT] = {"none",  "mask", "ctx-null", "tensor-null",  "array-null",   "short-v",
                                                 "shape", "id",   "type",     "scratch-null", "scratch-small"};

typedef struct stats {
  long calls, valid, rejected, per_fault[F_COUNT];
} stats;

/* Applies `f` to a prepared call; returns the expected status, and sets
 * *needle to a word the message must contain (or NULL). */
static int apply(call* c, int f, rng* r, const char** needle) {
  *needle = NULL;
  switch (f) {
    case F_NONE:
      /* A caller that counted too many: the slots past the model's are never read. */
      c->in[NI] = c->in[NI + 1] = (const void*)(uintptr_t)0x10;
      c->out[NO] = c->out[NO + 1] = (void*)(uintptr_t)0x10;
      return BERTC_OK;
    case F_MASK: {
      static const int64_t odd[] = {1, 2, -1, 255, 1 << 20, INT64_MAX, INT64_MIN, INT64_MIN + 1};
      int64_t* mask = c->own_in[mask_at];
      for (int64_t t = 0; t < c->batch * c->seq; ++t)
        if (mask[t]) mask[t] = pick(r, odd, sizeof odd / sizeof *odd);
      return BERTC_OK;
    }
    case F_CTX_NULL: c->ctx = NULL; *needle = "context"; return BERTC_ERR_NULL_ARG;
    case F_TENSOR_NULL:
      if (below(r, 2)) c->in[below(r, NI)] = NULL;
      else c->out[below(r, NO)] = NULL;
      return BERTC_ERR_NULL_ARG;
    case F_ARRAY_NULL:
      if (below(r, 2)) c->in_array = NULL;
      else c->out_array = NULL;
      return BERTC_ERR_NULL_ARG;
    case F_SHORT_V:
      if (below(r, 2)) {
        for (int i = (int)below(r, NI); i < NI; ++i) c->in[i] = NULL;
      } else {
        for (int o = (int)below(r, NO); o < NO; ++o) c->out[o] = NULL;
      }
      return BERTC_ERR_NULL_ARG;
    case F_SHAPE: {
      const int64_t b[] = {-1, 0, 1, M_MAX_BATCH, M_MAX_BATCH + 1, INT64_MAX, INT64_MIN};
      const int64_t s[] = {-1, 0, 1, M_MAX_SEQ, M_MAX_SEQ + 1, INT64_MAX, INT64_MIN};
      c->batch = pick(r, b, 7);
      c->seq = pick(r, s, 7);
      /* Both in range: the tensors must be that shape's, a corner case's. */
      const ref_case* corner = case_of_shape(c->batch, c->seq);
      if (corner) {
        const int form = c->form;
        m_context* ctx = c->ctx;
        release(c);
        prepare(c, form, ctx, corner);
        return BERTC_OK;
      }
      *needle = (c->batch < 1 || c->batch > M_MAX_BATCH) ? "batch" : "seq";
      return BERTC_ERR_SHAPE;
    }
    case F_ID: {
      const int64_t bad[] = {-1, vocab, vocab + 1, -vocab, INT64_MAX, INT64_MIN, (int64_t)1 << 40};
      ((int64_t*)c->own_in[ids_at])[below(r, c->batch * c->seq)] = pick(r, bad, 7);
      *needle = "input_ids";
      return BERTC_ERR_OUT_OF_RANGE;
    }
    case F_TYPE: {
      const int64_t bad[] = {-1, type_vocab, type_vocab + 7, INT64_MAX, INT64_MIN};
      ((int64_t*)c->own_in[types_at])[below(r, c->batch * c->seq)] = pick(r, bad, 5);
      *needle = "token_type_ids";
      return BERTC_ERR_OUT_OF_RANGE;
    }
    case F_SCRATCH_NULL: c->scratch = NULL; *needle = "scratch"; return BERTC_ERR_NULL_ARG;
    default: { /* F_SCRATCH_SMALL */
      const size_t need = m_scratch_bytes(c->batch, c->seq);
      const size_t sizes[] = {0, 1, need / 2, need - 1, (size_t)below(r, (int64_t)need)};
      give_scratch(c, sizes[below(r, 5)], (size_t)below(r, 64));
      *needle = "scratch";
      return BERTC_ERR_NO_MEMORY;
    }
  }
}

/* Random create and query calls: cheap, and they share the checks' code. */
static void poke_create_and_queries(rng* r) {
  static const int64_t threads[] = {-1, INT_MIN, BERTC_RT_MAX_THREADS + 1, INT_MAX};
  m_context* ctx = (m_context*)(uintptr_t)0x10;
  bertc_rt_clear_error();
  EXPECT(m_create(&ctx, (int)pick(r, threads, 4)) == BERTC_ERR_OUT_OF_RANGE && ctx == NULL);
  EXPECT(bertc_rt_last_status() == BERTC_ERR_OUT_OF_RANGE && bertc_rt_last_error()[0] != '\0');
  EXPECT(m_create(NULL, 1) == BERTC_ERR_NULL_ARG && m_create_with_pool(&ctx, NULL) == BERTC_ERR_NULL_ARG);
  EXPECT(ctx == NULL);
  EXPECT(m_last_error(NULL) != NULL);
  m_destroy(NULL);

  const int i = (int)(next(r) % 9) - 3; /* -3 .. 5: in range and beyond */
  const int64_t edges[] = {-1, 0, 1, M_MAX_BATCH, M_MAX_BATCH + 1, M_MAX_SEQ, M_MAX_SEQ + 1, INT64_MAX, INT64_MIN};
  const int64_t b = pick(r, edges, 9), s = pick(r, edges, 9);
  const int shape_ok = b >= 1 && b <= M_MAX_BATCH && s >= 1 && s <= M_MAX_SEQ;
  int64_t dims[4];
  EXPECT((m_input_name(i) != NULL) == (i >= 0 && i < NI));
  EXPECT((m_output_dtype(i) != 0) == (i >= 0 && i < NO));
  EXPECT((m_input_shape(i, b, s, dims) >= 0) == (i >= 0 && i < NI && shape_ok));
  EXPECT(m_output_shape(i, b, s, NULL) == -1);
  EXPECT((m_scratch_bytes(b, s) > 0) == shape_ok);
}

/* `calls` random calls on ctx; returns nothing, counts into *st. Several
 * threads may run it at once, each on its own context. */
static void stress(m_context* ctx, uint64_t seed, long calls, stats* st) {
  rng r = {seed};
  for (long n = 0; n < calls; ++n) {
    if (below(&r, 16) == 0) {
      poke_create_and_queries(&r);
      continue;
    }
    int f = (int)below(&r, F_COUNT);
    int form = (int)below(&r, 4);
    if (f == F_ARRAY_NULL || f == F_SHORT_V) form = is_v(form) ? form : form + RUN_V;
    if (f == F_SCRATCH_NULL || f == F_SCRATCH_SMALL) form = has_scratch(form) ? form : form + 1;
    call c;
    prepare(&c, form, ctx, &cases[below(&r, NCASES)]);
    const char* needle;
    const int expected = apply(&c, f, &r, &needle);
    if (has_scratch(form) && f != F_SCRATCH_NULL && f != F_SCRATCH_SMALL) {
      size_t need = m_scratch_bytes(c.batch, c.seq); /* 0 for a bad shape, rejected first */
      give_scratch(&c, need + (below(&r, 4) == 0 ? (size_t)below(&r, 256) : 0), (size_t)below(&r, 64));
    }
    bertc_rt_clear_error();
    const int rc = invoke(&c);
    ++st->calls;
    ++st->per_fault[f];
    if (rc != expected) {
      FAIL("seed %llu call %ld: fault %s, form %d, batch %lld, seq %lld: got %s, expected %s (%s)",
           (unsigned long long)seed, n, fault_names[f], form, (long long)c.batch, (long long)c.seq,
           bertc_rt_status_string(rc), bertc_rt_status_string(expected), bertc_rt_last_error());
    } else if (expected == BERTC_OK) {
      ++st->valid;
      if (!matches_reference(&c))
        FAIL("seed %llu call %ld: fault %s, form %d: output differs from the reference run", (unsigned long long)seed,
             n, fault_names[f], form);
    } else {
      ++st->rejected;
      const char* msg = bertc_rt_last_error();
      if (bertc_rt_last_status() != rc || msg[0] == '\0' || (needle && !strstr(msg, needle)))
        FAIL("seed %llu call %ld: fault %s: the thread's record is %s \"%s\" (wanted a fresh %s mentioning %s)",
             (unsigned long long)seed, n, fault_names[f], bertc_rt_status_string(bertc_rt_last_status()), msg,
             bertc_rt_status_string(rc), needle ? needle : "anything");
      if (c.ctx && strcmp(m_last_error(c.ctx), msg) != 0)
        FAIL("seed %llu call %ld: the context's message \"%s\" is not the thread's \"%s\"", (unsigned long long)seed,
             n, m_last_error(c.ctx), msg);
      for (int o = 0; o < NO; ++o)
        if (!untouched(&c, o)) FAIL("seed %llu call %ld: fault %s: a rejected call wrote output %d",
                                    (unsigned long long)seed, n, fault_names[f], o);
    }
    release(&c);
  }
}

/* ------------------------------------------------------------- threads */

typedef struct job {
  m_context* ctx; /* own (multi-context) or shared */
  uint64_t seed;
  long calls;
  stats st;
  long ok, busy; /* shared context only */
} job;

static void* own_context(void* arg) {
  job* j = arg;
  stress(j->ctx, j->seed, j->calls, &j->st);
  return NULL;
}

/* Valid calls on a context other threads use at once: OK with the
 * reference bytes, or BUSY having written nothing. A BUSY call is retried
 * (a refusal takes microseconds, a run much longer), so the context passes
 * from thread to thread, its arena grown by one and used by the next. */
static void* shared_context(void* arg) {
  job* j = arg;
  rng r = {j->seed};
  for (long n = 0; n < j->calls; ++n) {
    const int form = (int)below(&r, 4);
    const ref_case* k = &cases[below(&r, NCASES)];
    const size_t offset = (size_t)below(&r, 64);
    for (int attempt = 0; attempt < 100000; ++attempt) {
      call c;
      prepare(&c, form, j->ctx, k);
      if (has_scratch(form)) give_scratch(&c, m_scratch_bytes(c.batch, c.seq), offset);
      bertc_rt_clear_error();
      const int rc = invoke(&c);
      if (rc == BERTC_OK) {
        ++j->ok;
        if (!matches_reference(&c))
          FAIL("shared context, seed %llu call %ld: output differs", (unsigned long long)j->seed, n);
      } else if (rc == BERTC_ERR_BUSY) {
        ++j->busy;
        if (bertc_rt_last_status() != BERTC_ERR_BUSY || !strstr(bertc_rt_last_error(), "busy"))
          FAIL("shared context: BUSY with the thread's record \"%s\"", bertc_rt_last_error());
        for (int o = 0; o < NO; ++o)
          if (!untouched(&c, o)) FAIL("shared context: a BUSY call wrote output %d", o);
      } else {
        FAIL("shared context, seed %llu call %ld: got %s (%s), expected OK or BUSY", (unsigned long long)j->seed, n,
             bertc_rt_status_string(rc), bertc_rt_last_error());
      }
      release(&c);
      if (rc != BERTC_ERR_BUSY) break;
      sched_yield();
    }
  }
  return NULL;
}

/* A host scheduler that, once armed, makes the run in progress meet two
 * more runs on its own context: one nested on this thread, one from another
 * thread. Both must be refused with BUSY, and the outer run must finish. */
typedef struct nesting {
  m_context* ctx;
  int armed;
  int nested_rc, other_rc;
} nesting;

static int run_case0(m_context* ctx, void* const* out) {
  const ref_case* k = &cases[0];
  return m_run(ctx, k->batch, k->seq, k->in[0], k->in[1], k->in[2], out[0], out[1]);
}

static void* other_thread_run(void* arg) {
  nesting* s = arg;
  void* out[NO] = {malloc(cases[0].out_bytes[0]), malloc(cases[0].out_bytes[1])};
  s->other_rc = run_case0(s->ctx, out);
  free(out[0]);
  free(out[1]);
  return NULL;
}

static void scheduler_for(void* user, size_t n, bertc_rt_task_fn fn, void* ctx) {
  nesting* s = user;
  if (s->armed) {
    s->armed = 0;
    void* out[NO] = {malloc(cases[0].out_bytes[0]), malloc(cases[0].out_bytes[1])};
    s->nested_rc = run_case0(s->ctx, out);
    free(out[0]);
    free(out[1]);
    pthread_t t;
    if (pthread_create(&t, NULL, other_thread_run, s) == 0) pthread_join(t, NULL);
  }
  fn(ctx, 0, n, 0); /* one range, worker 0: the contract allows it */
}

static void busy_is_deterministic(void) {
  nesting s = {NULL, 0, -1, -1};
  bertc_rt_scheduler sched = {&s, scheduler_for, 2};
  bertc_rt_pool* pool = bertc_rt_pool_from_scheduler(&sched);
  EXPECT(pool != NULL && m_create_with_pool(&s.ctx, pool) == BERTC_OK);
  if (!s.ctx) return;
  void* out[NO] = {malloc(cases[0].out_bytes[0]), malloc(cases[0].out_bytes[1])};
  s.armed = 1;
  EXPECT(run_case0(s.ctx, out) == BERTC_OK);
  EXPECT(s.armed == 0 && s.nested_rc == BERTC_ERR_BUSY && s.other_rc == BERTC_ERR_BUSY);
  EXPECT(memcmp(out[0], cases[0].out[0], cases[0].out_bytes[0]) == 0);
  /* Released: the next run goes ahead. */
  EXPECT(run_case0(s.ctx, out) == BERTC_OK);
  m_destroy(s.ctx);
  bertc_rt_pool_destroy(pool);
  free(out[0]);
  free(out[1]);
}

static void run_threads(job* jobs, int n, void* (*fn)(void*)) {
  pthread_t t[8];
  for (int i = 0; i < n; ++i)
    if (pthread_create(&t[i], NULL, fn, &jobs[i]) != 0) FAIL("pthread_create");
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
}

static int find_input(const char* name) {
  for (int i = 0; i < NI; ++i)
    if (strcmp(m_input_name(i), name) == 0 && m_input_dtype(i) == 7) return i;
  fprintf(stderr, "the model has no int64 input %s\n", name);
  exit(2);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: capi_stress VOCAB TYPE_VOCAB SEED CALLS\n");
    return 2;
  }
  vocab = atoll(argv[1]);
  type_vocab = atoll(argv[2]);
  const uint64_t seed = strtoull(argv[3], NULL, 10);
  const long calls = atol(argv[4]);
  ids_at = find_input("input_ids");
  mask_at = find_input("attention_mask");
  types_at = find_input("token_type_ids");
  rng r = {seed};
  make_cases(&r);

  /* 1. One context, every fault. */
  stats total = {0};
  m_context* ctx = NULL;
  EXPECT(m_create(&ctx, 1) == BERTC_OK);
  stress(ctx, seed + 1, calls, &total);
  m_destroy(ctx);

  /* 2. Four contexts on four threads (pools of 1, 2, 1, 2), a tenth of the calls each. */
  enum { THREADS = 4 };
  job jobs[THREADS];
  for (int i = 0; i < THREADS; ++i) {
    jobs[i] = (job){NULL, seed + 100 + (uint64_t)i, calls / 10, {0}, 0, 0};
    EXPECT(m_create(&jobs[i].ctx, 1 + i % 2) == BERTC_OK);
  }
  run_threads(jobs, THREADS, own_context);
  stats multi = {0};
  for (int i = 0; i < THREADS; ++i) {
    m_destroy(jobs[i].ctx);
    multi.calls += jobs[i].st.calls;
    multi.valid += jobs[i].st.valid;
  }

  /* 3. One context (a pool of 2) from three threads at once. */
  m_context* shared = NULL;
  EXPECT(m_create(&shared, 2) == BERTC_OK);
  long ok = 0, busy = 0;
  for (int i = 0; i < 3; ++i) jobs[i] = (job){shared, seed + 200 + (uint64_t)i, calls / 40, {0}, 0, 0};
  run_threads(jobs, 3, shared_context);
  for (int i = 0; i < 3; ++i) {
    EXPECT(jobs[i].ok > 0);
    ok += jobs[i].ok;
    busy += jobs[i].busy;
  }
  m_destroy(shared);

  /* 4. BUSY without relying on timing. */
  busy_is_deterministic();

  printf("capi_stress: seed %llu: %ld calls on one context (%ld valid, %ld rejected;", (unsigned long long)seed,
         total.calls, total.valid, total.rejected);
  for (int f = 0; f < F_COUNT; ++f) printf(" %s %ld", fault_names[f], total.per_fault[f]);
  printf("); %ld calls on %d contexts at once (%ld valid); shared context: %ld ok, %ld busy\n", multi.calls, THREADS,
         multi.valid, ok, busy);
  for (int c = 0; c < NCASES; ++c) {
    for (int i = 0; i < NI; ++i) free(cases[c].in[i]);
    for (int o = 0; o < NO; ++o) free(cases[c].out[o]);
  }
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  else printf("capi_stress: all checks passed\n");
  return failures ? 1 : 0;
}
