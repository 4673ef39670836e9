/* A host of a model compiled for cuda-fp16 by bertc_add_model: it links
 * (bertc::rt_cuda, cudart, cuBLASLt come with the model's target) and
 * creates a context on device 0. Prints the status name: BERTC_OK with a
 * GPU, BERTC_ERR_DEVICE without. */
#include <stdio.h>

#include "gpu.h"

int main(void) {
  gpu_context* ctx = NULL;
  const int status = gpu_create(&ctx, 0);
  printf("%s %d %s\n", bertc_rt_status_string(status), gpu_num_inputs(), gpu_input_name(0));
  gpu_destroy(ctx);
  return 0;
}
