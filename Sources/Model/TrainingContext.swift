// What a training forward needs besides the weights: the options (dropout on/off, checkpointing, how far
// down gradients must reach) and the seeded random stream that draws dropout and drop-path masks, plus the
// dropout and drop-path backward every module shares.
import FlrCore

/// Recompute activations during backward instead of keeping them (SPEC-free; PyTorch's
/// gradient_checkpointing): `text` recomputes each BART layer; `highres` only the DaViT blocks of stages 0-1
/// (the high-resolution ones: about 40% of the tower's activation memory for 17% of its FLOPs), keeping the BART
/// layers, which cost several times more FLOPs to recompute per byte they free; `partial` both; `all` every DaViT
/// block (spatial + channel sub-block pair; patch embeddings stay kept) and the BART layers. A recompute runs only
/// what backward reads (Florence2+Training).
public enum Checkpointing: String, Sendable, CaseIterable {
  case none, text, highres, partial, all

  /// Whether DaViT stage `stage`'s blocks are recomputed in backward.
  func recomputes(visionStage stage: Int) -> Bool {
    switch self {
    case .none, .text: false
    case .highres, .partial: stage <= 1
    case .all: true
    }
  }

  /// Whether the BART layers are recomputed in backward.
  var recomputesText: Bool { self == .text || self == .partial || self == .all }
}

/// The lowest module that needs gradients; backward stops there. Ordered from the top of the network down.
public enum GradientReach: Sendable, Equatable, Comparable {
  /// Only decoder layers are adapted: the encoder output's gradient is not propagated further.
  case decoder
  /// Encoder layers (and the decoder): gradients reach the encoder input embeddings (the merge).
  case encoder
  /// DaViT stage `stage` and above (its patch conv included); stage 4 = the projector only (image features).
  case vision(stage: Int)
  /// Everything, and the gradient of the pixel values themselves.
  case pixels

  var depth: Int {
    switch self {
    case .decoder: 0
    case .encoder: 1
    case .vision(let s): 2 + (4 - s)
    case .pixels: 100
    }
  }
  public static func < (a: GradientReach, b: GradientReach) -> Bool { a.depth < b.depth }

  /// Where backward must reach for an adapter whose lowest adapted module has this dotted path (original
  /// naming, e.g. `vision_tower.convs.0.proj`, `language_model.model.encoder.layers.3.fc1`); nil (nothing
  /// adapted) needs no backward below the decoder.
  public init(lowestModulePath path: String?) {
    guard let path else {
      self = .decoder
      return
    }
    let parts = path.split(separator: ".")
    if parts.count >= 3, parts[0] == "vision_tower", parts[1] == "convs" || parts[1] == "blocks",
      let stage = Int(parts[2])
    {
      self = .vision(stage: stage)
    } else if path.hasPrefix("vision_tower") {
      self = .pixels
    } else if path.hasPrefix("language_model.model.decoder") || path.hasPrefix("language_model.lm_head") {
      self = .decoder
    } else if path.hasPrefix("language_model") {
      self = .encoder
    } else {
      self = .vision(stage: 4)  // the projector
    }
  }
}

public struct TrainingOptions: Sendable {
  /// Text dropout (BART hidden, activation and attention-probability dropout, rates from the config). Off: the
  /// text forward is the inference function exactly (parity tests).
  public var dropout: Bool
  /// DaViT drop path. Off: the vision forward is `Florence2.imageFeatures(pixelValues:)`, so image features can be
  /// computed once and reused (`trainingStep(imageFeatures:...)`).
  public var visionDropout: Bool
  public var checkpointing: Checkpointing
  public var reach: GradientReach
  public var seed: UInt64

  /// `visionDropout` nil: the same as `dropout`.
  public init(
    dropout: Bool = true, visionDropout: Bool? = nil, checkpointing: Checkpointing = .none,
    reach: GradientReach = .pixels, seed: UInt64 = 0
  ) {
    self.dropout = dropout
    self.visionDropout = visionDropout ?? dropout
    self.checkpointing = checkpointing
    self.reach = reach
    self.seed = seed
  }
}

/// The random stream of one training step. A checkpointed layer remembers the stream's state at its start and
/// replays it on recompute (`replay`), so recomputed masks equal the first ones. Layers with a dropout stream
/// of their own (an adapter's lora_dropout) note where they drew from, so a recompute draws the same mask.
public final class TrainingContext {
  let options: TrainingOptions
  var rng: SeededRNG
  /// While a checkpointed layer's forward runs again (inside `replay`).
  private(set) var isReplaying = false
  /// The state each layer-owned stream had at its draw in this step, by the stream's owner.
  private var layerDraws: [ObjectIdentifier: SeededRNG] = [:]

