// oneDNN (libdnnl 2.6) against flr's own reduced-precision kernels (Sources/Kernels), one thread, per shape
// class of Florence-2 base: large-M vision GEMMs and 1-3 row decode products. Both with prepacked weights
// (oneDNN's matmul chooses its weight layout, `dnnl_format_tag_any`; flr packs 16-column panels).
// bf16: bf16 x bf16 -> fp32. int8: u8 x s8 -> s32 (oneDNN, no scales) against flr's full int8 product
// (per-row quantization of fp32 activations and the fp32 epilogue included, so flr does more work).
//   apt-get install -y libdnnl-dev   (not in scripts/deps: flr does not link oneDNN)
//   clang -O2 -ISources/Kernels/include scripts/precision_libraries.c Sources/Kernels/*.c -ldnnl -lm \
//     -o /tmp/precision_libraries && OMP_NUM_THREADS=1 /tmp/precision_libraries
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flr_kernels.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// Best time of repeated calls over about 0.3 s.
#define BEST(call)                                                                                             \
  ({                                                                                                           \
    double best = 1e9, start = now();                                                                          \
    int runs = 0;                                                                                              \
    do {                                                                                                       \
      double t0 = now();                                                                                       \
      call;                                                                                                    \
      double t = now() - t0;                                                                                   \
      best = t < best ? t : best;                                                                              \
      runs++;                                                                                                  \
    } while (now() - start < 0.3 || runs < 3);                                                                 \
    best;                                                                                                      \
  })

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static double onednn(long m, long n, long k, dnnl_data_type_t a_type, dnnl_data_type_t b_type,
                     dnnl_data_type_t c_type) {
  dnnl_memory_desc_t a_md, b_md, c_md;
  dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n};
  dnnl_memory_desc_init_by_tag(&a_md, 2, ad, a_type, dnnl_ab);
  dnnl_memory_desc_init_by_tag(&b_md, 2, bd, b_type, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&c_md, 2, cd, c_type, dnnl_ab);
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t p;
  if (dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) || dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL)
      || dnnl_primitive_create(&p, pd))
    return -1;
  const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  dnnl_memory_t am, bm, cm;
  dnnl_memory_create(&am, &a_md, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&bm, wq, engine, DNNL_MEMORY_ALLOCATE);
  dnnl_memory_create(&cm, &c_md, engine, DNNL_MEMORY_ALLOCATE);
  void *h;
  dnnl_memory_get_data_handle(am, &h);
  memset(h, 0x11, dnnl_memory_desc_get_size(&a_md));
  dnnl_memory_get_data_handle(bm, &h);
  memset(h, 0x11, dnnl_memory_desc_get_size(wq));
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  double t = BEST((dnnl_primitive_execute(p, stream, 3, args), dnnl_stream_wait(stream)));
  dnnl_primitive_destroy(p);
  dnnl_primitive_desc_destroy(pd);
  dnnl_memory_destroy(am);
  dnnl_memory_destroy(bm);
  dnnl_memory_destroy(cm);
  return t;
}

static double own_bf16(long m, long n, long k) {
  float *w = calloc(n * k, 4);
  for (long i = 0; i < n * k; i++) w[i] = (float)(i % 7) * 0.1f;
  uint16_t *packed = malloc(flr_bf16_packed_count(n, k) * 2), *a = calloc(m * ((k + 1) / 2 * 2), 2);
  flr_bf16_pack(w, n, k, packed);
  float *c = malloc(m * n * 4);
  long panels = (n + FLR_PANEL - 1) / FLR_PANEL;
  double t = BEST(flr_bf16_gemm(a, (k + 1) / 2 * 2, m, packed, n, k, NULL, c, n, 0, panels));
  free(w), free(packed), free(a), free(c);
  return t;
}

static double own_int8(long m, long n, long k) {
  float *w = calloc(n * k, 4), *x = calloc(m * k, 4), *ws = malloc(n * 4), *as = malloc(m * 4), *c = malloc(m * n * 4);
  for (long i = 0; i < n * k; i++) w[i] = (float)(i % 7) * 0.1f;
  for (long i = 0; i < m * k; i++) x[i] = (float)(i % 5) * 0.1f;
  long lda = (k + 3) / 4 * 4, panels = (n + FLR_PANEL - 1) / FLR_PANEL;
  int8_t *packed = malloc(flr_int8_packed_count(n, k)), *a = malloc(m * lda);
  int32_t *sums = malloc(n * 4);
  flr_int8_pack(w, n, k, packed, ws, sums);
  double t = BEST((flr_int8_quantize_rows(x, m, k, a, lda, as),
                   flr_int8_gemm(a, lda, as, m, packed, ws, sums, n, k, NULL, c, n, 0, panels)));
  free(w), free(x), free(ws), free(as), free(c), free(packed), free(a), free(sums);
  return t;
}

int main(void) {
  dnnl_engine_create(&engine, dnnl_cpu, 0);
  dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
  printf("flr kernel path: %d (2 = avx512 bf16/vnni)\n", flr_kernels_active());
  long shapes[][3] = {
    {9216, 768, 256},   // vision stage 1 qkv
    {2304, 2048, 512},  // vision stage 2 fc1
    {2304, 512, 2048},  // vision stage 2 fc2
    {576, 4096, 1024},  // vision stage 3 fc1
    {590, 3072, 768},   // BART encoder fc1
    {1, 3072, 768},     // decoder step fc1, greedy
    {3, 3072, 768},     // decoder step fc1, beam 3
    {1, 768, 3072},     // decoder step fc2
    {3, 51289, 768},    // lm_head, beam 3
  };
  printf("%-18s %12s %12s %8s   %12s %12s %8s\n", "M,N,K", "dnnl bf16", "flr bf16", "flr/dnnl", "dnnl u8s8",
         "flr int8", "flr/dnnl");
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    long m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
    double flops = 2.0 * m * n * k * 1e-9;
    double db = onednn(m, n, k, dnnl_bf16, dnnl_bf16, dnnl_f32), ob = own_bf16(m, n, k);
    double di = onednn(m, n, k, dnnl_u8, dnnl_s8, dnnl_s32), oi = own_int8(m, n, k);
    char shape[40];
    snprintf(shape, sizeof shape, "%ld,%ld,%ld", m, n, k);
    printf("%-18s %7.1f GF/s %7.1f GF/s %8.2f   %7.1f GO/s %7.1f GO/s %8.2f\n", shape, flops / db, flops / ob, db / ob,
           flops / di, flops / oi, di / oi);
  }
  return 0;
}
