// torch.nn.LayerNorm (frozen): the inference forward, the training forward that keeps its statistics, and
// the input gradient.
import FlrCore

/// nn.LayerNorm over the last dimension, eps 1e-5 (no Florence-2 module overrides the default).
public final class LayerNormLayer {
  public let weight: Tensor, bias: Tensor  // [dim]
  public let dim: Int
  public let eps: Float = 1e-5

  public init(_ w: Weights, dim: Int) {
    self.dim = dim
    weight = w("weight", [dim])
    bias = w("bias", [dim])
    w.module("LayerNorm")
  }

  /// x [..., dim] -> same shape
  public func forward(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    LayerNorm.forward(
      out: y.data, mean: nil, rstd: nil, inp: x.data, weight: weight.data, bias: bias.data, rows: x.count / dim,
      dim: dim, eps: eps)
    return y
  }
}

/// What LayerNorm's backward reads: its input and per-row statistics.
struct LayerNormSaved {
  let input: Tensor  // [..., dim]
  let mean: Tensor, rstd: Tensor  // [rows]
}

extension LayerNormLayer {
  /// The forward, keeping the statistics backward needs.
  func forwardTrain(_ x: Tensor) -> (Tensor, LayerNormSaved) {
    let rows = x.count / dim
    let y = Tensor(uninitialized: x.shape), mean = Tensor(uninitialized: [rows]), rstd = Tensor(uninitialized: [rows])
    LayerNorm.forward(
      out: y.data, mean: mean.data, rstd: rstd.data, inp: x.data, weight: weight.data, bias: bias.data, rows: rows,
      dim: dim, eps: eps)
    return (y, LayerNormSaved(input: x, mean: mean, rstd: rstd))
  }

  /// dy [..., dim] -> dx (frozen affine: no weight/bias gradient)
  func backward(_ dy: Tensor, _ s: LayerNormSaved) -> Tensor {
    let dx = Tensor(uninitialized: dy.shape)
    LayerNorm.backward(
      dinp: dx.data, dweight: nil, dbias: nil, dout: dy.data, inp: s.input.data, mean: s.mean.data,
      rstd: s.rstd.data, weight: weight.data, rows: dy.count / dim, dim: dim, accumulate: false)
    return dx
  }
}
