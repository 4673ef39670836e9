/* cuda_bench_host.c - times a model compiled by `bertc compile --target=cuda-fp16 --name m`.
 *
 * Built by the build.sh that `bench/cuda_vs_torch.py prepare` writes (it links m.o, the runtime
 * stub, cudart and cuBLASLt) and run by `cuda_vs_torch.py run`, which reads the JSON it writes:
 *
 *   cuda_bench_host --batch B --seq S [--inputs DIR | --lengths L1,L2,...] [--iters N]
 *                   [--warmup W] [--api device|host] [--device D] [--out-json FILE]
 *                   [--dump-output FILE] [--weights FILE]
 *
 * --weights: the weights side file of a model compiled with --weights-file (m_create_with_weights;
 * without it, m_create opens the path recorded at compile time).
 *
 * Inputs. With --inputs, input i is read from DIR/<its name>.i64: batch * seq raw little-endian
 * int64 values, row-major (the driver writes them, so that bertc and PyTorch see the same ids).
 * Without, ids are made here: sequence b holds lengths[b] real tokens (all seq when --lengths is
 * not given), right-padded with mask 0 and id 0.
 *
 * Timing. Each iteration records a CUDA event, enqueues the run, records a second event and
 * waits with m_sync (which also reports an id out of range). times_ms are the event intervals
 * (GPU time, including any wait for the host to enqueue work), wall_ms the host clock around
 * the whole iteration. --api device (the default) runs m_run_device on device buffers: GEMMs
 * then cover all batch * seq token rows. --api host runs m_run on pinned host buffers: the
 * runtime counts the mask on the host and packs the GEMMs to the real tokens, and the time
 * includes the copies in and out. The first runs of a shape capture its CUDA graph; --warmup
 * runs are not timed.
 *
 * --dump-output writes output 0 (last_hidden_state, float32 [batch, seq, width]) of the last
 * run. Every failure prints the runtime's message (m_last_error) or CUDA's and exits with 1;
 * bad arguments exit with 2. */
#define _POSIX_C_SOURCE 199309L

#include <cuda_runtime_api.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m.h"

enum { kOnnxInt64 = 7, kPathMax = 4096 };

static void die(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fputs("cuda_bench_host: ", stderr);
  vfprintf(stderr, fmt, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

/** Prints `why` and the usage; exits with `code` (0 for --help, 2 for a bad argument). */
static void usage(const char* why, int code) {
  fprintf(code ? stderr : stdout,
          "cuda_bench_host: %s\n"
          "usage: cuda_bench_host --batch B --seq S [--inputs DIR | --lengths L1,L2,...] [--iters N] [--warmup W]\n"
          "                       [--api device|host] [--device D] [--out-json FILE] [--dump-output FILE]\n"
          "                       [--weights FILE]\n",
          why);
  exit(code);
}

/** A CUDA call that must succeed; the message names the call and CUDA's error. */
#define CUDA_CHECK(call)                                                                          \
  do {                                                                                            \
    const cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess) die("%s: %s (%s)", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
  } while (0)

/** A bertc call's status: on failure, the status name and the context's message. */
static void check_rc(int rc, const m_context* ctx, const char* what) {
  if (rc != BERTC_OK) die("%s failed: %s: %s", what, bertc_rt_status_string(rc), m_last_error(ctx));
}

static int64_t parse_int(const char* s, const char* flag, int64_t lo, int64_t hi) {
  char* end = NULL;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    char why[256];
    snprintf(why, sizeof why, "%s wants an integer in %lld..%lld, got '%s'", flag, (long long)lo, (long long)hi, s);
    usage(why, 2);
  }
  return v;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void* xmalloc(size_t bytes) {
  void* p = malloc(bytes ? bytes : 1);
  if (!p) die("out of host memory (%zu bytes)", bytes);
  return p;
}

static void read_file(const char* path, void* dst, size_t bytes) {
  FILE* f = fopen(path, "rb");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  const size_t got = fread(dst, 1, bytes, f);
  const int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != bytes || extra)
    die("%s: expected exactly %zu bytes (batch * seq int64 values), it has %s%zu", path, bytes,
        extra ? "more than " : "", got);
}

static void write_file(const char* path, const void* src, size_t bytes) {
  FILE* f = fopen(path, "wb");
  if (!f) die("cannot write %s: %s", path, strerror(errno));
  const size_t put = fwrite(src, 1, bytes, f);
  if (fclose(f) != 0 || put != bytes) die("writing %s failed", path);
}

/** Inputs made here: right-padded sequences of lengths[b] tokens; ids a fixed pattern in [1, 1000). */
static void make_inputs(int64_t batch, int64_t seq, const int64_t* lengths, int64_t* const* host) {
  for (int i = 0; i < M_NUM_INPUTS; ++i) {
    const bertc_cuda_input* d = &m_cuda_model.inputs[i];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t s = 0; s < seq; ++s) {
        const int real = s < lengths[b];
        int64_t v = 0;
        if (d->is_mask) v = real;
        else if (real && d->id_limit > 2) v = 1 + (b * seq + s) * 7919 % 999; /* token ids */
        host[i][b * seq + s] = d->id_limit > 0 && v >= d->id_limit ? v % d->id_limit : v;
      }
  }
}

