// peft/tuners/lora/layer.py `Linear`: y = base(x) + s · B(A(dropout(x))), base frozen (bias="none").
// Stands in for the LinearLayer it wraps in its slot (ModuleRecord) and delegates the frozen part to it (a
// plain fp32 Linear or an NF4LinearLayer), so the model code does not know adapters exist. What backward
// reads travels in LayerSaved: only the small [rows, r] product and the dropout stream's state; dropout(x)
// and its mask are rebuilt in backward from the input.
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
    var (xd, mask, saved) = lora.dropped(x, ctx: ctx)
    let down = Tensor(zeros: [rows, r])  // [rows, r] = xd · Aᵀ
    Gemm.matmul(xd.data, lora.loraA.data, down.data, m: rows, n: r, k: inFeatures, transB: true)
    // y [rows, out] += s · down · Bᵀ
    Gemm.matmul(
      down.data, lora.loraB.data, y.data, m: rows, n: outFeatures, k: r, transB: true, alpha: lora.scaling, beta: 1)
    saved.down = down
    withExtendedLifetime((xd, mask, down)) {}  // temporaries read through raw pointers above
    return (y, saved)
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
    let redrawn = lora.redrawn(input, saved)
    let xd = redrawn?.dropped ?? input
    let down: Tensor
    if let kept = saved.down, kept.count == rows * r {
      down = kept
    } else {
      down = Tensor(zeros: [rows, r])
      Gemm.matmul(xd.data, lora.loraA.data, down.data, m: rows, n: r, k: inFeatures, transB: true)
    }
    // gradB [out, r] += s · doutᵀ · down
    Gemm.matmul(
      dout.data, down.data, lora.gradB.data, m: outFeatures, n: r, k: rows, transA: true, alpha: s, beta: 1)
    let ddown = Tensor(zeros: [rows, r])  // s · dout · B
    Gemm.matmul(dout.data, lora.loraB.data, ddown.data, m: rows, n: r, k: outFeatures, alpha: s)
    // gradA [r, in] += ddownᵀ · xd
    Gemm.matmul(ddown.data, xd.data, lora.gradA.data, m: r, n: inFeatures, k: rows, transA: true, beta: 1)
    if let dinput, let mask = redrawn?.mask {
      let dxd = Tensor(zeros: input.shape)
      Gemm.matmul(ddown.data, lora.loraA.data, dxd.data, m: rows, n: inFeatures, k: r)
      Dropout.backward(dinp: dinput.data, dout: dxd.data, mask: mask.data, count: input.count)
      withExtendedLifetime(dxd) {}
    } else if let dinput {
      Gemm.matmul(ddown.data, lora.loraA.data, dinput.data, m: rows, n: inFeatures, k: r, beta: 1)
    }
    withExtendedLifetime((xd, down, ddown, redrawn)) {}
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
