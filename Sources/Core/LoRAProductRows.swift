// The per-row kernels of LoRAProducts' backward, and what every row kernel reads: A and Bᵀ padded to whole groups of
// four ranks (the ranks past r read zeros), and the input's dropout mask row by row.

extension LoRAProducts {
  /// Row i of dout: ddown [padded] = s · dout_i · B, and gBt [padded, n] += down_i ⊗ dout_i (gradB / s, transposed).
  @inline(__always) static func doutRow(
    _ gi: UnsafePointer<Float>, _ downI: UnsafePointer<Float>, _ panels: Panels, _ scaling: Float,
    _ gBt: UnsafeMutablePointer<Float>, _ ddown: UnsafeMutablePointer<Float>
  ) {
    let n = panels.n
    for c0 in stride(from: 0, to: panels.padded, by: 4) {
      @inline(__always) func d(_ c: Int) -> F16x { F16x(repeating: c < panels.r ? downI[c] : 0) }
      let d0 = d(c0), d1 = d(c0 + 1), d2 = d(c0 + 2), d3 = d(c0 + 3)
      let b0 = panels.bt + c0 * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n
      let g0 = gBt + c0 * n, g1 = g0 + n, g2 = g1 + n, g3 = g2 + n
      var s0 = F16x(), s1 = F16x(), s2 = F16x(), s3 = F16x()
      var p = 0
      while p + 16 <= n {
        let v = load16(gi + p)
        s0 = fma16(v, load16(b0 + p), s0)
        s1 = fma16(v, load16(b1 + p), s1)
        s2 = fma16(v, load16(b2 + p), s2)
        s3 = fma16(v, load16(b3 + p), s3)
        store16(fma16(v, d0, load16(g0 + p)), g0 + p)
        store16(fma16(v, d1, load16(g1 + p)), g1 + p)
        store16(fma16(v, d2, load16(g2 + p)), g2 + p)
        store16(fma16(v, d3, load16(g3 + p)), g3 + p)
        p += 16
      }
      if p < n {
        let count = n - p
        let v = loadPartial(gi + p, count)
        s0 = fma16(v, loadPartial(b0 + p, count), s0)
        s1 = fma16(v, loadPartial(b1 + p, count), s1)
        s2 = fma16(v, loadPartial(b2 + p, count), s2)
        s3 = fma16(v, loadPartial(b3 + p, count), s3)
        storePartial(fma16(v, d0, loadPartial(g0 + p, count)), g0 + p, count)
        storePartial(fma16(v, d1, loadPartial(g1 + p, count)), g1 + p, count)
        storePartial(fma16(v, d2, loadPartial(g2 + p, count)), g2 + p, count)
        storePartial(fma16(v, d3, loadPartial(g3 + p, count)), g3 + p, count)
      }
      ddown[c0] = scaling * sumLanes(s0)
      ddown[c0 + 1] = scaling * sumLanes(s1)
      ddown[c0 + 2] = scaling * sumLanes(s2)
      ddown[c0 + 3] = scaling * sumLanes(s3)
    }
  }

  /// Row i of x: gA [padded, k] += ddown ⊗ (x_i ⊙ m_i), and dinput_i += m_i ⊙ (ddown · A) when given. The first
  /// group of ranks draws the mask; when more groups follow it leaves x_i ⊙ m_i, m_i and the running ddown · A in
  /// `buffers`, and dinput is written once, after the last group.
  @inline(__always) static func inputRow<M: RowMasks>(
    _ xi: UnsafePointer<Float>, _ masks: inout M, _ panels: Panels, _ ddown: UnsafePointer<Float>,
    _ gA: UnsafeMutablePointer<Float>, _ di: UnsafeMutablePointer<Float>?, _ buffers: RowBuffers
  ) {
    let k = panels.k, groups = panels.padded / 4
    for g in 0..<groups {
      let c0 = 4 * g
      let e0 = F16x(repeating: ddown[c0]), e1 = F16x(repeating: ddown[c0 + 1])
      let e2 = F16x(repeating: ddown[c0 + 2]), e3 = F16x(repeating: ddown[c0 + 3])
      let a0 = panels.aRow(c0), a1 = panels.aRow(c0 + 1), a2 = panels.aRow(c0 + 2), a3 = panels.aRow(c0 + 3)
      let g0 = gA + c0 * k, g1 = g0 + k, g2 = g1 + k, g3 = g2 + k
      var p = 0
      while p < k {
        let count = min(16, k - p)
        var v: F16x, m = F16x(repeating: 1)
        if g == 0 {
          v = count == 16 ? load16(xi + p) : loadPartial(xi + p, count)
          if M.drops {
            m = masks.next(p, count)
            v *= m
            if groups > 1 { store16(m, buffers.mask + p) }
          }
          if groups > 1 { store16(v, buffers.xd + p) }
        } else {
          v = load16(buffers.xd + p)
        }
        if count == 16 {
          store16(fma16(e0, v, load16(g0 + p)), g0 + p)
          store16(fma16(e1, v, load16(g1 + p)), g1 + p)
          store16(fma16(e2, v, load16(g2 + p)), g2 + p)
          store16(fma16(e3, v, load16(g3 + p)), g3 + p)
        } else {
          storePartial(fma16(e0, v, loadPartial(g0 + p, count)), g0 + p, count)
          storePartial(fma16(e1, v, loadPartial(g1 + p, count)), g1 + p, count)
          storePartial(fma16(e2, v, loadPartial(g2 + p, count)), g2 + p, count)
          storePartial(fma16(e3, v, loadPartial(g3 + p, count)), g3 + p, count)
        }
        if let di {
          let full = count == 16
          var d = (full ? load16(a0 + p) : loadPartial(a0 + p, count)) * e0
          d = fma16(full ? load16(a1 + p) : loadPartial(a1 + p, count), e1, d)
          d = fma16(full ? load16(a2 + p) : loadPartial(a2 + p, count), e2, d)
          d = fma16(full ? load16(a3 + p) : loadPartial(a3 + p, count), e3, d)
          if groups == 1 {
            addMasked(d, m, drops: M.drops, into: di + p, count)
          } else {
            if g > 0 { d += load16(buffers.dx + p) }
            store16(d, buffers.dx + p)
          }
        }
        p += 16
      }
    }
    if groups > 1, let di {
      var p = 0
      while p < k {
        addMasked(load16(buffers.dx + p), load16(buffers.mask + p), drops: M.drops, into: di + p, min(16, k - p))
        p += 16
      }
    }
  }

