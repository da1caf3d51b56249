// Depthwise convolution (groups = C) on channels-last activations, stride 1, zero padding k/2: DaViT's
// positional conv. SIMD runs over channels, which are contiguous in channels-last; the weight is
// transposed once per call to [k·k, C] so each tap is one vector load.

public enum DepthwiseConv2d {
  /// out [B, H, W, C] = dwconv(inp [B, H, W, C], weight [C, 1, k, k]) + bias [C]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, batch: Int, height: Int, width: Int, channels: Int, kernel: Int = 3
  ) {
    let scope = Profile.begin(
      .depthwiseConv, .forward, flops: 2 * (batch * height * width * channels * kernel * kernel),
      bytes: 8 * (batch * height * width * channels))
    defer { Profile.end(scope) }
    let kk = kernel * kernel, pad = kernel / 2, C = channels
    Scratch.withFloats(kk * C) { taps in
      transposeWeight(taps, weight, channels: C, kk: kk)
      Threads.parallelFor(batch * height) { by in
        let b = by / height, y = by % height
        let ky0 = max(0, pad - y), ky1 = min(kernel, height + pad - y)  // taps inside the image
        for x in 0..<width {
          let kx0 = max(0, pad - x), kx1 = min(kernel, width + pad - x)
          let o = out + ((b * height + y) * width + x) * C
          // src(ky, kx) = inp[b, y + ky - pad, x + kx - pad, :]
          let origin = inp + ((b * height + y - pad) * width + x - pad) * C
          var c = 0
          while c + 16 <= C {
            var acc = bias.map { load16($0 + c) } ?? F16x()
            for ky in ky0..<ky1 {
              let row = origin + ky * width * C + c
              let tapRow = taps + ky * kernel * C + c
              for kx in kx0..<kx1 { acc = fma16(load16(row + kx * C), load16(tapRow + kx * C), acc) }
            }
            store16(acc, o + c)
            c += 16
          }
          while c < C {  // channel tail
            var acc = bias?[c] ?? 0
            for ky in ky0..<ky1 {
              for kx in kx0..<kx1 { acc += origin[(ky * width + kx) * C + c] * taps[(ky * kernel + kx) * C + c] }
            }
            o[c] = acc
            c += 1
          }
        }
      }
    }
  }

  /// dinp += dout ⋆ flipped kernel ; dweight [C, 1, k, k] += Σ dout · shifted inp ; dbias [C] += Σ dout.
  /// `accumulate` false: dinp is written, not added into (the same bits as adding into zeros).
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    batch: Int, height: Int, width: Int, channels: Int, kernel: Int = 3, accumulate: Bool = true
  ) {
    let scope = Profile.begin(
      .depthwiseConv, .backward, flops: 4 * (batch * height * width * channels * kernel * kernel),
      bytes: 16 * (batch * height * width * channels))
    defer { Profile.end(scope) }
    let kk = kernel * kernel, pad = kernel / 2, C = channels
    if let dbias { Reduce.addColumnSums(into: dbias, dout, rows: batch * height * width, cols: C) }
    if let dinp {
      Scratch.withFloats(kk * C) { taps in
        transposeWeight(taps, weight, channels: C, kk: kk)
        // inp pixel (iy, ix) fed out pixel (iy - ky + pad, ix - kx + pad) through tap (ky, kx).
        Threads.parallelFor(batch * height) { by in
          let b = by / height, iy = by % height
          // out row y = iy - ky + pad must lie in 0..<height
          let ky0 = max(0, iy + pad - height + 1), ky1 = min(kernel, iy + pad + 1)
          for ix in 0..<width {
            let kx0 = max(0, ix + pad - width + 1), kx1 = min(kernel, ix + pad + 1)
            let d = dinp + ((b * height + iy) * width + ix) * C
            // g(ky, kx) = dout[b, iy - ky + pad, ix - kx + pad, :]
            let origin = dout + ((b * height + iy + pad) * width + ix + pad) * C
            var c = 0
            while c + 16 <= C {
              var acc = accumulate ? load16(d + c) : F16x()
              for ky in ky0..<ky1 {
                let row = origin - ky * width * C + c
                let tapRow = taps + ky * kernel * C + c
                for kx in kx0..<kx1 { acc = fma16(load16(row - kx * C), load16(tapRow + kx * C), acc) }
              }
              store16(acc, d + c)
              c += 16
            }
            while c < C {
              var acc = accumulate ? d[c] : 0
              for ky in ky0..<ky1 {
                for kx in kx0..<kx1 { acc += origin[-(ky * width + kx) * C + c] * taps[(ky * kernel + kx) * C + c] }
              }
              d[c] = acc
              c += 1
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
            let ky0 = max(0, pad - y), ky1 = min(kernel, height + pad - y)
            for x in 0..<width {
              let kx0 = max(0, pad - x), kx1 = min(kernel, width + pad - x)
              let g = dout + ((b * height + y) * width + x) * C
              let origin = inp + ((b * height + y - pad) * width + x - pad) * C
              for ky in ky0..<ky1 {
                for kx in kx0..<kx1 {
                  let src = origin + (ky * width + kx) * C
                  let a = acc + (ky * kernel + kx) * C
                  var c = 0
                  while c + 16 <= C {
                    store16(fma16(load16(g + c), load16(src + c), load16(a + c)), a + c)
                    c += 16
                  }
                  while c < C {
                    a[c] += g[c] * src[c]
                    c += 1
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

  static func transposeWeight(
    _ taps: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>, channels: Int, kk: Int
  ) {
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
