/* host DIR BATCH SEQ: runs the model `tiny` on DIR/input_<i>.bin (raw, in
 * the model's input order and dtypes) and writes DIR/output_<i>.bin. Only
 * the generated header, the object and libbertc_rt are used. */
#include <stdio.h>
#include <stdlib.h>

#include "other.h"
#include "tiny.h"

static size_t tensor_bytes(int rank, const int64_t* dims, int dtype) {
  size_t n = dtype == 1 ? 4 : 8;
  for (int d = 0; d < rank; ++d) n *= (size_t)dims[d];
  return n;
}

static int transfer(const char* dir, const char* kind, int i, void* data, size_t bytes, int write) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s_%d.bin", dir, kind, i);
  FILE* f = fopen(path, write ? "wb" : "rb");
  size_t done = f ? (write ? fwrite(data, 1, bytes, f) : fread(data, 1, bytes, f)) : 0;
  if (f) fclose(f);
  if (done != bytes) fprintf(stderr, "host: cannot %s %s\n", write ? "write" : "read", path);
  return done == bytes;
}

int main(int argc, char** argv) {
  if (argc != 4) return fprintf(stderr, "usage: host DIR BATCH SEQ\n"), 2;
  int64_t batch = atoll(argv[2]), seq = atoll(argv[3]), dims[8];
  const void* inputs[TINY_NUM_INPUTS];
  void* outputs[TINY_NUM_OUTPUTS];
  for (int i = 0; i < tiny_num_inputs(); ++i) {
    size_t bytes = tensor_bytes(tiny_input_shape(i, batch, seq, dims), dims, tiny_input_dtype(i));
    void* data = malloc(bytes);
    if (!data || !transfer(argv[1], "input", i, data, bytes, 0)) return 1;
    inputs[i] = data;
  }
  for (int i = 0; i < tiny_num_outputs(); ++i)
    outputs[i] = malloc(tensor_bytes(tiny_output_shape(i, batch, seq, dims), dims, tiny_output_dtype(i)));

  tiny_context* ctx;
  int status = tiny_create(&ctx, 1);
  if (status != BERTC_OK) return fprintf(stderr, "host: tiny_create: %s\n", bertc_rt_last_error()), 1;
  status = tiny_run_v(ctx, batch, seq, inputs, outputs);
  if (status != BERTC_OK) return fprintf(stderr, "host: tiny_run_v: %s\n", tiny_last_error(ctx)), 1;
  for (int i = 0; i < tiny_num_outputs(); ++i) {
    size_t bytes = tensor_bytes(tiny_output_shape(i, batch, seq, dims), dims, tiny_output_dtype(i));
    if (!transfer(argv[1], "output", i, outputs[i], bytes, 1)) return 1;
    printf("%s\n", tiny_output_name(i));
  }
  tiny_destroy(ctx);
  /* The second model is linked beside the first, with its own limits. */
  printf("other: %d inputs, max batch %d, max seq %d\n", other_num_inputs(), OTHER_MAX_BATCH, OTHER_MAX_SEQ);
  return 0;
}
