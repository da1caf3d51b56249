// transformers models/florence2/modeling_florence2.py: Florence2VisionMLP (remote code: Mlp, under `ffn.fn.net`).
import FlrCore

/// fc1 (C -> 4C) -> exact GELU -> fc2 (4C -> C). SPEC §3.6.
final class Mlp {
  var fc1: LinearLayer
  var fc2: LinearLayer

  init(_ w: Weights, dim: Int, ratio: Float) {
    let hidden = Int(Float(dim) * ratio)
    fc1 = LinearLayer(w.child("fc1"), in: dim, out: hidden)
    fc2 = LinearLayer(w.child("fc2"), in: hidden, out: dim)
  }

  /// x [..., C] -> [..., C]
  func forward(_ x: Tensor) -> Tensor {
    let hidden: Tensor  // [..., 4C]
    if type(of: fc1) == LinearLayer.self {
      // A plain fc1 applies GELU to each block of its GEMM output while it is in cache (Linear.forward).
      let (rows, inF, outF) = (x.count / fc1.inFeatures, fc1.inFeatures, fc1.outFeatures)
      hidden = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
      Linear.forward(
        out: hidden.data, inp: x.data, weight: fc1.weight.data, bias: fc1.bias?.data, rows: rows,
        inFeatures: inF, outFeatures: outF, activation: .gelu)
    } else {  // an adapter or quantized fc1 computes its own output
      hidden = fc1.forward(x)
      Gelu.forward(out: hidden.data, inp: hidden.data, count: hidden.count)
    }
    return fc2.forward(hidden)
  }
}
