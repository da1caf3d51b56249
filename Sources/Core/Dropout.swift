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

/// Dropout on attention probabilities [B, H, Tq, Tk] (BART's `attention_dropout`, torch F.dropout in training):
/// P·V becomes (P ⊙ M)·V with M ∈ {0, 1/(1-p)}. The mask is never stored: each (batch, head) block is drawn from
/// its own stream, seeded from `seed` and the block's index, so a worker of any thread redraws exactly the same
/// block in backward (and on a checkpoint recompute) from one UInt64. `given` (tests) holds M itself.
public struct AttentionDropout: @unchecked Sendable {
  public let p: Float
  let seed: UInt64
  let given: Tensor?

  /// Masks drawn from `seed`; p in (0, 1).
  public init(p: Float, seed: UInt64) {
    self.p = p
    self.seed = seed
    given = nil
  }

  /// An explicit mask [B, H, Tq, Tk] with entries 0 or 1/(1-p) (what torch's dropout multiplies by).
  public init(p: Float, mask: Tensor) {
    self.p = p
    seed = 0
    given = mask
  }

  /// out [count] = probs ⊙ M for block `block` (= b·H + h) of `count` = Tq·Tk entries.
  @inline(__always) func apply(
    out: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, block: Int, count: Int
  ) {
    if let given {
      let m = given.data + block * count
      for i in 0..<count { out[i] = probs[i] * m[i] }
      return
    }
    // One seed per block (xor with an odd multiple of the index; SeededRNG's splitmix spreads it), so blocks
    // drawn on different threads in any order give the same masks.
    var rng = SeededRNG(seed: seed ^ (UInt64(block + 1) &* 0xD1B5_4A32_D192_ED03))
    let keep = 1 / (1 - p)
    for i in 0..<count { out[i] = rng.nextFloat() < p ? 0 : probs[i] * keep }
  }
}
