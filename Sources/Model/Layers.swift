// The torch.nn building blocks Florence-2 is made of (nn.Linear, nn.LayerNorm, nn.Conv2d, depthwise Conv2d),
// each binding `weight`/`bias` under its own key prefix and running the FlrCore kernel. Classes, and open, so
// an adapter (LoRA) can stand in for a Linear or Conv2d without the model code knowing.
import FlrCore

/// nn.Linear: y = x·Wᵀ + b, W [out, in] (PyTorch layout).
open class LinearLayer {
  public let weight: Tensor  // [out, in]
  public let bias: Tensor?  // [out]
  public let inFeatures: Int, outFeatures: Int

  public init(_ w: Weights, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    weight = w("weight", [outFeatures, inFeatures])
    self.bias = bias ? w("bias", [outFeatures]) : nil
  }

  /// From tensors already built. A subclass that keeps its weight in another form (NF4LinearLayer) passes a
  /// `weight` of shape [0] and overrides forward and backward.
  public init(weight: Tensor, bias: Tensor?, in inFeatures: Int, out outFeatures: Int) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.weight = weight
    self.bias = bias
  }

  /// x [..., in] -> [..., out]
  open func forward(_ x: Tensor) -> Tensor {
    let rows = x.count / inFeatures
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    Linear.forward(
      out: y.data, inp: x.data, weight: weight.data, bias: bias?.data, rows: rows, inFeatures: inFeatures,
      outFeatures: outFeatures)
    return y
  }

  /// dout [..., out], the forward's input [..., in] -> dinput [..., in]. The base weight and bias are frozen
  /// (no gradient); a LoRA subclass overrides this to also accumulate its A/B gradients.
  open func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    Linear.backward(
      dinp: dinput.data, dweight: nil, dbias: nil, dout: dout.data, inp: input.data, weight: weight.data,
      rows: input.count / inFeatures, inFeatures: inFeatures, outFeatures: outFeatures)
    return dinput
  }
}

/// nn.LayerNorm over the last dimension, eps 1e-5 (no Florence-2 module overrides the default).
public final class LayerNormLayer {
  public let weight: Tensor, bias: Tensor  // [dim]
  public let dim: Int
  public let eps: Float = 1e-5

  public init(_ w: Weights, dim: Int) {
    self.dim = dim
    weight = w("weight", [dim])
    bias = w("bias", [dim])
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

/// nn.Conv2d with bias, square kernel, on channels-last activations.
open class Conv2dLayer {
  public let weight: Tensor  // [out, in, k, k]
  public let bias: Tensor  // [out]
  public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int

  public init(_ w: Weights, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int, padding: Int) {
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    weight = w("weight", [outChannels, inChannels, kernel, kernel])
    bias = w("bias", [outChannels])
  }

  /// x [B, H, W, in] -> [B, Ho, Wo, out]
  open func forward(_ x: Tensor) -> Tensor {
    let (b, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
    let ho = Conv2d.outputSize(h, kernel: kernel, stride: stride, padding: padding)
    let wo = Conv2d.outputSize(wd, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitialized: [b, ho, wo, outChannels])
    Conv2d.forward(
      out: y.data, inp: x.data, weight: weight.data, bias: bias.data, batch: b, height: h, width: wd,
      inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
    return y
  }

  /// dout [B, Ho, Wo, out], the forward's input [B, H, W, in] -> dinput [B, H, W, in]. Frozen base (no weight
  /// gradient); a LoRA subclass overrides this to also accumulate its A/B gradients.
  open func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    Conv2d.backward(
      dinp: dinput.data, dweight: nil, dbias: nil, dout: dout.data, inp: input.data, weight: weight.data,
      batch: input.shape[0], height: input.shape[1], width: input.shape[2], inChannels: inChannels,
      outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
    return dinput
  }
}

/// Depthwise nn.Conv2d (groups = channels), kernel 3, stride 1, padding 1, with bias: DaViT's `dw`.
public final class DepthwiseConvLayer {
  public let weight: Tensor  // [C, 1, 3, 3]
  public let bias: Tensor  // [C]
  public let channels: Int

  public init(_ w: Weights, channels: Int) {
    self.channels = channels
    weight = w("weight", [channels, 1, 3, 3])
    bias = w("bias", [channels])
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

/// x += y (same shape): the residual connections.
@inline(__always) func addResidual(_ x: Tensor, _ y: Tensor) {
  Elementwise.addInPlace(x.data, y.data, count: x.count)
}
