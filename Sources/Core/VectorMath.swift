// SIMD16 exp and erf for the kernels (Swift has no vector libm). Both are accurate to a few float ulps,
// the same class of approximation torch's vectorised CPU kernels use.

public typealias F16x = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> F16x {
  UnsafeRawPointer(p).loadUnaligned(as: F16x.self)
}
@inline(__always) func load16(_ p: UnsafeMutablePointer<Float>) -> F16x {
  UnsafeRawPointer(p).loadUnaligned(as: F16x.self)
}
@inline(__always) func store16(_ v: F16x, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16x.self)
}
/// a*b + c with one rounding.
@inline(__always) func fma16(_ a: F16x, _ b: F16x, _ c: F16x) -> F16x { c.addingProduct(a, b) }

/// Horizontal max without `.max()` (which stays scalar on SIMD16).
@inline(__always) func maxLanes(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .> a) }

/// e^x (Cephes expf scheme: x = n·ln2 + r, degree-6 polynomial for e^r, 2^n from the exponent bits).
/// Returns exactly 0 below -87.3 (and for -inf), +inf above 88.7.
/// Rounding uses the 1.5·2^23 trick: Swift's SIMD float→int conversions and `.rounded` are library calls.
@inline(__always) func exp16(_ input: F16x) -> F16x {
  let underflow = input .< -87.33654
  var x = input.replacing(with: 88.72283, where: input .> 88.72283)
  x.replace(with: 0, where: underflow)
  let magic = F16x(repeating: 12582912)  // 1.5·2^23: adding it rounds to an integer held in the low bits
  let shifted = fma16(x, F16x(repeating: 1.44269504088896341), magic)
  let n = shifted - magic
  var r = fma16(n, F16x(repeating: -0.693359375), x)
  r = fma16(n, F16x(repeating: 2.12194440e-4), r)
  var p = F16x(repeating: 1.9875691500e-4)
  p = fma16(p, r, F16x(repeating: 1.3981999507e-3))
  p = fma16(p, r, F16x(repeating: 8.3334519073e-3))
  p = fma16(p, r, F16x(repeating: 4.1665795894e-2))
  p = fma16(p, r, F16x(repeating: 1.6666665459e-1))
  p = fma16(p, r, F16x(repeating: 5.0000001201e-1))
  p = fma16(p, r * r, r + 1)
  // 2^n split in two halves so n = 128 (x near 88.7) does not overflow the exponent field.
  let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
  let half = ni &>> 1
  let s1 = unsafeBitCast((half &+ 127) &<< 23, to: F16x.self)
  let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: F16x.self)
  var y = p * s1 * s2
  y.replace(with: 0, where: underflow)
  return y
}

/// Horizontal sum and max by halving (`.sum()` and `.max()` on SIMD16 are library calls).
@inline(__always) func sumLanes(_ v: F16x) -> Float {
  let a = v.lowHalf + v.highHalf
  let b = a.lowHalf + a.highHalf
  let c = b.lowHalf + b.highHalf
  return c[0] + c[1]
}
@inline(__always) func maxOfLanes(_ v: F16x) -> Float {
  let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
  let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
  let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
  return Swift.max(c[0], c[1])
}

/// erf(x): odd/even rational approximation on [-4, 4] (the coefficients Eigen and XLA use for float),
/// ±1 outside, where float erf is ±1 anyway.
@inline(__always) func erf16(_ input: F16x) -> F16x {
  var x = input.replacing(with: 4, where: input .> 4)
  x.replace(with: -4, where: x .< -4)
  let x2 = x * x
  var p = F16x(repeating: -2.72614225801306e-10)
  p = fma16(x2, p, F16x(repeating: 2.77068142495902e-08))
  p = fma16(x2, p, F16x(repeating: -2.10102402082508e-06))
  p = fma16(x2, p, F16x(repeating: -5.69250639462346e-05))
  p = fma16(x2, p, F16x(repeating: -7.34990630326855e-04))
  p = fma16(x2, p, F16x(repeating: -2.95459980854025e-03))
  p = fma16(x2, p, F16x(repeating: -1.60960333262415e-02))
  p = p * x
  var q = F16x(repeating: -1.45660718464996e-05)
  q = fma16(x2, q, F16x(repeating: -2.13374055278905e-04))
  q = fma16(x2, q, F16x(repeating: -1.68282697438203e-03))
  q = fma16(x2, q, F16x(repeating: -7.37332916720468e-03))
  q = fma16(x2, q, F16x(repeating: -1.42647390514189e-02))
  return p / q
}

/// Scalar forms for loop tails (same math, one lane).
@inline(__always) func exp1(_ x: Float) -> Float { exp16(F16x(repeating: x))[0] }
@inline(__always) func erf1(_ x: Float) -> Float { erf16(F16x(repeating: x))[0] }
