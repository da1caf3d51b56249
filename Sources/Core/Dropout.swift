// Inverted dropout (torch nn.Dropout in training mode): keep with probability 1-p and scale by 1/(1-p).
// The mask is saved for backward. Torch's own random stream cannot be reproduced, so masks differ from
// torch's; the distribution and scaling are the same.

public enum Dropout {
  /// mask [count] ∈ {0, 1/(1-p)}, out = inp ⊙ mask (out may alias inp). p = 0 keeps everything; p = 1 drops all.
  public static func forward(
    out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
    p: Float, rng: inout SeededRNG
  ) {
    let scope = Profile.begin(.dropout, .forward, bytes: 12 * count)
    defer { Profile.end(scope) }
    let keep: Float = p >= 1 ? 0 : 1 / (1 - p)
    for i in 0..<count { mask[i] = rng.nextFloat() < p ? 0 : keep }
    Elementwise.mul(out: out, a: inp, b: mask, count: count)
  }

  /// dinp [count] += dout ⊙ mask
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int
  ) {
    let scope = Profile.begin(.dropout, .backward, bytes: 12 * count)
    defer { Profile.end(scope) }
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
    // drawn on different threads in any order give the same masks. Entry i is dropped when a 24-bit uniform
    // u < p·2²⁴ (Dropout.forward's nextFloat() < p). Four xoshiro256** streams side by side give 8 such draws per
    // step (two 24-bit fields of each 64-bit output): 0.9 ns per entry against 4 ns for one scalar draw each
    // (12 x 590² BART-base encoder probabilities, -O, loaded machine), about 0.3 s less CPU per base step.
    var scalar = SeededRNG(seed: seed ^ (UInt64(block + 1) &* 0xD1B5_4A32_D192_ED03))
    var rng = Xoshiro4(&scalar)
    let keep = 1 / (1 - p), threshold = Int32((p * 0x1p24).rounded(.up))
    let vkeep = SIMD4<Float>(repeating: keep), vthreshold = SIMD4<Int32>(repeating: threshold)
    var i = 0
    while i + 8 <= count {
      let r = rng.next()
      let m0 = vkeep.replacing(with: 0, where: SIMD4<Int32>(truncatingIfNeeded: r &>> 40) .< vthreshold)
      let m1 = vkeep.replacing(with: 0, where: SIMD4<Int32>(truncatingIfNeeded: (r &>> 16) & 0xFF_FFFF) .< vthreshold)
      let p0 = UnsafeRawPointer(probs + i).loadUnaligned(as: SIMD4<Float>.self)
      let p1 = UnsafeRawPointer(probs + i + 4).loadUnaligned(as: SIMD4<Float>.self)
      UnsafeMutableRawPointer(out + i).storeBytes(of: p0 * m0, as: SIMD4<Float>.self)
      UnsafeMutableRawPointer(out + i + 4).storeBytes(of: p1 * m1, as: SIMD4<Float>.self)
      i += 8
    }
    while i < count {
      out[i] = probs[i] * (Int32(truncatingIfNeeded: scalar.nextUInt64() >> 40) < threshold ? 0 : keep)
      i += 1
    }
  }
}

/// Four xoshiro256** generators in the lanes of SIMD4<UInt64> (the multiplications by 5 and 9 as shifts and adds,
/// which AVX2 has for 64-bit lanes), seeded from 16 outputs of a SeededRNG.
private struct Xoshiro4 {
  var s0: SIMD4<UInt64>, s1: SIMD4<UInt64>, s2: SIMD4<UInt64>, s3: SIMD4<UInt64>

  init(_ rng: inout SeededRNG) {
    func lanes() -> SIMD4<UInt64> { SIMD4(rng.nextUInt64(), rng.nextUInt64(), rng.nextUInt64(), rng.nextUInt64()) }
    s0 = lanes()
    s1 = lanes()
    s2 = lanes()
    s3 = lanes()
  }

  @inline(__always) mutating func next() -> SIMD4<UInt64> {
    let times5 = (s1 &<< 2) &+ s1
    let rotated = (times5 &<< 7) | (times5 &>> 57)
    let result = (rotated &<< 3) &+ rotated  // rotl(s1·5, 7)·9
    let t = s1 &<< 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 &<< 45) | (s3 &>> 19)
    return result
  }
}
