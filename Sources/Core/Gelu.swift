// GELU, exact erf form (torch nn.GELU() default, approximate='none'): 0.5·x·(1 + erf(x/√2)).

public enum Gelu {
  static let invSqrt2: Float = 0.7071067811865476
  static let invSqrt2Pi: Float = 0.3989422804014327

  /// out [count] = gelu(inp)  (out may alias inp)
  public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
    let scope = Profile.begin(.gelu, .forward, bytes: 8 * count)
    defer { Profile.end(scope) }
    Elementwise.split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        let x = load16(inp + i)
        store16(0.5 * x * (1 + erf16(x * invSqrt2)), out + i)
        i += 16
      }
      while i < hi {
        out[i] = 0.5 * inp[i] * (1 + erf1(inp[i] * invSqrt2))
        i += 1
      }
    }
  }

  /// dinp += dout · (Φ(x) + x·φ(x)), Φ the normal cdf 0.5(1 + erf(x/√2)) and φ its density; `accumulate`
  /// false: dinp = that (dinp's old contents are not read, so it need not be zeroed first).
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, count: Int,
    accumulate: Bool = true
  ) {
    let scope = Profile.begin(.gelu, .backward, bytes: 12 * count)
    defer { Profile.end(scope) }
    Elementwise.split(count) { lo, hi in
      var i = lo
      while i + 16 <= hi {
        let x = load16(inp + i)
        let cdf = 0.5 * (1 + erf16(x * invSqrt2))
        let pdf = exp16(-0.5 * x * x) * invSqrt2Pi
        let base = accumulate ? load16(dinp + i) : F16x()
        store16(fma16(load16(dout + i), fma16(x, pdf, cdf), base), dinp + i)
        i += 16
      }
      while i < hi {
        let x = inp[i]
        let cdf = 0.5 * (1 + erf1(x * invSqrt2))
        let pdf = exp1(-0.5 * x * x) * invSqrt2Pi
        dinp[i] = (accumulate ? dinp[i] : 0) + dout[i] * (cdf + x * pdf)
        i += 1
      }
    }
  }
}
