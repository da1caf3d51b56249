// 2-D convolution with a frozen reduced weight (a bf16 model's patch embeddings): the im2col columns of each chunk
// of output pixels go through the weight's own product, as a Linear's input rows do (W [Cout, Cin·k·k] is the
// conv weight in PyTorch's layout, one output channel a row). The reduced products give a row the same bits
// wherever it sits, so a batch needs no image-by-image loop.

extension Conv2d {
  /// out [B, Ho, Wo, Cout] = conv(inp [B, H, W, Cin], W) + bias [Cout]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: some FrozenWeight,
    bias: UnsafePointer<Float>?, batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int,
    stride: Int, padding: Int
  ) {
    let g = Geometry(
      batch: batch, height: height, width: width, cin: inChannels, kernel: kernel, stride: stride, padding: padding)
    g.forEachPixelChunk { col, p0, n in
      do {
        let scope = Profile.begin(.patchConv, .forward)
        defer { Profile.end(scope) }
        g.im2col(col, inp, pixels: p0..<(p0 + n))
      }
      weight.linearForward(out: out + p0 * outChannels, inp: col, bias: bias, rows: n)
    }
  }

  /// dinp [B, H, W, Cin] += col2im(dout [B, Ho, Wo, Cout] · W): the input gradient of a frozen base.
  public static func backwardInput(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, weight: some FrozenWeight, batch: Int,
    height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
  ) {
    let g = Geometry(
      batch: batch, height: height, width: width, cin: inChannels, kernel: kernel, stride: stride, padding: padding)
    g.forEachPixelChunk { col, p0, n in
      col.update(repeating: 0, count: n * inChannels * kernel * kernel)
      weight.linearBackwardInput(dinp: col, dout: dout + p0 * outChannels, rows: n)
      let scope = Profile.begin(.patchConv, .backward)
      g.col2imAdd(dinp, col, pixels: p0..<(p0 + n))
      Profile.end(scope)
    }
  }
}
