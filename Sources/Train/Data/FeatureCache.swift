// Image features [577, d] of dataset items, computed once by the frozen vision tower + projector and reused
// across epochs and `train` runs. Exact only when nothing below the image features changes during training:
// no vision module adapted (the gradient stops at the encoder) and DaViT drop path off. The Trainer decides
// that (Trainer.cachesFeatures); this type only keeps the features and knows what they were computed with.
//
// Validity: the features are those of one model object's base vision weights. `validate(model:key:)` empties the
// cache when the model is another object (a new `load`, a quantized reload) or when the caller's key changes
// (the shell passes the merged adapter: merging a vision adapter rewrites the base weights in place).
// Memory: entries count against the dataset's memory budget left over by its resident images; an item that does
// not fit is computed every time (still exact, only slower).
import FlrCore
import FlrModel

public final class FeatureCache: @unchecked Sendable {
  /// Bytes the cache may hold (set by the dataset: its memory budget minus its resident images).
  public var budget: Int
  public private(set) var bytes = 0
  /// Images run through the vision tower by `features` (tests and the bench count them).
  public private(set) var visionForwards = 0
  public private(set) var hits = 0

  private weak var model: Florence2?
  private var key = ""
  private var entries: [Int: Tensor] = [:]  // item index -> [N, d]

  public init(budget: Int) { self.budget = budget }

  public var count: Int { entries.count }
  /// Whether the last training run used the cache, and why not (set by the Trainer).
  public var use = "caching is used by `train` when no vision module is adapted and vision_dropout=off"

  /// `show dataset`'s line: "cached for 4 images (1.7 MiB of 2.0 GiB budget); on in the last run (exact)".
  public var summary: String {
    "\(count) cached (\(DatasetStats.mebibytes(bytes)) of \(DatasetStats.mebibytes(budget)) budget); \(use)"
  }

  /// Empties the cache unless it holds features of `model` computed under `key`.
  public func validate(model: Florence2, key: String) {
    if self.model !== model || self.key != key {
      clear()
      self.model = model
      self.key = key
    }
  }

  public func clear() {
    entries = [:]
    bytes = 0
  }

  /// Features [B, N, d] of dataset items `indices`; `pixels(positions)` gives the pixel values [k, 3, H, W] of
  /// the batch positions whose features are not cached (one vision forward for all of them).
  func features(
    indices: [Int], model: Florence2, pixels: ([Int]) -> Tensor
  ) throws -> Tensor {
    let missing = indices.indices.filter { entries[indices[$0]] == nil }
    var computed: [Int: Tensor] = [:]  // batch position -> [N, d]
    if !missing.isEmpty {
      let all = try model.imageFeatures(pixelValues: pixels(missing))  // [k, N, d]
      visionForwards += missing.count
      let n = all.shape[1], d = all.shape[2]
      for (row, position) in missing.enumerated() {
        let one = Tensor(zeros: [n, d])
        one.data.update(from: all.data + row * n * d, count: n * d)
        computed[position] = one
        let size = n * d * MemoryLayout<Float>.size
        if bytes + size <= budget {
          entries[indices[position]] = one
          bytes += size
        }
      }
    }
    hits += indices.count - missing.count
    let first = computed.values.first ?? entries[indices[0]]!
    let n = first.shape[0], d = first.shape[1]
    let out = Tensor(zeros: [indices.count, n, d])
    for (position, item) in indices.enumerated() {
      let one = computed[position] ?? entries[item]!
      (out.data + position * n * d).update(from: one.data, count: n * d)
    }
    return out
  }
}
