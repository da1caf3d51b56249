// torch.nn.Linear, binding `weight`/`bias` under its own key prefix and running the FlrCore kernel. A class,
// and open, so a layer that keeps its weight in another form (NF4) or an adapter (LoRA) stands in for it in
// its slot (ModuleRecord) without the model code knowing.
import FlrCore

/// nn.Linear: y = x·Wᵀ + b, W [out, in] (PyTorch layout).
open class LinearLayer {
  public let weight: Tensor  // [out, in]
  public let bias: Tensor?  // [out]
  public let inFeatures: Int, outFeatures: Int

  /// The Linear at `w`'s path; its owner hands its slot over with `w.slots(owner, \.layer)` (ModuleRecord).
  public init(_ w: Weights, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    weight = w("weight", [outFeatures, inFeatures])
    self.bias = bias ? w("bias", [outFeatures]) : nil
    w.store.record.awaitSlot(w.path, layer: self, type: "Linear")
  }

  /// The Linear at `w`'s path over a tensor another module binds (the tied LM head reads `shared`).
  public init(_ w: Weights, tiedTo weight: Tensor, in inFeatures: Int, out outFeatures: Int) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.weight = weight
    bias = nil
    w.store.record.awaitSlot(w.path, layer: self, type: "Linear")
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
    let dinput = Tensor(uninitialized: input.shape)  // written by the product (beta 0), never read first
    Linear.backward(
      dinp: dinput.data, dweight: nil, dbias: nil, dout: dout.data, inp: input.data, weight: weight.data,
      rows: input.count / inFeatures, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: false)
    return dinput
  }

  /// The training forward: the output and what backward reads besides the input (nothing for a frozen layer).
  open func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, LayerSaved) { (forward(x), LayerSaved()) }

  /// Backward after `forwardTrain`. A frozen layer needs only `backward(dout:input:)`.
  open func backward(dout: Tensor, input: Tensor, saved: LayerSaved) -> Tensor { backward(dout: dout, input: input) }

  /// What `forwardTrain` on an input of `inputCount` values would save, without computing its output: a
  /// checkpoint recompute of a layer whose output backward never reads (nothing for a frozen layer; an adapter
  /// notes its dropout stream, and its backward forms the small down-projection itself).
  open func savedWithoutOutput(inputCount: Int, ctx: TrainingContext) -> LayerSaved { LayerSaved() }

  /// Whether backward reads the forward's input: a frozen Linear's input gradient does not (no weight
  /// gradient), so a caller need not keep or recompute it. A layer with trainable parameters overrides this.
  open var backwardReadsInput: Bool { false }

  /// Whether the layer has parameters of its own that backward accumulates gradients for (an adapter).
  open var hasTrainableParameters: Bool { false }

  /// The frozen layer underneath (itself, or the layer an adapter wraps).
  open var frozenBase: LinearLayer { self }

  /// Backward when nothing below needs the input's gradient: only the layer's own parameter gradients
  /// (none for a frozen layer).
  open func accumulateParameterGradients(dout: Tensor, input: Tensor, saved: LayerSaved) {}

  /// The training forward of the LM head: forwardTrain(x) + extra [out] on every row, bitwise
  /// `forward(x, addingBias:)`.
  public final func forwardTrain(_ x: Tensor, ctx: TrainingContext, addingBias extra: Tensor) -> (Tensor, LayerSaved) {
    guard !isPlainGemm || bias != nil else { return (forward(x, addingBias: extra), LayerSaved()) }
    let (y, saved) = forwardTrain(x, ctx: ctx)
    for r in 0..<(y.count / outFeatures) {
      Elementwise.addInPlace(y.data + r * outFeatures, extra.data, count: outFeatures)
    }
    return (y, saved)
  }

  /// Whether forward is exactly Linear.forward over `weight` and `bias`, so an activation or another bias can
  /// ride on its GEMM's output pass. Only the plain layer: a subclass computes its output its own way.
  private var isPlainGemm: Bool { type(of: self) == LinearLayer.self }

  /// gelu(forward(x)): the plain layer applies GELU to each block of its GEMM output while it is in cache.
  public final func forwardGelu(_ x: Tensor) -> Tensor {
    guard isPlainGemm else {
      let y = forward(x)
      Gelu.forward(out: y.data, inp: y.data, count: y.count)
      return y
    }
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    Linear.forward(
      out: y.data, inp: x.data, weight: weight.data, bias: bias?.data, rows: x.count / inFeatures,
      inFeatures: inFeatures, outFeatures: outFeatures, activation: .gelu)
    return y
  }

  /// forward(x) + extra [out] on every row (the LM head's final_logits_bias); the plain bias-free layer writes
  /// `extra` as its GEMM's bias.
  public final func forward(_ x: Tensor, addingBias extra: Tensor) -> Tensor {
    guard isPlainGemm, bias == nil else {
      let y = forward(x)
      for r in 0..<(y.count / outFeatures) {
        Elementwise.addInPlace(y.data + r * outFeatures, extra.data, count: outFeatures)
      }
      return y
    }
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    Linear.forward(
      out: y.data, inp: x.data, weight: weight.data, bias: extra.data, rows: x.count / inFeatures,
      inFeatures: inFeatures, outFeatures: outFeatures)
    return y
  }
}

/// What a Linear or Conv2d layer's backward reads besides its input: nothing for a frozen layer. An adapter
/// keeps its down-projection and where its dropout mask came from (the mask itself is redrawn, not kept).
public struct LayerSaved {
  /// [rows, r]: A·dropout(x)
  var down: Tensor?
  /// The adapter's dropout stream before the mask's draw.
  var dropoutStream: SeededRNG?
  /// A mask a test gave instead of a drawn one (LoRAParameters.injectedMask).
  var injectedMask: Tensor?

  public init() {}
}

/// x += y (same shape): the residual connections.
@inline(__always) func addResidual(_ x: Tensor, _ y: Tensor) {
  Elementwise.addInPlace(x.data, y.data, count: x.count)
}
