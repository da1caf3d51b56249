// The active adapter's LoRA factors as optimizer parameter groups. Values point straight at the adapter's A
// and B tensors (the optimizer updates the adapter in place); gradients live in buffers of their own, because
// backward accumulates into the adapter's gradA/gradB per micro-batch and the optimizer's convention is
// grads = Σ gᵢ / k over k micro-batches (ParamGroup.accumulate). Also: a snapshot of the last good step (NaN
// recovery) and the optimizer's evaluation weights swapped in for sampling and saving (schedule-free).
import FlrCore
import FlrModel

public final class TrainableParameters {
  public let adapter: LoRAAdapter
  public private(set) var groups: [ParamGroup]
  /// (A, gradA) and (B, gradB) of each layer, in the order of `groups`.
  private let sources: [(values: Tensor, grads: Tensor)]
  private let gradBuffers: [UnsafeMutablePointer<Float>]

  /// Names are PEFT's keys without the prefix: `<module path>.lora_A.weight`; lora_B flagged for LoRA+.
  public init(adapter: LoRAAdapter, loraPlusRatio: Double?) {
    self.adapter = adapter
    var groups: [ParamGroup] = []
    var sources: [(Tensor, Tensor)] = []
    var buffers: [UnsafeMutablePointer<Float>] = []
    for layer in adapter.layers {
      let p = layer.lora
      for (suffix, values, grads) in [("lora_A", p.loraA, p.gradA), ("lora_B", p.loraB, p.gradB)] {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
        buffer.initialize(repeating: 0, count: values.count)
        buffers.append(buffer)
        sources.append((values, grads))
        groups.append(
          ParamGroup(
            name: "\(p.path).\(suffix).weight", values: values.data, grads: buffer, shape: values.shape,
            isLoraB: suffix == "lora_B"))
      }
    }
    if let ratio = loraPlusRatio { applyLoraPlus(ratio: ratio, to: &groups) }
    self.groups = groups
    self.sources = sources
    gradBuffers = buffers
  }

  deinit { for b in gradBuffers { b.deallocate() } }

  public var parameterCount: Int { groups.reduce(0) { $0 + $1.count } }

  /// After one micro-batch's backward: grads += adapter gradient / k, then the adapter's gradients are zeroed.
  public func accumulateMicroBatch(dividedBy k: Int) {
    for (group, source) in zip(groups, sources) {
      group.accumulate(micro: source.grads.data, dividedBy: k)
      source.grads.data.update(repeating: 0, count: source.grads.count)
    }
  }

  public func zeroAccumulated() {
    for g in groups { g.grads.update(repeating: 0, count: g.count) }
  }

  /// True when every accumulated gradient is finite (a NaN/inf gradient must not reach the weights).
  public var gradientsAreFinite: Bool {
    for g in groups {
      var sum: Float = 0
      for i in 0..<g.count { sum += g.grads[i] * 0 }  // 0·x is NaN exactly when x is NaN or ±inf
      if !sum.isFinite || sum.isNaN { return false }
    }
    return true
  }

  // MARK: snapshots

  /// Every value, in group order (plus the LoRA dropout streams, so a restored step redraws the same masks).
  public struct Snapshot {
    var values: [[Float]]
    var dropoutStreams: [SeededRNG]
  }

  public func snapshot() -> Snapshot {
    Snapshot(
      values: groups.map { Array(UnsafeBufferPointer(start: $0.values, count: $0.count)) },
      dropoutStreams: adapter.layers.map { $0.lora.rng })
  }

  public func restore(_ s: Snapshot) {
    for (g, v) in zip(groups, s.values) {
      v.withUnsafeBufferPointer { g.values.update(from: $0.baseAddress!, count: g.count) }
    }
    for (layer, rng) in zip(adapter.layers, s.dropoutStreams) { layer.lora.rng = rng }
  }

  /// Runs `body` with the optimizer's evaluation weights in the adapter (schedule-free optimizers keep the
  /// averaged iterate apart from the training one), then puts the training weights back.
  public func withEvaluationWeights<T>(_ optimizer: (any Optimizer)?, _ body: () throws -> T) rethrows -> T {
    guard let optimizer else { return try body() }
    let kept = adoptEvaluationWeights(optimizer)
    defer { restore(kept) }
    return try body()
  }

  /// Writes the optimizer's evaluation weights into the adapter for good (a new run on this adapter starts from
  /// what `save` writes, not from the training iterate) and returns the values they replaced. The optimizer's
  /// state still describes the old values: only `restore` them before stepping it again.
  @discardableResult
  public func adoptEvaluationWeights(_ optimizer: any Optimizer) -> Snapshot {
    let kept = snapshot()
    for (i, g) in groups.enumerated() {
      let tmp = UnsafeMutablePointer<Float>.allocate(capacity: g.count)
      optimizer.evalWeights(i, into: tmp)
      g.values.update(from: tmp, count: g.count)
      tmp.deallocate()
    }
    return kept
  }
}

extension GradientReach {
  /// How far backward must go for an adapter whose lowest module (named_modules order, vision first) is `path`.
  public init(lowestAdaptedModule path: String?) {
    guard let path else {
      self = .decoder
      return
    }
    let parts = path.split(separator: ".").map(String.init)
    if parts.first == "vision_tower" {
      // vision_tower.convs.S… / vision_tower.blocks.S…: stage S and above need gradients.
      if parts.count > 2, let s = Int(parts[2]) {
        self = .vision(stage: s)
      } else {
        self = .vision(stage: 0)
      }
    } else if path.hasPrefix("image_proj") {
      self = .vision(stage: 4)
    } else if path.contains(".encoder.") || path.hasSuffix(".encoder") {
      self = .encoder
    } else {
      self = .decoder
    }
  }

  /// Whether any vision module is adapted (image features then depend on the adapter).
  public var reachesVision: Bool { self >= .vision(stage: 4) }
}
