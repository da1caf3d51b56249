// log_softmax of one row in place (beam search's per-step scores over the vocabulary), on the run-time dispatched
// kernel paths: AVX-512 when the CPU has it, else portable C. Every path gives the bits of LogSoftmax.swift's SIMD16
// formulation (which the AVX2 path runs): the max over 16 lanes, e^(x - max) by the Cephes scheme for x <= 0 summed in
// 16 lanes, the lanes then added in order 0..15, the count mod 16 tail through libm's expf; out = (x - max) - logf(sum).
#ifndef FLR_LOG_SOFTMAX_H
#define FLR_LOG_SOFTMAX_H

#include <stddef.h>

/// row [n] = log_softmax(row); a row whose max is not finite (all -inf, or +inf, NaN aside) is left as it is.
void flr_log_softmax_row(float *row, size_t n);

#endif
