// GELU (exact erf form) forward and backward: AVX-512 when the CPU has it (flr_kernels_active), else portable C
// (Gelu.swift runs its own SIMD16 loops on AVX2: two 8-lane halves per step, which C does not beat). Every path
// gives the same bits as Gelu.swift's SIMD16 formulation: VectorMath's erf16 and exp16, the same operations and fused
// multiply-adds in the same order; 16-lane blocks from the start of the range, the count mod 16 tail one lane at
// a time as the Swift tail computes it.
#ifndef FLR_GELU_H
#define FLR_GELU_H

#include <stddef.h>

/// out [n] = 0.5·x·(1 + erf(x/√2)); out may alias x.
void flr_gelu_forward(float *out, const float *x, size_t n);

/// dinp [n] (+)= dout · (Φ(x) + x·φ(x)): added into dinp when accumulate is nonzero, else written.
void flr_gelu_backward(float *dinp, const float *dout, const float *x, size_t n, int accumulate);

#endif
