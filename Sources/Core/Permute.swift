// Axis permutation as a contiguous copy (torch's x.permute(...).contiguous()). Tensors have no strides,
// so this is how the model reorders axes, e.g. [B, H, W, C] <-> [B, C, H, W] at a layout boundary.

public enum Permute {
  /// out = inp [shape] with axes reordered: out.shape[i] = shape[axes[i]].
  public static func forward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, shape: [Int], axes: [Int]
  ) {
    let scope = Profile.begin(.permute, .forward, bytes: 8 * (shape.reduce(1, *)))
    defer { Profile.end(scope) }
    precondition(axes.sorted() == Array(0..<shape.count), "axes \(axes) do not permute rank \(shape.count)")
    let rank = shape.count
    if rank == 0 { out[0] = inp[0]; return }
    var inStride = [Int](repeating: 1, count: rank)
    for i in stride(from: rank - 2, through: 0, by: -1) { inStride[i] = inStride[i + 1] * shape[i + 1] }
    let outShape = axes.map { shape[$0] }
    let srcStride = axes.map { inStride[$0] }  // input step for a unit step along each output axis
    let inner = outShape[rank - 1], innerStride = srcStride[rank - 1]
    let outer = outShape.dropLast().reduce(1, *)
    if inner == 0 || outer == 0 { return }
    // One output row (last axis) per item; the row's input start comes from its multi-index.
    Threads.parallelFor(outer, grain: max(1, 4096 / inner)) { row in
      var rest = row, src = 0
      for axis in stride(from: rank - 2, through: 0, by: -1) {
        src += (rest % outShape[axis]) * srcStride[axis]
        rest /= outShape[axis]
      }
      let o = out + row * inner
      if innerStride == 1 {
        o.update(from: inp + src, count: inner)
      } else {
        for j in 0..<inner { o[j] = inp[src + j * innerStride] }
      }
    }
  }

  /// dinp [shape] += dout permuted back (dout has the permuted shape).
  public static func backward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, shape: [Int], axes: [Int]
  ) {
    let scope = Profile.begin(.permute, .backward, bytes: 12 * (shape.reduce(1, *)))
    defer { Profile.end(scope) }
    var inverse = [Int](repeating: 0, count: axes.count)
    for (i, a) in axes.enumerated() { inverse[a] = i }
    let count = shape.reduce(1, *)
    Scratch.withFloats(count) { tmp in
      forward(out: tmp, inp: dout, shape: axes.map { shape[$0] }, axes: inverse)
      Elementwise.addInPlace(dinp, tmp, count: count)
    }
  }
}

extension Tensor {
  /// A contiguous copy with axes reordered (torch `permute(...).contiguous()`).
  public func permuted(_ axes: [Int]) -> Tensor {
    let out = Tensor(zeros: axes.map { shape[$0] })
    Permute.forward(out: out.data, inp: data, shape: shape, axes: axes)
    return out
  }
}
