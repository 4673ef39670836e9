/* check_cases: runs every case of one compiled model in one process, as a
 * user's program would, for tools/gpu_check.py. One process per model (not
 * per case) pays CUDA's and cuBLASLt's start once, and runs many shapes on
 * one context: its graph cache and shape changes are exercised too.
 *
 *   cc -DCHECK_CUDA -I. -Iruntime -Iruntime/cuda check_cases.c m.o ... (a CUDA target)
 *   cc -I. -Iruntime check_cases.c m.o libbertc_rt.a -lpthread          (the CPU target)
 *   ./check_cases CASES OUTDIR
 *
 * CASES has one case a line: NAME BATCH SEQ IN_0 ... IN_n-1 (raw input
 * files, [BATCH, SEQ] of each input's dtype). Each case runs
 *   host      m_run_v on host memory;
 *   device    (CUDA) m_run_device_v on device copies, then m_sync;
 * then, once all cases ran,
 *   replay    the first case again (its graph, kept in the cache);
 *   streams<k> (CUDA, k = 0..2) the first and the last case back to back on
 *             two streams with one context, one m_sync per stream at the end:
 *             the runtime orders them (run_order.h); outputs must match.
 * Outputs are poisoned (0xff bytes: NaN) before each run, so an output the
 * run does not write shows, and written to OUTDIR/NAME.MODE.K.bin (raw,
 * float32 or the output's integer dtype).
 *
 * Each run prints one JSON line once its outputs are written (stdout is
 * flushed):
 *   {"case": NAME, "mode": MODE, "status": "BERTC_OK", "error": "", "ms": 1.2, "graphs": 3}
 * and the last line is {"done": true, "runs": N, "failed": F, "create_ms": ...}.
 * Exit: 0 every run returned BERTC_OK, 2 some run failed, 1 usage, I/O or a
 * CUDA error of this program's own (printed as {"fatal": ...}). */
#define _POSIX_C_SOURCE 199309L

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m.h"

#ifdef CHECK_CUDA
#include <cuda_runtime_api.h>
#endif

enum { kMaxTensors = 16, kMaxCases = 256, kLine = 8192 };

typedef struct test_case {
  char name[128];
  int64_t batch, seq;
  void* in[kMaxTensors];
} test_case;

static test_case cases[kMaxCases];
static int num_cases;
static int runs, failed;
static const char* outdir;

/* ------------------------------------------------------------- output */

