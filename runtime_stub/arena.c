/* Scratch arena: bump allocation over one block of memory, reset all at once.
 * Every size computation is checked for overflow, so a huge request fails
 * with NULL instead of wrapping around to a small one. */
#include "bertc_rt.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>

int bertc_rt_arena_init(bertc_rt_arena* arena, void* buffer, size_t bytes) {
  if (arena == NULL) return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_arena_init: arena is NULL");
  if (buffer == NULL && bytes != 0)
    return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_arena_init: buffer is NULL but bytes is %zu", bytes);
  arena->base = (unsigned char*)buffer;
  arena->capacity = buffer == NULL ? 0 : bytes;
  arena->used = 0;
  arena->peak = 0;
  arena->owned = 0;
  return BERTC_OK;
}

bertc_rt_arena* bertc_rt_arena_create(size_t bytes) {
  /* aligned_alloc wants a multiple of the alignment; round up, checked. */
  size_t rounded = bytes;
  if (rounded % BERTC_RT_ARENA_ALIGN != 0) {
    size_t pad = BERTC_RT_ARENA_ALIGN - rounded % BERTC_RT_ARENA_ALIGN;
    if (rounded > SIZE_MAX - pad) {
      BERTC_RT_FAIL(BERTC_ERR_NO_MEMORY, "bertc_rt_arena_create: %zu bytes is too large", bytes);
      return NULL;
    }
    rounded += pad;
  }
  bertc_rt_arena* arena = (bertc_rt_arena*)malloc(sizeof *arena);
  unsigned char* memory = rounded == 0 ? NULL : (unsigned char*)aligned_alloc(BERTC_RT_ARENA_ALIGN, rounded);
  if (arena == NULL || (rounded != 0 && memory == NULL)) {
    free(memory);
    free(arena);
    BERTC_RT_FAIL(BERTC_ERR_NO_MEMORY, "bertc_rt_arena_create: cannot allocate %zu bytes", bytes);
    return NULL;
  }
  arena->base = memory;
  arena->capacity = rounded;
  arena->used = 0;
  arena->peak = 0;
  arena->owned = 1;
  return arena;
}

void* bertc_rt_arena_alloc(bertc_rt_arena* arena, size_t bytes, size_t align) {
  if (arena == NULL) {
    BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_arena_alloc: arena is NULL");
    return NULL;
  }
  if (align == 0) align = BERTC_RT_ARENA_ALIGN;
  if ((align & (align - 1)) != 0) {
    BERTC_RT_FAIL(BERTC_ERR_INVALID, "bertc_rt_arena_alloc: alignment %zu is not a power of two", align);
    return NULL;
  }
  /* Align the address, not the offset: a caller's buffer need not be aligned. */
  uintptr_t start = (uintptr_t)arena->base + arena->used;
  size_t pad = (size_t)((align - (start & (align - 1))) & (align - 1));
  size_t left = arena->capacity - arena->used;
  if (arena->base == NULL || pad > left || bytes > left - pad) {
    BERTC_RT_FAIL(BERTC_ERR_NO_MEMORY,
                  "bertc_rt_arena_alloc: arena exhausted: asked %zu bytes aligned to %zu, %zu of %zu in use",
                  bytes, align, arena->used, arena->capacity);
    return NULL;
  }
  unsigned char* result = arena->base + arena->used + pad;
  arena->used += pad + bytes;
  if (arena->used > arena->peak) arena->peak = arena->used;
  return result;
}

int bertc_rt_arena_reset(bertc_rt_arena* arena) {
  if (arena == NULL) return BERTC_RT_FAIL(BERTC_ERR_NULL_ARG, "bertc_rt_arena_reset: arena is NULL");
  arena->used = 0;
  return BERTC_OK;
}

size_t bertc_rt_arena_used(const bertc_rt_arena* arena) { return arena == NULL ? 0 : arena->used; }

size_t bertc_rt_arena_peak(const bertc_rt_arena* arena) { return arena == NULL ? 0 : arena->peak; }

int bertc_rt_arena_destroy(bertc_rt_arena* arena) {
  if (arena == NULL) return BERTC_OK;
  if (arena->owned) {
    free(arena->base);
    free(arena);
    return BERTC_OK;
  }
  /* Caller-owned: forget the buffer, free nothing. */
  arena->base = NULL;
  arena->capacity = 0;
  arena->used = 0;
  arena->peak = 0;
  return BERTC_OK;
}
