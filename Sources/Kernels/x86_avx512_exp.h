// VectorMath.swift's exp16 on one zmm register per 16 lanes (AVX512F only), shared by the AVX-512 softmax and GELU
// kernels. Included only by x86_avx512*.c files, the objects entered after cpuid reports AVX-512.
#ifndef FLR_X86_AVX512_EXP_H
#define FLR_X86_AVX512_EXP_H
#if defined(__x86_64__)
#include <immintrin.h>

#include "softmax_paths.h"  // the FLR_EXP_* constants

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx2,fma")))

/// flr_exp_core1 on 16 lanes.
static inline TARGET_512 __m512 exp_core16(__m512 x, __m512 *shifted) {
  __m512 magic = _mm512_set1_ps(FLR_EXP_MAGIC);
  *shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(FLR_EXP_LOG2E), magic);
  __m512 k = _mm512_sub_ps(*shifted, magic);
  __m512 r = _mm512_fmadd_ps(k, _mm512_set1_ps(FLR_EXP_LN2_HIGH), x);
  r = _mm512_fmadd_ps(k, _mm512_set1_ps(FLR_EXP_LN2_LOW), r);
  __m512 p = _mm512_set1_ps(FLR_EXP_P0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FLR_EXP_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FLR_EXP_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FLR_EXP_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FLR_EXP_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FLR_EXP_P5));
  return _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1)));
}

static inline TARGET_512 __m512 exp16(__m512 input) {
  __mmask16 underflow = _mm512_cmp_ps_mask(input, _mm512_set1_ps(FLR_EXP_LOW), _CMP_LT_OQ);
  __m512 high = _mm512_set1_ps(FLR_EXP_HIGH);
  __m512 x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(input, high, _CMP_GT_OQ), input, high);
  x = _mm512_maskz_mov_ps((__mmask16)~underflow, x);
  __m512 shifted, p = exp_core16(x, &shifted);
  __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
  __m512i half = _mm512_srai_epi32(ni, 1);
  __m512i bias = _mm512_set1_epi32(127);
  __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(half, bias), 23));
  __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, half), bias), 23));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
  return _mm512_maskz_mov_ps((__mmask16)~underflow, y);
}

#endif
#endif
