// An inverted-dropout mask over a [rows, cols] input that is never stored: drawn from one UInt64 seed, block of rows
// by block of rows, each block from its own generator, so any thread redraws any block (in forward, again in
// backward, or on a checkpoint recompute) and the mask does not depend on the thread count. Keep probability and
// scaling are torch's (keep 1-p, kept values × 1/(1-p)); torch's own random stream cannot be reproduced.

public struct DropoutStream: Sendable {
  public let seed: UInt64
  public let p: Float

  /// p in [0, 1].
  public init(seed: UInt64, p: Float) {
    self.seed = seed
    self.p = p
  }

  /// Rows drawn from one generator: about 8192 entries, so seeding one (32 outputs of a SeededRNG) stays
  /// small beside the draws. A function of `cols` only: the blocks, and so the mask, are the same on any thread count.
  public static func rowsPerBlock(cols: Int) -> Int { max(1, 8192 / max(cols, 1)) }

  /// The generator of block `block` (rows block·rowsPerBlock ..< (block+1)·rowsPerBlock), at its first row.
  func draw(block: Int) -> MaskDraw {
    // xor with an odd multiple of the block index; SeededRNG's splitmix spreads it.
    var scalar = SeededRNG(seed: seed ^ (UInt64(block + 1) &* 0xD1B5_4A32_D192_ED03))
    return MaskDraw(rng: Xoshiro8(&scalar), p: p)
  }

  /// mask [rows, cols] ∈ {0, 1/(1-p)}: the mask this stream applies (the LoRA Conv2d's input, tests).
  public func fill(_ mask: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    let scope = Profile.begin(.dropout, bytes: 4 * rows * cols)
    defer { Profile.end(scope) }
    let perBlock = Self.rowsPerBlock(cols: cols)
    let blocks = (rows + perBlock - 1) / perBlock
    Threads.parallelChunks(blocks, grain: max(1, (1 << 16) / (perBlock * cols))) { range in
      for block in range {
        var draw = self.draw(block: block)
        for i in (block * perBlock)..<min(rows, (block + 1) * perBlock) { draw.fillRow(mask + i * cols, cols) }
      }
    }
  }
}

/// One block's mask draw, row after row: each row takes ⌈cols/16⌉ steps of 16 entries (a row's last step drops
/// the entries past its end). Entry dropped when a 24-bit uniform u < p·2²⁴ (SeededRNG.nextFloat() < p).
struct MaskDraw {
  var rng: Xoshiro8
  let keep: SIMD8<Float>
  let threshold: SIMD8<Int32>

  init(rng: Xoshiro8, p: Float) {
    self.rng = rng
    keep = SIMD8(repeating: p >= 1 ? 0 : 1 / (1 - p))
    threshold = SIMD8(repeating: Int32((p * 0x1p24).rounded(.up)))
  }

  /// The next 16 mask values: the high 24 bits of each lane's output, then bits 16..<40.
  @inline(__always) mutating func next16() -> F16x {
    let r = rng.next()
    let high = keep.replacing(with: 0, where: SIMD8<Int32>(truncatingIfNeeded: r &>> 40) .< threshold)
    let low = keep.replacing(with: 0, where: SIMD8<Int32>(truncatingIfNeeded: (r &>> 16) & 0xFF_FFFF) .< threshold)
    return F16x(lowHalf: high, highHalf: low)
  }

  mutating func fillRow(_ row: UnsafeMutablePointer<Float>, _ cols: Int) {
    var k = 0
    while k + 16 <= cols {
      store16(next16(), row + k)
      k += 16
    }
    if k < cols { storePartial(next16(), row + k, cols - k) }
  }
}

/// Eight xoshiro256** generators in the lanes of SIMD8<UInt64> (the multiplications by 5 and 9 as shifts and adds),
/// seeded from 32 outputs of a SeededRNG.
struct Xoshiro8 {
  var s0: SIMD8<UInt64>, s1: SIMD8<UInt64>, s2: SIMD8<UInt64>, s3: SIMD8<UInt64>

  init(_ rng: inout SeededRNG) {
    func lanes() -> SIMD8<UInt64> {
      var v = SIMD8<UInt64>()
      for i in 0..<8 { v[i] = rng.nextUInt64() }
      return v
    }
    s0 = lanes()
    s1 = lanes()
    s2 = lanes()
    s3 = lanes()
  }

  @inline(__always) mutating func next() -> SIMD8<UInt64> {
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
