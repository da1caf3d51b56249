// What a Linear's frozen weight W [out, in] kept in a reduced form (bf16, int8, NF4) offers the layer that
// holds it (Sources/Model/Quantized): products that never expand the whole weight. bf16 and int8 also decode
// any rows to fp32 (the whole weight for `save model`; tiles for sgemm where there are no bf16 dot products).

public protocol FrozenWeight: Sendable {
  /// out [rows, out] = inp [rows, in] · Wᵀ + bias
  func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int)
  /// dinp [rows, in] += dout [rows, out] · W (the input gradient of a frozen base)
  func linearBackwardInput(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int)
}

extension NF4Tensor: FrozenWeight {}

/// A frozen weight that decodes rows of W to fp32 (exactly the values its products use).
public protocol RowDecodedWeight: FrozenWeight {
  var outFeatures: Int { get }
  var inFeatures: Int { get }
  /// Rows `range` of W as fp32 [range.count, in].
  func decodeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>)
}

extension RowDecodedWeight {
  /// The whole weight as fp32 [out, in].
  public func decoded() -> Tensor {
    let w = Tensor(uninitialized: [outFeatures, inFeatures])
    decodeRows(0..<outFeatures, into: w.data)
    return w
  }
}
