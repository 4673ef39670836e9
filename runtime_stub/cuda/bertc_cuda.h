/* bertc_cuda.h - the CUDA part of the runtime stub (libbertc_rt_cuda).
 *
 * A model compiled with `bertc compile --target=cuda-fp16|cuda-fp32` is an
 * object holding one constant bertc_cuda_model: its kernels (a cubin per
 * GPU architecture plus PTX for newer GPUs), its weights, and its launch
 * plan as tables. The generated header (bert.h) wraps the functions below
 * with the model's prefix; hosts call those, not these.
 *
 * This library interprets the plan: on create it loads the image that fits
 * the device (cudaLibraryLoadData), copies the weights to the device once
 * (from the object, or from the side file of a model compiled with
 * --weights-file), owns the cuBLASLt handle, a workspace and one arena
 * sized for the model's largest batch and sequence. A run captures the
 * launch sequence for its (batch, seq, token rows) into a CUDA graph the
 * first time and replays it after, on the caller's stream. It links only
 * cudart and cuBLASLt.
 *
 * The plan's structs are an ABI between bertc and this library; a model
 * records BERTC_CUDA_ABI_VERSION and create refuses another. The header
 * needs no CUDA header: the stream type is cudaStream_t's own. */
#ifndef BERTC_CUDA_H
#define BERTC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "bertc_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BERTC_CUDA_ABI_VERSION 2

/** cudaStream_t without cuda_runtime.h; NULL is the legacy default stream. */
typedef struct CUstream_st* bertc_cuda_stream;

/* ------------------------------------------------------------ the plan */

enum { BERTC_CUDA_FP32 = 0, BERTC_CUDA_FP16 = 1 };

/** One loadable image of the model's kernels. */
typedef struct bertc_cuda_image {
  int32_t arch;   /**< 80 for sm_80 (a cubin), or the compute_XX of PTX */
  int32_t is_ptx; /**< 1: PTX text, NUL-terminated; the driver JIT-compiles it */
  const void* data;
  uint64_t size;
} bertc_cuda_image;

/** A model input: [batch, seq] of an ONNX integer, bool or float dtype. */
typedef struct bertc_cuda_input {
  const char* name;
  int32_t dtype;     /**< ONNX TensorProto code (7 int64, 6 int32, 9 bool, 1 float, ...) */
  int32_t is_mask;   /**< the attention mask the tokens are packed by */
  int64_t id_limit;  /**< > 0: every value must lie in [0, id_limit) (token ids; 2 for a 0/1 mask) */
} bertc_cuda_input;

/** How a model output is shaped. */
enum bertc_cuda_output_layout {
  BERTC_CUDA_OUT_TOKENS = 0,    /**< float32 [batch, seq, width]: 0 at padded tokens */
  BERTC_CUDA_OUT_SEQUENCES = 1, /**< float32 [batch, width]: one row a sequence (pooled) */
  BERTC_CUDA_OUT_PADDED = 2     /**< [batch, seq] of dtype: integer data passed through */
};

typedef struct bertc_cuda_output {
  const char* name;
  int32_t layout; /**< bertc_cuda_output_layout */
  int32_t dtype;  /**< ONNX code: 1 (float32) but for BERTC_CUDA_OUT_PADDED */
  int64_t width;  /**< 0 for BERTC_CUDA_OUT_PADDED */
} bertc_cuda_output;

