// Products with an NF4 weight W [out, in] that never expand the whole weight (bitsandbytes' Linear4bit
// forward and MatMul4Bit's input gradient, in fp32):
//   forward  y [rows, out] = x [rows, in] · Wᵀ + b
//   backward dx [rows, in] += dy [rows, out] · W
// Every weight value used is bit-identical to `dequantize`, so the results are those of the fp32 Linear on
// the dequantized weight up to the order of the fp32 sums.
//
// Few rows (a decoder step: 1 row per beam) are bound by reading the weight: a fused kernel reads each
// weight row's codes once (1/8 of the fp32 bytes), expands them in registers and takes the dot products
// with all rows of x at once. Many rows (training, the encoder, vision) are bound by arithmetic: the weight
// is expanded one tile at a time into a per-worker buffer that stays in L2 (rows of W for the forward,
// columns for the backward, so each tile writes its own part of the output) and multiplied with sgemm.
// Small weights are expanded whole (the buffer is no bigger than a tile) and go through `Linear`.

extension NF4Tensor {
  /// How products with an NF4 weight are computed. `.expandWhole` is the first implementation (the whole
  /// weight expanded into one buffer per call), kept for the before/after benchmark and as a test reference.
  public enum Kernel: Sendable { case tiled, expandWhole }
  nonisolated(unsafe) public static var kernel = Kernel.tiled
  /// Floats in one expanded tile: 256K floats = 1 MiB, so the temporary stays small next to a weight of base's
  /// fc1/fc2 (9 MiB as fp32) while each sgemm call is long enough that repacking x for it costs little.
  nonisolated(unsafe) public static var tileFloats = 1 << 18
  /// Fewest weight rows (forward) or columns (backward) in a tile: sgemm repacks x for every tile, which costs
  /// about 1/tile-rows of the tile's arithmetic (measured: 16-row tiles made base's encoder 20% slower).
  nonisolated(unsafe) public static var tileMinimum = 256
  /// Up to this many rows of x the forward uses the fused kernel (the decoder step's beams).
  nonisolated(unsafe) public static var fusedRowLimit = 6

  /// out [rows, outF] = inp [rows, inF] · W [outF, inF]ᵀ + bias [outF], W = this tensor (shape [outF, inF]).
  public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int
  ) {
    let (outF, inF) = (shape[0], shape[1])
    if rows == 0 { return }
    if Self.kernel == .expandWhole || outF * inF <= Self.tileFloats {
      Scratch.withFloats(outF * inF) { w in
        expandWhole(into: w)
        Linear.forward(out: out, inp: inp, weight: w, bias: bias, rows: rows, inFeatures: inF, outFeatures: outF)
      }
      return
    }
    if rows <= Self.fusedRowLimit && inF % 16 == 0 {
      withView { fusedForward($0, out: out, inp: inp, bias: bias, rows: rows) }
      return
    }
    if let bias {
      for r in 0..<rows { (out + r * outF).update(from: bias, count: outF) }
    }
    // Tiles of whole weight rows: rows [j0, j1) of W give columns [j0, j1) of out. Each tile is expanded by all
    // workers, then multiplied by all of them (Gemm splits the product).
    let tileRows = Swift.min(outF, Swift.max(16, Swift.max(Self.tileMinimum, Self.tileFloats / inF) / 16 * 16))
    withView { view in
      Scratch.withFloats(tileRows * inF) { w in
        for j0 in stride(from: 0, to: outF, by: tileRows) {
          let n = Swift.min(outF, j0 + tileRows) - j0
          Threads.parallelChunks(n, grain: Swift.max(1, (1 << 14) / inF)) { range in
            view.decode(from: (j0 + range.lowerBound) * inF, count: range.count * inF, into: w + range.lowerBound * inF)
          }
          Gemm.matmul(inp, w, out + j0, m: rows, n: n, k: inF, transB: true, beta: bias == nil ? 0 : 1, ldc: outF)
        }
      }
    }
  }

  /// dinp [rows, inF] += dout [rows, outF] · W [outF, inF].
  public func linearBackwardInput(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int) {
    let (outF, inF) = (shape[0], shape[1])
    if rows == 0 { return }
    if Self.kernel == .expandWhole || outF * inF <= Self.tileFloats || inF % 16 != 0 {
      // (A column tile of a weight whose rows are not a multiple of 16 values long would be expanded value by
      // value; such weights only occur in tests, so they take the simple path.)
      Scratch.withFloats(outF * inF) { w in
        expandWhole(into: w)
        Gemm.matmul(dout, w, dinp, m: rows, n: inF, k: outF, beta: 1)  // Linear.backward's input gradient
      }
      return
    }
    // Tiles of columns of W: columns [i0, i1) give columns [i0, i1) of dinp; expanded, then multiplied, by all
    // workers as in the forward.
    let tileCols = Swift.min(inF, Swift.max(16, Swift.max(Self.tileMinimum, Self.tileFloats / outF) / 16 * 16))
    withView { view in
      Scratch.withFloats(outF * tileCols) { w in
        for i0 in stride(from: 0, to: inF, by: tileCols) {
          let n = Swift.min(inF, i0 + tileCols) - i0
          Threads.parallelChunks(outF, grain: Swift.max(1, (1 << 14) / n)) { range in
            for j in range { view.decode(from: j * inF + i0, count: n, into: w + j * n) }
          }
          Gemm.matmul(dout, w, dinp + i0, m: rows, n: n, k: outF, beta: 1, ldb: n, ldc: inF)
        }
      }
    }
  }

  /// The whole weight into `w` (row-major [out, in]), split over the workers by rows.
  func expandWhole(into w: UnsafeMutablePointer<Float>) {
    if Self.kernel == .expandWhole || shape[1] % 16 != 0 {
      dequantizeFast(into: w)
      return
    }
    let inF = shape[1]
    withView { view in
      Threads.parallelChunks(shape[0], grain: Swift.max(1, (1 << 14) / inF)) { range in
        view.decode(from: range.lowerBound * inF, count: range.count * inF, into: w + range.lowerBound * inF)
      }
    }
  }

  /// out[r, j] = x_r · W_j + bias_j for rows ≤ fusedRowLimit, inF a multiple of 16: each weight row's codes
  /// are read once and expanded in registers, split by parity (the high nibbles are the even values), so x is
  /// first rearranged the same way: in each group of 16, the 8 even values then the 8 odd ones.
  private func fusedForward(
    _ view: NF4View, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    rows: Int
  ) {
    let (outF, inF) = (shape[0], shape[1])
    Scratch.withFloats(rows * inF) { xs in
      for r in 0..<rows {
        let x = inp + r * inF, s = xs + r * inF
        for g in stride(from: 0, to: inF, by: 16) {
          for t in 0..<8 {
            s[g + t] = x[g + 2 * t]
            s[g + 8 + t] = x[g + 2 * t + 1]
          }
        }
      }
      // Pieces of at least 64K weight values: a region costs a few microseconds, 64K values about 10.
      Threads.parallelChunks(outF, grain: Swift.max(1, (1 << 16) / inF)) { range in
        // One row alone when rows is 1 or 4 (greedy decoding; the 4th of 4), then groups of three; a short
        // group repeats its last row.
        let grouped = rows % 3 == 1 ? rows - 1 : rows
        if grouped < rows {
          let x = UnsafeRawPointer(xs + grouped * inF)
          for j in range { out[grouped * outF + j] = view.dotRow(j, inF, x) + (bias?[j] ?? 0) }
        }
        var r0 = 0
        while r0 < grouped {
          let x0 = UnsafeRawPointer(xs + r0 * inF), x1 = UnsafeRawPointer(xs + Swift.min(r0 + 1, grouped - 1) * inF)
          let x2 = UnsafeRawPointer(xs + Swift.min(r0 + 2, grouped - 1) * inF)
          for j in range {
            let (d0, d1, d2) = view.dotRows3(j, inF, x0, x1, x2)
            let b = bias?[j] ?? 0
            out[r0 * outF + j] = d0 + b
            if r0 + 1 < grouped { out[(r0 + 1) * outF + j] = d1 + b }
            if r0 + 2 < grouped { out[(r0 + 2) * outF + j] = d2 + b }
          }
          r0 += 3
        }
      }
    }
  }
}

