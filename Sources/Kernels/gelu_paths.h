// The per-path GELU loops behind flr_gelu_forward / flr_gelu_backward and the scalar lane every path uses for its
// tail.
#ifndef FLR_GELU_PATHS_H
#define FLR_GELU_PATHS_H

#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_gelu_forward_portable(float *out, const float *x, size_t n);
void flr_gelu_backward_portable(float *dinp, const float *dout, const float *x, size_t n, int accumulate);
#if defined(__x86_64__)
void flr_gelu_forward_avx512(float *out, const float *x, size_t n);
void flr_gelu_backward_avx512(float *dinp, const float *dout, const float *x, size_t n, int accumulate);
#endif

#define FLR_INV_SQRT2 0.7071067811865476f
#define FLR_INV_SQRT2PI 0.3989422804014327f

// The rational erf of VectorMath.swift's erf16 (x clamped to [-4, 4]), its constants in its order.
#define FLR_ERF_P0 -2.72614225801306e-10f
#define FLR_ERF_P1 2.77068142495902e-08f
#define FLR_ERF_P2 -2.10102402082508e-06f
#define FLR_ERF_P3 -5.69250639462346e-05f
#define FLR_ERF_P4 -7.34990630326855e-04f
#define FLR_ERF_P5 -2.95459980854025e-03f
#define FLR_ERF_P6 -1.60960333262415e-02f
#define FLR_ERF_Q0 -1.45660718464996e-05f
#define FLR_ERF_Q1 -2.13374055278905e-04f
#define FLR_ERF_Q2 -1.68282697438203e-03f
#define FLR_ERF_Q3 -7.37332916720468e-03f
#define FLR_ERF_Q4 -1.42647390514189e-02f

/// One lane of erf16, operation for operation (a NaN passes both clamps, as in `replacing(where: x .> 4)`).
static inline float flr_erf1(float input) {
  float x = input > 4 ? 4 : input;
  x = x < -4 ? -4 : x;
  float x2 = x * x;
  float p = FLR_ERF_P0;
  p = fmaf(x2, p, FLR_ERF_P1);
  p = fmaf(x2, p, FLR_ERF_P2);
  p = fmaf(x2, p, FLR_ERF_P3);
  p = fmaf(x2, p, FLR_ERF_P4);
  p = fmaf(x2, p, FLR_ERF_P5);
  p = fmaf(x2, p, FLR_ERF_P6);
  p = p * x;
  float q = FLR_ERF_Q0;
  q = fmaf(x2, q, FLR_ERF_Q1);
  q = fmaf(x2, q, FLR_ERF_Q2);
  q = fmaf(x2, q, FLR_ERF_Q3);
  q = fmaf(x2, q, FLR_ERF_Q4);
  return p / q;
}

/// Gelu.forward's tail lane: 0.5·x·(1 + erf(x/√2)), left to right.
static inline float flr_gelu1(float x) { return 0.5f * x * (1 + flr_erf1(x * FLR_INV_SQRT2)); }

/// Gelu.backward's tail lane (unfused, as the Swift tail).
static inline float flr_gelu_grad1(float base, float g, float x) {
  float cdf = 0.5f * (1 + flr_erf1(x * FLR_INV_SQRT2));
  float pdf = flr_exp1(-0.5f * x * x) * FLR_INV_SQRT2PI;
  return base + g * (cdf + x * pdf);
}

#endif