/** A kernel argument, made at launch time from the run's shape. */
enum bertc_cuda_arg_kind {
  BERTC_CUDA_ARG_NULL = 0,      /**< a NULL pointer */
  BERTC_CUDA_ARG_I32 = 1,       /**< int: value */
  BERTC_CUDA_ARG_I64 = 2,       /**< long long: value */
  BERTC_CUDA_ARG_BATCH = 3,     /**< int: the run's batch */
  BERTC_CUDA_ARG_SEQ = 4,       /**< int: the run's seq */
  BERTC_CUDA_ARG_SLOTS = 5,     /**< long long: batch * seq */
  BERTC_CUDA_ARG_BUFFER = 6,    /**< pointer: arena + value * slot stride (max_batch * max_seq rounded up to 16) */
  BERTC_CUDA_ARG_WEIGHT = 7,    /**< pointer: device weights + value bytes */
  BERTC_CUDA_ARG_INPUT = 8,     /**< pointer: input value as staged on the device */
  BERTC_CUDA_ARG_OUTPUT = 9,    /**< pointer: output value's device buffer */
  BERTC_CUDA_ARG_TOK = 10,      /**< int*: the packed rows' token slots */
  BERTC_CUDA_ARG_ROW_OF = 11,   /**< int*: each slot's packed row, or -1 */
  BERTC_CUDA_ARG_SEQ_START = 12,/**< int*: sequence b's first row; [batch] = rows */
  BERTC_CUDA_ARG_NUM_ROWS = 13, /**< int*: &seq_start[batch], the packed row count */
  BERTC_CUDA_ARG_BAD_TOKEN = 14,/**< int*: the first packed row with an id out of range */
  BERTC_CUDA_ARG_BATCH_ROWS = 15,/**< int*: &seq_start[batch + 1], which holds batch (rows of [batch, N] values) */
  BERTC_CUDA_ARG_BATCH_I64 = 16,/**< long long: the run's batch */
  BERTC_CUDA_ARG_SEQ_I64 = 17   /**< long long: the run's seq */
};

typedef struct bertc_cuda_arg {
  int32_t kind;
  int32_t reserved;
  int64_t value;
} bertc_cuda_arg;

/** How a kernel's grid follows the run's shape (rows: the packed token
 *  rows the run is planned for, >= the real tokens). */
enum bertc_cuda_grid {
  BERTC_CUDA_GRID_ONE = 0,       /**< 1 block */
  BERTC_CUDA_GRID_ROWS = 1,      /**< rows blocks */
  BERTC_CUDA_GRID_SLOTS = 2,     /**< batch * seq blocks */
  BERTC_CUDA_GRID_BATCH = 3,     /**< batch blocks */
  BERTC_CUDA_GRID_ATTENTION = 4, /**< (ceil(seq / 16), grid_arg heads, batch) */
  BERTC_CUDA_GRID_COLUMNS = 5,   /**< (batch, ceil(grid_arg / threads)) */
  BERTC_CUDA_GRID_ELEMENTS = 6   /**< ceil(batch * seq / threads) blocks */
};

enum { BERTC_CUDA_STEP_KERNEL = 0, BERTC_CUDA_STEP_GEMM = 1 };

/** GEMM epilogues (cuBLASLt's). */
enum { BERTC_CUDA_EPI_NONE = 0, BERTC_CUDA_EPI_BIAS = 1, BERTC_CUDA_EPI_RELU_BIAS = 2, BERTC_CUDA_EPI_RELU = 3 };

/** One step of the plan: a kernel launch, or a GEMM over the packed rows
 *  D[rows, n] = A[rows, k] W[k, n] (+ bias) (ReLU), fp32 accumulation. */
typedef struct bertc_cuda_step {
  int32_t kind;
  /* KERNEL */
  int32_t kernel;   /**< index into bertc_cuda_model.kernels */
  int32_t grid;     /**< bertc_cuda_grid */
  int32_t grid_arg;
  int32_t threads;  /**< per block */
  int32_t num_args;
  int64_t first_arg; /**< into bertc_cuda_model.args */
  /* GEMM: rows = the packed token rows when grid is BERTC_CUDA_GRID_ROWS,
   * batch when BERTC_CUDA_GRID_BATCH. A and D are arena buffers (BERTC_CUDA_ARG_BUFFER values) with
   * leading dimensions lda, ldd in elements; W is stored transposed, [n, k]
   * row-major, at byte offset w of the weights; bias at byte offset bias. */
  int32_t epilogue;
  int32_t reserved;
  int64_t n, k, lda, ldd;
  int64_t a, d, w, bias;
} bertc_cuda_step;

