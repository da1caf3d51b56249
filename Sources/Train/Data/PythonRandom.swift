// Python's `random` module (CPython 3.11 Modules/_randommodule.c and Lib/random.py), bit for bit: MT19937 seeded
// by `init_by_array` from the seed integer's 32-bit words, `random()` from two draws (53 bits), `getrandbits`,
// `_randbelow` by rejection and `shuffle` (Fisher-Yates from the end). The reference script's caption shuffle uses this
// generator, so the same seed gives the same augmented captions as `random.seed(n)` + `shuffle_caption`.

public struct PythonRandom: Sendable, Equatable {
  private var twister = MT19937(seed: 19_650_218)

  /// `random.seed(n)` for a non-negative n (Python hashes negative ints by absolute value, as here for UInt64).
  public init(seed: UInt64) { self.init(words: [UInt32(truncatingIfNeeded: seed), UInt32(seed >> 32)]) }

  /// `random.seed(seed + (stream << 64))`: an independent stream per (seed, epoch) that Python can reproduce.
  public init(seed: UInt64, stream: UInt64) {
    self.init(words: [
      UInt32(truncatingIfNeeded: seed), UInt32(seed >> 32), UInt32(truncatingIfNeeded: stream), UInt32(stream >> 32),
    ])
  }

  /// `random.seed` of the integer whose little-endian 32-bit words are `words` (high zero words dropped, as
  /// CPython's `_PyLong_AsByteArray` sizing does; 0 seeds with the key [0]).
  public init(words: [UInt32]) {
    var key = words
    while key.count > 1 && key.last == 0 { key.removeLast() }
    if key.isEmpty { key = [0] }
    var mt = MT19937(seed: 19_650_218).state
    var i = 1
    var j = 0
    for _ in 0..<max(624, key.count) {
      mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
      i += 1
      j += 1
      if i >= 624 {
        mt[0] = mt[623]
        i = 1
      }
      if j >= key.count { j = 0 }
    }
    for _ in 0..<623 {
      mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
      i += 1
      if i >= 624 {
        mt[0] = mt[623]
        i = 1
      }
    }
    mt[0] = 0x8000_0000
    twister.state = mt
  }

  /// genrand_uint32.
  public mutating func next32() -> UInt32 { twister.next32() }

  /// `random.random()`: uniform in [0, 1) with 53 bits.
  public mutating func random() -> Double {
    let a = Double(next32() >> 5)
    let b = Double(next32() >> 6)
    return (a * 67_108_864 + b) * (1.0 / 9_007_199_254_740_992)
  }

  /// `random.getrandbits(k)` for 0 <= k <= 32.
  public mutating func getrandbits(_ k: Int) -> UInt32 { k == 0 ? 0 : next32() >> UInt32(32 - k) }

  /// `random._randbelow(n)` for 1 <= n < 2^32: k = n.bit_length() bits, redrawn while >= n.
  public mutating func randbelow(_ n: Int) -> Int {
    let k = Int.bitWidth - n.leadingZeroBitCount
    var r = Int(getrandbits(k))
    while r >= n { r = Int(getrandbits(k)) }
    return r
  }

  /// `random.shuffle(x)`.
  public mutating func shuffle<T>(_ x: inout [T]) {
    var i = x.count - 1
    while i >= 1 {
      let j = randbelow(i + 1)
      x.swapAt(i, j)
      i -= 1
    }
  }
}
