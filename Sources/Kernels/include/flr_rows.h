// x·Wᵀ for a few rows (Gemm.rowsDotWeightRows: a decoder step with beams or a batch of captions) on the run-time
// dispatched kernel paths. Every path gives the same bits as the others and as the Swift SIMD16 formulation:
// each dot product summed in 16 lanes by fused multiply-adds, the lanes halved 8, 4, 2, 1, the k mod 16 tail
// added in order (unfused), whatever m is and wherever a row sits in a tile.
#ifndef FLR_ROWS_H
#define FLR_ROWS_H

#include <stddef.h>

/// c[i, j] = alpha · a_i · b_j + beta · c[i, j] (alpha · a_i · b_j when beta is 0, so NaNs in c do not pass)
/// for the m rows a_i (stride lda) and n weight rows b_j (stride ldb), each of length k; c has row stride ldc.
void flr_rows_dot_weight_rows(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta);

#endif
