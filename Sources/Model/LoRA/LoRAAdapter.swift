// One named adapter (peft's LoraModel for one adapter name): a LoRA layer for every matched Linear/Conv2d,
// swapped into the model object tree while active, folded into the base weights by merge.
import FlrCore

public final class LoRAAdapter {
  public let name: String
  public let config: LoRAConfig
  /// LoRA layers in named_modules() order, with the slot each one occupies.
  public let layers: [LoRALayer]
  let entries: [ModuleEntry]
  public private(set) var isAttached = false
  public private(set) var isMerged = false

  /// A fresh adapter on `model`'s modules matched by `config.targets` (original naming), A initialised from
  /// `config.seed`, B = 0. Built on the base layers even while another adapter is attached.
  public convenience init(name: String, config: LoRAConfig, model: Florence2) throws {
    try config.validate()
    let entries = try model.loraTargets(config.targets)
    var ranks: [(Int, Float)] = []
    for e in entries { ranks.append(try config.rankAndAlpha(for: e.path)) }
    try self.init(name: name, config: config, entries: entries, ranks: ranks)
    var rng = SeededRNG(seed: config.seed)
    for layer in layers {
      let a = layer.lora.loraA
      layer.lora.initialize(config.initialization, fanIn: a.count / a.shape[0], rng: &rng)
    }
  }

  /// Layers with zero A and B for `entries` (the loader fills them in).
  init(name: String, config: LoRAConfig, entries: [ModuleEntry], ranks: [(Int, Float)]) throws {
    self.name = name
    self.config = config
    self.entries = entries
    var layers: [LoRALayer] = []
    for (i, (entry, (r, alpha))) in zip(entries, ranks).enumerated() {
      let seed = config.seed &+ 0x9E37_79B9 &* UInt64(i + 1)  // one dropout stream per module
      switch entry.kind {
      case .linear(let slot):
        var base = slot.get()
        if let lora = base as? LoRALinear { base = lora.base }
        let p = LoRAParameters(
          path: entry.path, aShape: [r, base.inFeatures], bShape: [base.outFeatures, r], fanIn: base.inFeatures,
          rank: r, alpha: alpha, useRslora: config.useRslora, dropout: config.dropout, seed: seed)
        layers.append(LoRALinear(base: base, lora: p))
      case .conv2d(let slot):
        var base = slot.get()
        if let lora = base as? LoRAConv2d { base = lora.base }
        let k = base.kernel
        let p = LoRAParameters(
          path: entry.path, aShape: [r, base.inChannels, k, k], bShape: [base.outChannels, r, 1, 1],
          fanIn: base.inChannels * k * k, rank: r, alpha: alpha, useRslora: config.useRslora,
          dropout: config.dropout, seed: seed)
        layers.append(LoRAConv2d(base: base, lora: p))
      case .other(let type):
        throw LoRAError("\(entry.path) is a \(type); LoRA wraps only Linear and Conv2d")
      }
    }
    self.layers = layers
  }

  public var parameterCount: Int { layers.reduce(0) { $0 + $1.lora.parameterCount } }
  public var modulePaths: [String] { entries.map(\.path) }

  /// Where gradients must reach: the lowest adapted module in execution order (vision first).
  public var lowestModule: String? { entries.first?.path }

  /// Swaps the LoRA layers in for the base layers (LoRAAdapters.use does this with its bookkeeping; benchmarks
  /// and tests attach directly).
  public func attach() {
    guard !isAttached else { return }
    for (entry, layer) in zip(entries, layers) {
      switch entry.kind {
      case .linear(let slot):
        let lora = layer as! LoRALinear
        if entry.path == Florence2.lmHeadPath {  // the head a merge or unmerge left there (tied or not)
          let current = slot.get()
          lora.rebase(onto: (current as? LoRALinear)?.base ?? current)
        }
        slot.set(lora)
      case .conv2d(let slot): slot.set(layer as! LoRAConv2d)
      case .other: break
      }
    }
    isAttached = true
  }

  /// Puts the base layers back.
  public func detach() {
    guard isAttached else { return }
    for (entry, layer) in zip(entries, layers) {
      switch entry.kind {
      case .linear(let slot): slot.set((layer as! LoRALinear).base)
      case .conv2d(let slot): slot.set((layer as! LoRAConv2d).base)
      case .other: break
      }
    }
    isAttached = false
  }

  /// W += s·B·A into every base weight (PEFT merge_adapter); the layers must be detached so LoRA is not
  /// applied twice. `unmerge` subtracts it again (exact up to float rounding, as PEFT's unmerge).
  ///
  /// lm_head is tied to the shared embedding: folding into its weight would change every embedding lookup
  /// too. So its merge unties it: the head gets a weight of its own (the base weight + s·B·A), the embedding
  /// stays as it was, and unmerge puts the previous head back (exactly).
  func merge() {
    guard !isMerged else { return }
    for (entry, layer) in zip(entries, layers) {
      if entry.path == Florence2.lmHeadPath, case .linear(let slot) = entry.kind, let head = layer as? LoRALinear {
        let previous = slot.get()
        slot.set(head.untiedMergedWeight(from: previous))
        replacedHead = (slot, previous)
      } else {
        layer.foldIntoBase(sign: 1)
      }
    }
    isMerged = true
  }

  func unmerge() {
    guard isMerged else { return }
    for (entry, layer) in zip(entries, layers) where entry.path != Florence2.lmHeadPath {
      layer.foldIntoBase(sign: -1)
    }
    if let (slot, previous) = replacedHead { slot.set(previous) }
    replacedHead = nil
    isMerged = false
  }

  /// While merged: the head slot and the (tied) head it held before the merge.
  private var replacedHead: (slot: LinearSlot, previous: LinearLayer)?

  /// Adapts the LM head (`language_model.lm_head`).
  public var adaptsLMHead: Bool { entries.contains { $0.path == Florence2.lmHeadPath } }

  /// Training mode switches dropout on for every LoRA layer.
  public func setTraining(_ on: Bool) {
    for layer in layers { layer.lora.training = on }
  }

  public func zeroGradients() { for layer in layers { layer.lora.zeroGradients() } }
}
