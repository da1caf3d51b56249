// A LoRA adapter's products on a Linear's input (peft/tuners/lora/layer.py `Linear.forward`: s · B(A(dropout(x))))
// and their gradients, one pass over each row of x instead of general GEMMs. With r of a few units the products
// are memory-bound skinny GEMMs (x [M, K] by Aᵀ [K, r]) that sgemm runs far below the bandwidth; here each row of x
// is read once, masked on the fly (the mask is drawn, never stored: DropoutStream), its r dot products taken, and
// B's product added into the same row of y while it is in cache. Backward reads dout's row once (gradB and
// ddown = s·dout·B) and x's row once (gradA and dinput += mask ⊙ ddown·A). Rows go to the workers in blocks of
// DropoutStream.rowsPerBlock; gradA and gradB are summed per stripe of blocks (a fixed number of stripes) and the
// stripes added in order, so every result is the same on any thread count.

/// Where the dropout mask on an adapter's input comes from.
public enum InputMask {
  /// Nothing dropped (eval, p = 0).
  case none
  /// An explicit mask of the input's shape, values 0 or 1/(1-p).
  case given(Tensor)
  /// Drawn, and redrawn identically, from a stream.
  case drawn(DropoutStream)
}

public enum LoRAProducts {
  /// down [rows, r] = dropout(x) · Aᵀ, and y [rows, out] += s · down · Bᵀ when y is given.
  /// x [rows, in], A [r, in], B [out, r].
  public static func forward(
    x: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>?,
    down: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int, rank: Int, scaling: Float,
    mask: InputMask
  ) {
    let (k, n, r) = (inFeatures, outFeatures, rank)
    let scope = Profile.begin(
      .lora, flops: 2 * rows * r * (k + (y == nil ? 0 : n)), bytes: 4 * (rows * (k + r) + (y == nil ? 0 : 2 * rows * n))
    )
    defer { Profile.end(scope) }
    if rows == 0 || r == 0 { return }
    let perBlock = DropoutStream.rowsPerBlock(cols: k)
    let blocks = (rows + perBlock - 1) / perBlock
    func run<M: RowMasks>(_ initial: M, _ panels: Panels) {
      Threads.parallelChunks(blocks, grain: max(1, (1 << 16) / (perBlock * k))) { range in
        var masks = initial
        Scratch.withFloats(k + 16) { xd in
          for block in range {
            masks.startBlock(block)
            for i in (block * perBlock)..<min(rows, (block + 1) * perBlock) {
              masks.startRow(i)
              downRow(x + i * k, &masks, panels, xd, down + i * r)
              if let y { addUpRow(y + i * n, down + i * r, panels, scaling) }
            }
          }
        }
      }
    }
    Panels.with(a: a, b: b, k: k, n: n, r: r) { panels in
      switch mask {
      case .none: run(NoMasks(), panels)
      case .given(let m): withExtendedLifetime(m) { run(GivenMasks(m.data, cols: k), panels) }
      case .drawn(let stream): run(DrawnMasks(stream), panels)
      }
    }
  }

  /// gradA [r, in] += ddownᵀ · dropout(x) and gradB [out, r] += s · doutᵀ · down, with ddown = s · dout · B; and
  /// dinput [rows, in] += mask ⊙ (ddown · A) when dinput is given. down [rows, r] is the forward's.
  public static func backward(
    dout: UnsafePointer<Float>, x: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    down: UnsafePointer<Float>, gradA: UnsafeMutablePointer<Float>, gradB: UnsafeMutablePointer<Float>,
    dinput: UnsafeMutablePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int, rank: Int, scaling: Float,
    mask: InputMask
  ) {
    let (k, n, r) = (inFeatures, outFeatures, rank)
    let scope = Profile.begin(
      .lora, flops: 4 * rows * r * n + (dinput == nil ? 2 : 4) * rows * r * k,
      bytes: 4 * (rows * (n + k + r) + (dinput == nil ? 0 : 2 * rows * k)))
    defer { Profile.end(scope) }
    if rows == 0 || r == 0 { return }
    let perBlock = DropoutStream.rowsPerBlock(cols: k)
    let blocks = (rows + perBlock - 1) / perBlock
    let stripes = min(blocks, 8)
    let padded = Panels.padded(r)
    let perStripe = padded * (k + n)  // per stripe: gradA [rp, k] then (gradB / s)ᵀ [rp, n]
    func run<M: RowMasks>(_ initial: M, _ panels: Panels, _ partials: UnsafeMutablePointer<Float>) {
      Threads.parallelFor(stripes, grain: max(1, stripes * (1 << 16) / (rows * (k + n)))) { stripe in
        var masks = initial
        let gA = partials + stripe * perStripe, gBt = gA + padded * k
        gA.update(repeating: 0, count: perStripe)
        Scratch.withFloats(3 * (k + 16) + padded) { buffers in
          let rowBuffers = RowBuffers(xd: buffers, mask: buffers + k + 16, dx: buffers + 2 * (k + 16))
          let ddown = buffers + 3 * (k + 16)
          for block in (stripe * blocks / stripes)..<((stripe + 1) * blocks / stripes) {
            masks.startBlock(block)
            for i in (block * perBlock)..<min(rows, (block + 1) * perBlock) {
              masks.startRow(i)
              doutRow(dout + i * n, down + i * r, panels, scaling, gBt, ddown)
              inputRow(x + i * k, &masks, panels, ddown, gA, dinput.map { $0 + i * k }, rowBuffers)
            }
          }
        }
      }
    }
    Panels.with(a: a, b: b, k: k, n: n, r: r) { panels in
      Scratch.withFloats(stripes * perStripe) { partials in
        switch mask {
        case .none: run(NoMasks(), panels, partials)
        case .given(let m): withExtendedLifetime(m) { run(GivenMasks(m.data, cols: k), panels, partials) }
        case .drawn(let stream): run(DrawnMasks(stream), panels, partials)
        }
        // The stripes' sums, added in stripe order.
        Threads.parallelChunks(r * k, grain: 1 << 14) { range in
          for j in range {
            var sum: Float = 0
            for s in 0..<stripes { sum += partials[s * perStripe + j] }
            gradA[j] += sum
          }
        }
        for c in 0..<r {
          for j in 0..<n {
            var sum: Float = 0
            for s in 0..<stripes { sum += partials[s * perStripe + padded * k + c * n + j] }
            gradB[j * r + c] += scaling * sum
          }
        }
      }
    }
  }

