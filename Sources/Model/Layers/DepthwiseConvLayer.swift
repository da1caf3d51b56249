// Depthwise torch.nn.Conv2d (frozen): forward and the input gradient.
import FlrCore

/// Depthwise nn.Conv2d (groups = channels), kernel 3, stride 1, padding 1, with bias: DaViT's `dw`.
public final class DepthwiseConvLayer {
  public let weight: Tensor  // [C, 1, 3, 3]
  public let bias: Tensor  // [C]
  public let channels: Int

  public init(_ w: Weights, channels: Int) {
    self.channels = channels
    weight = w("weight", [channels, 1, 3, 3])
    bias = w("bias", [channels])
    w.module("Conv2d (depthwise, groups = channels)")
  }

  /// x [B, H, W, C] -> same shape
  public func forward(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    DepthwiseConv2d.forward(
      out: y.data, inp: x.data, weight: weight.data, bias: bias.data, batch: x.shape[0], height: x.shape[1],
      width: x.shape[2], channels: channels, kernel: 3)
    return y
  }
}

extension DepthwiseConvLayer {
  /// dy [B, H, W, C] -> dx (frozen kernel and bias). The input gradient does not read the forward's input
  /// (the kernel reads `inp` only for dweight), so none is kept for it.
  func backward(_ dy: Tensor) -> Tensor {
    let dx = Tensor(uninitialized: dy.shape)
    DepthwiseConv2d.backward(
      dinp: dx.data, dweight: nil, dbias: nil, dout: dy.data, inp: dy.data, weight: weight.data,
      batch: dy.shape[0], height: dy.shape[1], width: dy.shape[2], channels: channels, kernel: 3, accumulate: false)
    return dx
  }
}
