// The Mersenne Twister both reference generators use: CPython's `random` (PythonRandom) and torch's CPU
// generator (TorchGenerator). One core; each wraps its own seeding and draws.

struct MT19937: Sendable, Equatable {
  var state = [UInt32](repeating: 0, count: 624)
  var index = 624

  /// init_genrand(s), as both CPython and ATen seed it.
  init(seed s: UInt32) {
    state[0] = s
    for i in 1..<624 { state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
  }

  /// genrand_uint32.
  mutating func next32() -> UInt32 {
    if index >= 624 {
      for k in 0..<624 {
        let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7FFF_FFFF)
        state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 == 1 ? 0x9908_B0DF : 0)
      }
      index = 0
    }
    var y = state[index]
    index += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C_5680
    y ^= (y << 15) & 0xEFC6_0000
    y ^= y >> 18
    return y
  }
}