static void json_string(const char* s) {
  putchar('"');
  for (; s && *s; ++s) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char* fmt, ...) {
  char msg[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof msg, fmt, args);
  va_end(args);
  printf("{\"fatal\": ");
  json_string(msg);
  printf("}\n");
  fflush(stdout);
  exit(1);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void* xmalloc(size_t bytes) {
  void* p = malloc(bytes ? bytes : 1);
  if (!p) fatal("out of host memory (%zu bytes)", bytes);
  return p;
}

/* ------------------------------------------------------- the backends */

#ifdef CHECK_CUDA
typedef m_context* context;
#define CUDA_OK(call)                                                                       \
  do {                                                                                      \
    const cudaError_t e_ = (call);                                                          \
    if (e_ != cudaSuccess) fatal("%s: %s (%s)", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
  } while (0)

static size_t in_bytes(int i, int64_t b, int64_t s) { return bertc_cuda_input_bytes(&m_cuda_model, i, b, s); }
static size_t out_bytes(int o, int64_t b, int64_t s) { return bertc_cuda_output_bytes(&m_cuda_model, o, b, s); }
static int create(context* ctx) { return m_create(ctx, 0); }
static int run_host(context ctx, int64_t b, int64_t s, const void* const* in, void* const* out) {
  return m_run_v(ctx, NULL, b, s, in, out);
}
static int graphs(context ctx) { return bertc_cuda_num_graphs(ctx); }
#else
typedef m_context* context;
static size_t tensor_bytes(int is_output, int i, int64_t b, int64_t s) {
  int64_t dims[4];
  const int rank = is_output ? m_output_shape(i, b, s, dims) : m_input_shape(i, b, s, dims);
  const int dtype = is_output ? m_output_dtype(i) : m_input_dtype(i);
  size_t n = dtype == 7 || dtype == 11 ? 8 : dtype == 1 || dtype == 6 ? 4 : 1;
  if (rank < 0) return 0;
  for (int d = 0; d < rank; ++d) n *= (size_t)dims[d];
  return n;
}
static size_t in_bytes(int i, int64_t b, int64_t s) { return tensor_bytes(0, i, b, s); }
static size_t out_bytes(int o, int64_t b, int64_t s) { return tensor_bytes(1, o, b, s); }
static int create(context* ctx) { return m_create(ctx, 1); }
static int run_host(context ctx, int64_t b, int64_t s, const void* const* in, void* const* out) {
  return m_run_v(ctx, b, s, in, out);
}
static int graphs(context ctx) {
  (void)ctx;
  return 0;
}
#endif

/* ---------------------------------------------------------- the cases */

static void read_cases(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) fatal("cannot open %s: %s", path, strerror(errno));
  char line[kLine];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '\n' || line[0] == '#') continue;
    if (num_cases == kMaxCases) fatal("%s: more than %d cases", path, kMaxCases);
    test_case* c = &cases[num_cases];
    char* save = NULL;
    const char* name = strtok_r(line, " \t\n", &save);
    const char* batch = strtok_r(NULL, " \t\n", &save);
    const char* seq = strtok_r(NULL, " \t\n", &save);
    if (!name || !batch || !seq || strlen(name) >= sizeof c->name) fatal("%s: bad line %d", path, num_cases + 1);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->batch = atoll(batch);
    c->seq = atoll(seq);
    for (int i = 0; i < M_NUM_INPUTS; ++i) {
      const char* file = strtok_r(NULL, " \t\n", &save);
      if (!file) fatal("%s: case %s names %d inputs, the model has %d", path, c->name, i, M_NUM_INPUTS);
      const size_t bytes = in_bytes(i, c->batch, c->seq);
      c->in[i] = xmalloc(bytes);
      FILE* in = fopen(file, "rb");
      if (!in || fread(c->in[i], 1, bytes, in) != bytes) fatal("cannot read %zu bytes from %s", bytes, file);
      fclose(in);
    }
    ++num_cases;
  }
  fclose(f);
  if (num_cases == 0) fatal("%s: no cases", path);
}

static void write_outputs(const test_case* c, const char* mode, void* const* out) {
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s.%d.bin", outdir, c->name, mode, o);
    const size_t bytes = out_bytes(o, c->batch, c->seq);
    FILE* f = fopen(path, "wb");
    if (!f || fwrite(out[o], 1, bytes, f) != bytes || fclose(f) != 0) fatal("cannot write %s", path);
  }
}

/* One JSON line for a run that returned `status`. */
static void report(context ctx, const test_case* c, const char* mode, int status, double ms) {
  ++runs;
  failed += status != BERTC_OK;
  printf("{\"case\": ");
  json_string(c->name);
  printf(", \"mode\": ");
  json_string(mode);
  printf(", \"status\": ");
  json_string(bertc_rt_status_string(status));
  printf(", \"error\": ");
  json_string(status == BERTC_OK ? "" : ctx ? m_last_error(ctx) : bertc_rt_last_error());
  printf(", \"ms\": %.3f, \"graphs\": %d}\n", ms, graphs(ctx));
  fflush(stdout);
}

static void* host_out[kMaxTensors];

static void run_on_host(context ctx, const test_case* c, const char* mode) {
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) memset(host_out[o], 0xff, out_bytes(o, c->batch, c->seq));
  const double t0 = now_ms();
  const int status = run_host(ctx, c->batch, c->seq, (const void* const*)c->in, host_out);
  const double ms = now_ms() - t0;
  if (status == BERTC_OK) write_outputs(c, mode, host_out);  /* before the line that says they are there */
  report(ctx, c, mode, status, ms);
}

#ifdef CHECK_CUDA
/* Device buffers for one case: its inputs copied in, outputs poisoned. */
typedef struct device_case {
  void* in[kMaxTensors];
  void* out[kMaxTensors];
} device_case;

