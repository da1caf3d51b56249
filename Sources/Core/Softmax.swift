// Softmax over the last dimension. Masking is done by the caller adding -inf (or a large negative)
// to the inputs; a row whose every entry is -inf gives all zeros (torch would give NaN).
import CFlrKernels

public enum Softmax {
  /// out [rows, dim] = softmax(inp [rows, dim]) row by row; out may alias inp.
  public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, dim: Int) {
    let scope = Profile.begin(.softmax, .forward, bytes: 8 * (rows * dim))
    defer { Profile.end(scope) }
    Threads.parallelChunks(rows, grain: max(1, 4096 / max(dim, 1))) { range in
      for r in range { row(out + r * dim, inp + r * dim, dim) }
    }
  }

  /// One row, serial (also used by Attention inside its workers). On the avx2 / avx512 kernel paths, the
  /// dispatched C row (Sources/Kernels/softmax.c: AVX-512 runs each SIMD16 step in one register where this
  /// x86-64-v3 build takes two); else (aarch64, FLR_KERNELS=portable) `simd16Row`. Same bits (SoftmaxKernelTests).
  @inline(__always) static func row(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    if KernelPath.active != .portable {
      flr_softmax_row(o, x, n)
    } else {
      simd16Row(o, x, n)
    }
  }

  /// The row in Swift SIMD16: max, exp16 summed by lanes, the tail in order, times 1 / sum.
  @inline(__always) static func simd16Row(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    let m = rowMax(x, n)
    if m == -.infinity {
      o.update(repeating: 0, count: n)
      return
    }
    let vm = F16x(repeating: m)
    var acc = F16x()
    var i = 0
    while i + 16 <= n {
      let e = exp16(load16(x + i) - vm)
      store16(e, o + i)
      acc += e
      i += 16
    }
    var s = sumLanes(acc)
    while i < n {
      let e = exp1(x[i] - m)
      o[i] = e
      s += e
      i += 1
    }
    let inv = F16x(repeating: 1 / s)
    i = 0
    while i + 16 <= n {
      store16(load16(o + i) * inv, o + i)
      i += 16
    }
    while i < n {
      o[i] *= inv[0]
      i += 1
    }
  }

  /// dinp [rows, dim] += probs ⊙ (dout - Σ_j dout·probs); dinp must not alias dout.
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, probs: UnsafePointer<Float>, rows: Int, dim: Int
  ) {
    let scope = Profile.begin(.softmax, .backward, bytes: 12 * (rows * dim))
    defer { Profile.end(scope) }
    Threads.parallelChunks(rows, grain: max(1, 4096 / max(dim, 1))) { range in
      for r in range { rowBackward(dinp + r * dim, dout + r * dim, probs + r * dim, dim, scale: 1) }
    }
  }

  /// One row of the softmax backward, scale · p ⊙ (g - Σ g·p): added into d (`accumulate`, d must not alias
  /// g), or written into d (which may be g itself: the attention backward's scores, in place).
  @inline(__always) static func rowBackward(
    _ d: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ n: Int, scale: Float,
    accumulate: Bool = true
  ) {
    let dot = rowDot(g, p, n)
    let vdot = F16x(repeating: dot), vs = F16x(repeating: scale)
    forEachLane(
      n,
      { i in
        let y = load16(p + i) * vs
        store16(accumulate ? fma16(y, load16(g + i) - vdot, load16(d + i)) : y * (load16(g + i) - vdot), d + i)
      },
      { i in
        let y = scale * p[i] * (g[i] - dot)
        if accumulate { d[i] += y } else { d[i] = y }
      })
  }

  /// The softmax backward for one row whose probabilities p went through dropout, D = p ⊙ M (the gradient
  /// reaching p is M ⊙ g): g ← scale · (D ⊙ g - p · Σ D·g), in place.
  @inline(__always) static func droppedRowBackward(
    _ g: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, _ dropped: UnsafePointer<Float>, _ n: Int,
    scale: Float
  ) {
    let dot = rowDot(g, dropped, n)
    let vdot = F16x(repeating: dot), vs = F16x(repeating: scale)
    forEachLane(
      n, { i in store16(vs * (load16(dropped + i) * load16(g + i) - load16(p + i) * vdot), g + i) },
      { i in g[i] = scale * (dropped[i] * g[i] - p[i] * dot) })
  }

  /// Σ a·b over one row.
  @inline(__always) static func rowDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16x()
    var i = 0
    while i + 16 <= n {
      acc = fma16(load16(a + i), load16(b + i), acc)
      i += 16
    }
    var dot = sumLanes(acc)
    while i < n {
      dot += a[i] * b[i]
      i += 1
    }
    return dot
  }

  /// max over one row (-inf for an empty or all -inf row).
  @inline(__always) static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var vmax = F16x(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
      vmax = maxLanes(vmax, load16(x + i))
      i += 16
    }
    var m = maxOfLanes(vmax)
    while i < n {
      m = Swift.max(m, x[i])
      i += 1
    }
    return m
  }

  /// vector(i) for each whole block of 16 lanes from 0, then scalar(i) for each index left: the loop shape of
  /// the row kernels.
  @inline(__always) static func forEachLane(_ n: Int, _ vector: (Int) -> Void, _ scalar: (Int) -> Void) {
    var i = 0
    while i + 16 <= n {
      vector(i)
      i += 16
    }
    while i < n {
      scalar(i)
      i += 1
    }
  }
}
