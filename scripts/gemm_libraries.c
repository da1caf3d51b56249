// fp32 GEMM throughput on the exact Florence-2 DaViT shapes: OpenBLAS sgemm (one thread; two threads as flr
// splits C; two OpenBLAS threads) vs oneDNN (dnnl_sgemm and a cached matmul primitive, one and two threads)
// vs a tight FMA loop (the core's peak). This measurement chose OpenBLAS for Sources/Core/Gemm.swift.
//   apt-get install -y libdnnl-dev   (not in scripts/deps: flr does not link oneDNN)
//   gcc -O2 -march=native -fopenmp scripts/gemm_libraries.c -o /tmp/gemm_libraries
//     $(pkg-config --cflags --libs openblas) -ldnnl && /tmp/gemm_libraries [seconds per figure]
// One-thread figures are GFLOP per second of the thread's own CPU time (robust when other processes
// share the cores: what each library does with a core); two-thread figures are wall-clock best-of
// (meaningful on a quiet machine only). Shapes: m n k as C[m,n] = A·op(B), tB = x·Wᵀ (Linear forward),
// plain = dout·W (Linear backward, input gradient), tA = doutᵀ·x (weight gradient).
#include <cblas.h>
#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int use_cpu = 0;
static double now(void) { struct timespec t; clock_gettime(use_cpu == 1 ? CLOCK_THREAD_CPUTIME_ID : use_cpu == 2 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double wall(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

// 12 independent FMA chains of 8 floats (Zen 3: 2 FMA pipes x 4 cycles latency need 8).
static double fma_peak(long iters) {
  __m256 a0 = _mm256_set1_ps(1), a1 = _mm256_set1_ps(2), a2 = _mm256_set1_ps(3), a3 = _mm256_set1_ps(4);
  __m256 a4 = _mm256_set1_ps(5), a5 = _mm256_set1_ps(6), a6 = _mm256_set1_ps(7), a7 = _mm256_set1_ps(8);
  __m256 a8 = _mm256_set1_ps(9), a9 = _mm256_set1_ps(10), a10 = _mm256_set1_ps(11), a11 = _mm256_set1_ps(12);
  __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
  double t0 = now();
  for (long i = 0; i < iters; i++) {
#define F(x) x = _mm256_fmadd_ps(x, b, c);
    F(a0) F(a1) F(a2) F(a3) F(a4) F(a5) F(a6) F(a7) F(a8) F(a9) F(a10) F(a11)
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8),
                     "+v"(a9), "+v"(a10), "+v"(a11));
  }
  double t = now() - t0;
  __m256 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  if (s[0] == 12345) printf("-");
  return 12.0 * 16 * iters / t / 1e9;
}

typedef struct { int m, n, k, ta, tb; const float *a, *b; float *c; int lda, ldb, ldc; } job;
static void *run_blas(void *p) {
  job *j = p;
  cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, j->m, j->n, j->k,
              1, j->a, j->lda, j->b, j->ldb, 0, j->c, j->ldc);
  return 0;
}

static float *rnd(size_t n) {
  float *p = aligned_alloc(64, n * 4 + 64);
  for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
  return p;
}

static double best_of(double min_s, void (*f)(void *), void *arg) {
  f(arg);
  double best = 1e9, start = wall(); int n = 0;
  while (n < 3 || (wall() - start < min_s && n < 200)) { double t0 = now(); f(arg); double t = now() - t0; if (t < best) best = t; n++; }
  return best;
}

