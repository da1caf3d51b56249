// A few rows' Linear forward cut into column blocks that workers compute on their own (a decoding step's
// products inside one parallel region, Stages): the blocks, their bounds and what runs on each are those
// Linear.forward gives the same product, so each output element comes out bit for bit the same.

extension Linear {
  /// How many column blocks Linear.forward cuts `rows` rows of a [outFeatures, inFeatures] weight into (its
  /// split over the workers); nil where it would cut rows instead (many rows), or hand the threads to OpenBLAS.
  public static func columnBlocks(rows: Int, inFeatures: Int, outFeatures: Int) -> Int? {
    let (m, n, k) = (rows, outFeatures, inFeatures)
    if Gemm.cutsRows(m: m, n: n) || Threads.gemmThreading != .split || m == 0 || n == 0 { return nil }
    let split = 2 * m * n * k >= Gemm.splitThreshold && Threads.workerCount(2) > 1
    return split ? Swift.min(Threads.count, n) : 1
  }

  /// Block `block` of `blocks` of out [rows, outF] = act(inp [rows, inF] · weight [outF, inF]ᵀ + bias [outF]):
  /// the columns `columns(block, of: blocks, outFeatures)`, on the calling thread.
  public static func forwardColumns(
    block: Int, of blocks: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int,
    activation: Activation = .none
  ) {
    let (n, k) = (outFeatures, inFeatures)
    let cols = columns(block, of: blocks, outFeatures: n)
    if cols.isEmpty { return }
    if let bias {
      for r in 0..<rows { (out + r * n + cols.lowerBound).update(from: bias + cols.lowerBound, count: cols.count) }
    }
    if k == 0 {
      if bias == nil { for r in 0..<rows { (out + r * n + cols.lowerBound).update(repeating: 0, count: cols.count) } }
    } else {
      Gemm.serial(
        inp, weight + cols.lowerBound * k, out + cols.lowerBound, m: rows, n: cols.count, k: k, transA: false,
        transB: true, alpha: 1, beta: bias == nil ? 0 : 1, lda: k, ldb: k, ldc: n)
    }
    if activation == .gelu {
      for r in 0..<rows {
        Gelu.forward(out: out + r * n + cols.lowerBound, inp: out + r * n + cols.lowerBound, count: cols.count)
      }
    }
  }

  /// Columns of block `block` of `blocks` (Gemm.matmulBlocks' bounds: multiples of 16).
  public static func columns(_ block: Int, of blocks: Int, outFeatures n: Int) -> Range<Int> {
    if blocks <= 1 { return 0..<n }
    let units = (n + 15) / 16
    let lo = Swift.min(n, block * units / blocks * 16), hi = Swift.min(n, (block + 1) * units / blocks * 16)
    return lo..<Swift.max(lo, hi)
  }
}
