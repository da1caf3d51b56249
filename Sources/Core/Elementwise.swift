// Memory-bound elementwise ops (residual adds, scaling, gradient accumulation), SIMD16 and split over
// workers once the arrays are big enough for the split to pay.

public enum Elementwise {
  /// Below this many elements per worker one thread is faster than waking another.
  static let grain = 1 << 15

  /// body(lo, hi) over pieces of 0..<count whose bounds are multiples of 16 (only the last piece has a
  /// scalar tail), in parallel once there are `grain` elements per piece.
  @inline(__always) static func split(_ count: Int, _ body: (Int, Int) -> Void) {
    let blocks = (count + 15) / 16
    Threads.parallelChunks(blocks, grain: grain / 16) { range in
      body(range.lowerBound * 16, min(count, range.upperBound * 16))
    }
  }

  /// out = a + b  (out may alias a or b)
  public static func add(
    out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int
  ) {
    let scope = Profile.begin(.elementwise, bytes: 12 * count)
    defer { Profile.end(scope) }
    split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        store16(load16(a + i) + load16(b + i), out + i)
        i += 16
      }
      while i < hi {
        out[i] = a[i] + b[i]
        i += 1
      }
    }
  }

  /// x += y
  public static func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    let scope = Profile.begin(.elementwise, bytes: 12 * count)
    defer { Profile.end(scope) }
    add(out: x, a: x, b: y, count: count)
  }

  /// x += alpha · y
  public static func axpy(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, alpha: Float, count: Int) {
    let scope = Profile.begin(.elementwise, bytes: 12 * count)
    defer { Profile.end(scope) }
    let va = F16x(repeating: alpha)
    split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        store16(fma16(va, load16(y + i), load16(x + i)), x + i)
        i += 16
      }
      while i < hi {
        x[i] += alpha * y[i]
        i += 1
      }
    }
  }

  /// out = a ⊙ b
  public static func mul(
    out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int
  ) {
    let scope = Profile.begin(.elementwise, bytes: 12 * count)
    defer { Profile.end(scope) }
    split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        store16(load16(a + i) * load16(b + i), out + i)
        i += 16
      }
      while i < hi {
        out[i] = a[i] * b[i]
        i += 1
      }
    }
  }

  /// out = s · inp  (out may alias inp)
  public static func scale(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, by s: Float, count: Int) {
    let scope = Profile.begin(.elementwise, bytes: 8 * count)
    defer { Profile.end(scope) }
    let vs = F16x(repeating: s)
    split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        store16(load16(inp + i) * vs, out + i)
        i += 16
      }
      while i < hi {
        out[i] = inp[i] * s
        i += 1
      }
    }
  }

  /// x *= s
  public static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
    scale(out: x, inp: x, by: s, count: count)
  }

  /// out [rows, cols] += bias [cols] broadcast over rows
  public static func addBias(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows { addInPlace(out + r * cols, bias, count: cols) }
  }

  /// x[0..<count] = value
  public static func fill(_ x: UnsafeMutablePointer<Float>, _ value: Float, count: Int) {
    split(count) { lo, hi in (x + lo).update(repeating: value, count: hi - lo) }
  }

  /// out = inp (a plain copy)
  public static func copy(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
    out.update(from: inp, count: count)
  }

  /// Σ x·y in double (for norms and tests; not a hot path).
  public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) * Double(y[i]) }
    return s
  }
}