typedef struct { int m, n, k, ta, tb, mode, threads; float *a, *b, *c; dnnl_primitive_t prim; dnnl_memory_t ms, mw, md; dnnl_stream_t st; } bench;
static void call(void *p) {
  bench *B = p; int m = B->m, n = B->n, k = B->k;
  int lda = B->ta ? m : k, ldb = B->tb ? k : n;
  if (B->mode == 0) {  // openblas internal threads
    openblas_set_num_threads(B->threads);
    cblas_sgemm(CblasRowMajor, B->ta ? CblasTrans : CblasNoTrans, B->tb ? CblasTrans : CblasNoTrans, m, n, k, 1, B->a,
                lda, B->b, ldb, 0, B->c, n);
  } else if (B->mode == 1) {  // our split (openblas 1 thread each), by rows if m>=n else columns
    openblas_set_num_threads(1);
    pthread_t th[2]; job j[2];
    for (int w = 0; w < 2; w++) {
      j[w] = (job){m, n, k, B->ta, B->tb, B->a, B->b, B->c, lda, ldb, n};
      if (m >= n) {
        int blocks = (m + 15) / 16, i0 = w * blocks / 2 * 16, i1 = (w + 1) * blocks / 2 * 16; if (i1 > m) i1 = m;
        j[w].m = i1 - i0; j[w].a = B->ta ? B->a + i0 : B->a + (size_t)i0 * lda; j[w].c = B->c + (size_t)i0 * n;
      } else {
        int blocks = (n + 15) / 16, j0 = w * blocks / 2 * 16, j1 = (w + 1) * blocks / 2 * 16; if (j1 > n) j1 = n;
        j[w].n = j1 - j0; j[w].b = B->tb ? B->b + (size_t)j0 * ldb : B->b + j0; j[w].c = B->c + j0;
      }
    }
    pthread_create(&th[1], 0, run_blas, &j[1]); run_blas(&j[0]); pthread_join(th[1], 0);
  } else if (B->mode == 2) {
    omp_set_num_threads(B->threads);
    dnnl_sgemm(B->ta ? 'T' : 'N', B->tb ? 'T' : 'N', m, n, k, 1, B->a, lda, B->b, ldb, 0, B->c, n);
  } else {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, B->ms}, {DNNL_ARG_WEIGHTS, B->mw}, {DNNL_ARG_DST, B->md}};
    dnnl_primitive_execute(B->prim, B->st, 3, args);
    dnnl_stream_wait(B->st);
  }
}

static dnnl_engine_t eng; static dnnl_stream_t stream;
static void make_prim(bench *B) {
  int m = B->m, n = B->n, k = B->k;
  dnnl_memory_desc_t s, w, d;
  dnnl_dims_t ds = {m, k}, dw = {k, n}, dd = {m, n};
  dnnl_dims_t ss = {B->ta ? 1 : k, B->ta ? m : 1}, sw = {B->tb ? 1 : n, B->tb ? k : 1}, sd = {n, 1};
  dnnl_memory_desc_init_by_strides(&s, 2, ds, dnnl_f32, ss);
  dnnl_memory_desc_init_by_strides(&w, 2, dw, dnnl_f32, sw);
  dnnl_memory_desc_init_by_strides(&d, 2, dd, dnnl_f32, sd);
  dnnl_matmul_desc_t md; dnnl_matmul_desc_init(&md, &s, &w, NULL, &d);
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) != dnnl_success) { printf("pd fail\n"); exit(1); }
  const char *impl; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  if (getenv("VERBOSE")) fprintf(stderr, "impl %s\n", impl);
  dnnl_primitive_create(&B->prim, pd);
  dnnl_memory_create(&B->ms, &s, eng, B->a); dnnl_memory_create(&B->mw, &w, eng, B->b); dnnl_memory_create(&B->md, &d, eng, B->c);
  B->st = stream;
}

