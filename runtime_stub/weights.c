/* Weights side files (bertc_rt.h): the checksum, the writer bertc uses and
 * the checked, read-only mapping a model's create makes.
 *
 * The file is mapped rather than read: a CPU model's kernels read the
 * weights in place, and processes running the same model share the pages.
 * The payload's checksum is verified once at open, which also pages the
 * weights in before the first run needs them. */
#define _POSIX_C_SOURCE 200809L

#include "bertc_rt.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { kMagicBytes = 8, kNameBytes = 128, kNameOffset = 32 };

/* ------------------------------------------------------------- XXH64 */

static const uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL, P3 = 0x165667B19E3779F9ULL,
                      P4 = 0x85EBCA77C2B2AE63ULL, P5 = 0x27D4EB2F165667C5ULL;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian loads (the runtime targets x86-64 and little-endian Arm). */
static uint64_t load64(const unsigned char* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint32_t load32(const unsigned char* p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint64_t round64(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }

static uint64_t merge64(uint64_t acc, uint64_t lane) { return (acc ^ round64(0, lane)) * P1 + P4; }

uint64_t bertc_rt_checksum(const void* data, size_t bytes) {
  static const unsigned char kEmpty[1] = {0};
  const unsigned char* p = bytes ? (const unsigned char*)data : kEmpty; /* no arithmetic on NULL */
  const unsigned char* end = p + bytes;
  uint64_t h;
  if (bytes >= 32) {
    /* Four independent lanes over 32-byte stripes: several GB/s. */
    uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
    for (; end - p >= 32; p += 32) {
      v1 = round64(v1, load64(p));
      v2 = round64(v2, load64(p + 8));
      v3 = round64(v3, load64(p + 16));
      v4 = round64(v4, load64(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
  } else {
    h = P5;
  }
  h += (uint64_t)bytes;
  for (; end - p >= 8; p += 8) h = rotl(h ^ round64(0, load64(p)), 27) * P1 + P4;
  if (end - p >= 4) {
    h = rotl(h ^ (uint64_t)load32(p) * P1, 23) * P2 + P3;
    p += 4;
  }
  for (; p < end; ++p) h = rotl(h ^ (uint64_t)*p * P5, 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/* ------------------------------------------------------------ opening */

static const char* errnoText(int e, char* buf, size_t size) {
  if (strerror_r(e, buf, size) != 0) snprintf(buf, size, "error %d", e);
  return buf;
}

static void clear(bertc_rt_weights* w) { memset(w, 0, sizeof *w); }

int bertc_rt_weights_close(bertc_rt_weights* w) {
  if (w == NULL) return BERTC_OK;
  if (w->mapping != NULL) munmap(w->mapping, w->mapping_bytes);
  clear(w);
  return BERTC_OK;
}

/* Closes `w` and returns `status`: the message, formatted from the mapped
 * header as the argument is evaluated, is recorded before the unmapping. */
static int closeAfter(bertc_rt_weights* w, int status) {
  bertc_rt_weights_close(w);
  return status;
}

/* Fails an open in progress: records the message, then unmaps. */
#define FAIL_OPEN(status, ...) closeAfter(w, BERTC_RT_FAIL((status), __VA_ARGS__))

int bertc_rt_weights_open(bertc_rt_weights* w, const char* path, const char* model, size_t bytes, uint64_t checksum) {
  char why[128];
  if (w == NULL || path == NULL || model == NULL)
    return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_weights_open: %s is NULL",
                         w == NULL ? "the weights" : path == NULL ? "the path" : "the model name");
  clear(w);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "%s: cannot open the weights file of model '%s': %s", path, model,
                         errnoText(errno, why, sizeof why));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int e = errno;
    close(fd);
    return BERTC_RT_FAIL(BERTC_ERR_INVALID, "%s: the weights file of model '%s' is not a regular file%s%s", path,
                         model, e ? ": " : "", e ? errnoText(e, why, sizeof why) : "");
  }
  const size_t size = (size_t)st.st_size;
  if (size < BERTC_RT_WEIGHTS_HEADER_BYTES) {
    close(fd);
    return BERTC_RT_FAIL(BERTC_ERR_INVALID, "%s: not a bertc weights file (%zu bytes, shorter than its %d-byte header)",
                         path, size, BERTC_RT_WEIGHTS_HEADER_BYTES);
  }
  void* map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mapErrno = errno;
  close(fd);
  if (map == MAP_FAILED)
    return BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "%s: cannot map the weights file: %s", path,
                         errnoText(mapErrno, why, sizeof why));
  w->mapping = map;
  w->mapping_bytes = size;
  const unsigned char* h = (const unsigned char*)map;
  if (memcmp(h, BERTC_RT_WEIGHTS_MAGIC, kMagicBytes) != 0)
    return FAIL_OPEN(BERTC_ERR_INVALID, "%s: not a bertc weights file (no %s magic)", path, BERTC_RT_WEIGHTS_MAGIC);
  if (load64(h + 8) != BERTC_RT_WEIGHTS_HEADER_BYTES)
    return FAIL_OPEN(BERTC_ERR_INVALID, "%s: a weights file of another format (header of %llu bytes, expected %d)",
                     path, (unsigned long long)load64(h + 8), BERTC_RT_WEIGHTS_HEADER_BYTES);
  const uint64_t payload = load64(h + 16), recorded = load64(h + 24);
  char owner[kNameBytes];
  memcpy(owner, h + kNameOffset, kNameBytes);
  owner[kNameBytes - 1] = '\0';
  if (payload != (uint64_t)bytes || recorded != checksum)
    return FAIL_OPEN(BERTC_ERR_INVALID,
                     "%s: holds the weights of model '%s' (%llu bytes, checksum %016llx); model '%s' needs %zu bytes "
                     "with checksum %016llx: pass the file bertc wrote with this object",
                     path, owner, (unsigned long long)payload, (unsigned long long)recorded, model, bytes,
                     (unsigned long long)checksum);
  if (size - BERTC_RT_WEIGHTS_HEADER_BYTES != bytes)
    return FAIL_OPEN(BERTC_ERR_INVALID, "%s: %s: %zu bytes of weights, the header says %zu", path,
                     size - BERTC_RT_WEIGHTS_HEADER_BYTES < bytes ? "truncated" : "trailing bytes",
                     size - BERTC_RT_WEIGHTS_HEADER_BYTES, bytes);
  const uint64_t actual = bertc_rt_checksum(h + BERTC_RT_WEIGHTS_HEADER_BYTES, bytes);
  if (actual != checksum)
    return FAIL_OPEN(BERTC_ERR_INVALID, "%s: corrupt: the weights' checksum is %016llx, the header says %016llx", path,
                     (unsigned long long)actual, (unsigned long long)checksum);
  w->data = h + BERTC_RT_WEIGHTS_HEADER_BYTES;
  w->bytes = bytes;
  return BERTC_OK;
}

/* ------------------------------------------------------------ writing */

static void store64(unsigned char* p, uint64_t v) { memcpy(p, &v, sizeof v); }

int bertc_rt_weights_write(const char* path, const char* model, const void* data, size_t bytes) {
  char why[128];
  if (path == NULL || model == NULL || (data == NULL && bytes > 0))
    return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_weights_write: %s is NULL",
                         path == NULL ? "the path" : model == NULL ? "the model name" : "the data");
  if (strlen(model) >= kNameBytes)
    return BERTC_RT_FAIL(BERTC_ERR_INVALID, "%s: the model name '%s' is longer than %d bytes", path, model,
                         kNameBytes - 1);
  unsigned char h[BERTC_RT_WEIGHTS_HEADER_BYTES];
  memset(h, 0, sizeof h);
  memcpy(h, BERTC_RT_WEIGHTS_MAGIC, kMagicBytes);
  store64(h + 8, BERTC_RT_WEIGHTS_HEADER_BYTES);
  store64(h + 16, (uint64_t)bytes);
  store64(h + 24, bertc_rt_checksum(data, bytes));
  memcpy(h + kNameOffset, model, strlen(model));
  FILE* f = fopen(path, "wb");
  if (f == NULL)
    return BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "%s: cannot write the weights file: %s", path,
                         errnoText(errno, why, sizeof why));
  int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
  if (ok && bytes > 0) ok = fwrite(data, 1, bytes, f) == bytes;
  const int e = errno;
  if (fclose(f) != 0) ok = 0;
  if (!ok)
    return BERTC_RT_FAIL(BERTC_ERR_SYSTEM, "%s: writing the weights file failed: %s", path,
                         errnoText(e ? e : errno, why, sizeof why));
  return BERTC_OK;
}
