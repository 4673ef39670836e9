/* embed: sentence embeddings and a similarity ranking with a bertc-compiled
 * paraphrase-MiniLM (examples/embed/CMakeLists.txt compiles it as `minilm`).
 *
 *   embed [--threads N] [--embeddings] VOCAB.txt [SENTENCE...]
 *
 * Sentences come from the arguments, or one per line on stdin. Each is
 * tokenised, the batch runs through the model, the token states are
 * mean-pooled over the attention mask and L2-normalised (paraphrase-MiniLM's
 * sentence embedding), and the sentences are ranked by cosine similarity to
 * the first, the query. --embeddings also prints every embedding.
 *
 * The model is driven through its generic entry points (minilm_run_v and the
 * input/output tables), so the program does not depend on which inputs and
 * extra outputs an ONNX export has. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minilm.h"
#include "tokenizer.h"

enum { kOnnxFloat = 1, kOnnxInt64 = 7 };

typedef struct {
  minilm_context* ctx;
  const bert_tokenizer* tok;
  void* outputs[MINILM_NUM_OUTPUTS]; /* buffers for MAX_BATCH x MAX_SEQ */
  int states;                        /* the output [batch, seq, hidden] */
  int64_t hidden;
} Model;

static int model_error(const minilm_context* ctx, int status, const char* call) {
  fprintf(stderr, "embed: %s: %s: %s\n", call, bertc_rt_status_string(status),
          ctx ? minilm_last_error(ctx) : bertc_rt_last_error());
  return 1;
}

/* Allocates every output and finds the token states: the float output of
 * rank 3. */
static int open_outputs(Model* m) {
  int64_t dims[8];
  m->states = -1;
  for (int i = 0; i < MINILM_NUM_OUTPUTS; ++i) {
    int rank = minilm_output_shape(i, MINILM_MAX_BATCH, MINILM_MAX_SEQ, dims);
    int dtype = minilm_output_dtype(i);
    size_t bytes = dtype == kOnnxFloat ? 4 : 8;
    for (int d = 0; d < rank; ++d) bytes *= (size_t)dims[d];
    if (rank < 0 || (dtype != kOnnxFloat && dtype != kOnnxInt64) || !(m->outputs[i] = malloc(bytes))) {
      fprintf(stderr, "embed: cannot allocate output '%s'\n", minilm_output_name(i));
      return 1;
    }
    if (rank == 3 && dtype == kOnnxFloat && m->states < 0) m->states = i, m->hidden = dims[2];
  }
  if (m->states < 0) fprintf(stderr, "embed: the model has no [batch, seq, hidden] float output\n");
  return m->states < 0;
}

/* Embeds `count` <= MAX_BATCH sentences into emb[count][hidden]. */
static int embed_batch(Model* m, char** text, int count, float* emb) {
  static int64_t tokens[MINILM_MAX_BATCH][MINILM_MAX_SEQ];
  static int64_t ids[MINILM_MAX_BATCH * MINILM_MAX_SEQ], mask[MINILM_MAX_BATCH * MINILM_MAX_SEQ],
      types[MINILM_MAX_BATCH * MINILM_MAX_SEQ];
  int len[MINILM_MAX_BATCH], seq = 2;
  for (int b = 0; b < count; ++b) { /* the batch is as long as its longest sentence */
    len[b] = bert_tokenizer_encode(m->tok, text[b], tokens[b], MINILM_MAX_SEQ);
    seq = len[b] > seq ? len[b] : seq;
  }
  for (int b = 0; b < count; ++b) /* [count, seq], padded on the right */
    for (int t = 0; t < seq; ++t) {
      ids[b * seq + t] = t < len[b] ? tokens[b][t] : bert_tokenizer_pad_id(m->tok);
      mask[b * seq + t] = t < len[b];
      types[b * seq + t] = 0;
    }
  const void* inputs[MINILM_NUM_INPUTS];
  for (int i = 0; i < MINILM_NUM_INPUTS; ++i) {
    const char* name = minilm_input_name(i);
    inputs[i] = !strcmp(name, "input_ids") ? ids : !strcmp(name, "attention_mask") ? mask : types;
  }
  int status = minilm_run_v(m->ctx, count, seq, inputs, m->outputs);
  if (status != BERTC_OK) return model_error(m->ctx, status, "minilm_run_v");

  const float* states = m->outputs[m->states];
  for (int b = 0; b < count; ++b) { /* mean over the real tokens, then unit length */
    float* e = emb + b * m->hidden;
    double norm = 0;
    for (int64_t h = 0; h < m->hidden; ++h) {
      double sum = 0;
      for (int t = 0; t < len[b]; ++t) sum += states[((int64_t)b * seq + t) * m->hidden + h];
      e[h] = (float)(sum / len[b]);
      norm += (double)e[h] * e[h];
    }
    norm = sqrt(norm) > 1e-12 ? sqrt(norm) : 1e-12;
    for (int64_t h = 0; h < m->hidden; ++h) e[h] = (float)(e[h] / norm);
  }
  return 0;
}