int main(int argc, char **argv) {
  double ms = argc > 1 ? atof(argv[1]) : 0.5;
  openblas_set_num_threads(1);
  use_cpu = 1;
  printf("FMA loop, one thread: %.1f GFLOP/s of CPU time (peak of one core)\n", fma_peak(100000000));

  dnnl_engine_create(&eng, dnnl_cpu, 0);
  // shapes: m n k ta tb label
  struct { int m, n, k, ta, tb; const char *l; } S[] = {
    {36864, 384, 128, 0, 1, "s0 qkv fwd"}, {36864, 128, 128, 0, 1, "s0 proj fwd"}, {36864, 512, 128, 0, 1, "s0 fc1 fwd"},
    {36864, 128, 512, 0, 1, "s0 fc2 fwd"}, {36864, 128, 147, 0, 1, "s0 conv7 fwd"},
    {9216, 768, 256, 0, 1, "s1 qkv fwd"}, {9216, 1024, 256, 0, 1, "s1 fc1 fwd"}, {9216, 256, 1024, 0, 1, "s1 fc2 fwd"}, {9216, 256, 1152, 0, 1, "s1 conv3 fwd"},
    {2304, 1536, 512, 0, 1, "s2 qkv fwd"}, {2304, 512, 512, 0, 1, "s2 proj fwd"}, {2304, 2048, 512, 0, 1, "s2 fc1 fwd"}, {2304, 512, 2048, 0, 1, "s2 fc2 fwd"}, {2304, 512, 2304, 0, 1, "s2 conv3 fwd"},
    {576, 3072, 1024, 0, 1, "s3 qkv fwd"}, {576, 4096, 1024, 0, 1, "s3 fc1 fwd"}, {576, 1024, 4096, 0, 1, "s3 fc2 fwd"}, {576, 1024, 4608, 0, 1, "s3 conv3 fwd"},
    {36864, 128, 512, 0, 0, "s0 fc1 bwd dx"}, {2304, 512, 2048, 0, 0, "s2 fc1 bwd dx"}, {2304, 2048, 512, 0, 0, "s2 fc2 bwd dx"},
    {512, 128, 36864, 1, 0, "s0 fc1 bwd dW"}, {2048, 512, 2304, 1, 0, "s2 fc1 bwd dW"},
  };
  int ns = sizeof S / sizeof S[0];
  int which = argc > 2 ? atoi(argv[2]) : -1;
  printf("%-16s %-20s %8s %8s %8s | %8s %8s %8s %8s\n", "shape", "m n k", "blas1", "dsgemm1", "dmm1", "split2", "blas2", "dsgemm2", "dmm2");
  for (int i = 0; i < ns; i++) {
    if (which >= 0 && i != which) continue;
    int m = S[i].m, n = S[i].n, k = S[i].k;
    bench B = {m, n, k, S[i].ta, S[i].tb};
    B.a = rnd((size_t)m * k); B.b = rnd((size_t)n * k); B.c = rnd((size_t)m * n);
    double fl = 2.0 * m * n * k / 1e9, g[7];
    use_cpu = 1; B.mode = 0; B.threads = 1; g[0] = fl / best_of(ms, call, &B);
    use_cpu = 0; B.threads = 2; g[1] = fl / best_of(ms, call, &B);
    B.mode = 1; g[2] = fl / best_of(ms, call, &B);
    openblas_set_num_threads(1);
    use_cpu = 1; B.mode = 2; B.threads = 1; g[3] = fl / best_of(ms, call, &B);
    use_cpu = 0; B.threads = 2; g[4] = fl / best_of(ms, call, &B);
    use_cpu = 1; B.mode = 3; omp_set_num_threads(1); dnnl_stream_create(&stream, eng, dnnl_stream_default_flags); make_prim(&B);
    g[5] = fl / best_of(ms, call, &B);
    dnnl_primitive_destroy(B.prim);
    use_cpu = 0; omp_set_num_threads(2); make_prim(&B); g[6] = fl / best_of(ms, call, &B);
    char mnk[40]; snprintf(mnk, 40, "%d %d %d%s%s", m, n, k, S[i].ta ? " tA" : "", S[i].tb ? " tB" : "");
    printf("%-16s %-20s %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f %8.1f\n", S[i].l, mnk, g[0], g[3], g[5], g[2], g[1], g[4],
           g[6]);
    fflush(stdout);
    dnnl_primitive_destroy(B.prim);
    free(B.a); free(B.b); free(B.c);
  }
}