extension NF4View {
  /// x · W_j for weight row j of a matrix with `inF` (a multiple of 16) values per row, x rearranged by parity
  /// in groups of 16 (see fusedForward). Walks the row block by block: one table per 64-block (or the part of
  /// it in this row), then 16 values per step.
  @inline(__always) func dotRow(_ j: Int, _ inF: Int, _ x: UnsafeRawPointer) -> Float {
    var a = SIMD8<Float>(), b = SIMD8<Float>()
    let start = j &* inF
    var g = 0
    while g < inF {
      let block = (start &+ g) &>> 6
      let end = Swift.min(inF, (block &+ 1) &<< 6 &- start)
      let l = lut(block)
      while g < end {
        let (even, odd) = decode16(packed + ((start &+ g) &>> 1), l)
        a.addProduct(x.loadUnaligned(fromByteOffset: g &* 4, as: SIMD8<Float>.self), even)
        b.addProduct(x.loadUnaligned(fromByteOffset: g &* 4 &+ 32, as: SIMD8<Float>.self), odd)
        g &+= 16
      }
    }
    return sum8(a + b)
  }

  /// `dotRow` for three rows of x at once: the codes are expanded once for all three.
  @inline(__always) func dotRows3(
    _ j: Int, _ inF: Int, _ x0: UnsafeRawPointer, _ x1: UnsafeRawPointer, _ x2: UnsafeRawPointer
  ) -> (Float, Float, Float) {
    var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>()
    var a2 = SIMD8<Float>(), b2 = SIMD8<Float>()
    let start = j &* inF
    var g = 0
    while g < inF {
      let block = (start &+ g) &>> 6
      let end = Swift.min(inF, (block &+ 1) &<< 6 &- start)
      let l = lut(block)
      while g < end {
        let (even, odd) = decode16(packed + ((start &+ g) &>> 1), l)
        let o = g &* 4
        a0.addProduct(x0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), even)
        b0.addProduct(x0.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self), odd)
        a1.addProduct(x1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), even)
        b1.addProduct(x1.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self), odd)
        a2.addProduct(x2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), even)
        b2.addProduct(x2.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self), odd)
        g &+= 16
      }
    }
    return (sum8(a0 + b0), sum8(a1 + b1), sum8(a2 + b2))
  }
}

/// Horizontal sum by halving.
@inline(__always) private func sum8(_ v: SIMD8<Float>) -> Float {
  let a = v.lowHalf + v.highHalf
  let b = a.lowHalf + a.highHalf
  return b[0] + b[1]
}
