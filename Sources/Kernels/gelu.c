// GELU: the dispatcher (AVX-512, else portable; Gelu.swift keeps AVX2 on its own SIMD16 loops) and the portable
// path (per-lane erf16 / exp16 steps, the vector blocks' fused multiply-adds as fmaf).
#include "flr_gelu.h"
#include "flr_kernels.h"
#include "gelu_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_gelu_forward(float *out, const float *x, size_t n) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512: flr_gelu_forward_avx512(out, x, n); return;
  default: break;
  }
#endif
  flr_gelu_forward_portable(out, x, n);
}

void flr_gelu_backward(float *dinp, const float *dout, const float *x, size_t n, int accumulate) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512: flr_gelu_backward_avx512(dinp, dout, x, n, accumulate); return;
  default: break;
  }
#endif
  flr_gelu_backward_portable(dinp, dout, x, n, accumulate);
}

void flr_gelu_forward_portable(float *out, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = flr_gelu1(x[i]);  // the block lanes are the tail's operations
}

void flr_gelu_backward_portable(float *dinp, const float *dout, const float *x, size_t n, int accumulate) {
  size_t whole = n / 16 * 16;
  for (size_t i = 0; i < whole; i++) {  // fma16(dout, fma16(x, pdf, cdf), base)
    float v = x[i];
    float cdf = 0.5f * (1 + flr_erf1(v * FLR_INV_SQRT2));
    float pdf = flr_exp1(-0.5f * v * v) * FLR_INV_SQRT2PI;
    dinp[i] = fmaf(dout[i], fmaf(v, pdf, cdf), accumulate ? dinp[i] : 0);
  }
  for (size_t i = whole; i < n; i++) dinp[i] = flr_gelu_grad1(accumulate ? dinp[i] : 0, dout[i], x[i]);
}
