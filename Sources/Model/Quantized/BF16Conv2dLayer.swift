// A patch-embedding Conv2d whose frozen weight is held as bf16 (precision=bf16 and int8's vision side): the
// im2col columns multiply through the bf16 products, the activations rounded to bf16 as they enter them, as a
// BF16LinearLayer's rows are. `weight` is empty; `decodedWeight` gives the fp32 values (for `save model`).
import FlrCore

public final class BF16Conv2dLayer: Conv2dLayer {
  public let stored: BF16Weight  // W [out, in·k·k]

  /// Rounds `base`'s fp32 weight to bf16; the fp32 weight is not kept.
  public init(converting base: Conv2dLayer) {
    stored = BF16Weight(
      base.weight.data, outFeatures: base.outChannels, inFeatures: base.inChannels * base.kernel * base.kernel)
    super.init(
      weight: Tensor(zeros: [0]), bias: base.bias, in: base.inChannels, out: base.outChannels, kernel: base.kernel,
      stride: base.stride, padding: base.padding)
  }

  /// The bf16 weight as fp32 [out, in, k, k].
  public var decodedWeight: Tensor {
    let w = Tensor(uninitialized: [outChannels, inChannels, kernel, kernel])
    stored.decodeRows(0..<outChannels, into: w.data)
    return w
  }

  /// x [B, H, W, in] -> [B, Ho, Wo, out]
  public override func forward(_ x: Tensor) -> Tensor {
    let (b, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
    let ho = Conv2d.outputSize(h, kernel: kernel, stride: stride, padding: padding)
    let wo = Conv2d.outputSize(wd, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitialized: [b, ho, wo, outChannels])
    Conv2d.forward(
      out: y.data, inp: x.data, weight: stored, bias: bias.data, batch: b, height: h, width: wd,
      inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
    return y
  }

  /// dout [B, Ho, Wo, out], input [B, H, W, in] -> dinput = col2im(dout · W) (W frozen)
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    Conv2d.backwardInput(
      dinp: dinput.data, dout: dout.data, weight: stored, batch: input.shape[0], height: input.shape[1],
      width: input.shape[2], inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
      padding: padding)
    return dinput
  }

  /// A frozen base has no parameter gradients.
  public override func accumulateParameterGradients(dout: Tensor, input: Tensor, saved: LayerSaved) {}
}