typedef struct bertc_cuda_model {
  uint32_t abi_version; /**< BERTC_CUDA_ABI_VERSION */
  int32_t precision;    /**< BERTC_CUDA_FP32 | BERTC_CUDA_FP16 (storage; accumulation is fp32) */
  const char* name;
  int64_t max_batch, max_seq;
  int64_t min_seq; /**< shorter sequences are a shape error (a pooled token index) */
  int32_t num_images;
  const bertc_cuda_image* images;
  const void* weights; /**< host copy, uploaded by create; NULL when in weights_file */
  uint64_t weights_bytes;
  /** The arena is this times the slot stride: max_batch * max_seq rounded
   *  up to 16, so buffers at 16-byte per-slot offsets are 256-byte aligned. */
  uint64_t arena_bytes_per_slot;
  int32_t num_inputs;
  const bertc_cuda_input* inputs;
  int32_t num_outputs;
  const bertc_cuda_output* outputs;
  int32_t num_kernels;
  const char* const* kernels; /**< entry point names in the images */
  int32_t num_steps;
  const bertc_cuda_step* steps;
  int64_t num_args;
  const bertc_cuda_arg* args;
  /* ABI 2 */
  const char* weights_file;  /**< non-NULL: weights is NULL and create reads this side file (the
                                  path given to `bertc compile --weights-file`) */
  uint64_t weights_checksum; /**< bertc_rt_checksum of the weights, which the side file must match */
} bertc_cuda_model;

/* ------------------------------------------------------------ the calls */

typedef struct bertc_cuda_context bertc_cuda_context;

/** Loads `model` on `device` (a CUDA ordinal): the image for its
 *  architecture, the weights, the arena. BERTC_ERR_DEVICE when there is no
 *  such device or no image for it (the message names both). */
int bertc_cuda_create(const bertc_cuda_model* model, int device, bertc_cuda_context** out);

/** As bertc_cuda_create, with the weights of a model compiled with
 *  --weights-file read from `weights_path` (NULL: the path recorded at
 *  compile time). The file is checked before the device is touched: a
 *  missing one is BERTC_ERR_SYSTEM, one truncated, corrupt or of another
 *  model BERTC_ERR_INVALID, each with a message naming the file. A model
 *  with embedded weights takes only NULL. */
int bertc_cuda_create_with_weights(const bertc_cuda_model* model, int device, const char* weights_path,
                                   bertc_cuda_context** out);

/** Waits for the context's last run, then frees everything create and the
 *  runs made; NULL is a no-op. */
void bertc_cuda_destroy(bertc_cuda_context* ctx);

/** Runs on host memory: inputs[i] is [batch, seq] of input i's dtype,
 *  outputs[i] float32 of the output's shape. Copies in, replays the graph
 *  of this shape on `stream`, copies out and waits for the stream. Ids and
 *  the mask are checked on the host first (BERTC_ERR_OUT_OF_RANGE). */
int bertc_cuda_run(bertc_cuda_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
                   const void* const* inputs, void* const* outputs);

/** Runs on device memory, asynchronously on `stream`: inputs and outputs
 *  are device pointers. GEMMs then cover all batch * seq rows (the packed
 *  count stays on the device). An id out of range gives a zero row and is
 *  reported by bertc_cuda_sync.
 *
 *  Runs of one context on different streams are ordered, each after the
 *  one enqueued before it (they share the context's arena and staging
 *  buffers): the GPU work of two streams does not overlap, and a caller
 *  needs no synchronisation of its own between them. For runs that overlap,
 *  use one context per stream. */
int bertc_cuda_run_device(bertc_cuda_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
                          const void* const* inputs, void* const* outputs);

/** Waits for `stream` and for the context's last run (on whatever stream)
 *  and reports what the device found in that run (an id out of range) or a
 *  CUDA error. */
int bertc_cuda_sync(bertc_cuda_context* ctx, bertc_cuda_stream stream);

/** The message of the context's last failed call ("" if none); of the
 *  calling thread's when ctx is NULL (a failed create). */
const char* bertc_cuda_last_error(const bertc_cuda_context* ctx);

/** Bytes of one element of ONNX dtype `dtype` (0 for one the runtime does
 *  not take). */
size_t bertc_cuda_dtype_size(int dtype);

/** Bytes of input i or output o of `model` at (batch, seq): what a caller
 *  allocates for it (0 for an index out of range). */
size_t bertc_cuda_input_bytes(const bertc_cuda_model* model, int i, int64_t batch, int64_t seq);
size_t bertc_cuda_output_bytes(const bertc_cuda_model* model, int o, int64_t batch, int64_t seq);

/** The number of CUDA graphs the context holds (one per shape run). */
int bertc_cuda_num_graphs(const bertc_cuda_context* ctx);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BERTC_CUDA_H */
