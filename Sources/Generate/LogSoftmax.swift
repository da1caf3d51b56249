// log_softmax over one row, as PyTorch's CPU kernel forms it (aten/src/ATen/native/cpu/SoftMaxKernel.cpp,
// `_vec_log_softmax_lastdim`): out = (x - max) - log(Σ exp(x - max)), float32 throughout.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

enum LogSoftmax {
  static func inPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var maxValue = -Float.infinity
    for i in 0..<count where row[i] > maxValue { maxValue = row[i] }
    guard maxValue.isFinite else { return }  // all -inf (or +inf): nothing sensible to normalise
    // 16 partial sums, as a vectorised reduction accumulates lanes.
    var lanes = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= count {
      var block = SIMD16<Float>(repeating: 0)
      for lane in 0..<16 { block[lane] = expf(row[i + lane] - maxValue) }
      lanes += block
      i += 16
    }
    var sum = lanes.sum()
    while i < count {
      sum += expf(row[i] - maxValue)
      i += 1
    }
    let logSum = logf(sum)
    for j in 0..<count { row[j] = (row[j] - maxValue) - logSum }
  }
}