static void device_stage(device_case* d, const test_case* c) {
  for (int i = 0; i < M_NUM_INPUTS; ++i) {
    const size_t bytes = in_bytes(i, M_MAX_BATCH, M_MAX_SEQ);
    if (!d->in[i]) CUDA_OK(cudaMalloc(&d->in[i], bytes ? bytes : 1));
    CUDA_OK(cudaMemcpy(d->in[i], c->in[i], in_bytes(i, c->batch, c->seq), cudaMemcpyHostToDevice));
  }
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) {
    const size_t bytes = out_bytes(o, M_MAX_BATCH, M_MAX_SEQ);
    if (!d->out[o]) CUDA_OK(cudaMalloc(&d->out[o], bytes ? bytes : 1));
    CUDA_OK(cudaMemset(d->out[o], 0xff, bytes));
  }
}

static void device_fetch(const device_case* d, const test_case* c, const char* mode) {
  for (int o = 0; o < M_NUM_OUTPUTS; ++o)
    CUDA_OK(cudaMemcpy(host_out[o], d->out[o], out_bytes(o, c->batch, c->seq), cudaMemcpyDeviceToHost));
  write_outputs(c, mode, host_out);
}

static void run_on_device(context ctx, device_case* d, const test_case* c) {
  device_stage(d, c);
  const double t0 = now_ms();
  int status = m_run_device_v(ctx, NULL, c->batch, c->seq, (const void* const*)d->in, d->out);
  if (status == BERTC_OK) status = m_sync(ctx, NULL);
  const double ms = now_ms() - t0;
  if (status == BERTC_OK) device_fetch(d, c, "device");
  report(ctx, c, "device", status, ms);
}

/* Two cases on two streams of one context, with no wait between them. */
static void run_on_streams(context ctx, device_case* da, device_case* db, const test_case* a, const test_case* b,
                           int k) {
  cudaStream_t s1, s2;
  CUDA_OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  CUDA_OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  device_stage(da, a);
  device_stage(db, b);
  char mode[32];
  snprintf(mode, sizeof mode, "streams%d", k);
  const double t0 = now_ms();
  const int sa = m_run_device_v(ctx, (bertc_cuda_stream)s1, a->batch, a->seq, (const void* const*)da->in, da->out);
  const int sb = m_run_device_v(ctx, (bertc_cuda_stream)s2, b->batch, b->seq, (const void* const*)db->in, db->out);
  const int ya = m_sync(ctx, (bertc_cuda_stream)s1);
  const int yb = m_sync(ctx, (bertc_cuda_stream)s2);
  const double ms = now_ms() - t0;
  if (sa == BERTC_OK && ya == BERTC_OK) device_fetch(da, a, mode);
  if (sb == BERTC_OK && yb == BERTC_OK) device_fetch(db, b, mode);
  report(ctx, a, mode, sa != BERTC_OK ? sa : ya, ms);
  report(ctx, b, mode, sb != BERTC_OK ? sb : yb, ms);
  CUDA_OK(cudaStreamDestroy(s1));
  CUDA_OK(cudaStreamDestroy(s2));
}
#endif

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CASES OUTDIR\n", argv[0]);
    return 1;
  }
  if (M_NUM_INPUTS > kMaxTensors || M_NUM_OUTPUTS > kMaxTensors) fatal("more than %d inputs or outputs", kMaxTensors);
  outdir = argv[2];
  read_cases(argv[1]);
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) host_out[o] = xmalloc(out_bytes(o, M_MAX_BATCH, M_MAX_SEQ));

  context ctx = NULL;
  const double t0 = now_ms();
  const int status = create(&ctx);
  const double create_ms = now_ms() - t0;
  if (status != BERTC_OK) {
    report(NULL, &cases[0], "create", status, create_ms);
    printf("{\"done\": true, \"runs\": %d, \"failed\": %d, \"create_ms\": %.1f}\n", runs, failed, create_ms);
    return 2;
  }
#ifdef CHECK_CUDA
  static device_case dev, other;
#endif
  for (int i = 0; i < num_cases; ++i) {
    run_on_host(ctx, &cases[i], "host");
#ifdef CHECK_CUDA
    run_on_device(ctx, &dev, &cases[i]);
#endif
  }
  run_on_host(ctx, &cases[0], "replay");
#ifdef CHECK_CUDA
  for (int k = 0; k < 3; ++k) run_on_streams(ctx, &dev, &other, &cases[0], &cases[num_cases - 1], k);
#endif
  m_destroy(ctx);
  printf("{\"done\": true, \"runs\": %d, \"failed\": %d, \"create_ms\": %.1f}\n", runs, failed, create_ms);
  return failed ? 2 : 0;
}