  /// down_i [r] = (x_i ⊙ m_i) · Aᵀ, ranks four at a time; the first group draws the mask and, when more groups
  /// follow, leaves x_i ⊙ m_i in `xd` for them.
  @inline(__always) static func downRow<M: RowMasks>(
    _ xi: UnsafePointer<Float>, _ masks: inout M, _ panels: Panels, _ xd: UnsafeMutablePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    let k = panels.k, groups = panels.padded / 4
    for g in 0..<groups {
      let c0 = 4 * g
      let a0 = panels.aRow(c0), a1 = panels.aRow(c0 + 1), a2 = panels.aRow(c0 + 2), a3 = panels.aRow(c0 + 3)
      var s0 = F16x(), s1 = F16x(), s2 = F16x(), s3 = F16x()
      var p = 0
      while p < k {
        let count = min(16, k - p)
        var v: F16x
        if g == 0 {
          v = count == 16 ? load16(xi + p) : loadPartial(xi + p, count)
          if M.drops { v *= masks.next(p, count) }
          if groups > 1 { store16(v, xd + p) }
        } else {
          v = load16(xd + p)
        }
        if count == 16 {
          s0 = fma16(v, load16(a0 + p), s0)
          s1 = fma16(v, load16(a1 + p), s1)
          s2 = fma16(v, load16(a2 + p), s2)
          s3 = fma16(v, load16(a3 + p), s3)
        } else {
          s0 = fma16(v, loadPartial(a0 + p, count), s0)
          s1 = fma16(v, loadPartial(a1 + p, count), s1)
          s2 = fma16(v, loadPartial(a2 + p, count), s2)
          s3 = fma16(v, loadPartial(a3 + p, count), s3)
        }
        p += 16
      }
      panels.store(sumLanes(s0), sumLanes(s1), sumLanes(s2), sumLanes(s3), rank: c0, into: out)
    }
  }

  /// y_i [n] += Σ_c (s · down_i[c]) · Bᵀ[c].
  @inline(__always) static func addUpRow(
    _ yi: UnsafeMutablePointer<Float>, _ downI: UnsafePointer<Float>, _ panels: Panels, _ scaling: Float
  ) {
    let n = panels.n
    for c0 in stride(from: 0, to: panels.padded, by: 4) {
      @inline(__always) func d(_ c: Int) -> F16x { F16x(repeating: c < panels.r ? scaling * downI[c] : 0) }
      let d0 = d(c0), d1 = d(c0 + 1), d2 = d(c0 + 2), d3 = d(c0 + 3)
      let b0 = panels.bt + c0 * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n
      var p = 0
      while p + 16 <= n {
        var v = load16(yi + p)
        v = fma16(load16(b0 + p), d0, v)
        v = fma16(load16(b1 + p), d1, v)
        v = fma16(load16(b2 + p), d2, v)
        v = fma16(load16(b3 + p), d3, v)
        store16(v, yi + p)
        p += 16
      }
      if p < n {
        let count = n - p
        var v = loadPartial(yi + p, count)
        v = fma16(loadPartial(b0 + p, count), d0, v)
        v = fma16(loadPartial(b1 + p, count), d1, v)
        v = fma16(loadPartial(b2 + p, count), d2, v)
        v = fma16(loadPartial(b3 + p, count), d3, v)
        storePartial(v, yi + p, count)
      }
    }
  }
}
