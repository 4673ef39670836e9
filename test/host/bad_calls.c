/* bad_calls: every misuse of a compiled model's C API returns an error code
 * with a message, never crashes or reads out of bounds (run under ASan and
 * UBSan too); and contexts used from several threads at once are
 * independent. Linked with test/models/bert_ts17_eager compiled as "m"
 * (inputs input_ids, attention_mask, token_type_ids: int64 [batch, seq]).
 *
 *   bad_calls VOCAB TYPE_VOCAB
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

static int failures = 0;

#define EXPECT(cond)                                                   \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

enum { B = 2, S = 8, H_MAX = 4096 };
static int64_t ids[B * S], mask[B * S], types[B * S];
static float* hidden;
static float* pooled;
static int64_t vocab, type_vocab;

static void reset_inputs(void) {
  for (int i = 0; i < B * S; ++i) {
    ids[i] = 1 + (i * 7) % (vocab - 1);
    mask[i] = (i % S) < S - (i / S) * 3; /* row 1 right-padded by 3 */
    types[i] = (i % S) >= S / 2;
  }
}

static int run(m_context* ctx, int64_t batch, int64_t seq) {
  return m_run(ctx, batch, seq, ids, mask, types, hidden, pooled);
}

/* The message names what was wrong: it contains `needle`. */
static void expect_message(m_context* ctx, const char* needle) {
  const char* msg = m_last_error(ctx);
  if (!msg || !strstr(msg, needle)) {
    fprintf(stderr, "message \"%s\" does not mention \"%s\"\n", msg ? msg : "(null)", needle);
    ++failures;
  }
}

struct worker {
  int threads;
  int rounds;
  const float* expected;
  size_t floats;
  int ok;
};

