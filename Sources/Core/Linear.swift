// Fully connected layer in PyTorch's layout: y = x·Wᵀ + b.

public enum Linear {
  /// out [rows, outF] = inp [rows, inF] · weight [outF, inF]ᵀ + bias [outF]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int
  ) {
    if let bias {
      for r in 0..<rows { (out + r * outFeatures).update(from: bias, count: outFeatures) }
    }
    Gemm.matmul(
      inp, weight, out, m: rows, n: outFeatures, k: inFeatures, transB: true, beta: bias == nil ? 0 : 1)
  }

  /// dinp [rows, inF] += dout · W ; dweight [outF, inF] += doutᵀ · inp ; dbias [outF] += Σ_rows dout
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inFeatures: Int, outFeatures: Int
  ) {
    if let dinp {
      Gemm.matmul(dout, weight, dinp, m: rows, n: inFeatures, k: outFeatures, beta: 1)
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