static void print_times(FILE* f, const char* key, const double* v, int n) {
  fprintf(f, "  \"%s\": [", key);
  for (int i = 0; i < n; ++i) fprintf(f, "%s%.6f", i ? ", " : "", v[i]);
  fprintf(f, "]");
}

int main(int argc, char** argv) {
  int64_t batch = 0, seq = 0, iters = 100, warmup = 10, device = 0;
  int64_t lengths[M_MAX_BATCH];
  int64_t num_lengths = 0;
  const char *inputs_dir = NULL, *out_json = NULL, *dump = NULL, *api = "device", *weights = NULL;
  for (int a = 1; a < argc; ++a) {
    const char* flag = argv[a];
    if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) usage("times m_run_device (or m_run) of the model in m.o", 0);
    if (a + 1 >= argc) usage("every option takes a value", 2);
    const char* v = argv[++a];
    if (!strcmp(flag, "--batch")) batch = parse_int(v, flag, 1, M_MAX_BATCH);
    else if (!strcmp(flag, "--seq")) seq = parse_int(v, flag, M_MIN_SEQ, M_MAX_SEQ);
    else if (!strcmp(flag, "--iters")) iters = parse_int(v, flag, 1, 1000000);
    else if (!strcmp(flag, "--warmup")) warmup = parse_int(v, flag, 0, 1000000);
    else if (!strcmp(flag, "--device")) device = parse_int(v, flag, 0, 1024);
    else if (!strcmp(flag, "--inputs")) inputs_dir = v;
    else if (!strcmp(flag, "--out-json")) out_json = v;
    else if (!strcmp(flag, "--dump-output")) dump = v;
    else if (!strcmp(flag, "--weights")) weights = v;
    else if (!strcmp(flag, "--api")) {
      if (strcmp(v, "device") && strcmp(v, "host")) usage("--api is device or host", 2);
      api = v;
    } else if (!strcmp(flag, "--lengths")) {
      char* list = xmalloc(strlen(v) + 1);
      strcpy(list, v);
      for (char* tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (num_lengths == M_MAX_BATCH) usage("--lengths has more entries than M_MAX_BATCH", 2);
        lengths[num_lengths++] = parse_int(tok, flag, 1, M_MAX_SEQ);
      }
      free(list);
    } else {
      char why[256];
      snprintf(why, sizeof why, "unknown option '%s'", flag);
      usage(why, 2);
    }
  }
  if (!batch || !seq) usage("--batch and --seq are required", 2);
  if (inputs_dir && num_lengths) usage("--inputs and --lengths exclude each other (the mask gives the lengths)", 2);
  if (num_lengths && num_lengths != batch) usage("--lengths wants one length per sequence of the batch", 2);
  for (int64_t b = 0; b < num_lengths; ++b)
    if (lengths[b] > seq) usage("a length in --lengths is longer than --seq", 2);
  if (!num_lengths)
    for (int64_t b = 0; b < batch; ++b) lengths[b] = seq;
  const int on_device = !strcmp(api, "device");
  if (dump && m_cuda_model.outputs[0].layout != BERTC_CUDA_OUT_TOKENS)
    usage("--dump-output writes output 0, which is not float32 [batch, seq, width] in this model", 2);

  /* The inputs, read (or made) before anything touches the GPU. */
  const int64_t slots = batch * seq;
  const size_t in_bytes = sizeof(int64_t) * (size_t)slots;  /* every input is int64 (checked below) */
  int64_t* host_in[M_NUM_INPUTS];
  for (int i = 0; i < M_NUM_INPUTS; ++i) {
    const bertc_cuda_input* d = &m_cuda_model.inputs[i];
    if (d->dtype != kOnnxInt64)
      die("input '%s' has ONNX dtype %d; this program feeds int64 (7) only", d->name, (int)d->dtype);
    host_in[i] = xmalloc(in_bytes);
    if (inputs_dir) {
      char path[kPathMax];
      snprintf(path, sizeof path, "%s/%s.i64", inputs_dir, m_input_name(i));
      read_file(path, host_in[i], in_bytes);
    }
  }
  if (!inputs_dir) make_inputs(batch, seq, lengths, host_in);
  int64_t real_tokens = slots;
  for (int i = 0; i < M_NUM_INPUTS; ++i) /* the lengths the mask gives */
    if (m_cuda_model.inputs[i].is_mask) {
      real_tokens = 0;
      for (int64_t b = 0; b < batch; ++b) {
        lengths[b] = 0;
        for (int64_t s = 0; s < seq; ++s) lengths[b] += host_in[i][b * seq + s] != 0;
        real_tokens += lengths[b];
      }
    }

  /* m_create before any other CUDA call: without a GPU its message ("no CUDA device") is the one
   * to read. */
  m_context* ctx = NULL;
  const double t_create = now_ms();
  check_rc(m_create_with_weights(&ctx, (int)device, weights), NULL, "m_create");
  const double create_ms = now_ms() - t_create;
  CUDA_CHECK(cudaSetDevice((int)device));
  struct cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, (int)device));
  cudaStream_t stream = NULL;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  /* Inputs and outputs where the chosen API reads and writes them: device memory, or pinned host
   * memory (so that m_run copies at full speed). */
  void* in[M_NUM_INPUTS];
  void* out[M_NUM_OUTPUTS];
  size_t out_bytes[M_NUM_OUTPUTS];
  for (int i = 0; i < M_NUM_INPUTS; ++i) {
    if (on_device) CUDA_CHECK(cudaMalloc(&in[i], in_bytes));
    else CUDA_CHECK(cudaMallocHost(&in[i], in_bytes));
    CUDA_CHECK(cudaMemcpy(in[i], host_in[i], in_bytes, cudaMemcpyDefault));
  }
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) {
    out_bytes[o] = bertc_cuda_output_bytes(&m_cuda_model, o, batch, seq);
    if (on_device) CUDA_CHECK(cudaMalloc(&out[o], out_bytes[o]));
    else CUDA_CHECK(cudaMallocHost(&out[o], out_bytes[o]));
  }

  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  double* times = xmalloc(sizeof(double) * (size_t)iters);
  double* wall = xmalloc(sizeof(double) * (size_t)iters);
  for (int64_t it = -warmup; it < iters; ++it) {
    const double t0 = now_ms();
    CUDA_CHECK(cudaEventRecord(start, stream));
    if (on_device) check_rc(m_run_device_v(ctx, stream, batch, seq, (const void* const*)in, out), ctx, "m_run_device");
    else check_rc(m_run_v(ctx, stream, batch, seq, (const void* const*)in, out), ctx, "m_run");
    CUDA_CHECK(cudaEventRecord(stop, stream));
    check_rc(m_sync(ctx, stream), ctx, "m_sync");
    const double t1 = now_ms();
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (it >= 0) {
      times[it] = ms;
      wall[it] = t1 - t0;
    }
  }

  if (dump) {
    void* h = out[0];
    if (on_device) {
      h = xmalloc(out_bytes[0]);
      CUDA_CHECK(cudaMemcpy(h, out[0], out_bytes[0], cudaMemcpyDeviceToHost));
    }
    write_file(dump, h, out_bytes[0]);
    if (on_device) free(h);
  }

  FILE* f = out_json ? fopen(out_json, "w") : stdout;
  if (!f) die("cannot write %s: %s", out_json, strerror(errno));
  fprintf(f, "{\n  \"model\": \"%s\",\n  \"api\": \"%s\",\n  \"device_name\": \"%s\",\n", m_cuda_model.name, api,
          prop.name);
  fprintf(f, "  \"batch\": %lld,\n  \"seq\": %lld,\n  \"real_tokens\": %lld,\n  \"lengths\": [",
          (long long)batch, (long long)seq, (long long)real_tokens);
  for (int64_t b = 0; b < batch; ++b) fprintf(f, "%s%lld", b ? ", " : "", (long long)lengths[b]);
  fprintf(f, "],\n  \"iters\": %lld,\n  \"warmup\": %lld,\n  \"create_ms\": %.3f,\n  \"graphs\": %d,\n",
          (long long)iters, (long long)warmup, create_ms, bertc_cuda_num_graphs(ctx));
  print_times(f, "times_ms", times, (int)iters);
  fprintf(f, ",\n");
  print_times(f, "wall_ms", wall, (int)iters);
  fprintf(f, "\n}\n");
  if (out_json && fclose(f) != 0) die("writing %s failed", out_json);

  free(wall);
  free(times);
  cudaEventDestroy(stop);
  cudaEventDestroy(start);
  for (int o = 0; o < M_NUM_OUTPUTS; ++o) {
    if (on_device) cudaFree(out[o]);
    else cudaFreeHost(out[o]);
  }
  for (int i = 0; i < M_NUM_INPUTS; ++i) {
    if (on_device) cudaFree(in[i]);
    else cudaFreeHost(in[i]);
    free(host_in[i]);
  }
  cudaStreamDestroy(stream);
  m_destroy(ctx);
  return 0;
}