static void* concurrent(void* arg) {
  struct worker* w = arg;
  float* h = malloc(sizeof(float) * w->floats);
  float* p = malloc(sizeof(float) * H_MAX * B);
  m_context* ctx = NULL;
  w->ok = m_create(&ctx, w->threads) == BERTC_OK;
  for (int r = 0; r < w->rounds && w->ok; ++r) {
    w->ok = m_run(ctx, B, S, ids, mask, types, h, p) == BERTC_OK && memcmp(h, w->expected, sizeof(float) * w->floats) == 0;
  }
  m_destroy(ctx);
  free(h);
  free(p);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  vocab = atoll(argv[1]);
  type_vocab = atoll(argv[2]);
  EXPECT(m_num_inputs() == 3 && m_num_outputs() == 2);
  EXPECT(strcmp(m_input_name(0), "input_ids") == 0);
  int64_t dims[4];
  EXPECT(m_output_shape(0, B, S, dims) == 3 && dims[0] == B && dims[1] == S && dims[2] <= H_MAX);
  const size_t hidden_floats = (size_t)(dims[0] * dims[1] * dims[2]);
  hidden = malloc(sizeof(float) * hidden_floats);
  pooled = malloc(sizeof(float) * H_MAX * B);
  reset_inputs();

  /* Introspection with bad indices. */
  EXPECT(m_input_name(-1) == NULL && m_input_name(3) == NULL && m_output_name(2) == NULL);
  EXPECT(m_input_dtype(7) == 0);
  EXPECT(m_input_shape(5, B, S, dims) == -1 && m_output_shape(0, B, S, NULL) == -1);
  EXPECT(m_output_shape(0, 0, S, dims) == -1 && m_output_shape(0, B, M_MAX_SEQ + 1, dims) == -1);
  EXPECT(m_scratch_bytes(0, S) == 0 && m_scratch_bytes(B, M_MAX_SEQ + 1) == 0 && m_scratch_bytes(B, S) > 0);

  /* Creation. */
  EXPECT(m_create(NULL, 1) == BERTC_ERR_NULL_ARG);
  EXPECT(strlen(bertc_rt_last_error()) > 0);
  m_context* ctx = NULL;
  EXPECT(m_create(&ctx, 1) == BERTC_OK && ctx != NULL);
  EXPECT(m_last_error(NULL) != NULL);
  m_destroy(NULL);

  /* A good run, kept as the reference for the threads below. */
  EXPECT(run(ctx, B, S) == BERTC_OK);
  float* expected = malloc(sizeof(float) * hidden_floats);
  memcpy(expected, hidden, sizeof(float) * hidden_floats);

  /* NULL pointers. */
  EXPECT(m_run(NULL, B, S, ids, mask, types, hidden, pooled) == BERTC_ERR_NULL_ARG);
  EXPECT(m_run(ctx, B, S, NULL, mask, types, hidden, pooled) == BERTC_ERR_NULL_ARG);
  expect_message(ctx, "input_ids");
  EXPECT(m_run(ctx, B, S, ids, mask, types, NULL, pooled) == BERTC_ERR_NULL_ARG);
  EXPECT(m_run_v(ctx, B, S, NULL, NULL) == BERTC_ERR_NULL_ARG);

  /* Shapes out of range. */
  EXPECT(run(ctx, 0, S) == BERTC_ERR_SHAPE);
  expect_message(ctx, "batch");
  EXPECT(run(ctx, -3, S) == BERTC_ERR_SHAPE);
  EXPECT(run(ctx, M_MAX_BATCH + 1, S) == BERTC_ERR_SHAPE);
  EXPECT(run(ctx, B, 0) == BERTC_ERR_SHAPE);
  EXPECT(run(ctx, B, M_MAX_SEQ + 1) == BERTC_ERR_SHAPE);
  expect_message(ctx, "seq");

  /* Ids outside their tables, in a padded position too. */
  ids[S + S - 1] = vocab;
  EXPECT(run(ctx, B, S) == BERTC_ERR_OUT_OF_RANGE);
  expect_message(ctx, "input_ids");
  reset_inputs();
  ids[3] = -1;
  EXPECT(run(ctx, B, S) == BERTC_ERR_OUT_OF_RANGE);
  reset_inputs();
  types[5] = type_vocab;
  EXPECT(run(ctx, B, S) == BERTC_ERR_OUT_OF_RANGE);
  expect_message(ctx, "token_type_ids");
  reset_inputs();

  /* Caller-owned scratch: too small, NULL, then right (and misaligned). */
  const void* in[3] = {ids, mask, types};
  void* out[2] = {hidden, pooled};
  const size_t need = m_scratch_bytes(B, S);
  unsigned char* scratch = malloc(need + 1);
  EXPECT(m_run_v_scratch(ctx, B, S, in, out, scratch, need / 2) != BERTC_OK);
  EXPECT(m_run_v_scratch(ctx, B, S, in, out, NULL, need) == BERTC_ERR_NULL_ARG);
  EXPECT(m_run_v_scratch(ctx, B, S, in, out, scratch + 1, need) == BERTC_OK);
  EXPECT(memcmp(hidden, expected, sizeof(float) * hidden_floats) == 0);
  free(scratch);

  /* A row with no real token: zeros, no crash. */
  for (int s = 0; s < S; ++s) mask[S + s] = 0;
  EXPECT(run(ctx, B, S) == BERTC_OK);
  for (size_t i = hidden_floats / 2; i < hidden_floats; ++i) EXPECT(hidden[i] == 0.0f);
  reset_inputs();

  /* After errors, a good run still gives the same answer. */
  EXPECT(run(ctx, B, S) == BERTC_OK);
  EXPECT(memcmp(hidden, expected, sizeof(float) * hidden_floats) == 0);
  m_destroy(ctx);

  /* Four contexts on four threads at once (two with pools of 2): same bytes. */
  pthread_t t[4];
  struct worker w[4];
  for (int i = 0; i < 4; ++i) {
    w[i] = (struct worker){1 + i % 2, 25, expected, hidden_floats, 0};
    pthread_create(&t[i], NULL, concurrent, &w[i]);
  }
  for (int i = 0; i < 4; ++i) {
    pthread_join(t[i], NULL);
    EXPECT(w[i].ok);
  }
  free(expected);
  free(hidden);
  free(pooled);
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  else printf("bad_calls: all checks passed\n");
  return failures ? 1 : 0;
}
