// Small elementwise helpers that reproduce torch's CPU rounding where the optimizers depend on it.

/// torch CPU `lerp` (ATen Lerp.h): a fused multiply-add from the nearer end, weight rounded to fp32 first.
@inline(__always)
func torchLerp(_ start: Float, _ end: Float, _ weight: Float) -> Float {
  let diff = end - start
  return abs(weight) < 0.5 ? start.addingProduct(weight, diff) : end.addingProduct(-(1 - weight), diff)
}

/// fp32 → bf16 → fp32 with round-to-nearest-even, as `tensor.to(torch.bfloat16)` (finite values).
@inline(__always)
func roundToBFloat16(_ x: Float) -> Float {
  guard x.isFinite else { return x }
  let bits = x.bitPattern
  let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
  return Float(bitPattern: rounded)
}

/// ‖x‖₂ accumulated in Double, rounded to fp32 (torch's `norm` returns fp32; its summation order differs, so
/// results agree to ~1e-7 relative, not bit for bit).
func l2Norm(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var acc = 0.0
  for i in 0..<n { acc += Double(x[i]) * Double(x[i]) }
  return Float(acc.squareRoot())
}

/// Flat index map for a reduction over `dim` with keepdim: element e of `shape` → flat index into the
/// reduced shape (shape with shape[dim] = 1). Works for any rank.
func keepdimIndexMap(shape: [Int], dim: Int) -> [Int32] {
  let count = shape.reduce(1, *)
  var reduced = shape
  reduced[dim] = 1
  let inner = shape[(dim + 1)...].reduce(1, *)
  let size = shape[dim]
  var map = [Int32](repeating: 0, count: count)
  for e in 0..<count {
    let outer = e / (inner * size)
    let innerIdx = e % inner
    map[e] = Int32(outer * inner + innerIdx)
  }
  return map
}
