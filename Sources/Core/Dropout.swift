// Inverted dropout (torch nn.Dropout in training mode): keep with probability 1-p and scale by 1/(1-p).
// The mask is saved for backward. Torch's own random stream cannot be reproduced, so masks differ from
// torch's; the distribution and scaling are the same.

public enum Dropout {
  /// mask [count] ∈ {0, 1/(1-p)}, out = inp ⊙ mask (out may alias inp). p = 0 keeps everything; p = 1 drops all.
  public static func forward(
    out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
    p: Float, rng: inout SeededRNG
  ) {
    let keep: Float = p >= 1 ? 0 : 1 / (1 - p)
    for i in 0..<count { mask[i] = rng.nextFloat() < p ? 0 : keep }
    Elementwise.mul(out: out, a: inp, b: mask, count: count)
  }

  /// dinp [count] += dout ⊙ mask
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int
  ) {
    Elementwise.split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        store16(fma16(load16(dout + i), load16(mask + i), load16(dinp + i)), dinp + i)
        i += 16
      }
      while i < hi {
        dinp[i] += dout[i] * mask[i]
        i += 1
      }
    }
  }
}
