// Softmax rows: the dispatcher and the portable path (16 scalar lanes, so its sums round as the vector paths' do).
#include "flr_kernels.h"
#include "flr_softmax.h"
#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_softmax_row(float *out, const float *x, size_t n) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512: flr_softmax_row_avx512(out, x, n); return;
  case FLR_PATH_AVX2: flr_softmax_row_avx2(out, x, n); return;
  default: break;
  }
#endif
  flr_softmax_row_portable(out, x, n);
}

/// max(a, b) as VectorMath's maxLanes / Swift.max pick it: b when b > a (NaN compares false).
static inline float pick_max(float a, float b) { return b > a ? b : a; }

void flr_softmax_row_portable(float *out, const float *x, size_t n) {
  float lanes[16];
  size_t whole = n / 16 * 16;
  for (int l = 0; l < 16; l++) lanes[l] = -INFINITY;
  for (size_t i = 0; i < whole; i += 16)
    for (int l = 0; l < 16; l++) lanes[l] = pick_max(lanes[l], x[i + l]);
  for (int width = 8; width >= 2; width /= 2)
    for (int l = 0; l < width; l++) lanes[l] = pick_max(lanes[l], lanes[l + width]);
  float m = lanes[1] >= lanes[0] ? lanes[1] : lanes[0];  // Swift.max(c[0], c[1])
  for (size_t i = whole; i < n; i++) m = x[i] >= m ? x[i] : m;
  if (m == -INFINITY) {
    memset(out, 0, n * sizeof(float));
    return;
  }
  for (int l = 0; l < 16; l++) lanes[l] = 0;
  for (size_t i = 0; i < whole; i += 16)
    for (int l = 0; l < 16; l++) {
      float e = flr_exp1(x[i + l] - m);
      out[i + l] = e;
      lanes[l] += e;
    }
  for (int width = 8; width >= 2; width /= 2)
    for (int l = 0; l < width; l++) lanes[l] += lanes[l + width];
  float sum = lanes[0] + lanes[1];
  for (size_t i = whole; i < n; i++) {
    float e = flr_exp1(x[i] - m);
    out[i] = e;
    sum += e;
  }
  float inverse = 1 / sum;
  for (size_t i = 0; i < n; i++) out[i] *= inverse;
}
