// peft/tuners/lora/layer.py `Linear`: y = base(x) + s · B(A(dropout(x))), base frozen (bias="none").
// Stands in for the LinearLayer it wraps in its slot (ModuleRecord) and delegates the frozen part to it (a
// plain fp32 Linear or an NF4LinearLayer), so the model code does not know adapters exist. What backward
// reads travels in LayerSaved: only the small [rows, r] product and the dropout stream's state; the mask is
// redrawn in backward (LoRAProducts applies it on the fly, so neither dropout(x) nor its mask is ever stored).
import FlrCore

public final class LoRALinear: LinearLayer, LoRALayer {
  /// The layer this one replaced; put back by `detach`. Only the LM head's can change (`rebase`).
  public private(set) var base: LinearLayer
  public let lora: LoRAParameters

  public init(base: LinearLayer, lora: LoRAParameters) {
    self.base = base
    self.lora = lora
    super.init(weight: base.weight, bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }

  /// x [..., in] -> [..., out]
  public override func forward(_ x: Tensor) -> Tensor { forward(x, ctx: nil).0 }

  public override func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, LayerSaved) {
    forward(x, ctx: ctx)
  }

  private func forward(_ x: Tensor, ctx: TrainingContext?) -> (Tensor, LayerSaved) {
    let y = base.forward(x)  // the base may keep its weight in another form (NF4LinearLayer)
    let scope = Profile.begin(.lora, .forward)  // the adapter's share, apart from the base's GEMM
    defer { Profile.end(scope) }
    let rows = x.count / inFeatures, r = lora.rank
    let (mask, forwardSaved) = lora.inputMask(count: x.count, ctx: ctx)
    var saved = forwardSaved
    let down = Tensor(uninitialized: [rows, r])  // [rows, r] = dropout(x) · Aᵀ; y += s · down · Bᵀ
    LoRAProducts.forward(
      x: x.data, a: lora.loraA.data, b: lora.loraB.data, y: y.data, down: down.data, rows: rows,
      inFeatures: inFeatures, outFeatures: outFeatures, rank: r, scaling: lora.scaling, mask: mask)
    saved.down = down
    return (y, saved)
  }

  /// The dropout stream's state the forward drew from (on a recompute, the first draw's); no down-projection.
  public override func savedWithoutOutput(inputCount: Int, ctx: TrainingContext) -> LayerSaved {
    lora.inputMask(count: inputCount, ctx: ctx).1
  }

  /// Backward without a training forward: no dropout, the down-projection recomputed.
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    backward(dout: dout, input: input, saved: LayerSaved())
  }

  /// dout [..., out], input [..., in] -> dinput [..., in]; accumulates gradA [r, in] and gradB [out, r].
  public override func backward(dout: Tensor, input: Tensor, saved: LayerSaved) -> Tensor {
    let dinput = base.backward(dout: dout, input: input)
    accumulateGradients(dout: dout, input: input, saved: saved, dinput: dinput)
    return dinput
  }

  public override var backwardReadsInput: Bool { true }
  public override var hasTrainableParameters: Bool { true }
  public override var frozenBase: LinearLayer { base }

  /// Only gradA and gradB: nothing below this layer needs a gradient (a LoRA on lm_head alone).
  public override func accumulateParameterGradients(dout: Tensor, input: Tensor, saved: LayerSaved) {
    accumulateGradients(dout: dout, input: input, saved: saved, dinput: nil)
  }

  /// gradA [r, in] and gradB [out, r] from dout [..., out]; adds the LoRA branch's share of d input into
  /// `dinput` when one is given.
  private func accumulateGradients(dout: Tensor, input: Tensor, saved: LayerSaved, dinput: Tensor?) {
    let rows = input.count / inFeatures, r = lora.rank, s = lora.scaling
    let scope = Profile.begin(.lora, .backward)
    defer { Profile.end(scope) }
    let mask = lora.savedMask(saved)
    let down: Tensor
    if let kept = saved.down, kept.count == rows * r {
      down = kept
    } else {
      down = Tensor(uninitialized: [rows, r])
      LoRAProducts.forward(
        x: input.data, a: lora.loraA.data, b: lora.loraB.data, y: nil, down: down.data, rows: rows,
        inFeatures: inFeatures, outFeatures: outFeatures, rank: r, scaling: s, mask: mask)
    }
    // gradA [r, in] += ddownᵀ · dropout(x), gradB [out, r] += s · doutᵀ · down, dinput += mask ⊙ (ddown · A), with
    // ddown = s · dout · B
    LoRAProducts.backward(
      dout: dout.data, x: input.data, a: lora.loraA.data, b: lora.loraB.data, down: down.data,
      gradA: lora.gradA.data, gradB: lora.gradB.data, dinput: dinput?.data, rows: rows, inFeatures: inFeatures,
      outFeatures: outFeatures, rank: r, scaling: s, mask: mask)
    withExtendedLifetime(down) {}
  }

  /// Merging needs an fp32 base weight (not an NF4 one).
  public var canMerge: Bool { weight.count == inFeatures * outFeatures }

  /// The LM head's layer may be replaced while this one is detached (merging an lm_head LoRA unties the head,
  /// unmerging ties it again): attaching wraps the head that is there now. Same shape, same role.
  func rebase(onto head: LinearLayer) {
    precondition(head.inFeatures == inFeatures && head.outFeatures == outFeatures, "lm_head shape changed")
    base = head
  }

  /// A plain layer with a copy of `base`'s weight + s·B·A (the untied head a merged lm_head LoRA leaves; the
  /// tied weight itself is not touched). `base` is the layer in the slot now (this layer's base, or a head
  /// merged before).
  func untiedMergedWeight(from base: LinearLayer) -> LinearLayer {
    let w = base.weight.copy()  // [out, in]
    Gemm.matmul(
      lora.loraB.data, lora.loraA.data, w.data, m: outFeatures, n: inFeatures, k: lora.rank, alpha: lora.scaling,
      beta: 1)
    return LinearLayer(weight: w, bias: base.bias, in: inFeatures, out: outFeatures)
  }

  public func foldIntoBase(sign: Float) {
    // W [out, in] += sign · s · B [out, r] · A [r, in]
    Gemm.matmul(
      lora.loraB.data, lora.loraA.data, weight.data, m: outFeatures, n: inFeatures, k: lora.rank,
      alpha: sign * lora.scaling, beta: 1)
  }
}
