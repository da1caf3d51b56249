// Softmax over the last dimension. Masking is done by the caller adding -inf (or a large negative)
// to the inputs; a row whose every entry is -inf gives all zeros (torch would give NaN).

public enum Softmax {
  /// out [rows, dim] = softmax(inp [rows, dim]) row by row; out may alias inp.
  public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, dim: Int) {
    let scope = Profile.begin(.softmax, .forward, bytes: 8 * (rows * dim))
    defer { Profile.end(scope) }
    Threads.parallelChunks(rows, grain: max(1, 4096 / max(dim, 1))) { range in
      for r in range { row(out + r * dim, inp + r * dim, dim) }
    }
  }

  /// One row, serial (also used by Attention inside its workers).
  @inline(__always) static func row(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
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
    if m == -.infinity {
      o.update(repeating: 0, count: n)
      return
    }
    let vm = F16x(repeating: m)
    var acc = F16x()
    i = 0
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

  /// dinp += scale · p ⊙ (g - Σ g·p) for one row.
  @inline(__always) static func rowBackward(
    _ d: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ n: Int, scale: Float
  ) {
    var acc = F16x()
    var i = 0
    while i + 16 <= n {
      acc = fma16(load16(g + i), load16(p + i), acc)
      i += 16
    }
    var dot = sumLanes(acc)
    while i < n {
      dot += g[i] * p[i]
      i += 1
    }
    let vdot = F16x(repeating: dot), vs = F16x(repeating: scale)
    i = 0
    while i + 16 <= n {
      store16(fma16(load16(p + i) * vs, load16(g + i) - vdot, load16(d + i)), d + i)
      i += 16
    }
    while i < n {
      d[i] += scale * p[i] * (g[i] - dot)
      i += 1
    }
  }
}
