// Module paths written once (candle's VarBuilder path = module path; mlx's @ModuleInfo(key:)): while the model
// is built, every module records its path and torch type, every Linear / Conv2d slot a handle its owner hands
// over, and `Weights` every tensor key it binds. This record is PEFT's `model.named_modules()` of the remote-code
// Florence2ForConditionalGeneration (modeling_florence2.py), in that order and in the original naming. LoRA
// target matching, adapter files, `save model`, NF4 and any other weight conversion walk it; adapters are
// swapped in through its slots. No other code lists module paths.
import FlrCore

/// One module as PEFT sees it.
public struct ModuleEntry {
  public enum Kind {
    case linear(LinearSlot)
    case conv2d(Conv2dSlot)
    /// Any other torch module (LayerNorm, PreNorm, depthwise Conv2d, Embedding, containers …), by type name.
    case other(String)
  }
  /// Dotted path in the original (remote-code) naming, e.g. `vision_tower.convs.0.proj`.
  public let path: String
  public let kind: Kind

  public var typeName: String {
    switch kind {
    case .linear: "Linear"
    case .conv2d: "Conv2d"
    case .other(let t): t
    }
  }
}

/// Read/replace one Linear attribute of a module object.
public struct LinearSlot {
  public let get: () -> LinearLayer
  public let set: (LinearLayer) -> Void
}

/// Read/replace one Conv2d attribute of a module object.
public struct Conv2dSlot {
  public let get: () -> Conv2dLayer
  public let set: (Conv2dLayer) -> Void
}

public final class ModuleRecord {
  /// Every module, parents before children, shared modules once (named_modules() order).
  public private(set) var entries: [ModuleEntry] = []
  /// The tensors of every module that is not a Linear / Conv2d slot (norms, embeddings, depthwise convs, bare
  /// parameters and buffers), by checkpoint key, in binding order. A slot's tensors are read through the layer
  /// in it, which an adapter or a conversion may have replaced.
  public private(set) var tensors: [(key: String, tensor: Tensor)] = []
  /// Entries of Linear / Conv2d layers whose owner has not handed over their slot yet.
  private var awaitingSlot: [ObjectIdentifier: Int] = [:]
  private var sealed = false

  func add(_ path: String, _ kind: ModuleEntry.Kind) {
    entries.append(ModuleEntry(path: path, kind: kind))
  }

  /// A Linear or Conv2d built at `path`; its entry is completed by `fill` when its owner hands over the slot.
  func awaitSlot(_ path: String, layer: AnyObject, type: String) {
    awaitingSlot[ObjectIdentifier(layer)] = entries.count
    add(path, .other(type))
  }

  func fill(layer: AnyObject, _ kind: ModuleEntry.Kind) {
    guard let index = awaitingSlot.removeValue(forKey: ObjectIdentifier(layer)) else {
      preconditionFailure("a slot was handed over for a layer not built through Weights")
    }
    entries[index] = ModuleEntry(path: entries[index].path, kind: kind)
  }

  func bound(_ key: String, _ tensor: Tensor) {
    if !sealed { tensors.append((key, tensor)) }
  }

  /// After the whole model is built: every layer has its slot, and a slot's tensors are dropped from `tensors`
  /// (a conversion that replaces the layer frees them).
  func seal() {
    precondition(
      awaitingSlot.isEmpty, "Linear/Conv2d layers without a slot: \(awaitingSlot.values.map { entries[$0].path })")
    let slots = Set(
      entries.compactMap { e -> String? in
        if case .other = e.kind { return nil }
        return e.path
      })
    tensors.removeAll { slots.contains(Self.modulePath(ofKey: $0.key)) }
    sealed = true
  }

  /// `a.b.weight` -> `a.b`; a bare parameter (`image_projection`) belongs to the top module "".
  static func modulePath(ofKey key: String) -> String {
    guard let dot = key.lastIndex(of: ".") else { return "" }
    return String(key[..<dot])
  }
}

extension Weights {
  /// This scope's module path (the prefix without its dot).
  public var path: String { String(prefix.dropLast()) }

  /// Records this scope as a module of torch type `type` (its named_modules() entry).
  public func module(_ type: String) { store.record.add(path, .other(type)) }

  /// Hands over `owner`'s Linear attributes as adaptable slots (each layer built from a child of this scope).
  public func slots<Owner: AnyObject>(_ owner: Owner, _ keyPaths: ReferenceWritableKeyPath<Owner, LinearLayer>...) {
    for keyPath in keyPaths {
      store.record.fill(
        layer: owner[keyPath: keyPath],
        .linear(LinearSlot(get: { owner[keyPath: keyPath] }, set: { owner[keyPath: keyPath] = $0 })))
    }
  }

  /// Hands over `owner`'s Conv2d attributes as adaptable slots.
  public func slots<Owner: AnyObject>(_ owner: Owner, _ keyPaths: ReferenceWritableKeyPath<Owner, Conv2dLayer>...) {
    for keyPath in keyPaths {
      store.record.fill(
        layer: owner[keyPath: keyPath],
        .conv2d(Conv2dSlot(get: { owner[keyPath: keyPath] }, set: { owner[keyPath: keyPath] = $0 })))
    }
  }
}

extension Florence2 {
  /// The LM head's module path (original naming; native: `lm_head`).
  public static let lmHeadPath = "language_model.lm_head"

  /// Every module in named_modules() order (parents before children, shared modules once).
  public func namedModules() -> [ModuleEntry] { modules.entries }
}
