// Mean over the token axis (DaViT's pooled image feature).

public enum MeanPool {
  /// out [B, C] = mean over N of inp [B, N, C]
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, batch: Int, tokens: Int, channels: Int
  ) {
    let scope = Profile.begin(.elementwise, .forward, bytes: 4 * (batch * tokens * channels))
    defer { Profile.end(scope) }
    for b in 0..<batch {
      let o = out + b * channels
      o.update(repeating: 0, count: channels)
      Reduce.addColumnSums(into: o, inp + b * tokens * channels, rows: tokens, cols: channels)
      Elementwise.scale(o, by: 1 / Float(tokens), count: channels)
    }
  }

  /// dinp [B, N, C] += dout [B, C] / N
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, batch: Int, tokens: Int, channels: Int
  ) {
    let scope = Profile.begin(.elementwise, .backward, bytes: 4 * (batch * tokens * channels))
    defer { Profile.end(scope) }
    let inv = 1 / Float(tokens)
    for b in 0..<batch {
      for n in 0..<tokens {
        Elementwise.axpy(dinp + (b * tokens + n) * channels, dout + b * channels, alpha: inv, count: channels)
      }
    }
  }
}
