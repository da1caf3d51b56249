// log_softmax over one row, as PyTorch's CPU kernel forms it (aten/src/ATen/native/cpu/SoftMaxKernel.cpp,
// `_vec_log_softmax_lastdim`): out = (x - max) - log(Σ exp(x - max)), float32 throughout, the sum
// accumulated in 16 vector lanes. The vector exp is the Cephes expf scheme (as FlrCore's kernels use; a few
// ulps, like PyTorch's own vectorised exp); libm's scalar expf made this 2.4 ms of a beam-3 step at V = 51289.
// On the avx512 kernel path the C row (Sources/Kernels/log_softmax.c: each SIMD16 step in one register where this
// x86-64-v3 build takes two); else these SIMD16 loops. Same bits (LogSoftmaxKernelTests).
import CFlrKernels
import FlrCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

enum LogSoftmax {
  typealias Lanes = SIMD16<Float>

  static func inPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
    if KernelPath.active == .avx512 {
      flr_log_softmax_row(row, count)
    } else {
      simd16InPlace(row, count: count)
    }
  }

  /// The row in Swift SIMD16 (what AVX2, aarch64 and FLR_KERNELS=portable run).
  static func simd16InPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    let vectorEnd = count - count % 16
    var maxLanes = Lanes(repeating: -.infinity)
    for i in stride(from: 0, to: vectorEnd, by: 16) {
      let x = load(row + i)
      maxLanes.replace(with: x, where: x .> maxLanes)
    }
    var maxValue = -Float.infinity
    for lane in 0..<16 where maxLanes[lane] > maxValue { maxValue = maxLanes[lane] }
    for i in vectorEnd..<count where row[i] > maxValue { maxValue = row[i] }
    guard maxValue.isFinite else { return }  // all -inf (or +inf): nothing sensible to normalise

    let maxVector = Lanes(repeating: maxValue)
    var sumLanes = Lanes(repeating: 0)
    for i in stride(from: 0, to: vectorEnd, by: 16) { sumLanes += expNonPositive(load(row + i) - maxVector) }
    var sum: Float = 0
    for lane in 0..<16 { sum += sumLanes[lane] }
    for i in vectorEnd..<count { sum += expf(row[i] - maxValue) }
    let logSum = logf(sum)

    let logSumVector = Lanes(repeating: logSum)
    for i in stride(from: 0, to: vectorEnd, by: 16) { store((load(row + i) - maxVector) - logSumVector, row + i) }
    for i in vectorEnd..<count { row[i] = (row[i] - maxValue) - logSum }
  }

  @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
  }
  @inline(__always) static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
  }

  /// e^x for x ≤ 0 (x = n·ln2 + r, degree-6 polynomial for e^r, 2^n from the exponent bits); 0 below -87.3
  /// and for -inf.
  @inline(__always) static func expNonPositive(_ input: Lanes) -> Lanes {
    let underflow = input .< -87.33654
    var x = input
    x.replace(with: 0, where: underflow)
    let magic = Lanes(repeating: 12582912)  // 1.5·2^23: adding it rounds to an integer held in the low bits
    let shifted = magic.addingProduct(x, Lanes(repeating: 1.44269504088896341))
    let n = shifted - magic
    var r = x.addingProduct(n, Lanes(repeating: -0.693359375))
    r = r.addingProduct(n, Lanes(repeating: 2.12194440e-4))
    var p = Lanes(repeating: 1.9875691500e-4)
    p = Lanes(repeating: 1.3981999507e-3).addingProduct(p, r)
    p = Lanes(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = Lanes(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = Lanes(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = Lanes(repeating: 5.0000001201e-1).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    let exponent = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000  // n as an integer
    var y = p * unsafeBitCast((exponent &+ 127) &<< 23, to: Lanes.self)
    y.replace(with: 0, where: underflow)
    return y
  }
}
