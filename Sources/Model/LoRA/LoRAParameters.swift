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

  /// x [count] -> (dropout(x), mask) in training with p > 0; (x, nil) otherwise. The base layer keeps x.
  ///
  /// Gradient checkpointing runs a layer's forward a second time (the recompute) before its backward. That
  /// second call must apply the same mask, or backward differentiates another function than the loss came
  /// from. So each draw remembers the stream's state and a fingerprint of its input until the layer's backward
  /// (`backwardDone`): a forward on the same input before then replays the mask from that state instead of
  /// drawing a new one. Any other forward (a new step, a skipped backward) draws fresh.
  func dropped(_ x: Tensor) -> (Tensor, Tensor?) {
    guard training, dropout > 0 else { return (x, nil) }
    let out = Tensor(zeros: x.shape)
    if let injectedMask {
      let mask = injectedMask(x.count)
      withExtendedLifetime(mask) { Elementwise.mul(out: out.data, a: x.data, b: mask.data, count: x.count) }
      injectedSaved = mask
      return (out, mask)
    }
    let mask = Tensor(zeros: x.shape)
    let fingerprint = Self.fingerprint(x)
    if let p = pendingDraw, p.count == x.count, p.fingerprint == fingerprint {
      var replay = p.state  // the recompute: same state, same count -> the same mask
      Dropout.forward(out: out.data, mask: mask.data, inp: x.data, count: x.count, p: dropout, rng: &replay)
    } else {
      pendingDraw = (rng, x.count, fingerprint)
      Dropout.forward(out: out.data, mask: mask.data, inp: x.data, count: x.count, p: dropout, rng: &rng)
    }
    return (out, mask)
  }

  /// The last draw whose backward has not run: the stream before it, the input's size and fingerprint.
  var pendingDraw: (state: SeededRNG, count: Int, fingerprint: UInt64)?
  /// The injected mask of the last forward (parity tests), kept for backward.
  var injectedSaved: Tensor?

  /// Backward's (dropout(x), mask) for the input x of the last training forward, rebuilt from the stream state
  /// that draw started from, so the forward keeps neither [count]-sized tensor (for the seed's targets they are
  /// about 2 GB across DaViT). nil when no mask applies (inference, p = 0, no training forward before).
  func redrawn(_ x: Tensor) -> (dropped: Tensor, mask: Tensor)? {
    guard training, dropout > 0 else { return nil }
    let out = Tensor(uninitialized: x.shape)
    if let mask = injectedSaved, mask.count == x.count {
      Elementwise.mul(out: out.data, a: x.data, b: mask.data, count: x.count)
      return (out, mask)
    }
    guard let p = pendingDraw, p.count == x.count else { return nil }
    let mask = Tensor(uninitialized: x.shape)
    var replay = p.state
    Dropout.forward(out: out.data, mask: mask.data, inp: x.data, count: x.count, p: dropout, rng: &replay)
    return (out, mask)
  }

  /// Called by the layer's backward (and when leaving training): the next forward is a new one.
  func backwardDone() {
    pendingDraw = nil
    injectedSaved = nil
  }

  /// FNV-1a over the bit patterns of about 4,096 evenly spaced elements (and the last): a recompute reproduces
  /// its input bit for bit (checkpointing replays the model's own random stream too), while the input of a new
  /// forward (other images, captions or masks) differs almost everywhere. Sampling keeps this O(1) per call.
  static func fingerprint(_ x: Tensor) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    let bits = UnsafeRawPointer(x.data).assumingMemoryBound(to: UInt32.self)
    let n = x.count, stride = max(1, n / 4096)
    var i = 0
    while i < n {
      h = (h ^ UInt64(bits[i])) &* 0x0000_0100_0000_01B3
      i += stride
    }
    if n > 0 { h = (h ^ UInt64(bits[n - 1])) &* 0x0000_0100_0000_01B3 }
    return h
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
