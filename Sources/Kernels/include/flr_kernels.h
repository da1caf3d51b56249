// Reduced-precision matrix products (bf16 and int8 weights, fp32 out) with run-time dispatch on CPU
// features. This target is compiled without -march=native: the portable path runs on any x86-64 (or
// other) CPU, and the AVX2 / AVX-512 paths are functions compiled for their own instruction sets, picked
// at run time from what the CPU reports (FLR_KERNELS=portable|avx2|avx512 chooses a lower one).
#ifndef FLR_KERNELS_H
#define FLR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "flr_attention_step.h"  // fp32 kernels with the same dispatch
#include "flr_gelu.h"
#include "flr_kernels_train.h"
#include "flr_log_softmax.h"
#include "flr_rows.h"
#include "flr_softmax.h"

/// Kernel paths, lowest first. avx2: AVX2 + FMA (bf16 widened to fp32 in registers; int8 via maddubs).
/// avx512: AVX-512 F/BW/VL + AVX512_BF16 + AVX512_VNNI (vdpbf16ps, vpdpbusd).
enum { FLR_PATH_PORTABLE = 0, FLR_PATH_AVX2 = 1, FLR_PATH_AVX512 = 2 };

/// The best path this CPU can run.
int flr_kernels_supported(void);
/// The path in use: the best supported one, or FLR_KERNELS's choice when it is supported.
int flr_kernels_active(void);
/// Chooses a path (clamped to what the CPU supports); returns the path now in use.
int flr_kernels_select(int path);

/// Columns of one packed weight panel.
enum { FLR_PANEL = 16 };

// MARK: bf16

/// fp32 -> bf16, round to nearest even (NaN stays NaN).
void flr_bf16_from_f32(const float *src, uint16_t *dst, size_t count);
/// bf16 -> fp32 (exact).
void flr_bf16_to_f32(const uint16_t *src, float *dst, size_t count);
/// uint16 count of a packed bf16 weight [n, k]: panels of 16 columns, k in pairs.
size_t flr_bf16_packed_count(size_t n, size_t k);
/// Packs w [n, k] fp32 (rounded to bf16) into `packed` (flr_bf16_packed_count values).
void flr_bf16_pack(const float *w, size_t n, size_t k, uint16_t *packed);
/// Rows [n0, n1) of the packed weight back to fp32 [(n1 - n0), k].
void flr_bf16_unpack_rows(const uint16_t *packed, size_t n, size_t k, size_t n0, size_t n1, float *out);
/// c [m, ldc] columns of panels [p0, p1) = a [m, lda] (bf16, k rounded up to even, zero padded) · Wᵀ (+ bias).
void flr_bf16_gemm(
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, const float *bias,
  float *c, size_t ldc, size_t p0, size_t p1);

// MARK: int8

/// int8 count of a packed int8 weight [n, k]: panels of 16 columns, k in groups of 4.
size_t flr_int8_packed_count(size_t n, size_t k);
/// Quantizes w [n, k] symmetric per output row (scale = max|w| / 127) into `packed`, `scales` [n] and
/// `column_sums` [n] (Σ_k q, used by the unsigned-activation paths).
void flr_int8_pack(const float *w, size_t n, size_t k, int8_t *packed, float *scales, int32_t *column_sums);
/// Rows [n0, n1) of the packed weight back to fp32 (q · scale) [(n1 - n0), k].
void flr_int8_unpack_rows(
  const int8_t *packed, const float *scales, size_t n, size_t k, size_t n0, size_t n1, float *out);
/// Quantizes x [m, k] per row (scale = max|x| / 127, values in [-127, 127]) into q [m, lda] (zero padded to
/// lda, a multiple of 4) and scales [m].
void flr_int8_quantize_rows(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales);
/// c [m, ldc] columns of panels [p0, p1) = (a_scale[i] · w_scale[j] · Σ_k qa·qw) (+ bias).
void flr_int8_gemm(
  const int8_t *a, size_t lda, const float *a_scales, size_t m, const int8_t *packed, const float *w_scales,
  const int32_t *column_sums, size_t n, size_t k, const float *bias, float *c, size_t ldc, size_t p0, size_t p1);

#endif
