// What a Linear's frozen weight W [out, in] kept in a reduced form (bf16, int8, NF4) offers the layer that
// holds it (Sources/Model/Quantized): products that never expand the whole weight. bf16 and int8 also decode
// any rows to fp32 (the whole weight for `save model`).

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
  /// Bytes the weight holds in memory (its products' bytes in the profile).
  var residentBytes: Int { get }
  /// The profile's row for this weight's products.
  var productKind: OpKind { get }
  /// Panels [p0, p1) of Wᵀ [in, out] as bf16 (an int8 weight dequantized, then rounded), packed as flr_bf16_pack
  /// packs it (16 input features a panel).
  func packTransposed(_ p0: Int, _ p1: Int, into out: UnsafeMutablePointer<UInt16>)
}

extension RowDecodedWeight {
  /// The whole weight as fp32 [out, in].
  public func decoded() -> Tensor {
    let w = Tensor(uninitialized: [outFeatures, inFeatures])
    decodeRows(0..<outFeatures, into: w.data)
    return w
  }

  /// dinp [rows, in] += bf16(dout [rows, out]) · bf16(W) (the input gradient of a frozen base), fp32 sums, Wᵀ
  /// repacked a tile at a time, the same kernels at every row count.
  public func linearBackwardInput(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int) {
    if rows == 0 { return }
    let work = ReducedProducts.profileWork(
      rows: rows, outFeatures: outFeatures, inFeatures: inFeatures, weightBytes: residentBytes, backward: true)
    let scope = Profile.begin(productKind, flops: work.flops, bytes: work.bytes)
    defer { Profile.end(scope) }
    let (n, k) = (outFeatures, inFeatures)
    ReducedProducts.backwardInputBF16(dinp: dinp, dout: dout, rows: rows, outFeatures: n, inFeatures: k) {
      packTransposed($0.lowerBound, $0.upperBound, into: $1)
    }
  }
}
