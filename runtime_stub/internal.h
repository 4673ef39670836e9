/* Shared by the runtime's .c files only; not installed, not for hosts. */
#ifndef BERTC_RT_INTERNAL_H
#define BERTC_RT_INTERNAL_H

#include "bertc_rt.h"

/* Records `status` with a message for the calling thread and returns it. */
#define BERTC_RT_FAIL(status, ...) bertc_rt_error_set(NULL, (status), __VA_ARGS__)

#endif /* BERTC_RT_INTERNAL_H */
