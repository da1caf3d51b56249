// Matrix products on OpenBLAS's cblas_sgemm (row-major; transposes are flags and leading dimensions,
// never copies). Very small M (decoding) goes through sgemv or a kernel that reads the weight once for
// all rows, both faster than a thin sgemm.
// Large products are cut into blocks of C that the workers take as they come free (see Threads.swift):
// row blocks of about `chunkRows` rows when M ≥ N (tall activations x·Wᵀ), else one column block per
// worker. A caller can run its own code on each block just before and after its product (a bias
// written in, an activation applied) while the block is still in cache: `matmulBlocks`.
//
// Why OpenBLAS and not oneDNN: measured per shape (scripts/gemm_libraries.c), oneDNN 2.6's fp32 sgemm and
// matmul are level with OpenBLAS 0.3.21 on the DaViT stage 2-3 shapes that hold ~85% of the vision FLOPs
// (both ~88% of the FMA peak), ahead only on the K = 128 stage-0 shapes (~8% of the FLOPs).
import CFlrKernels
import COpenBLAS

public enum Gemm {
  /// The kernel set OpenBLAS runs sgemm with (its own pick for this CPU, or the one OPENBLAS_CORETYPE names):
  /// the fp32 limit depends on it.
  public static var blasCoreName: String { String(cString: openblas_get_corename()) }

  /// Code run on one block of C: rows `rows`, columns `cols` (C's own indices).
  public typealias BlockBody = (_ rows: Range<Int>, _ cols: Range<Int>) -> Void

