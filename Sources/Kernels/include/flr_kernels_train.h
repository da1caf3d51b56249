// The input gradient of a frozen reduced-precision Linear in training: dX [m, k] += bf16(dY) [m, n] · W [n, k].
// The bf16 dot product (vdpbf16ps) pairs adjacent elements of the reduction, which here runs over W's output
// dimension n, so W is repacked, one tile of input features at a time, into the panels flr_bf16_pack would
// make of Wᵀ [k, n] (16 input features a panel, n in pairs); the product then runs on the forward's micro-kernel
// layout with fp32 accumulation into dX. Same run-time dispatch as flr_kernels.h.
#ifndef FLR_KERNELS_TRAIN_H
#define FLR_KERNELS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/// uint16 count of one panel of a packed Wᵀ for a weight with n output features: 16 columns, n in pairs.
size_t flr_bf16_transposed_panel_count(size_t n);
/// Panels [p0, p1) of Wᵀ [k, n], packed as flr_bf16_pack packs it, from a bf16 weight W [n, k] packed by
/// flr_bf16_pack; `out` holds (p1 - p0) panels. Bit for bit flr_bf16_pack of the transposed weight.
void flr_bf16_pack_transposed(const uint16_t *packed, size_t n, size_t k, size_t p0, size_t p1, uint16_t *out);
/// The same from an int8 weight packed by flr_int8_pack: each value (q · scale) rounded to bf16 (nearest even),
/// bit for bit flr_bf16_pack of the transposed dequantized weight.
void flr_int8_pack_transposed_bf16(
  const int8_t *packed, const float *scales, size_t n, size_t k, size_t p0, size_t p1, uint16_t *out);
/// Rows [m, k] of fp32 to bf16 (nearest even) in rows of `ldd` values, zero padded from k to ldd.
void flr_bf16_from_f32_rows(const float *src, size_t m, size_t k, size_t lds, uint16_t *dst, size_t ldd);
/// c [m, ldc] columns of panels [p0, p1) += a [m, lda] (bf16, k rounded up to even, zero padded) · Wᵀ, with
/// `packed` in flr_bf16_pack's layout for a W of n columns (here: a tile of Wᵀ's panels, n its columns).
void flr_bf16_gemm_accumulate(
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, float *c, size_t ldc,
  size_t p0, size_t p1);

#endif
