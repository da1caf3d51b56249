// The attention step kernels, written once over a 16-lane vector that each path defines before including this
// file: V16 and TARGET, v16_zero, v16_set1, v16_load, v16_load_bf16 (exact widening), v16_store, v16_fma(a, b, c)
// (one rounding), v16_mul, v16_sum_lanes (halves added 8, 4, 2, then lane 0 + lane 1), SOFTMAX_ROW (the path's
// flr_softmax_row), QUERIES_PER_VALUE_PASS (queries whose value sums are held in registers at once) and PATH.
// Per lane, every path runs the same operations in the same order, so all paths give the same bits.
#include <stdint.h>

#define FLR_CONCAT2(a, b) a##_##b
#define FLR_CONCAT(a, b) FLR_CONCAT2(a, b)
#define ALWAYS static inline __attribute__((always_inline)) TARGET

ALWAYS V16 keys16(const void *k, size_t at, int bf16) {
  return bf16 ? v16_load_bf16((const uint16_t *)k + at) : v16_load((const float *)k + at);
}

/// scores [n, padded] = scale · q_r · keys_t for n <= 4 queries: each key vector read once for all n. The
/// channels run in groups of eight over all the keys (eight sequential streams through keys_t, which the
/// prefetchers follow), the running sums kept in `scores` between groups.
ALWAYS void shared_scores(
  float *scores, const float *const *q, int n, const void *keys_t, int bf16, size_t hd, size_t padded, float scale) {
  for (size_t c0 = 0; c0 < hd; c0 += 8) {
    size_t c1 = c0 + 8 < hd ? c0 + 8 : hd;
    int first = c0 == 0, last = c1 == hd;
    for (size_t j = 0; j < padded; j += 16) {
      float *row = scores + j;
      V16 s[4];
      for (int r = 0; r < n; r++) s[r] = first ? v16_zero() : v16_load(row + r * padded);
      for (size_t c = c0; c < c1; c++) {
        V16 kv = keys16(keys_t, c * padded + j, bf16);
        for (int r = 0; r < n; r++) s[r] = v16_fma(v16_set1(q[r][c]), kv, s[r]);
      }
      for (int r = 0; r < n; r++) v16_store(row + r * padded, last ? v16_mul(s[r], v16_set1(scale)) : s[r]);
    }
  }
}

/// out_r [64] = Σ_p probs_r[p] · v_p for n queries at once (each value row read once for all of them), four
/// 16-lane sums per query.
ALWAYS void values64(
  float *out, size_t out_stride, const float *probs, size_t probs_stride, int n, const void *v, int bf16,
  size_t v_stride, const ptrdiff_t *offsets, size_t count) {
  V16 a[QUERIES_PER_VALUE_PASS][4];
  for (int r = 0; r < n; r++)
    for (int l = 0; l < 4; l++) a[r][l] = v16_zero();
  for (size_t p = 0; p < count; p++) {
    size_t at = offsets ? (size_t)offsets[p] : p * v_stride;
    V16 x[4];
    for (int l = 0; l < 4; l++) x[l] = keys16(v, at + 16 * l, bf16);
    for (int r = 0; r < n; r++) {
      V16 w = v16_set1(probs[r * probs_stride + p]);
      for (int l = 0; l < 4; l++) a[r][l] = v16_fma(w, x[l], a[r][l]);
    }
  }
  for (int r = 0; r < n; r++)
    for (int l = 0; l < 4; l++) v16_store(out + r * out_stride + 16 * l, a[r][l]);
}

/// out [hd] = Σ_p probs[p] · v_p for any head size: 16 channels at a time, the tail unfused.
ALWAYS void values_any(
  float *out, const float *probs, const void *v, int bf16, size_t v_stride, const ptrdiff_t *offsets, size_t count,
  size_t hd) {
  size_t hd16 = hd / 16 * 16;
  for (size_t c = 0; c < hd; c++) out[c] = 0;
  for (size_t p = 0; p < count; p++) {
    size_t at = offsets ? (size_t)offsets[p] : p * v_stride;
    V16 w = v16_set1(probs[p]);
    size_t c = 0;
    for (; c < hd16; c += 16) v16_store(out + c, v16_fma(w, keys16(v, at + c, bf16), v16_load(out + c)));
    for (; c < hd; c++) {
      float x = bf16 ? flr_widen_bf16(((const uint16_t *)v)[at + c]) : ((const float *)v)[at + c];
      out[c] += probs[p] * x;
    }
  }
}

