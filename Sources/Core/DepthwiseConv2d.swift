// Depthwise convolution (groups = C) on channels-last activations, stride 1, zero padding k/2: DaViT's
// positional conv. SIMD runs over channels, which are contiguous in channels-last; the weight is
// transposed once per call to [k·k, C] so each tap is one vector load.

public enum DepthwiseConv2d {
  /// out [B, H, W, C] = dwconv(inp [B, H, W, C], weight [C, 1, k, k]) + bias [C]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, batch: Int, height: Int, width: Int, channels: Int, kernel: Int = 3
  ) {
    let kk = kernel * kernel, pad = kernel / 2, C = channels
    Scratch.withFloats(kk * C) { taps in
      transposeWeight(taps, weight, channels: C, kk: kk)
      Threads.parallelFor(batch * height) { by in
        let b = by / height, y = by % height
        for x in 0..<width {
          let o = out + ((b * height + y) * width + x) * C
          var c = 0
          while c < C {
            let lanes = min(16, C - c)
            var acc = bias.map { loadPartial($0 + c, lanes) } ?? F16x()
            for ky in 0..<kernel {
              let iy = y + ky - pad
              if iy < 0 || iy >= height { continue }
              for kx in 0..<kernel {
                let ix = x + kx - pad
                if ix < 0 || ix >= width { continue }
                let src = inp + ((b * height + iy) * width + ix) * C + c
                acc = fma16(loadPartial(src, lanes), loadPartial(taps + (ky * kernel + kx) * C + c, lanes), acc)
              }
            }
            storePartial(acc, o + c, lanes)
            c += 16
          }
        }
      }
    }
  }

  /// dinp += dout ⋆ flipped kernel ; dweight [C, 1, k, k] += Σ dout · shifted inp ; dbias [C] += Σ dout
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    batch: Int, height: Int, width: Int, channels: Int, kernel: Int = 3
  ) {
    let kk = kernel * kernel, pad = kernel / 2, C = channels
    if let dbias { Reduce.addColumnSums(into: dbias, dout, rows: batch * height * width, cols: C) }
    if let dinp {
      Scratch.withFloats(kk * C) { taps in
        transposeWeight(taps, weight, channels: C, kk: kk)
        // inp pixel (iy, ix) fed out pixel (iy - ky + pad, ix - kx + pad) through tap (ky, kx).
        Threads.parallelFor(batch * height) { by in
          let b = by / height, iy = by % height
          for ix in 0..<width {
            let d = dinp + ((b * height + iy) * width + ix) * C
            var c = 0
            while c < C {
              let lanes = min(16, C - c)
              var acc = F16x()
              for ky in 0..<kernel {
                let y = iy - ky + pad
                if y < 0 || y >= height { continue }
                for kx in 0..<kernel {
                  let x = ix - kx + pad
                  if x < 0 || x >= width { continue }
                  let g = dout + ((b * height + y) * width + x) * C + c
                  acc = fma16(loadPartial(g, lanes), loadPartial(taps + (ky * kernel + kx) * C + c, lanes), acc)
                }
              }
              storePartial(loadPartial(d + c, lanes) + acc, d + c, lanes)
              c += 16
            }
          }
        }
      }
    }
    if let dweight {
      let workers = Threads.workerCount(batch * height)
      Scratch.withFloats(workers * kk * C) { partial in
        partial.update(repeating: 0, count: workers * kk * C)
        Threads.parallelWorkers(batch * height) { w, rows in
          let acc = partial + w * kk * C  // [k·k, C]
          for by in rows {
            let b = by / height, y = by % height
            for x in 0..<width {
              let g = dout + ((b * height + y) * width + x) * C
              for ky in 0..<kernel {
                let iy = y + ky - pad
                if iy < 0 || iy >= height { continue }
                for kx in 0..<kernel {
                  let ix = x + kx - pad
                  if ix < 0 || ix >= width { continue }
                  let src = inp + ((b * height + iy) * width + ix) * C
                  let a = acc + (ky * kernel + kx) * C
                  var c = 0
                  while c < C {
                    let lanes = min(16, C - c)
                    storePartial(
                      fma16(loadPartial(g + c, lanes), loadPartial(src + c, lanes), loadPartial(a + c, lanes)),
                      a + c, lanes)
                    c += 16
                  }
                }
              }
            }
          }
        }
        // Back to PyTorch's layout: dweight[c, t] += Σ_workers partial[w, t, c]
        for w in 0..<workers {
          for t in 0..<kk { for c in 0..<C { dweight[c * kk + t] += partial[(w * kk + t) * C + c] } }
        }
      }
    }
  }

  static func transposeWeight(_ taps: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>, channels: Int, kk: Int) {
    for c in 0..<channels { for t in 0..<kk { taps[t * channels + c] = weight[c * kk + t] } }
  }
}

/// Loads `lanes` (≤ 16) floats, zero in the rest; a full vector load when lanes == 16.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int) -> F16x {
  if lanes == 16 { return load16(p) }
  var v = F16x()
  for i in 0..<lanes { v[i] = p[i] }
  return v
}
@inline(__always) func loadPartial(_ p: UnsafeMutablePointer<Float>, _ lanes: Int) -> F16x {
  loadPartial(UnsafePointer(p), lanes)
}
@inline(__always) func storePartial(_ v: F16x, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
  if lanes == 16 { return store16(v, p) }
  for i in 0..<lanes { p[i] = v[i] }
}
