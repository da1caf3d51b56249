// fp32 row kernels of the Swift numeric code that run measurably faster with AVX-512 than with AVX2 (SIMD16 code
// built for the x86-64-v3 baseline runs each 16-lane operation as two 8-lane halves). Same run-time dispatch as the
// reduced-precision kernels (flr_kernels_active); every path gives the same bits as the others and as Swift's
// SIMD16 formulation (Sources/Core/VectorMath.swift): the same operations, fused multiply-adds and sum order.
#ifndef FLR_SOFTMAX_H
#define FLR_SOFTMAX_H

#include <stddef.h>

/// out [n] = softmax(x [n]): max, e^(x - max) (Cephes expf scheme, VectorMath.swift's exp16), sum over 16 lanes
/// then halved 8, 4, 2, 1, the tail added in order, times 1 / sum. A row whose every entry is -inf (or an empty
/// row) gives zeros. out may alias x.
void flr_softmax_row(float *out, const float *x, size_t n);

#endif
