// 2-D convolution on channels-last activations: im2col + one GEMM per chunk of output pixels.
// Weights stay in PyTorch's layout [Cout, Cin, kh, kw], so the column of one output pixel is ordered
// (ci, ky, kx) to match a weight row; zero padding; square kernel, equal stride/padding in both axes.

public enum Conv2d {
  public static func outputSize(_ n: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    (n + 2 * padding - kernel) / stride + 1
  }

  /// About this many floats of im2col columns at a time (a few MB: big GEMMs, no giant temporaries).
  nonisolated(unsafe) static var chunkFloats = 1 << 21

  /// out [B, Ho, Wo, Cout] = conv(inp [B, H, W, Cin], weight [Cout, Cin, k, k]) + bias [Cout]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, batch: Int, height: Int, width: Int,
    inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
  ) {
    if batch > 1 {
      // One image at a time: sgemm's sums depend on where a row falls in its blocks, so an image gets the same
      // bits in any batch (reduced precisions round the activations again downstream).
      let (inCount, outCount) = (
        height * width * inChannels,
        Geometry(
          batch: 1, height: height, width: width, cin: inChannels, kernel: kernel, stride: stride, padding: padding
        ).pixels * outChannels
      )
      for b in 0..<batch {
        forward(
          out: out + b * outCount, inp: inp + b * inCount, weight: weight, bias: bias, batch: 1, height: height,
          width: width, inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
          padding: padding)
      }
      return
    }
    let scope = Profile.begin(.patchConv, .forward)
    defer { Profile.end(scope) }
    let g = Geometry(
      batch: batch, height: height, width: width, cin: inChannels, kernel: kernel, stride: stride, padding: padding)
    let colWidth = inChannels * kernel * kernel
    g.forEachPixelChunk { col, p0, n in
      let o = out + p0 * outChannels
      // o [n, Cout] = col [n, CinKK] · weight [Cout, CinKK]ᵀ + bias, the columns of each block of pixels
      // built (and the bias written) by the worker that multiplies them, just before, while they are cached.
      // Column blocks (fewer pixels than channels) all read every column: those are built up front.
      let perBlock = Gemm.cutsRows(m: n, n: outChannels)
      if !perBlock { g.im2col(col, inp, pixels: p0..<(p0 + n)) }
      Gemm.matmulBlocks(
        col, weight, o, m: n, n: outChannels, k: colWidth, transB: true, beta: bias == nil ? 0 : 1,
        before: { rows, cols in
          if perBlock {
            g.im2col(col + rows.lowerBound * colWidth, inp, pixels: (p0 + rows.lowerBound)..<(p0 + rows.upperBound))
          }
          if let bias {
            for r in rows {
              (o + r * outChannels + cols.lowerBound).update(from: bias + cols.lowerBound, count: cols.count)
            }
          }
        }, after: nil)
    }
  }

  /// dinp [B,H,W,Cin] += col2im(dout · W) ; dweight [Cout, Cin·k·k] += doutᵀ · col ; dbias [Cout] += Σ dout
  public static func backward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
  ) {
    let scope = Profile.begin(.patchConv, .backward)
    defer { Profile.end(scope) }
    let g = Geometry(
      batch: batch, height: height, width: width, cin: inChannels, kernel: kernel, stride: stride, padding: padding)
    let colWidth = inChannels * kernel * kernel
    if let dbias { Reduce.addColumnSums(into: dbias, dout, rows: g.pixels, cols: outChannels) }
    if dinp == nil && dweight == nil { return }
    g.forEachPixelChunk { col, p0, n in
      let d = dout + p0 * outChannels
      if let dweight {
        g.im2col(col, inp, pixels: p0..<(p0 + n))
        // dweight [Cout, CinKK] += d [n, Cout]ᵀ · col [n, CinKK]
        Gemm.matmul(d, col, dweight, m: outChannels, n: colWidth, k: n, transA: true, beta: 1)
      }
      if let dinp {
        // dcol [n, CinKK] = d [n, Cout] · weight [Cout, CinKK], then scattered back onto the input
        Gemm.matmul(d, weight, col, m: n, n: colWidth, k: outChannels)
        g.col2imAdd(dinp, col, pixels: p0..<(p0 + n))
      }
    }
  }

  struct Geometry {
    let batch: Int, height: Int, width: Int, cin: Int, kernel: Int, stride: Int, padding: Int
    let outH: Int, outW: Int, pixels: Int

    init(batch: Int, height: Int, width: Int, cin: Int, kernel: Int, stride: Int, padding: Int) {
      self.batch = batch
      self.height = height
      self.width = width
      self.cin = cin
      self.kernel = kernel
      self.stride = stride
      self.padding = padding
      outH = Conv2d.outputSize(height, kernel: kernel, stride: stride, padding: padding)
      outW = Conv2d.outputSize(width, kernel: kernel, stride: stride, padding: padding)
      pixels = batch * outH * outW
    }

    /// body(col, p0, n) for the runs of output pixels p0..<p0+n whose im2col columns fit `chunkFloats`, with a
    /// scratch `col` for them (a few MB: big GEMMs, no giant temporaries).
    func forEachPixelChunk(_ body: (UnsafeMutablePointer<Float>, Int, Int) -> Void) {
      let colWidth = cin * kernel * kernel
      let chunk = max(1, min(pixels, Conv2d.chunkFloats / colWidth))
      Scratch.withFloats(chunk * colWidth) { col in
        var p0 = 0
        while p0 < pixels {
          let n = min(chunk, pixels - p0)
          body(col, p0, n)
          p0 += n
        }
      }
    }

    /// col [pixels.count, Cin·k·k]: row = output pixel, column (ci, ky, kx); zeros where the window is padding.
    func im2col(_ col: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, pixels: Range<Int>) {
      let kk = kernel * kernel
      let colWidth = cin * kk
      Threads.parallelFor(pixels.count) { r in
        let p = pixels.lowerBound + r
        let b = p / (outH * outW)
        let oy = (p / outW) % outH
        let ox = p % outW
        let row = col + r * colWidth
        let y0 = oy * stride - padding, x0 = ox * stride - padding
        let ky0 = max(0, -y0), ky1 = min(kernel, height - y0)  // window rows inside the image
        let kx0 = max(0, -x0), kx1 = min(kernel, width - x0)
        if ky0 > 0 || ky1 < kernel || kx0 > 0 || kx1 < kernel { row.update(repeating: 0, count: colWidth) }
        let origin = inp + ((b * height + y0) * width + x0) * cin
        if cin < 16 {
          // Few channels (the RGB patch conv): write the column in order, reads hop within the window.
          for c in 0..<cin {
            let dstC = row + c * kk
            for ky in ky0..<ky1 {
              let src = origin + ky * width * cin + c
              let dst = dstC + ky * kernel
              for kx in kx0..<kx1 { dst[kx] = src[kx * cin] }
            }
          }
        } else {
          // Many channels: read each input pixel's channels in order, write at stride k·k.
          for ky in ky0..<ky1 {
            for kx in kx0..<kx1 {
              let src = origin + (ky * width + kx) * cin
              let dst = row + ky * kernel + kx
              for c in 0..<cin { dst[c * kk] = src[c] }
            }
          }
        }
      }
    }

    /// dinp += the columns scattered back to their input positions (overlapping windows add up).
    /// Neighbouring output pixels write the same input pixels, so the workers split the channels instead: each
    /// adds its channels in pixel order, the same sums as one thread.
    func col2imAdd(_ dinp: UnsafeMutablePointer<Float>, _ col: UnsafePointer<Float>, pixels: Range<Int>) {
      let kk = kernel * kernel
      let colWidth = cin * kk
      Threads.parallelChunks(cin, grain: 16) { channels in
        for r in 0..<pixels.count {
          let p = pixels.lowerBound + r
          let b = p / (outH * outW)
          let oy = (p / outW) % outH
          let ox = p % outW
          let row = col + r * colWidth
          for ky in 0..<kernel {
            let y = oy * stride - padding + ky
            if y < 0 || y >= height { continue }
            for kx in 0..<kernel {
              let x = ox * stride - padding + kx
              if x < 0 || x >= width { continue }
              let src = row + ky * kernel + kx
              let dst = dinp + ((b * height + y) * width + x) * cin
              for c in channels { dst[c] += src[c * kk] }
            }
          }
        }
      }
    }
  }
}