  /// Runs `forward` again from the step stream's state `rng`, as the first time.
  func replay<R>(from rng: SeededRNG, _ forward: () -> R) -> R {
    self.rng = rng
    isReplaying = true
    defer { isReplaying = false }
    return forward()
  }

  /// The state `owner`'s own stream draws from now: on a replay, the state of its first draw (and the stream
  /// must not advance again); else `current`, noted for a replay.
  func layerStream(of owner: AnyObject, current: SeededRNG) -> (state: SeededRNG, advances: Bool) {
    let id = ObjectIdentifier(owner)
    if isReplaying, let first = layerDraws[id] { return (first, false) }
    layerDraws[id] = current
    return (current, true)
  }

  init(options: TrainingOptions) {
    self.options = options
    rng = SeededRNG(seed: options.seed)
  }

  /// In-place inverted dropout on x; the mask [x.count] for backward, nil when nothing is dropped.
  func dropout(_ x: Tensor, p: Float) -> Tensor? {
    guard options.dropout, p > 0 else { return nil }
    let mask = Tensor(zeros: x.shape)
    Dropout.forward(out: x.data, mask: mask.data, inp: x.data, count: x.count, p: p, rng: &rng)
    return mask
  }

  /// Dropout on one attention call's probabilities (transformers' eager_attention_forward in training:
  /// dropout(softmax(scores), p=attention_dropout)); nil when off. Only the masks' seed is drawn from the stream,
  /// and the attention kernels redraw each head's mask from it in forward and again in backward, so no mask is
  /// kept; a checkpoint recompute restores the stream and so draws the same seed.
  func attentionDropout(p: Float) -> AttentionDropout? {
    guard options.dropout, p > 0 else { return nil }
    let seed = rng.nextUInt64()
    guard let injectedAttentionMasks else { return AttentionDropout(p: p, seed: seed) }
    if let known = injectedMasksBySeed[seed] { return AttentionDropout(p: p, mask: known) }
    let mask = injectedAttentionMasks(injectedMasksBySeed.count)
    injectedMasksBySeed[seed] = mask
    return AttentionDropout(p: p, mask: mask)
  }

  /// Tests: the n-th attention call of the step (first forwards in order; a recompute gets its call's mask again,
  /// matched by the drawn seed) uses this mask [B, H, Tq, Tk] of 0 and 1/(1-p) instead of a drawn one.
  var injectedAttentionMasks: ((_ call: Int) -> Tensor)?
  private var injectedMasksBySeed: [UInt64: Tensor] = [:]

  /// timm DropPath on a residual branch y [B, ...]: per sample, keep with 1-p and scale by 1/(1-p), in place.
  /// Returns the per-sample factors, nil when off.
  func dropPath(_ y: Tensor, rate: Float) -> [Float]? {
    guard let factors = dropPathFactors(batch: y.shape[0], rate: rate) else { return nil }
    let per = y.count / factors.count
    for (i, f) in factors.enumerated() { Elementwise.scale(y.data + i * per, by: f, count: per) }
    return factors
  }

  /// The per-sample drop-path factors alone (the same draws as `dropPath`), for a recompute that does not form
  /// the branch they scale; nil when off.
  func dropPathFactors(batch b: Int, rate: Float) -> [Float]? {
    guard options.visionDropout, rate > 0 else { return nil }
    return (0..<b).map { _ in rng.nextFloat() < rate ? 0 : 1 / (1 - rate) }
  }
}

/// dy ⊙ mask (a fresh tensor), or dy itself when there was no dropout.
func dropoutBackward(_ dy: Tensor, mask: Tensor?) -> Tensor {
  guard let mask else { return dy }
  let d = Tensor(uninitialized: dy.shape)
  Elementwise.mul(out: d.data, a: dy.data, b: mask.data, count: dy.count)
  return d
}

/// dy scaled per sample by the drop-path factors (a fresh tensor), or dy itself.
func dropPathBackward(_ dy: Tensor, factors: [Float]?) -> Tensor {
  guard let factors else { return dy }
  let d = Tensor(uninitialized: dy.shape), per = dy.count / factors.count
  for (i, f) in factors.enumerated() {
    Elementwise.scale(out: d.data + i * per, inp: dy.data + i * per, by: f, count: per)
  }
  return d
}

/// A layer's activations, or only what recomputing them needs (gradient checkpointing): its input and the
/// random stream's state at its start, so the replayed dropout masks are the same.
enum LayerActivations<Saved> {
  case kept(Saved)
  case recompute(input: Tensor, rng: SeededRNG)

  /// The kept activations, or the layer's forward run again on its input from the stream state it started at.
  func saved(_ ctx: TrainingContext, forward: (Tensor) -> Saved) -> Saved {
    switch self {
    case .kept(let saved): return saved
    case .recompute(let input, let rng): return ctx.replay(from: rng) { forward(input) }
    }
  }
}
