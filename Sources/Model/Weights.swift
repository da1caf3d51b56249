// Binding weights by key path (candle's VarBuilder): each module is handed a `Weights` scoped to its own
// prefix and asks for its tensors by the checkpoint's names, so key path = module path. Problems are
// collected, not thrown one by one: after the whole model is built, `finish()` reports every missing key,
// unexpected key and shape mismatch in one error.
import FlrCheckpoints
import FlrCore

/// Where one canonical (original-naming) tensor comes from.
public enum WeightSource {
  /// A tensor in a checkpoint file, converted to fp32 when bound; `transposed` for native `image_projection`.
  case checkpoint(CheckpointTensor, transposed: Bool)
  /// A tensor already in memory (computed buffers, weights built in Swift).
  case tensor(Tensor)

  var shape: [Int] {
    switch self {
    case .checkpoint(let t, let transposed): return transposed ? t.shape.reversed() : t.shape
    case .tensor(let t): return t.shape
    }
  }
}

public final class Weights {
  final class Store {
    let file: String
    var sources: [String: WeightSource]
    /// Tensors built when no source exists (random-weight models for benchmarks); nil: missing is a problem.
    var fabricate: ((String, [Int]) -> Tensor)?
    var bound: [String: Tensor] = [:]
    var missing: [String] = []
    var mismatched: [String] = []
    var unreadable: [String] = []
    /// Module paths, slots and tensor keys as the modules bind them (ModuleRecord).
    let record = ModuleRecord()

    init(file: String, sources: [String: WeightSource], fabricate: ((String, [Int]) -> Tensor)?) {
      self.file = file
      self.sources = sources
      self.fabricate = fabricate
    }
  }

  let store: Store
  /// Key prefix of the module holding this value, with its trailing dot ("" at the top).
  public let prefix: String

  /// `file`: the checkpoint (or folder) named in errors.
  public init(file: String, sources: [String: WeightSource]) {
    store = Store(file: file, sources: sources, fabricate: nil)
    prefix = ""
  }

  /// Weights made up on request: LayerNorm-style keys (`norm`, `layer_norm`, `layernorm`) get weight 1 and
  /// bias 0, every other tensor N(0, 0.02²) from `seed`. For benchmarks and memory checks, never for parity.
  public init(randomSeed seed: UInt64) {
    var rng = SeededRNG(seed: seed)
    store = Store(
      file: "random weights (seed \(seed))", sources: [:],
      fabricate: { key, shape in
        let t = Tensor(zeros: shape)
        let isNorm = key.contains("norm") && shape.count == 1
        if isNorm {
          if key.hasSuffix(".weight") { t.fill(1) }
        } else if !key.hasSuffix("final_logits_bias") {
          for i in 0..<t.count { t.data[i] = 0.02 * rng.normal() }
        }
        return t
      })
    prefix = ""
  }

  init(store: Store, prefix: String) {
    self.store = store
    self.prefix = prefix
  }

  /// The weights of child module `name` (`"blocks"`, then `"0"` …), like `VarBuilder.pp`.
  public func child(_ name: String) -> Weights { Weights(store: store, prefix: prefix + name + ".") }
  public func child(_ index: Int) -> Weights { child(String(index)) }

  /// The fp32 tensor under `prefix + name`, which must have `shape`. A missing or mismatched tensor is
  /// recorded and a zero tensor of `shape` returned, so building goes on and every problem is reported.
  public func callAsFunction(_ name: String, _ shape: [Int]) -> Tensor {
    let key = prefix + name
    if let done = store.bound[key] {  // tied weights: the same tensor for every module that asks
      if done.shape == shape { return done }
      store.mismatched.append("\(key): tied tensor has shape \(done.shape), expected \(shape)")
      return Tensor(zeros: shape)
    }
    guard let source = store.sources[key] else {
      if let fabricate = store.fabricate {
        let t = fabricate(key, shape)
        store.bound[key] = t
        store.record.bound(key, t)
        return t
      }
      store.missing.append("\(key) \(shape)")
      return Tensor(zeros: shape)
    }
    guard source.shape == shape else {
      store.mismatched.append("\(key): checkpoint has \(source.shape), model expects \(shape)")
      store.bound[key] = Tensor(zeros: shape)
      return store.bound[key]!
    }
    let tensor: Tensor
    switch source {
    case .tensor(let t):
      tensor = t
    case .checkpoint(let t, let transposed):
      do {
        let raw = try t.toFloat32()
        tensor = transposed ? transpose2D(raw) : raw
      } catch {
        store.unreadable.append("\(key): \(error)")
        tensor = Tensor(zeros: shape)
      }
    }
    store.bound[key] = tensor
    store.record.bound(key, tensor)
    return tensor
  }

  /// Call once the whole model is built: throws one error listing every missing, unexpected, mismatched or
  /// unreadable tensor. Releases the sources (the bound fp32 tensors are all that stays resident).
  public func finish() throws {
    let unexpected = store.sources.keys.filter { store.bound[$0] == nil }.sorted()
    var parts: [String] = []
    func list(_ title: String, _ items: [String]) {
      guard !items.isEmpty else { return }
      let shown = items.prefix(20).map { "  " + $0 }.joined(separator: "\n")
      let more = items.count > 20 ? "\n  … and \(items.count - 20) more" : ""
      parts.append("\(items.count) \(title):\n\(shown)\(more)")
    }
    list("missing", store.missing)
    list("unexpected", unexpected)
    list("with the wrong shape", store.mismatched)
    list("unreadable", store.unreadable)
    store.sources = [:]
    store.record.seal()
    if !parts.isEmpty {
      throw ModelError(file: store.file, "the checkpoint does not fit this model:\n" + parts.joined(separator: "\n"))
    }
  }
}

/// [r, c] -> [c, r], a contiguous copy.
func transpose2D(_ t: Tensor) -> Tensor {
  let r = t.shape[0], c = t.shape[1]
  let out = Tensor(zeros: [c, r])
  for i in 0..<r { for j in 0..<c { out.data[j * r + i] = t.data[i * c + j] } }
  return out
}