  /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C.
  /// op(A) = A [m, k] (lda ≥ k) or, with transA, Aᵀ where A is [k, m] (lda ≥ m); likewise B.
  public static func matmul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
  ) {
    matmulBlocks(
      a, b, c, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta, lda: lda, ldb: ldb,
      ldc: ldc, before: nil, after: nil)
  }

  /// `matmul`, with `before(rows, cols)` run on each block of C just before its product and `after(rows, cols)`
  /// just after, on the worker computing it. Blocks never overlap; each body runs once per block. Large
  /// products get row blocks of about `chunkRows` rows when either body is given, so a bias or activation
  /// touches C while it is in cache instead of in a separate pass over memory.
  public static func matmulBlocks(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, before: BlockBody?, after: BlockBody?
  ) {
    let scope = Profile.begin(.gemm, flops: 2 * m * n * k, bytes: 4 * (m * k + n * k + (beta == 0 ? 1 : 2) * m * n))
    defer { Profile.end(scope) }
    if m == 0 || n == 0 { return }
    Threads.ensureConfigured()
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    // One block: the product restricted to rows i0..<i1 of op(A) and columns j0..<j1 of op(B).
    let block = { (rows: Range<Int>, cols: Range<Int>) in
      before?(rows, cols)
      let (i0, j0) = (rows.lowerBound, cols.lowerBound)
      let cb = c + i0 * ldc + j0
      if k == 0 {
        for i in 0..<rows.count { scaleRow(cb + i * ldc, cols.count, beta) }
      } else {
        serial(
          transA ? a + i0 : a + i0 * lda, transB ? b + j0 * ldb : b + j0, cb, m: rows.count, n: cols.count, k: k,
          transA: transA, transB: transB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
      }
      after?(rows, cols)
    }
    let split = Threads.gemmThreading == .split && 2 * m * n * k >= splitThreshold && Threads.workerCount(2) > 1
    let workers = split ? Threads.count : 1
    let byRows = cutsRows(m: m, n: n)
    var pieces = min(workers, byRows ? m : n)
    if byRows && (split || before != nil || after != nil) {
      // Row blocks: a whole number of rounds of about chunkRows rows (at least one block per worker), taken
      // dynamically, so a core slowed by another process does not hold the others up.
      pieces = workers * max(1, (m + workers * chunkRows / 2) / (workers * chunkRows))
    }
    if pieces <= 1 {
      block(0..<m, 0..<n)
      return
    }
    // Block bounds on multiples of 16 rows/columns (whole SIMD panels for OpenBLAS).
    let extent = byRows ? m : n
    let units = (extent + 15) / 16
    Threads.eachWorker(pieces) { p in
      let lo = min(extent, p * units / pieces * 16), hi = min(extent, (p + 1) * units / pieces * 16)
      if hi > lo { byRows ? block(lo..<hi, 0..<n) : block(0..<m, lo..<hi) }
    }
  }

  /// Whether `matmulBlocks` cuts C into row blocks (each spanning all columns) rather than column blocks
  /// (each spanning all rows).
  static func cutsRows(m: Int, n: Int) -> Bool { m >= n && m > gemvRowLimit }

  /// One product on the calling thread (OpenBLAS threads permitting), no defaults left to resolve.
  static func serial(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, lda: Int, ldb: Int, ldc: Int
  ) {
    if m >= 2 && m <= gemvRowLimit && transB && !transA {
      // A few rows against a weight [n, k] (a decoder step with beams): stream each weight row once. On the
      // avx2 / avx512 kernel paths, the dispatched C kernel (Sources/Kernels/rows.c: AVX-512 holds each SIMD16
      // sum in one register where this x86-64-v3 build takes two); else the Swift SIMD16 one. Same bits
      // (RowsKernelTests).
      if KernelPath.active != .portable {
        flr_rows_dot_weight_rows(a, lda, b, ldb, c, ldc, m, n, k, alpha, beta)
      } else {
        rowsDotWeightRows(a, lda: lda, b, ldb: ldb, c, ldc: ldc, m: m, n: n, k: k, alpha: alpha, beta: beta)
      }
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
    let scope = Profile.begin(
      .gemm, flops: 2 * (batch * m * n * k), bytes: 4 * (batch * (m * k + n * k + (beta == 0 ? 1 : 2) * m * n)))
    defer { Profile.end(scope) }
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
  /// use `rowsDotWeightRows`. Measured (CPU time, one thread, an AVX2 EPYC): x·Wᵀ with W 768x768, m=3:
  /// sgemm 450 us, 3 sgemv 176 us, rows kernel 130 us; m=6: 367 / 360 / 218 us; W 51289x768 (the
  /// vocabulary head), m=3: 46 / 42 / 16 ms. With the 4x3 tiles (`scripts/bench gemm`, 2 threads, a busy
  /// Zen 5, CPU per call): m=12 (4 images x 3 beams), W 768x768: sgemm 222 us, rows kernel 111 us;
  /// W 51289x768: 15.7 / 11.0 ms. 12 rows keep a batch of 4 beam-3 captions on the rows kernel, whose rows
  /// come out bit-identical to each image decoded alone.
  public nonisolated(unsafe) static var gemvRowLimit = 12
  /// Below this many multiply-adds a product is too small to split across threads inside BLAS.
  public nonisolated(unsafe) static var perWorkerThreshold = 1 << 22
  /// Products of fewer flops than this run on one thread (splitting costs a few microseconds).
  public nonisolated(unsafe) static var splitThreshold = 1 << 20
  /// Rows per block of C when a tall product is cut into row blocks (about 1 MB of C at N = 256). Smaller
  /// blocks keep C in L2 for the block bodies; larger ones repack op(B) less often.
  public nonisolated(unsafe) static var chunkRows = 1024

  /// c[i, j] = alpha · a_i · b_j + beta · c[i, j] for m ≤ gemvRowLimit rows a_i and weight rows b_j:
  /// one pass over the weight (m sgemv calls would read it m times, from DRAM for the vocabulary head).
  /// Tiles of four weight rows by three rows a_i (twelve running sums: 7 loads feed 12 FMAs); every dot
  /// product is summed in the same order whatever m is and wherever its row sits in a tile, so a row's
  /// result does not depend on the other rows decoded with it (a batch's captions equal each image's alone).
  static func rowsDotWeightRows(
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, m: Int, n: Int, k: Int, alpha: Float, beta: Float
  ) {
    let k16 = k / 16 * 16
    @inline(__always) func store(_ i: Int, _ j: Int, _ sum: F16x, _ ai: UnsafePointer<Float>, _ w: UnsafePointer<Float>)
    {
      var d = sumLanes(sum)
      for p in k16..<k { d += ai[p] * w[p] }
      let cp = c + i * ldc + j
      cp.pointee = beta == 0 ? alpha * d : alpha * d + beta * cp.pointee
    }
    var j = 0
    while j + 4 <= n {
      let w0 = b + j * ldb, w1 = w0 + ldb, w2 = w1 + ldb, w3 = w2 + ldb
      var i0 = 0
      while i0 < m {  // rows in groups of three; a short group repeats its last row
        let a0 = a + i0 * lda, a1 = a + min(i0 + 1, m - 1) * lda, a2 = a + min(i0 + 2, m - 1) * lda
        var s00 = F16x(), s01 = F16x(), s02 = F16x(), s03 = F16x()
        var s10 = F16x(), s11 = F16x(), s12 = F16x(), s13 = F16x()
        var s20 = F16x(), s21 = F16x(), s22 = F16x(), s23 = F16x()
        var p = 0
        while p < k16 {
          let x0 = load16(a0 + p), x1 = load16(a1 + p), x2 = load16(a2 + p)
          let v0 = load16(w0 + p), v1 = load16(w1 + p), v2 = load16(w2 + p), v3 = load16(w3 + p)
          s00 = fma16(x0, v0, s00)
          s01 = fma16(x0, v1, s01)
          s02 = fma16(x0, v2, s02)
          s03 = fma16(x0, v3, s03)
          s10 = fma16(x1, v0, s10)
          s11 = fma16(x1, v1, s11)
          s12 = fma16(x1, v2, s12)
          s13 = fma16(x1, v3, s13)
          s20 = fma16(x2, v0, s20)
          s21 = fma16(x2, v1, s21)
          s22 = fma16(x2, v2, s22)
          s23 = fma16(x2, v3, s23)
          p += 16
        }
        store(i0, j, s00, a0, w0)
        store(i0, j + 1, s01, a0, w1)
        store(i0, j + 2, s02, a0, w2)
        store(i0, j + 3, s03, a0, w3)
        if i0 + 1 < m {
          store(i0 + 1, j, s10, a1, w0)
          store(i0 + 1, j + 1, s11, a1, w1)
          store(i0 + 1, j + 2, s12, a1, w2)
          store(i0 + 1, j + 3, s13, a1, w3)
        }
        if i0 + 2 < m {
          store(i0 + 2, j, s20, a2, w0)
          store(i0 + 2, j + 1, s21, a2, w1)
          store(i0 + 2, j + 2, s22, a2, w2)
          store(i0 + 2, j + 3, s23, a2, w3)
        }
        i0 += 3
      }
      j += 4
    }
    while j < n {  // the last n mod 4 weight rows, one at a time, each sum in the same order as above
      let w = b + j * ldb
      for i in 0..<m {
        let ai = a + i * lda
        var sum = F16x()
        var p = 0
        while p < k16 {
          sum = fma16(load16(ai + p), load16(w + p), sum)
          p += 16
        }
        store(i, j, sum, ai, w)
      }
      j += 1
    }
  }

  @inline(__always) static func scaleRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ beta: Float) {
    if beta == 0 { p.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { p[j] *= beta } }
  }
}
