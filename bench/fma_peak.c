/* Measures this machine's single-core fp32 FMA peak, for AVX2 (8 lanes) and,
 * where the CPU has it, AVX-512 (16 lanes): enough independent accumulator
 * chains to cover the FMA latency times the number of FMA pipes, but no more
 * than the registers hold (12 of the 16 ymm registers for AVX2, 24 of the 32
 * zmm registers for AVX-512), so nothing spills to the stack.
 * Prints "avx2 <GFLOP/s>" and "avx512 <GFLOP/s>" (2 flops per lane per FMA),
 * best of several trials. The benchmark scripts build and run it so that
 * every figure is set against the peak measured in the same run. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Distinct start values read through volatile, so the compiler can neither
 * merge the chains nor fold the loop. */
static volatile float seed[25];

#define PEAK_BODY(VEC, SET1, FMA, ADD, LANES, CHAINS)                                    \
  double best = 0;                                                              \
  for (int trial = 0; trial < 5; ++trial) {                                     \
    VEC a = SET1(seed[0]), b = SET1(1e-6f), c[CHAINS];                          \
    for (int k = 0; k < CHAINS; ++k) c[k] = SET1(seed[k + 1]);                  \
    double t0 = now();                                                          \
    for (long i = 0; i < iters; ++i) {                                          \
      _Pragma("GCC unroll 24") for (int k = 0; k < CHAINS; ++k) c[k] = FMA(a, c[k], b);          \
    }                                                                           \
    double dt = now() - t0;                                                     \
    VEC s = c[0];                                                               \
    for (int k = 1; k < CHAINS; ++k) s = ADD(s, c[k]);                          \
    float out[LANES];                                                           \
    memcpy(out, &s, sizeof out);                                                \
    sink += out[0];                                                             \
    double g = iters * (double)CHAINS * LANES * 2 / dt / 1e9;                   \
    if (g > best) best = g;                                                     \
  }                                                                             \
  return best;

#include <string.h>
static float sink;
static const long iters = 20 * 1000 * 1000;

__attribute__((target("avx2,fma"))) static double peak_avx2(void) {
  PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, 12)
}

__attribute__((target("avx512f"))) static double peak_avx512(void) {
  PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, 24)
}

int main(void) {
  for (int k = 0; k < 25; ++k) seed[k] = 0.5f + 0.01f * k;
  seed[0] = 0.999f;
  printf("avx2 %.2f\n", peak_avx2());
  if (__builtin_cpu_supports("avx512f")) printf("avx512 %.2f\n", peak_avx512());
  if (sink == 12345.0f) printf("unlikely\n");
  return 0;
}
