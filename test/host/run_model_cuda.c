/* run_model_cuda: a host program that links a model compiled for a CUDA
 * target, as a user's would (the GPU counterpart of run_model.c).
 *
 *   bertc compile model.onnx --target=cuda-fp16 --name m -o m.o
 *   cc -I. -Iruntime_stub -Iruntime_stub/cuda test/host/run_model_cuda.c m.o \
 *      libbertc_rt_cuda.a libbertc_rt.a -lcudart -lcublasLt -lstdc++ -lpthread
 *   ./a.out BATCH SEQ IN_0 ... IN_n-1 OUT_0 ... OUT_m-1
 *
 * Reads each input as raw bytes ([BATCH, SEQ] of its dtype), runs on device
 * 0 and writes each output as raw bytes (float32, or the dtype of a
 * [batch, seq] output). RUN_DEVICE=1 runs the device-pointer entry point
 * (m_run_device + m_sync) on copies it makes; RUN_REPEAT=N runs N times (the
 * graph is captured once, replayed after). Exit codes: 0 ok, 1 usage, I/O
 * or CUDA, 2 the model returned an error (printed with its status name). */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

static int cuda_failed(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return 0;
  fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  return 1;
}

int main(int argc, char** argv) {
  const int ni = m_num_inputs(), no = m_num_outputs();
  if (argc != 3 + ni + no || ni > 16 || no > 16) {
    fprintf(stderr, "usage: %s BATCH SEQ", argv[0]);
    for (int i = 0; i < ni; ++i) fprintf(stderr, " %s.bin", m_input_name(i));
    for (int i = 0; i < no; ++i) fprintf(stderr, " %s.out", m_output_name(i));
    fprintf(stderr, "\n");
    return 1;
  }
  const int64_t batch = atoll(argv[1]), seq = atoll(argv[2]);
  const int on_device = getenv("RUN_DEVICE") && atoi(getenv("RUN_DEVICE")) == 1;
  const int repeat = getenv("RUN_REPEAT") ? atoi(getenv("RUN_REPEAT")) : 1;
  void* in[16];
  void* out[16];
  void* d_in[16];
  void* d_out[16];
  for (int i = 0; i < ni; ++i) {
    const size_t bytes = bertc_cuda_input_bytes(&m_cuda_model, i, batch, seq);
    FILE* f = fopen(argv[3 + i], "rb");
    in[i] = malloc(bytes ? bytes : 1);
    if (!f || !in[i] || fread(in[i], 1, bytes, f) != bytes) {
      fprintf(stderr, "cannot read %zu bytes of input '%s' from %s\n", bytes, m_input_name(i), argv[3 + i]);
      return 1;
    }
    fclose(f);
    if (on_device && (cuda_failed(cudaMalloc(&d_in[i], bytes), "cudaMalloc") ||
                      cuda_failed(cudaMemcpy(d_in[i], in[i], bytes, cudaMemcpyHostToDevice), "cudaMemcpy")))
      return 1;
  }
  for (int o = 0; o < no; ++o) {
    const size_t bytes = bertc_cuda_output_bytes(&m_cuda_model, o, batch, seq);
    out[o] = malloc(bytes ? bytes : 1);
    if (!out[o]) return 1;
    if (on_device && cuda_failed(cudaMalloc(&d_out[o], bytes), "cudaMalloc")) return 1;
  }
  m_context* ctx = NULL;
  int status = m_create(&ctx, 0);
  if (status != BERTC_OK) {
    fprintf(stderr, "%s: %s\n", bertc_rt_status_string(status), m_last_error(NULL));
    return 2;
  }
  for (int r = 0; r < repeat && status == BERTC_OK; ++r) {
    if (on_device) {
      status = m_run_device_v(ctx, NULL, batch, seq, (const void* const*)d_in, d_out);
      if (status == BERTC_OK) status = m_sync(ctx, NULL);
    } else {
      status = m_run_v(ctx, NULL, batch, seq, (const void* const*)in, out);
    }
  }
  if (status != BERTC_OK) {
    fprintf(stderr, "%s: %s\n", bertc_rt_status_string(status), m_last_error(ctx));
    m_destroy(ctx);
    return 2;
  }
  for (int o = 0; o < no; ++o) {
    const size_t bytes = bertc_cuda_output_bytes(&m_cuda_model, o, batch, seq);
    if (on_device && cuda_failed(cudaMemcpy(out[o], d_out[o], bytes, cudaMemcpyDeviceToHost), "cudaMemcpy")) return 1;
    FILE* f = fopen(argv[3 + ni + o], "wb");
    if (!f || fwrite(out[o], 1, bytes, f) != bytes) {
      fprintf(stderr, "cannot write output '%s' to %s\n", m_output_name(o), argv[3 + ni + o]);
      return 1;
    }
    fclose(f);
  }
  printf("graphs %d\n", bertc_cuda_num_graphs(ctx));
  m_destroy(ctx);
  return 0;
}
