/* cuda_info: links a model compiled for a CUDA target, as a user's program
 * would, and reports what the object holds, read through the C structs of
 * bertc_cuda.h (so the object's layout is checked against the header):
 *
 *   bertc compile model.onnx --target=cuda-fp16 --name m -o m.o
 *   cc -I. -Iruntime_stub -Iruntime_stub/cuda test/host/cuda_info.c m.o \
 *      libbertc_rt_cuda.a libbertc_rt.a -lcudart -lcublasLt -lstdc++ -lpthread
 *   ./a.out DIR
 *
 * Writes DIR/info.json (the tables), DIR/image<i>.bin (each kernel image),
 * DIR/weights.bin (when the weights are embedded)
 * and then calls m_create on device 0 (m_create_with_weights with the path
 * in CUDA_INFO_WEIGHTS when set): its status and message go into the JSON,
 * so a machine without a GPU checks the error paths (BERTC_ERR_DEVICE, or a
 * weights file's error, which comes first) and one with a GPU the loading of
 * the images. Exit 0 unless DIR cannot be written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

/* A JSON string (names are identifiers and ONNX names: escape " and \). */
static void json_string(FILE* f, const char* s) {
  fputc('"', f);
  for (; s && *s; ++s) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s >= 0x20) fputc(*s, f);
  }
  fputc('"', f);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 1;
  }
  const bertc_cuda_model* m = &m_cuda_model;
  char path[4096];
  for (int i = 0; i < m->num_images; ++i) {
    snprintf(path, sizeof path, "%s/image%d.bin", argv[1], i);
    FILE* f = fopen(path, "wb");
    if (!f || fwrite(m->images[i].data, 1, m->images[i].size, f) != m->images[i].size) return 1;
    fclose(f);
  }
  if (m->weights) {
    snprintf(path, sizeof path, "%s/weights.bin", argv[1]);
    FILE* w = fopen(path, "wb");
    if (!w || fwrite(m->weights, 1, m->weights_bytes, w) != m->weights_bytes) return 1;
    fclose(w);
  }
  snprintf(path, sizeof path, "%s/info.json", argv[1]);
  FILE* f = fopen(path, "w");
  if (!f) return 1;
  fprintf(f, "{\"abi\": %u, \"precision\": %d, \"name\": ", m->abi_version, m->precision);
  json_string(f, m->name);
  fprintf(f, ", \"max_batch\": %lld, \"max_seq\": %lld, \"min_seq\": %lld", (long long)m->max_batch,
          (long long)m->max_seq, (long long)m->min_seq);
  fprintf(f, ", \"macros\": [%d, %d, %d, %d, %d]", M_MAX_BATCH, M_MAX_SEQ, M_MIN_SEQ, M_NUM_INPUTS, M_NUM_OUTPUTS);
  fprintf(f, ", \"weights_bytes\": %llu, \"arena_bytes_per_slot\": %llu", (unsigned long long)m->weights_bytes,
          (unsigned long long)m->arena_bytes_per_slot);
  fprintf(f, ", \"weights_embedded\": %d, \"weights_checksum\": \"%016llx\", \"weights_file\": ", m->weights != NULL,
          (unsigned long long)m->weights_checksum);
  json_string(f, m->weights_file);
  fprintf(f, ", \"images\": [");
  for (int i = 0; i < m->num_images; ++i)
    fprintf(f, "%s{\"arch\": %d, \"ptx\": %d, \"size\": %llu}", i ? ", " : "", m->images[i].arch, m->images[i].is_ptx,
            (unsigned long long)m->images[i].size);
  fprintf(f, "], \"inputs\": [");
  for (int i = 0; i < m->num_inputs; ++i) {
    fprintf(f, "%s{\"name\": ", i ? ", " : "");
    json_string(f, m_input_name(i));
    fprintf(f, ", \"dtype\": %d, \"is_mask\": %d, \"id_limit\": %lld}", m->inputs[i].dtype, m->inputs[i].is_mask,
            (long long)m->inputs[i].id_limit);
  }
  fprintf(f, "], \"outputs\": [");
  for (int i = 0; i < m->num_outputs; ++i) {
    fprintf(f, "%s{\"name\": ", i ? ", " : "");
    json_string(f, m_output_name(i));
    fprintf(f, ", \"layout\": %d, \"dtype\": %d, \"width\": %lld}", m->outputs[i].layout, m->outputs[i].dtype,
            (long long)m->outputs[i].width);
  }
  /* What a caller allocates at batch 2, seq 5 (bertc_cuda_*_bytes). */
  fprintf(f, "], \"input_bytes\": [");
  for (int i = 0; i < m->num_inputs; ++i) fprintf(f, "%s%zu", i ? ", " : "", bertc_cuda_input_bytes(m, i, 2, 5));
  fprintf(f, "], \"output_bytes\": [");
  for (int i = 0; i < m->num_outputs; ++i) fprintf(f, "%s%zu", i ? ", " : "", bertc_cuda_output_bytes(m, i, 2, 5));
  fprintf(f, "], \"bytes_out_of_range\": %zu", bertc_cuda_input_bytes(m, m->num_inputs, 2, 5));
  fprintf(f, ", \"kernels\": [");
  for (int i = 0; i < m->num_kernels; ++i) {
    fprintf(f, "%s", i ? ", " : "");
    json_string(f, m->kernels[i]);
  }
  fprintf(f, "], \"steps\": [");
  for (int i = 0; i < m->num_steps; ++i) {
    const bertc_cuda_step* s = &m->steps[i];
    fprintf(f,
            "%s{\"kind\": %d, \"kernel\": %d, \"grid\": %d, \"grid_arg\": %d, \"threads\": %d, \"num_args\": %d, "
            "\"first_arg\": %lld, \"epilogue\": %d, \"n\": %lld, \"k\": %lld, \"lda\": %lld, \"ldd\": %lld, "
            "\"a\": %lld, \"d\": %lld, \"w\": %lld, \"bias\": %lld}",
            i ? ", " : "", s->kind, s->kernel, s->grid, s->grid_arg, s->threads, s->num_args, (long long)s->first_arg,
            s->epilogue, (long long)s->n, (long long)s->k, (long long)s->lda, (long long)s->ldd, (long long)s->a,
            (long long)s->d, (long long)s->w, (long long)s->bias);
  }
  fprintf(f, "], \"args\": [");
  for (long long i = 0; i < m->num_args; ++i)
    fprintf(f, "%s[%d, %lld]", i ? ", " : "", m->args[i].kind, (long long)m->args[i].value);
  fprintf(f, "]");

  m_context* ctx = NULL;
  const char* weights = getenv("CUDA_INFO_WEIGHTS");
  const int status = weights ? m_create_with_weights(&ctx, 0, weights) : m_create(&ctx, 0);
  fprintf(f, ", \"create_status\": %d, \"create_status_name\": ", status);
  json_string(f, bertc_rt_status_string(status));
  fprintf(f, ", \"create_error\": ");
  json_string(f, status ? m_last_error(NULL) : "");
  /* Bad calls must be errors, never crashes, whether or not a device exists. */
  const int null_run = m_run_v(NULL, NULL, 1, 1, NULL, NULL);
  fprintf(f, ", \"null_ctx_run\": %d", null_run);
  m_destroy(ctx);
  fprintf(f, "}\n");
  fclose(f);
  return 0;
}
