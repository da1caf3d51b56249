// A Linear's forward for a few rows cut into column blocks that the workers of one parallel region compute on
// their own (a decoding step as Stages): the plain fp32 layer (Linear.forwardColumns: Linear.forward's own
// blocks) and the bf16 / int8 layers (their weights' panel ranges). Each output element comes out bit for bit
// as the layer's forward gives it. Any other layer (an adapter, NF4) has none: the step then runs op by op.
import FlrCore

struct ColumnSplitLinear {
  enum Stored {
    case fp32(Tensor)
    case bf16(BF16Weight)
    case int8(Int8Weight)
  }
  let stored: Stored
  let bias: Tensor?
  let inFeatures: Int, outFeatures: Int

  init?(_ layer: LinearLayer) {
    if type(of: layer) == LinearLayer.self {
      stored = .fp32(layer.weight)
    } else if let reduced = layer as? BF16LinearLayer {
      stored = .bf16(reduced.stored)
    } else if let reduced = layer as? Int8LinearLayer {
      stored = .int8(reduced.stored)
    } else {
      return nil
    }
    bias = layer.bias
    inFeatures = layer.inFeatures
    outFeatures = layer.outFeatures
  }

  /// Column blocks for `rows` rows: fp32 as Linear.forward cuts them (so the sums are the same), a reduced
  /// weight `reducedBlocks` panel ranges; nil where the product is not cut by columns for so many rows.
  func blocks(rows: Int, reducedBlocks: Int) -> Int? {
    switch stored {
    case .fp32: Linear.columnBlocks(rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
    case .bf16, .int8: rows < ReducedProducts.rowSplitMinimum ? reducedBlocks : nil
    }
  }

  /// Block `block` of `blocks` of out [rows, out] = x [rows, in] · Wᵀ + bias, then GELU (`gelu`) or + extra [out]
  /// on every row (the LM head's final_logits_bias), as forwardGelu / forward(_:addingBias:) give them.
  func forward(
    block: Int, of blocks: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int,
    gelu: Bool = false, addingBias extra: UnsafePointer<Float>? = nil
  ) {
    let n = outFeatures
    var columns = ReducedProducts.columns(block, of: blocks, outFeatures: n), activate = gelu
    switch stored {
    case .fp32(let weight):
      // The plain layer writes a bias-free head's extra bias as its GEMM's bias (forward(_:addingBias:)).
      let folded = bias == nil && extra != nil
      Linear.forwardColumns(
        block: block, of: blocks, out: out, inp: inp, weight: weight.data,
        bias: folded ? extra : bias.map { UnsafePointer($0.data) },
        rows: rows, inFeatures: inFeatures, outFeatures: n, activation: gelu ? .gelu : .none)
      if folded || extra == nil { return }
      columns = Linear.columns(block, of: blocks, outFeatures: n)
      activate = false
    case .bf16(let weight):
      weight.linearForwardPanels(block: block, of: blocks, out: out, inp: inp, bias: bias?.data, rows: rows)
    case .int8(let weight):
      weight.linearForwardPanels(block: block, of: blocks, out: out, inp: inp, bias: bias?.data, rows: rows)
    }
    if columns.isEmpty { return }
    for r in 0..<rows {
      let row = out + r * n + columns.lowerBound
      if activate { Gelu.forward(out: row, inp: row, count: columns.count) }
      if let extra { Elementwise.addInPlace(row, extra + columns.lowerBound, count: columns.count) }
    }
  }

  /// The profile's row for this product.
  var kind: OpKind {
    switch stored {
    case .fp32: .gemm
    case .bf16: .bf16Product
    case .int8: .int8Product
    }
  }

  /// The product's FLOPs and bytes for `rows` rows (activations in and out, and the weight as held).
  func work(rows: Int) -> (flops: Int, bytes: Int) {
    let weightBytes: Int
    switch stored {
    case .fp32: weightBytes = 4 * inFeatures * outFeatures
    case .bf16(let w): weightBytes = w.residentBytes
    case .int8(let w): weightBytes = w.residentBytes
    }
    return (2 * rows * inFeatures * outFeatures, 4 * rows * (inFeatures + outFeatures) + weightBytes)
  }
}
