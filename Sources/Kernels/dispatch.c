// Which kernel path runs: the CPU's features (cpuid via __builtin_cpu_supports), lowered by FLR_KERNELS.
#include <stdlib.h>
#include <string.h>

#include "flr_kernels.h"
#include "paths.h"

static int detect(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
    && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16")
    && __builtin_cpu_supports("avx512vnni");
  return avx512 ? FLR_PATH_AVX512 : avx2 ? FLR_PATH_AVX2 : FLR_PATH_PORTABLE;
#else
  return FLR_PATH_PORTABLE;
#endif
}

static int supported = -1;
static int active = -1;

int flr_kernels_supported(void) {
  if (supported < 0) supported = detect();
  return supported;
}

static int from_environment(void) {
  const char *choice = getenv("FLR_KERNELS");
  int best = flr_kernels_supported();
  if (!choice || !*choice) return best;
  int wanted = !strcmp(choice, "portable") ? FLR_PATH_PORTABLE
    : !strcmp(choice, "avx2")              ? FLR_PATH_AVX2
                                           : FLR_PATH_AVX512;
  return wanted < best ? wanted : best;
}

int flr_kernels_active(void) {
  if (active < 0) active = from_environment();
  return active;
}

int flr_kernels_select(int path) {
  int best = flr_kernels_supported();
  active = path < best ? (path < 0 ? 0 : path) : best;
  return active;
}

void *flr_thread_scratch(size_t bytes) {
  static _Thread_local void *scratch;
  static _Thread_local size_t capacity;
  if (bytes > capacity) {
    free(scratch);
    scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
    capacity = scratch ? bytes : 0;
  }
  return scratch;
}
