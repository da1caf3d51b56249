// The trainable half of one PEFT LoRA layer (peft/tuners/lora/layer.py `LoraLayer.update_layer`): A, B, their
// gradients, the scaling and the dropout on the LoRA input. Shared by LoRALinear and LoRAConv2d.
import FlrCore

public final class LoRAParameters {
  /// Module path in the original naming.
  public let path: String
  public let rank: Int, alpha: Float, useRslora: Bool
  /// alpha/r, or alpha/√r with rsLoRA (SPEC §6.3).
  public let scaling: Float
  /// Linear: A [r, in], B [out, r]. Conv2d: A [r, in, k, k], B [out, r, 1, 1] (PEFT's shapes).
  public let loraA: Tensor, loraB: Tensor
  /// Accumulated by backward (same shapes as A and B); zero them between steps with `zeroGradients()`.
  public let gradA: Tensor, gradB: Tensor
  /// lora_dropout: applied to the LoRA input only, and only while `training`.
  public let dropout: Float
  public var training = false
  public var rng: SeededRNG
  /// Parity tests: a mask to use instead of drawing one (values 0 or 1/(1-p), the input's full shape).
  public var injectedMask: ((_ count: Int) -> Tensor)?

  /// `fanIn` = in (Linear) or in·k·k (Conv2d), for the kaiming bound.
  public init(
    path: String, aShape: [Int], bShape: [Int], fanIn: Int, rank: Int, alpha: Float, useRslora: Bool,
    dropout: Float, seed: UInt64
  ) {
    self.path = path
    self.rank = rank
    self.alpha = alpha
    self.useRslora = useRslora
    scaling = useRslora ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    loraA = Tensor(zeros: aShape)
    loraB = Tensor(zeros: bShape)
    gradA = Tensor(zeros: aShape)
    gradB = Tensor(zeros: bShape)
    self.dropout = dropout
    rng = SeededRNG(seed: seed)
  }

  public enum Initialization: String, Sendable, CaseIterable {
    /// A ~ U(-1/√fan_in, 1/√fan_in) (kaiming_uniform_, a = √5), B = 0.
    case `default`
    /// A ~ N(0, (1/r)²), B = 0.
    case gaussian
    /// PEFT's init_lora_weights=False: no LoRA initialisation, A and B keep nn.Linear's (nn.Conv2d's) own,
    /// U(-1/√fan_in, 1/√fan_in) each, so the adapter changes the model from the start.
    case layerDefault = "false"
  }

  /// PEFT's `reset_lora_parameters`, drawn from `rng` (flr's stream, not torch's: same distribution).
  public func initialize(_ initialization: Initialization, fanIn: Int, rng: inout SeededRNG) {
    switch initialization {
    case .default:
      let bound = 1 / Float(fanIn).squareRoot()
      for i in 0..<loraA.count { loraA.data[i] = (2 * rng.nextFloat() - 1) * bound }
    case .gaussian:
      let std = 1 / Float(rank)
      for i in 0..<loraA.count { loraA.data[i] = std * rng.normal() }
    case .layerDefault:
      let boundA = 1 / Float(fanIn).squareRoot()
      for i in 0..<loraA.count { loraA.data[i] = (2 * rng.nextFloat() - 1) * boundA }
      let boundB = 1 / Float(rank).squareRoot()  // B's fan_in: r inputs (a 1x1 kernel for Conv2d)
      for i in 0..<loraB.count { loraB.data[i] = (2 * rng.nextFloat() - 1) * boundB }
      return
    }
    loraB.fill(0)
  }

  public var parameterCount: Int { loraA.count + loraB.count }

  public func zeroGradients() {
    gradA.fill(0)
    gradB.fill(0)
  }

  /// The mask on the adapter's input of this forward (x has `count` entries), and what backward needs to apply it
  /// again: in training with p > 0 a DropoutStream seeded by one draw of `rng` (a test's injected mask instead);
  /// nothing dropped otherwise.
  ///
  /// Gradient checkpointing runs a layer's forward a second time (the recompute) before its backward. That
  /// second call must apply the same mask, or backward differentiates another function than the loss came
  /// from: the step's context hands the recompute the stream state the first draw started from, and the
  /// stream does not advance again.
  func inputMask(count: Int, ctx: TrainingContext?) -> (InputMask, LayerSaved) {
    var saved = LayerSaved()
    guard training, dropout > 0 else { return (.none, saved) }
    if let injectedMask {
      let mask = injectedMask(count)
      saved.injectedMask = mask
      return (.given(mask), saved)
    }
    let (start, advances) = ctx?.layerStream(of: self, current: rng) ?? (rng, true)
    var stream = start
    let seed = stream.nextUInt64()
    if advances { rng = stream }
    saved.dropoutStream = start
    return (.drawn(DropoutStream(seed: seed, p: dropout)), saved)
  }

  /// The forward's mask again, from what it saved; none when no mask applied. The mask itself is never kept (for the
  /// reference script's targets it would be about 2 GB across DaViT).
  func savedMask(_ saved: LayerSaved) -> InputMask {
    if let mask = saved.injectedMask { return .given(mask) }
    guard var stream = saved.dropoutStream else { return .none }
    return .drawn(DropoutStream(seed: stream.nextUInt64(), p: dropout))
  }

  /// x -> (dropout(x), mask, what backward needs to rebuild both) in training with p > 0; (x, nil, empty)
  /// otherwise (LoRAConv2d, whose products take a dropped copy). The base layer keeps x.
  func dropped(_ x: Tensor, ctx: TrainingContext?) -> (Tensor, Tensor?, LayerSaved) {
    let (mask, saved) = inputMask(count: x.count, ctx: ctx)
    guard let values = materialized(mask, like: x) else { return (x, nil, saved) }
    let out = Tensor(uninitialized: x.shape)
    Elementwise.mul(out: out.data, a: x.data, b: values.data, count: x.count)
    return (out, values, saved)
  }

  /// Backward's (dropout(x), mask) for the input x of a training forward, rebuilt from what it saved; nil when no
  /// mask applied.
  func redrawn(_ x: Tensor, _ saved: LayerSaved) -> (dropped: Tensor, mask: Tensor)? {
    guard let values = materialized(savedMask(saved), like: x) else { return nil }
    let out = Tensor(uninitialized: x.shape)
    Elementwise.mul(out: out.data, a: x.data, b: values.data, count: x.count)
    return (out, values)
  }

  /// The mask's values in x's shape (a drawn mask runs along x's last dimension, as LoRAProducts draws it for a
  /// Linear's [rows, in] input); nil when nothing is dropped.
  func materialized(_ mask: InputMask, like x: Tensor) -> Tensor? {
    switch mask {
    case .none: return nil
    case .given(let values): return values
    case .drawn(let stream):
      let values = Tensor(uninitialized: x.shape)
      let cols = x.shape.last ?? 1
      stream.fill(values.data, rows: x.count / cols, cols: cols)
      return values
    }
  }
}

/// A LoRA layer standing in for a base Linear or Conv2d.
public protocol LoRALayer: AnyObject {
  var lora: LoRAParameters { get }
  /// False when the base keeps no fp32 weight to fold into (NF4).
  var canMerge: Bool { get }
  /// W += sign · scaling · B·A on the frozen base weight (merge: +1, unmerge: -1).
  func foldIntoBase(sign: Float)
}
