// bitsandbytes' 8-bit blockwise quantization with a dynamic map, as its CUDA kernels compute it
// (csrc/kernels.cu `quantize_2D`, used by kOptimizerStatic8bit2StateBlockwise and kQuantizeBlockwise).
// bitsandbytes' CPU backend uses an approximate 65536-entry LUT instead (OPTIMIZERS.md §4.6); we follow CUDA,
// which is what the reference script runs, with one documented difference: x / absmax is an IEEE division where CUDA
// uses the approximate `__fdividef` (≤ 2 ulp), which can only move a code when x sits on a midpoint.

public enum Blockwise8bit {
  /// Index into the sorted 256-entry `code` for x (normally in [-1, 1]): the kernel's binary search from pivot
  /// 127 in steps 64…1, then a midpoint test against the neighbour. A tie goes to where the search ended
  /// (low or high depending on the path), exactly as CUDA. NaN (0/0 for an all-zero block) gives index 0.
  @inline(__always)
  public static func quantize(_ code: UnsafePointer<Float>, _ x: Float, signed: Bool) -> Int {
    var pivot = 127
    var upperPivot = 255
    var lowerPivot = 0
    var lower: Float = signed ? -1 : 0
    var upper: Float = 1
    var val = code[pivot]
    var i = 64
    while i > 0 {  // written with selects, not branches: the comparisons are unpredictable
      let above = x > val
      lowerPivot = above ? pivot : lowerPivot
      lower = above ? val : lower
      upperPivot = above ? upperPivot : pivot
      upper = above ? upper : val
      pivot = above ? pivot + i : pivot - i
      val = code[pivot]
      i >>= 1
    }
    if x > val {
      let midpoint = (upper + val) * 0.5
      return x > midpoint ? upperPivot : pivot
    } else {
      let midpoint = (lower + val) * 0.5
      return x < midpoint ? lowerPivot : pivot
    }
  }

  /// Signed quantization with the optimizer kernel's sign fix: if the chosen entry's sign differs from x's,
  /// move one index toward x's sign (uint8 arithmetic, so 0 − 1 wraps to 255 as in CUDA).
  @inline(__always)
  public static func quantizeSignedKeepingSign(_ code: UnsafePointer<Float>, _ x: Float, value: Float) -> UInt8 {
    var c = UInt8(truncatingIfNeeded: quantize(code, x, signed: true))
    if code[Int(c)].sign != value.sign {
      c = value > 0 ? c &+ 1 : c &- 1
    }
    return c
  }

  /// Blockwise quantization of `n` values (kQuantizeBlockwise): per block absmax = max|x|, codes =
  /// quantize(x · (1/absmax)) (the kernel multiplies by the fp32 reciprocal). Used for NF4's double-quantized absmax
  /// (block 256, signed map).
  public static func quantizeBlockwise(
    _ x: UnsafePointer<Float>, count n: Int, blockSize: Int, code: [Float], codes: UnsafeMutablePointer<UInt8>,
    absmax: UnsafeMutablePointer<Float>
  ) {
    let signed = code[0] < 0
    code.withUnsafeBufferPointer { cb in
      let c = cb.baseAddress!
      var b = 0
      var start = 0
      while start < n {
        let end = min(n, start + blockSize)
        var amax: Float = 0
        for j in start..<end { amax = max(amax, abs(x[j])) }
        absmax[b] = amax
        let inv = 1 / amax
        for j in start..<end {
          codes[j] = UInt8(truncatingIfNeeded: quantize(c, x[j] * inv, signed: signed))
        }
        start = end
        b += 1
      }
    }
  }
}
