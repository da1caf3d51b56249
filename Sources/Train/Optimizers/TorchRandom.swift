// torch's CPU generator as flora-opt uses it (`torch.Generator().manual_seed(s)`, `torch.randn`,
// `torch.randint(0, int64 max)`): mt19937 seeded with the low 32 bits of the seed (ATen CPUGeneratorImpl),
// randn of ≥ 16 fp32 values by ATen `normal_fill` (uniform 24-bit floats, Box–Muller on blocks of 16, the last
// block recomputed from fresh uniforms), fewer than 16 by `normal_distribution<double>` (53-bit uniforms,
// log1p, the sine cached for the next value). torch's vectorized log/cos/sin are Sleef's, so ≥ 16-value draws
// agree to an ulp or two, not bit for bit; integer draws and < 16-value draws are exact.

import Foundation

public struct TorchGenerator {
  private var twister: MT19937
  private var cachedNormal: Double?

  /// `torch.Generator().manual_seed(seed)`: mt19937 seeded with the seed's low 32 bits.
  public init(seed: UInt64) { twister = MT19937(seed: UInt32(truncatingIfNeeded: seed)) }

  public mutating func next32() -> UInt32 { twister.next32() }

  public mutating func next64() -> UInt64 {
    let hi = UInt64(next32())
    return hi << 32 | UInt64(next32())
  }

  /// `torch.randint(0, 2**63 - 1, (1,))`.
  public mutating func randintInt64Max() -> UInt64 { next64() % UInt64(Int64.max) }

  /// `torch.randn(count)` in fp32.
  public mutating func randn(_ count: Int) -> [Float] {
    guard count >= 16 else { return (0..<count).map { _ in Float(normalDouble()) } }
    var data = (0..<count).map { _ in uniformFloat() }
    var i = 0
    while i + 16 <= count {
      Self.boxMuller16(&data, at: i)
      i += 16
    }
    if count % 16 != 0 {
      for j in (count - 16)..<count { data[j] = uniformFloat() }
      Self.boxMuller16(&data, at: count - 16)
    }
    return data
  }

  private mutating func uniformFloat() -> Float { Float(next32() & 0xFF_FFFF) * 0x1p-24 }

  private mutating func normalDouble() -> Double {
    if let c = cachedNormal {
      cachedNormal = nil
      return c
    }
    let u1 = Double(next64() & ((1 << 53) - 1)) * 0x1p-53
    let u2 = Double(next64() & ((1 << 53) - 1)) * 0x1p-53
    let r = (-2.0 * log1p(-u2)).squareRoot()
    let theta = 2.0 * Double.pi * u1
    cachedNormal = r * sin(theta)
    return r * cos(theta)
  }

  private static func boxMuller16(_ d: inout [Float], at o: Int) {
    for j in 0..<8 {
      let u1 = 1 - d[o + j], u2 = d[o + 8 + j]
      let radius = (-2 * logf(u1)).squareRoot()
      let theta = Float(2 * Double.pi) * u2  // _mm256_set1_ps(2.0f * pi<double>); Swift's Float.pi rounds down
      d[o + j] = radius * cosf(theta)
      d[o + 8 + j] = radius * sinf(theta)
    }
  }
}

/// flora_opt `stable_randn(shape, seed)`: a fresh generator per call.
public func floraStableRandn(count: Int, seed: UInt64) -> [Float] {
  var g = TorchGenerator(seed: seed)
  return g.randn(count)
}

/// flora_opt `next_seed(seed, adv=0xF)`: the 15th int64 draw of a generator seeded with `seed`.
public func floraNextSeed(_ seed: UInt64) -> UInt64 {
  var g = TorchGenerator(seed: seed)
  var last: UInt64 = 0
  for _ in 0..<15 { last = g.randintInt64Max() }
  return last
}