/// The values pass for `queries` rows of probabilities (row stride probs_stride).
ALWAYS void weighted_values(
  float *out, size_t out_stride, const float *probs, size_t probs_stride, size_t queries, const void *v, int bf16,
  size_t v_stride, const ptrdiff_t *offsets, size_t count, size_t hd) {
  if (hd != 64) {
    for (size_t i = 0; i < queries; i++)
      values_any(out + i * out_stride, probs + i * probs_stride, v, bf16, v_stride, offsets, count, hd);
    return;
  }
  for (size_t i0 = 0; i0 < queries; i0 += QUERIES_PER_VALUE_PASS) {
    size_t left = queries - i0;
    int n = left < QUERIES_PER_VALUE_PASS ? (int)left : QUERIES_PER_VALUE_PASS;
    const float *p = probs + i0 * probs_stride;
    float *o = out + i0 * out_stride;
    switch (n) {  // constant n: the sums stay in registers
    case 1: values64(o, out_stride, p, probs_stride, 1, v, bf16, v_stride, offsets, count); break;
#if QUERIES_PER_VALUE_PASS > 1
    case 2: values64(o, out_stride, p, probs_stride, 2, v, bf16, v_stride, offsets, count); break;
#endif
#if QUERIES_PER_VALUE_PASS > 2
    case 3: values64(o, out_stride, p, probs_stride, 3, v, bf16, v_stride, offsets, count); break;
    default: values64(o, out_stride, p, probs_stride, 4, v, bf16, v_stride, offsets, count); break;
#endif
    }
  }
}

ALWAYS void shared_step(
  float *out, size_t out_stride, const float *q, size_t q_stride, size_t queries, const void *keys_t, const void *v,
  size_t v_stride, int bf16, size_t key_length, size_t hd, float scale, float *scores) {
  size_t padded = (key_length + 15) / 16 * 16;
  for (size_t i0 = 0; i0 < queries; i0 += 4) {
    size_t left = queries - i0;
    int n = left < 4 ? (int)left : 4;
    const float *qr[4];
    for (int r = 0; r < 4; r++) qr[r] = q + (i0 + (size_t)(r < n ? r : n - 1)) * q_stride;
    float *s = scores + i0 * padded;
    switch (n) {  // constant n: the sums stay in registers
    case 1: shared_scores(s, qr, 1, keys_t, bf16, hd, padded, scale); break;
    case 2: shared_scores(s, qr, 2, keys_t, bf16, hd, padded, scale); break;
    case 3: shared_scores(s, qr, 3, keys_t, bf16, hd, padded, scale); break;
    default: shared_scores(s, qr, 4, keys_t, bf16, hd, padded, scale); break;
    }
  }
  for (size_t i = 0; i < queries; i++) SOFTMAX_ROW(scores + i * padded, scores + i * padded, key_length);
  weighted_values(out, out_stride, scores, padded, queries, v, bf16, v_stride, NULL, key_length, hd);
}

TARGET void FLR_CONCAT(flr_attention_step_shared, PATH)(
  float *out, size_t out_stride, const float *q, size_t q_stride, size_t queries, const void *keys_t, const void *v,
  size_t v_stride, int bf16, size_t key_length, size_t head_dim, float scale, float *scores) {
  if (bf16)
    shared_step(out, out_stride, q, q_stride, queries, keys_t, v, v_stride, 1, key_length, head_dim, scale, scores);
  else
    shared_step(out, out_stride, q, q_stride, queries, keys_t, v, v_stride, 0, key_length, head_dim, scale, scores);
}

TARGET void FLR_CONCAT(flr_attention_step_gathered, PATH)(
  float *out, const float *q, const float *k, const float *v, const ptrdiff_t *row_offsets, size_t key_length,
  size_t head_dim, float scale, float *scores) {
  size_t hd16 = head_dim / 16 * 16;
  for (size_t p = 0; p < key_length; p++) {
    const float *kp = k + row_offsets[p];
    V16 acc = v16_zero();
    for (size_t c = 0; c < hd16; c += 16) acc = v16_fma(v16_load(q + c), v16_load(kp + c), acc);
    float dot = v16_sum_lanes(acc);
    for (size_t c = hd16; c < head_dim; c++) dot += q[c] * kp[c];
    scores[p] = scale * dot;
  }
  SOFTMAX_ROW(scores, scores, key_length);
  weighted_values(out, 0, scores, 0, 1, v, 0, 0, row_offsets, key_length, head_dim);
}
