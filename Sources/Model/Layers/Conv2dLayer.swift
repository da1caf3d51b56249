// torch.nn.Conv2d (DaViT's patch embeddings), binding `weight`/`bias` under its own key prefix. Open, so an
// adapter (LoRA) stands in for it in its slot (ModuleRecord).
import FlrCore

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
    w.store.record.awaitSlot(w.path, layer: self, type: "Conv2d")
  }

  /// From tensors already built (an adapter standing in for `base` shares its weight and bias).
  public init(sharing base: Conv2dLayer) {
    (inChannels, outChannels, kernel) = (base.inChannels, base.outChannels, base.kernel)
    (stride, padding, weight, bias) = (base.stride, base.padding, base.weight, base.bias)
  }

  /// From a weight held elsewhere: `weight` may be empty when a subclass keeps W in another form.
  public init(
    weight: Tensor, bias: Tensor, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int, padding: Int
  ) {
    (self.inChannels, self.outChannels, self.kernel, self.stride, self.padding) = (
      inChannels, outChannels, kernel, stride, padding
    )
    (self.weight, self.bias) = (weight, bias)
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

  /// The training forward: the output and what backward reads besides the input (nothing for a frozen layer).
  open func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, LayerSaved) { (forward(x), LayerSaved()) }

  /// Backward after `forwardTrain`. A frozen layer needs only `backward(dout:input:)`.
  open func backward(dout: Tensor, input: Tensor, saved: LayerSaved) -> Tensor { backward(dout: dout, input: input) }

  /// Backward when nothing below needs the input's gradient (the image under the first patch embedding, or a
  /// frozen stage under the lowest adapted one): only the layer's own parameter gradients, none for the plain
  /// frozen layer. A subclass gets its full backward with the input gradient dropped unless it overrides this.
  open func accumulateParameterGradients(dout: Tensor, input: Tensor, saved: LayerSaved) {
    guard type(of: self) != Conv2dLayer.self else { return }
    _ = backward(dout: dout, input: input, saved: saved)
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
