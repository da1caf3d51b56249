// The per-path softmax rows behind flr_softmax_row, and the scalar e^x every path uses for its tail.
#ifndef FLR_SOFTMAX_PATHS_H
#define FLR_SOFTMAX_PATHS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void flr_softmax_row_portable(float *out, const float *x, size_t n);
#if defined(__x86_64__)
void flr_softmax_row_avx2(float *out, const float *x, size_t n);
void flr_softmax_row_avx512(float *out, const float *x, size_t n);
#endif

// The constants of VectorMath.swift's exp16, in its order.
#define FLR_EXP_HIGH 88.72283f
#define FLR_EXP_LOW -87.33654f
#define FLR_EXP_MAGIC 12582912.0f  // 1.5·2^23: adding it rounds to an integer held in the low bits
#define FLR_EXP_LOG2E 1.44269504088896341f
#define FLR_EXP_LN2_HIGH -0.693359375f
#define FLR_EXP_LN2_LOW 2.12194440e-4f
#define FLR_EXP_P0 1.9875691500e-4f
#define FLR_EXP_P1 1.3981999507e-3f
#define FLR_EXP_P2 8.3334519073e-3f
#define FLR_EXP_P3 4.1665795894e-2f
#define FLR_EXP_P4 1.6666665459e-1f
#define FLR_EXP_P5 5.0000001201e-1f

static inline float flr_bits_float(int32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/// The polynomial both exp forms share, for x already in range: x = k·ln2 + r, p ≈ e^r; `shifted` holds k in its
/// low bits (x·log2(e) + 1.5·2^23).
static inline float flr_exp_core1(float x, float *shifted) {
  *shifted = fmaf(x, FLR_EXP_LOG2E, FLR_EXP_MAGIC);
  float k = *shifted - FLR_EXP_MAGIC;
  float r = fmaf(k, FLR_EXP_LN2_HIGH, x);
  r = fmaf(k, FLR_EXP_LN2_LOW, r);
  float p = FLR_EXP_P0;
  p = fmaf(p, r, FLR_EXP_P1);
  p = fmaf(p, r, FLR_EXP_P2);
  p = fmaf(p, r, FLR_EXP_P3);
  p = fmaf(p, r, FLR_EXP_P4);
  p = fmaf(p, r, FLR_EXP_P5);
  return fmaf(p, r * r, r + 1);
}

/// One lane of exp16, operation for operation (fmaf is the fused multiply-add, one rounding).
static inline float flr_exp1(float input) {
  int underflow = input < FLR_EXP_LOW;
  float x = input > FLR_EXP_HIGH ? FLR_EXP_HIGH : input;
  if (underflow) x = 0;
  float shifted, p = flr_exp_core1(x, &shifted);
  int32_t bits;
  memcpy(&bits, &shifted, 4);
  int32_t ni = (int32_t)((uint32_t)bits - 0x4B400000u);
  int32_t half = ni >> 1;
  float s1 = flr_bits_float((int32_t)((uint32_t)(half + 127) << 23));
  float s2 = flr_bits_float((int32_t)((uint32_t)(ni - half + 127) << 23));
  float y = p * s1 * s2;
  return underflow ? 0 : y;
}

#endif
