// Fully connected layer in PyTorch's layout: y = x·Wᵀ + b, optionally followed by GELU.
// The bias is written into each block of the output just before its GEMM (beta 1) and the activation
// applied just after, on the worker that computes the block (Gemm.matmulBlocks): the output makes one trip
// through memory instead of three (bias fill, GEMM, activation pass).

public enum Linear {
  /// What runs on the output after x·Wᵀ + b. `.gelu` is exact GELU (Gelu.forward), for inference.
  public enum Activation: Sendable { case none, gelu }

  /// out [rows, outF] = act(inp [rows, inF] · weight [outF, inF]ᵀ + bias [outF])
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int, activation: Activation = .none
  ) {
    let scope = Profile.begin(
      .gemm, .forward, flops: 2 * (rows * inFeatures * outFeatures),
      bytes: 4 * (rows * inFeatures + outFeatures * inFeatures + 2 * rows * outFeatures))
    defer { Profile.end(scope) }
    let n = outFeatures
    let writeBias: Gemm.BlockBody? = bias.map { bias in
      { block, cols in
        for r in block { (out + r * n + cols.lowerBound).update(from: bias + cols.lowerBound, count: cols.count) }
      }
    }
    let activate: Gemm.BlockBody? =
      activation == .none
      ? nil
      : { block, cols in
        if cols.count == n {
          Gelu.forward(out: out + block.lowerBound * n, inp: out + block.lowerBound * n, count: block.count * n)
        } else {
          for r in block {
            Gelu.forward(out: out + r * n + cols.lowerBound, inp: out + r * n + cols.lowerBound, count: cols.count)
          }
        }
      }
    Gemm.matmulBlocks(
      inp, weight, out, m: rows, n: n, k: inFeatures, transB: true, beta: bias == nil ? 0 : 1, before: writeBias,
      after: activate)
  }

  /// dinp [rows, inF] += dout · W ; dweight [outF, inF] += doutᵀ · inp ; dbias [outF] += Σ_rows dout.
  /// `accumulate` false: dinp is written (beta 0), not added into, so it need not be zeroed first.
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = true
  ) {
    let products = (dinp == nil ? 0 : 1) + (dweight == nil ? 0 : 1)
    let scope = Profile.begin(
      .gemm, .backward, flops: 2 * (products * rows * inFeatures * outFeatures),
      bytes: 4 * (products * (2 * rows * inFeatures + outFeatures * inFeatures + rows * outFeatures)))
    defer { Profile.end(scope) }
    if let dinp {
      Gemm.matmul(dout, weight, dinp, m: rows, n: inFeatures, k: outFeatures, beta: accumulate ? 1 : 0)
    }
    if let dweight {
      Gemm.matmul(dout, inp, dweight, m: outFeatures, n: inFeatures, k: rows, transA: true, beta: 1)
    }
    if let dbias { Reduce.addColumnSums(into: dbias, dout, rows: rows, cols: outFeatures) }
  }
}

/// Reductions shared by several backward passes.
public enum Reduce {
  /// acc [cols] += Σ_r x [rows, cols], split over workers by rows with per-worker partial sums.
  public static func addColumnSums(
    into acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, cols: Int
  ) {
    let grain = max(1, (1 << 15) / max(cols, 1))
    let workers = Threads.workerCount(rows, grain: grain)
    if workers <= 1 {
      for r in 0..<rows { Elementwise.addInPlace(acc, x + r * cols, count: cols) }
      return
    }
    Scratch.withFloats(workers * cols) { partial in
      partial.update(repeating: 0, count: workers * cols)
      Threads.parallelWorkers(rows, grain: grain) { w, range in
        let p = partial + w * cols
        for r in range { Elementwise.addInPlace(p, x + r * cols, count: cols) }
      }
      for w in 0..<workers { Elementwise.addInPlace(acc, partial + w * cols, count: cols) }
    }
  }
}
