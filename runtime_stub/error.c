/* Status names and the per-thread error record. Nothing here allocates:
 * messages are formatted with vsnprintf into fixed buffers, so reporting an
 * out-of-memory error cannot itself fail. */
#include "bertc_rt.h"
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char* const kStatusNames[BERTC_RT_STATUS_COUNT] = {
    "BERTC_OK",
    "BERTC_ERR_NULL_ARG",
    "BERTC_ERR_OUT_OF_RANGE",
    "BERTC_ERR_NO_MEMORY",
    "BERTC_ERR_INVALID",
    "BERTC_ERR_SHAPE",
    "BERTC_ERR_BUSY",
    "BERTC_ERR_SYSTEM",
    "BERTC_ERR_DEVICE",
};

/* Keeps the table and the enum in step: a new status needs a new name. */
_Static_assert(BERTC_ERR_DEVICE + 1 == BERTC_RT_STATUS_COUNT,
               "BERTC_RT_STATUS_COUNT must be one past the last status");
_Static_assert(sizeof(kStatusNames) / sizeof(kStatusNames[0]) == BERTC_RT_STATUS_COUNT,
               "one name per status");

/* The calling thread's last error. Zero-initialised: status BERTC_OK, "". */
static _Thread_local bertc_rt_error tlsError;

const char* bertc_rt_status_string(int status) {
  if (status < 0 || status >= BERTC_RT_STATUS_COUNT) return "BERTC_ERR_UNKNOWN";
  return kStatusNames[status];
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void formatInto(bertc_rt_error* err, int status, const char* fmt, va_list args) {
  err->status = status;
  if (fmt == NULL) {
    err->message[0] = '\0';
    return;
  }
  /* vsnprintf always NUL-terminates within the bound; a negative result
   * (an encoding error) leaves an unspecified prefix, so clear it. */
  if (vsnprintf(err->message, sizeof err->message, fmt, args) < 0) err->message[0] = '\0';
}

int bertc_rt_error_set(bertc_rt_error* err, int status, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  formatInto(&tlsError, status, fmt, args);
  va_end(args);
  if (err != NULL) {
    /* Copy rather than format twice: the arguments may not be re-readable. */
    err->status = tlsError.status;
    memcpy(err->message, tlsError.message, sizeof err->message);
  }
  return status;
}

const char* bertc_rt_last_error(void) { return tlsError.message; }

int bertc_rt_last_status(void) { return tlsError.status; }

void bertc_rt_clear_error(void) {
  tlsError.status = BERTC_OK;
  tlsError.message[0] = '\0';
}
