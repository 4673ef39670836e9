/* run_model: a host program that links a compiled model, as a user's would.
 *
 *   bertc compile model.onnx --name m -o m.o
 *   cc -I. -Iruntime_stub test/host/run_model.c m.o libbertc_rt.a -lpthread
 *   ./a.out BATCH SEQ THREADS IN_0 ... IN_n-1 OUT_0 ... OUT_m-1
 *
 * Reads each input as raw bytes of its dtype and shape at (BATCH, SEQ) (the
 * model's own introspection says which), runs, and writes each output the
 * same way. With RUN_SCRATCH=1 it runs in caller-owned scratch, misaligned
 * on purpose. With RUN_WEIGHTS=PATH it creates the context with the weights
 * side file PATH (m_create_with_weights). Exit codes: 0 ok, 1 usage or I/O,
 * 2 the model returned an error (printed with its status name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

static size_t dtype_size(int dtype) {
  switch (dtype) {
    case 1: case 6: return 4;
    case 7: case 11: return 8;
    case 2: case 3: case 9: return 1;
    default: return 0;
  }
}

/* Bytes of tensor i at (batch, seq), or 0 on error. */
static size_t tensor_bytes(int is_output, int i, int64_t batch, int64_t seq) {
  int64_t dims[4];
  int rank = is_output ? m_output_shape(i, batch, seq, dims) : m_input_shape(i, batch, seq, dims);
  if (rank < 0) return 0;
  size_t n = dtype_size(is_output ? m_output_dtype(i) : m_input_dtype(i));
  for (int a = 0; a < rank; ++a) n *= (size_t)dims[a];
  return n;
}

int main(int argc, char** argv) {
  const int ni = m_num_inputs(), no = m_num_outputs();
  if (argc != 4 + ni + no) {
    fprintf(stderr, "usage: %s BATCH SEQ THREADS", argv[0]);
    for (int i = 0; i < ni; ++i) fprintf(stderr, " %s.bin", m_input_name(i));
    for (int i = 0; i < no; ++i) fprintf(stderr, " %s.out", m_output_name(i));
    fprintf(stderr, "\n");
    return 1;
  }
  const int64_t batch = atoll(argv[1]), seq = atoll(argv[2]);
  const int threads = atoi(argv[3]);
  void* in[16];
  void* out[16];
  size_t out_bytes[16];
  if (ni > 16 || no > 16) return 1;
  for (int i = 0; i < ni; ++i) {
    size_t bytes = tensor_bytes(0, i, batch, seq);
    FILE* f = fopen(argv[4 + i], "rb");
    in[i] = malloc(bytes ? bytes : 1);
    if (!f || !in[i] || fread(in[i], 1, bytes, f) != bytes) {
      fprintf(stderr, "cannot read %zu bytes of input '%s' from %s\n", bytes, m_input_name(i), argv[4 + i]);
      return 1;
    }
    fclose(f);
  }
  for (int i = 0; i < no; ++i) {
    out_bytes[i] = tensor_bytes(1, i, batch, seq);
    out[i] = malloc(out_bytes[i] ? out_bytes[i] : 1);
  }
  m_context* ctx = NULL;
  const char* weights = getenv("RUN_WEIGHTS");
  const int created = weights ? m_create_with_weights(&ctx, threads, weights) : m_create(&ctx, threads);
  if (created != BERTC_OK) {
    fprintf(stderr, "m_create: %s: %s\n", bertc_rt_status_string(created), bertc_rt_last_error());
    return 2;
  }
  int rc;
  const char* scratch_mode = getenv("RUN_SCRATCH");
  if (scratch_mode && strcmp(scratch_mode, "1") == 0) {
    /* One byte past malloc's alignment: the API must cope with any scratch address. */
    size_t bytes = m_scratch_bytes(batch, seq);
    unsigned char* scratch = malloc(bytes + 1);
    rc = scratch ? m_run_v_scratch(ctx, batch, seq, (const void* const*)in, out, scratch + 1, bytes) : BERTC_ERR_NO_MEMORY;
    free(scratch);
  } else {
    rc = m_run_v(ctx, batch, seq, (const void* const*)in, out);
  }
  if (rc != BERTC_OK) {
    fprintf(stderr, "m_run: %s: %s\n", bertc_rt_status_string(rc), m_last_error(ctx));
    m_destroy(ctx);
    return 2;
  }
  m_destroy(ctx);
  for (int i = 0; i < no; ++i) {
    FILE* f = fopen(argv[4 + ni + i], "wb");
    if (!f || fwrite(out[i], 1, out_bytes[i], f) != out_bytes[i]) return 1;
    fclose(f);
  }
  return 0;
}