  /// out[0..<count] += m ⊙ d (or d when nothing is dropped).
  @inline(__always) static func addMasked(
    _ d: F16x, _ m: F16x, drops: Bool, into out: UnsafeMutablePointer<Float>, _ count: Int
  ) {
    let old = count == 16 ? load16(out) : loadPartial(out, count)
    let new = drops ? fma16(m, d, old) : old + d
    if count == 16 { store16(new, out) } else { storePartial(new, out, count) }
  }
}

/// A as rows (ranks past r: a row of zeros) and Bᵀ [padded, n] (rows past r zero), padded = r rounded up to 4.
struct Panels {
  let a: UnsafePointer<Float>
  let k: Int, n: Int, r: Int, padded: Int
  let bt: UnsafePointer<Float>
  /// max(k, n) + 16 zeros.
  let zeros: UnsafePointer<Float>

  static func padded(_ r: Int) -> Int { (r + 3) / 4 * 4 }

  /// body(panels) for A [r, k] and B [n, r], on a scratch buffer.
  static func with(
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, k: Int, n: Int, r: Int, _ body: (Panels) -> Void
  ) {
    let padded = padded(r), zeroCount = max(k, n) + 16
    Scratch.withFloats(padded * n + zeroCount) { buffer in
      for c in 0..<padded {
        for j in 0..<n { buffer[c * n + j] = c < r ? b[j * r + c] : 0 }
      }
      (buffer + padded * n).update(repeating: 0, count: zeroCount)
      body(Panels(a: a, k: k, n: n, r: r, padded: padded, bt: buffer, zeros: buffer + padded * n))
    }
  }

  @inline(__always) func aRow(_ c: Int) -> UnsafePointer<Float> { c < r ? a + c * k : zeros }

  /// out[c0 + j] = v_j for the ranks c0 + j < r.
  @inline(__always) func store(
    _ v0: Float, _ v1: Float, _ v2: Float, _ v3: Float, rank c0: Int, into out: UnsafeMutablePointer<Float>
  ) {
    out[c0] = v0
    if c0 + 1 < r { out[c0 + 1] = v1 }
    if c0 + 2 < r { out[c0 + 2] = v2 }
    if c0 + 3 < r { out[c0 + 3] = v3 }
  }
}

/// A worker's row buffers [k + 16] each, for ranks past the first four: x_i ⊙ m_i, m_i and ddown · A.
struct RowBuffers {
  let xd: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
}

/// The input's dropout mask, read row by row: a block's rows in order after `startBlock`, each after `startRow`.
protocol RowMasks {
  /// false: every value is 1 (`next` is never asked).
  static var drops: Bool { get }
  mutating func startBlock(_ block: Int)
  mutating func startRow(_ row: Int)
  /// The mask at columns p ..< p + count (count ≤ 16) of the current row; lanes past count are unspecified.
  mutating func next(_ p: Int, _ count: Int) -> F16x
}

struct NoMasks: RowMasks {
  static var drops: Bool { false }
  func startBlock(_ block: Int) {}
  func startRow(_ row: Int) {}
  func next(_ p: Int, _ count: Int) -> F16x { F16x(repeating: 1) }
}

struct GivenMasks: RowMasks {
  let base: UnsafePointer<Float>, cols: Int
  var row: UnsafePointer<Float>

  init(_ base: UnsafePointer<Float>, cols: Int) {
    self.base = base
    self.cols = cols
    row = base
  }

  static var drops: Bool { true }
  func startBlock(_ block: Int) {}
  mutating func startRow(_ i: Int) { row = base + i * cols }
  @inline(__always) func next(_ p: Int, _ count: Int) -> F16x {
    count == 16 ? load16(row + p) : loadPartial(row + p, count)
  }
}

struct DrawnMasks: RowMasks {
  let stream: DropoutStream
  var draw: MaskDraw

  init(_ stream: DropoutStream) {
    self.stream = stream
    draw = stream.draw(block: 0)
  }

  static var drops: Bool { true }
  mutating func startBlock(_ block: Int) { draw = stream.draw(block: block) }
  func startRow(_ row: Int) {}
  @inline(__always) mutating func next(_ p: Int, _ count: Int) -> F16x { draw.next16() }
}
