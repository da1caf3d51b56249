// Reproducible random numbers (xoshiro256**, seeded through splitmix64): dropout masks and
// initialisation give the same result for the same seed on every run and machine.

public struct SeededRNG: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var z = seed
    func splitmix() -> UInt64 {
      z &+= 0x9E37_79B9_7F4A_7C15
      var x = z
      x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
      x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
      return x ^ (x >> 31)
    }
    s = (splitmix(), splitmix(), splitmix(), splitmix())
  }

  public mutating func nextUInt64() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = s.3 << 45 | s.3 >> 19
    return result
  }

  public mutating func next() -> UInt64 { nextUInt64() }

  /// Uniform in [0, 1), 24 random bits.
  public mutating func nextFloat() -> Float { Float(nextUInt64() >> 40) * 0x1p-24 }

  /// Standard normal (Box-Muller, one value per call).
  public mutating func normal() -> Float {
    let u1 = Double(nextUInt64() >> 11) * 0x1p-53
    let u2 = Double(nextUInt64() >> 11) * 0x1p-53
    let r = (-2 * log(1 - u1)).squareRoot()  // 1 - u1 is in (0, 1]
    return Float(r * cos(2 * Double.pi * u2))
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
