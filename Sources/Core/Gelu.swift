// GELU, exact erf form (torch nn.GELU() default, approximate='none'): 0.5·x·(1 + erf(x/√2)).
// On the avx512 kernel path each worker's range runs the C loops (Sources/Kernels/gelu.c: each SIMD16 step in one
// register where this x86-64-v3 build takes two); else (AVX2, aarch64, FLR_KERNELS=portable) the Swift SIMD16
// loops (on AVX2 as fast as C: `scripts/bench ops`). Same bits (GeluKernelTests).
import CFlrKernels

public enum Gelu {
  static let invSqrt2: Float = 0.7071067811865476
  static let invSqrt2Pi: Float = 0.3989422804014327

  /// out [count] = gelu(inp)  (out may alias inp)
  public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
    let scope = Profile.begin(.gelu, .forward, bytes: 8 * count)
    defer { Profile.end(scope) }
    Elementwise.split(count) { lo, hi in
      if KernelPath.active == .avx512 {
        flr_gelu_forward(out + lo, inp + lo, hi - lo)
      } else {
        simd16Forward(out + lo, inp + lo, hi - lo)
      }
    }
  }

  /// The forward in Swift SIMD16 (what AVX2, aarch64 and FLR_KERNELS=portable run): 16-lane blocks, then the tail.
  @inline(__always) static func simd16Forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int)
  {
    var i = 0
    while i + 16 <= n {
      let x = load16(inp + i)
      store16(0.5 * x * (1 + erf16(x * invSqrt2)), out + i)
      i += 16
    }
    while i < n {
      out[i] = 0.5 * inp[i] * (1 + erf1(inp[i] * invSqrt2))
      i += 1
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
      if KernelPath.active == .avx512 {
        flr_gelu_backward(dinp + lo, dout + lo, inp + lo, hi - lo, accumulate ? 1 : 0)
      } else {
        simd16Backward(dinp + lo, dout + lo, inp + lo, hi - lo, accumulate: accumulate)
      }
    }
  }

  /// The backward in Swift SIMD16 (what AVX2, aarch64 and FLR_KERNELS=portable run): 16-lane blocks, then the tail.
  @inline(__always) static func simd16Backward(
    _ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int,
    accumulate: Bool
  ) {
    var i = 0
    while i + 16 <= n {
      let x = load16(inp + i)
      let cdf = 0.5 * (1 + erf16(x * invSqrt2))
      let pdf = exp16(-0.5 * x * x) * invSqrt2Pi
      let base = accumulate ? load16(dinp + i) : F16x()
      store16(fma16(load16(dout + i), fma16(x, pdf, cdf), base), dinp + i)
      i += 16
    }
    while i < n {
      let x = inp[i]
      let cdf = 0.5 * (1 + erf1(x * invSqrt2))
      let pdf = exp1(-0.5 * x * x) * invSqrt2Pi
      dinp[i] = (accumulate ? dinp[i] : 0) + dout[i] * (cdf + x * pdf)
      i += 1
    }
  }
}
