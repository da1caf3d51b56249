// Layer normalisation over the last dimension (torch nn.LayerNorm with an affine weight and bias).
// Statistics are computed in two passes (mean, then centred variance), like torch's CPU kernel, which
// keeps float rounding close to it.

public enum LayerNorm {
  /// out [rows, dim] = (inp - mean) · rstd · weight [dim] + bias [dim]; mean, rstd [rows] saved if given.
  public static func forward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
  ) {
    let scope = Profile.begin(.layerNorm, .forward, flops: 8 * (rows * dim), bytes: 8 * (rows * dim))
    defer { Profile.end(scope) }
    Threads.parallelChunks(rows, grain: max(1, 4096 / max(dim, 1))) { range in
      for r in range {
        let s = normalize(out: out + r * dim, inp: inp + r * dim, sum: sum(inp + r * dim, dim), weight, bias, dim, eps)
        mean?[r] = s.mean
        rstd?[r] = s.rstd
      }
    }
  }

  /// sum [rows, dim] += residual [rows, dim], then out = LN(sum), row after row on the calling thread (an item of a
  /// decoding step's stage): the bits of Elementwise.addInPlace and then forward, the add fused into the mean's pass.
  public static func forwardAddingResidual(
    out: UnsafeMutablePointer<Float>, sum: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
  ) {
    for r in 0..<rows {
      let x = sum + r * dim, y = residual + r * dim
      var acc = F16x()
      var i = 0
      while i + 16 <= dim {
        let v = load16(x + i) + load16(y + i)
        store16(v, x + i)
        acc += v
        i += 16
      }
      var total = sumLanes(acc)
      while i < dim {
        x[i] = x[i] + y[i]
        total += x[i]
        i += 1
      }
      _ = normalize(out: out + r * dim, inp: x, sum: total, weight, bias, dim, eps)
    }
  }

  /// One row: mean = sum / dim, the centred variance in a second pass, out = (x - mean) · rstd · weight + bias.
  @inline(__always) static func normalize(
    out o: UnsafeMutablePointer<Float>, inp x: UnsafePointer<Float>, sum: Float, _ weight: UnsafePointer<Float>,
    _ bias: UnsafePointer<Float>, _ dim: Int, _ eps: Float
  ) -> (mean: Float, rstd: Float) {
    let m = sum / Float(dim)
    let vm = F16x(repeating: m)
    var acc = F16x()
    var i = 0
    while i + 16 <= dim {
      let d = load16(x + i) - vm
      acc = fma16(d, d, acc)
      i += 16
    }
    var v = sumLanes(acc)
    while i < dim {
      v += (x[i] - m) * (x[i] - m)
      i += 1
    }
    let s = 1 / (v / Float(dim) + eps).squareRoot()
    let vs = F16x(repeating: s)
    i = 0
    while i + 16 <= dim {
      store16(fma16((load16(x + i) - vm) * vs, load16(weight + i), load16(bias + i)), o + i)
      i += 16
    }
    while i < dim {
      o[i] = (x[i] - m) * s * weight[i] + bias[i]
      i += 1
    }
    return (m, s)
  }

  /// With n = (x - mean)·rstd and g = dout·weight:
  /// dinp += rstd · (g - mean(g) - n · mean(g·n)) ; dweight += Σ_rows dout·n ; dbias += Σ_rows dout.
  /// `accumulate` false: dinp is written, not added into (the same bits as adding into zeros).
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, rows: Int, dim: Int, accumulate: Bool = true
  ) {
    let scope = Profile.begin(.layerNorm, .backward, flops: 12 * (rows * dim), bytes: 16 * (rows * dim))
    defer { Profile.end(scope) }
    if let dbias { Reduce.addColumnSums(into: dbias, dout, rows: rows, cols: dim) }
    let workers = dweight == nil ? 1 : Threads.workerCount(rows)
    Scratch.withFloats(max(1, workers * dim)) { partial in
      if dweight != nil { partial.update(repeating: 0, count: workers * dim) }
      Threads.parallelWorkers(rows) { w, range in
        for r in range {
          let x = inp + r * dim, g = dout + r * dim
          let m = mean[r], s = rstd[r]
          let vm = F16x(repeating: m), vs = F16x(repeating: s)
          let pw = partial + w * dim
          // Pass 1: Σ g·w and Σ g·w·n (n = normalised input); dweight partial += g·n.
          var accG = F16x(), accGN = F16x()
          var i = 0
          while i + 16 <= dim {
            let n = (load16(x + i) - vm) * vs
            let gv = load16(g + i)
            let gw = gv * load16(weight + i)
            accG += gw
            accGN = fma16(gw, n, accGN)
            if dweight != nil { store16(fma16(gv, n, load16(pw + i)), pw + i) }
            i += 16
          }
          var sumG = sumLanes(accG), sumGN = sumLanes(accGN)
          while i < dim {
            let n = (x[i] - m) * s
            sumG += g[i] * weight[i]
            sumGN += g[i] * weight[i] * n
            if dweight != nil { pw[i] += g[i] * n }
            i += 1
          }
          guard let dinp else { continue }
          let meanG = sumG / Float(dim), meanGN = sumGN / Float(dim)
          let vmeanG = F16x(repeating: meanG), vmeanGN = F16x(repeating: meanGN)
          let d = dinp + r * dim
          // Pass 2: dinp += rstd · (g·w - mean(g·w) - n · mean(g·w·n))
          i = 0
          while i + 16 <= dim {
            let n = (load16(x + i) - vm) * vs
            let t = fma16(load16(g + i), load16(weight + i), -vmeanG) - n * vmeanGN
            store16(accumulate ? fma16(vs, t, load16(d + i)) : vs * t, d + i)
            i += 16
          }
          while i < dim {
            let n = (x[i] - m) * s
            let v = s * (g[i] * weight[i] - meanG - n * meanGN)
            d[i] = accumulate ? d[i] + v : v
            i += 1
          }
        }
      }
      if let dweight { for w in 0..<workers { Elementwise.addInPlace(dweight, partial + w * dim, count: dim) } }
    }
  }

  @inline(__always) static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16x()
    var i = 0
    while i + 16 <= n {
      acc += load16(x + i)
      i += 16
    }
    var s = sumLanes(acc)
    while i < n {
      s += x[i]
      i += 1
    }
    return s
  }
}
