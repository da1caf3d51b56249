// Matrix products on OpenBLAS's cblas_sgemm (row-major; transposes are flags and leading dimensions,
// never copies). Very small M (decoding) goes through sgemv or a kernel that reads the weight once for
// all rows, both faster than a thin sgemm.
// Large products are split into row or column blocks of C, one per worker (see Threads.swift).
import COpenBLAS

public enum Gemm {
  /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C.
  /// op(A) = A [m, k] (lda ≥ k) or, with transA, Aᵀ where A is [k, m] (lda ≥ m); likewise B.
  public static func matmul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
  ) {
    if m == 0 || n == 0 { return }
    Threads.ensureConfigured()
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    if k == 0 {
      for i in 0..<m { scaleRow(c + i * ldc, n, beta) }
      return
    }
    // One block per worker: each block repacks the shared operand, so more pieces would cost more packing.
    let split = Threads.gemmThreading == .split && 2 * m * n * k >= splitThreshold && Threads.workerCount(2) > 1
    let workers = split ? min(Threads.count, max(m, n)) : 1
    if workers > 1 {
      if m > gemvRowLimit && m >= n {
        // Row blocks of C (multiples of 16 rows): rows of op(A) start at a + i·lda, or a + i when transposed.
        let blocks = (m + 15) / 16
        Threads.eachWorker(workers) { w in
          let i0 = min(m, w * blocks / workers * 16), i1 = min(m, (w + 1) * blocks / workers * 16)
          if i1 > i0 {
            serial(
              transA ? a + i0 : a + i0 * lda, b, c + i0 * ldc, m: i1 - i0, n: n, k: k, transA: transA,
              transB: transB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
          }
        }
      } else {
        // Column blocks of C: columns of op(B) start at b + j·ldb when transposed, else b + j.
        let blocks = (n + 15) / 16
        Threads.eachWorker(workers) { w in
          let j0 = min(n, w * blocks / workers * 16), j1 = min(n, (w + 1) * blocks / workers * 16)
          if j1 > j0 {
            serial(
              a, transB ? b + j0 * ldb : b + j0, c + j0, m: m, n: j1 - j0, k: k, transA: transA,
              transB: transB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
          }
        }
      }
      return
    }
    serial(
      a, b, c, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
  }

  /// One product on the calling thread (OpenBLAS threads permitting), no defaults left to resolve.
  static func serial(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, lda: Int, ldb: Int, ldc: Int
  ) {
    if m >= 2 && m <= gemvRowLimit && transB && !transA {
      // A few rows against a weight [n, k] (a decoder step with beams): stream each weight row once.
      rowsDotWeightRows(a, lda: lda, b, ldb: ldb, c, ldc: ldc, m: m, n: n, k: k, alpha: alpha, beta: beta)
      return
    }
    if m <= gemvRowLimit {
      // Row i of C: c_i = alpha · op(B)ᵀ a_i + beta c_i, with a_i read at stride 1 (or lda when transposed).
      for i in 0..<m {
        if beta == 0 { (c + i * ldc).update(repeating: 0, count: n) }  // sgemv's beta=0 need not clear NaNs
        let ai = transA ? a + i : a + i * lda
        let incA = transA ? lda : 1
        if transB {  // B is [n, k]: c_i = B · a_i
          cblas_sgemv(
            CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), ai, Int32(incA), beta,
            c + i * ldc, 1)
        } else {  // B is [k, n]: c_i = Bᵀ · a_i
          cblas_sgemv(
            CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), ai, Int32(incA), beta,
            c + i * ldc, 1)
        }
      }
      return
    }
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// `batch` independent products; matrix i starts at a + i·strideA (etc.). Small products run one per
  /// worker (single-threaded BLAS each); large ones one after another with all threads in BLAS.
  public static func batchedMatmul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, batch: Int, strideA: Int, strideB: Int, strideC: Int,
    transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
  ) {
    let one = { (i: Int) in
      matmul(
        a + i * strideA, b + i * strideB, c + i * strideC, m: m, n: n, k: k, transA: transA, transB: transB,
        alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
    }
    if m * n * k < perWorkerThreshold && batch > 1 {
      Threads.parallelFor(batch, one)
    } else {
      for i in 0..<batch { one(i) }
    }
  }

  /// Up to this many rows, a product skips sgemm: one row is an sgemv; 2... rows against a weight [n, k]
  /// use `rowsDotWeightRows`. Measured (CPU time, one thread, this machine): x·Wᵀ with W 768x768, m=3:
  /// sgemm 450 us, 3 sgemv 176 us, rows kernel 130 us; m=6: 367 / 360 / 218 us; W 51289x768 (the
  /// vocabulary head), m=3: 46 / 42 / 16 ms.
  public nonisolated(unsafe) static var gemvRowLimit = 6
  /// Below this many multiply-adds a product is too small to split across threads inside BLAS.
  public nonisolated(unsafe) static var perWorkerThreshold = 1 << 22
  /// Products of fewer flops than this run on one thread (splitting costs a few microseconds).
  public nonisolated(unsafe) static var splitThreshold = 1 << 20

  /// c[i, j] = alpha · a_i · b_j + beta · c[i, j] for m ≤ gemvRowLimit rows a_i and weight rows b_j:
  /// one pass over the weight (m sgemv calls would read it m times, from DRAM for the vocabulary head).
  static func rowsDotWeightRows(
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, m: Int, n: Int, k: Int, alpha: Float, beta: Float
  ) {
    let k16 = k / 16 * 16
    for j in 0..<n {
      let w = b + j * ldb
      var i0 = 0
      while i0 < m {  // rows in groups of three; a short group repeats its last row
        let a0 = a + i0 * lda, a1 = a + min(i0 + 1, m - 1) * lda, a2 = a + min(i0 + 2, m - 1) * lda
        var s0 = F16x(), s1 = F16x(), s2 = F16x()
        var p = 0
        while p < k16 {
          let wv = load16(w + p)
          s0 = fma16(load16(a0 + p), wv, s0)
          s1 = fma16(load16(a1 + p), wv, s1)
          s2 = fma16(load16(a2 + p), wv, s2)
          p += 16
        }
        var d0 = sumLanes(s0), d1 = sumLanes(s1), d2 = sumLanes(s2)
        while p < k {
          d0 += a0[p] * w[p]
          d1 += a1[p] * w[p]
          d2 += a2[p] * w[p]
          p += 1
        }
        for (r, d) in [d0, d1, d2].prefix(min(3, m - i0)).enumerated() {
          let cp = c + (i0 + r) * ldc + j
          cp.pointee = beta == 0 ? alpha * d : alpha * d + beta * cp.pointee
        }
        i0 += 3
      }
    }
  }

  @inline(__always) static func scaleRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ beta: Float) {
    if beta == 0 { p.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { p[j] *= beta } }
  }
}