static char* read_line(FILE* f) { /* one line of any length, without '\n'; NULL at the end */
  size_t size = 0, cap = 128;
  char* line = malloc(cap);
  int c = 0;
  while (line && (c = fgetc(f)) != EOF && c != '\n') {
    if (size + 1 == cap) {
      char* bigger = realloc(line, cap *= 2);
      if (!bigger) free(line);
      if (!(line = bigger)) return NULL;
    }
    line[size++] = (char)c;
  }
  if (line && size == 0 && c == EOF) free(line), line = NULL;
  return line ? (line[size] = '\0', line) : NULL;
}

static const float* g_scores;
static int by_score(const void* a, const void* b) {
  float x = g_scores[*(const int*)a], y = g_scores[*(const int*)b];
  return (x < y) - (x > y);
}

int main(int argc, char** argv) {
  int threads = 0, print_embeddings = 0, arg = 1;
  for (; arg < argc && !strncmp(argv[arg], "--", 2); ++arg) {
    if (!strcmp(argv[arg], "--threads") && arg + 1 < argc) threads = atoi(argv[++arg]);
    else if (!strcmp(argv[arg], "--embeddings")) print_embeddings = 1;
    else break;
  }
  if (arg >= argc || !strncmp(argv[arg], "--", 2)) {
    fprintf(stderr, "usage: %s [--threads N] [--embeddings] VOCAB.txt [SENTENCE...]\n"
                    "  (no sentences: one per line on stdin; the first is the query)\n", argv[0]);
    return 2;
  }
  char err[512];
  bert_tokenizer* tok = bert_tokenizer_load(argv[arg++], err, sizeof err);
  if (!tok) return fprintf(stderr, "embed: %s\n", err), 1;

  char** text = argv + arg;
  int n = argc - arg, from_stdin = n == 0, cap = 0;
  for (char* line; from_stdin && (line = read_line(stdin)) != NULL; text[n++] = line)
    if (n == cap && !(text = realloc(n ? text : NULL, sizeof(char*) * (size_t)(cap = cap ? 2 * cap : 64))))
      return fprintf(stderr, "embed: out of memory\n"), 1;
  if (n == 0) return fprintf(stderr, "embed: no sentences\n"), 2;

  Model m = {.tok = tok};
  int status = minilm_create(&m.ctx, threads);
  if (status != BERTC_OK) return model_error(NULL, status, "minilm_create");
  float *emb = NULL, *scores = malloc(sizeof(float) * (size_t)n);
  int* order = malloc(sizeof(int) * (size_t)n);
  int failed = open_outputs(&m) || !scores || !order || !(emb = malloc(sizeof(float) * (size_t)(n * m.hidden)));
  for (int first = 0; !failed && first < n; first += MINILM_MAX_BATCH)
    failed = embed_batch(&m, text + first, n - first < MINILM_MAX_BATCH ? n - first : MINILM_MAX_BATCH,
                         emb + first * m.hidden);

  if (!failed) {
    for (int i = 0; i < n && print_embeddings; ++i) {
      printf("embedding %d:", i);
      for (int64_t h = 0; h < m.hidden; ++h) printf(" %.9g", emb[i * m.hidden + h]);
      printf("\n");
    }
    for (int i = 0; i < n; ++i) { /* cosine similarity: the embeddings have unit length */
      double dot = 0;
      for (int64_t h = 0; h < m.hidden; ++h) dot += (double)emb[i * m.hidden + h] * emb[h];
      scores[i] = (float)dot, order[i] = i;
    }
    g_scores = scores;
    qsort(order + 1, (size_t)(n - 1), sizeof(int), by_score);
    printf("query: %s\n", text[0]);
    for (int r = 1; r < n; ++r) printf("%2d. %7.4f  [%d] %s\n", r, scores[order[r]], order[r], text[order[r]]);
  }
  for (int i = 0; i < MINILM_NUM_OUTPUTS; ++i) free(m.outputs[i]);
  minilm_destroy(m.ctx);
  bert_tokenizer_free(tok);
  free(emb), free(scores), free(order);
  for (int i = 0; i < n && from_stdin; ++i) free(text[i]);
  if (from_stdin) free(text);
  return failed;
}
