// One epoch of training batches over a resident dataset: the item order, the caption augmentation and the
// labels, with images coming from ImagePrefetcher so decoding overlaps the trainer's compute.
//
// Everything random derives from (seed, epoch): the order is a Fisher-Yates shuffle of the training indices by
// SeededRNG, and the captions are augmented with PythonRandom(seed:, stream: epoch) (Python's
// `random.seed(seed + (epoch << 64))`), one item after another in order. Resuming mid-epoch is therefore
// `EpochBatches(..., epoch: e)` with `skip(batches: k)`: the same captions come out without saving RNG state.
// The reference script's DataLoader shuffles with torch's generator; flr's order is its own (same distribution, not the
// same permutation).
// An image that fails to decode is skipped (listed in `failures`) and the batch is filled from the next items;
// the last batch may be smaller (DataLoader's drop_last=False).
import FlrCore
import FlrImage
import FlrTokenizer
import Foundation

public struct TrainingBatch {
  /// Dataset item indices.
  public let indices: [Int]
  /// The captions trained on (after augmentation, before truncation).
  public let captions: [String]
  /// [B, 768, 768, 3] RGB uint8, row-major HWC per image.
  public let pixels: [UInt8]
  /// [B, T] label ids, -100 after each item's `</s>`.
  public let labels: [Int32]
  /// [B, T] decoder input ids (start 2, then labels shifted right, pads 1).
  public let decoderInputIds: [Int32]
  /// T.
  public let length: Int

  public var count: Int { indices.count }
}

public final class EpochBatches: Sequence, IteratorProtocol {
  public let order: [Int]
  public let batchSize: Int
  /// Images that failed to decode during this epoch (skipped).
  public private(set) var failures: [SkippedItem] = []

  private let items: [CaptionItem]  // a snapshot: a reload during the epoch does not change it
  private let tokenizer: BartTokenizer
  private let augmentation: CaptionAugmentation
  private let maxLength: Int
  private var rng: PythonRandom
  private let prefetcher: ImagePrefetcher

  /// `indices`: the items to go through (default: the training part); `shuffle` false keeps their order.
  /// `maxLength`: labels are cut to this many ids, `<s>` and `</s>` kept (transformers' truncation).
  public init(
    dataset: CaptionDataset, epoch: Int, seed: UInt64, batchSize: Int, tokenizer: BartTokenizer,
    augmentation: CaptionAugmentation = .none, maxLength: Int = 1024, indices: [Int]? = nil, shuffle: Bool = true,
    prefetchDepth: Int = 4
  ) {
    var order = (indices ?? dataset.trainIndices).filter { dataset.items.indices.contains($0) }
    if shuffle { Self.shuffle(&order, seed: seed, epoch: UInt64(epoch)) }
    self.order = order
    self.batchSize = Swift.max(1, batchSize)
    self.items = dataset.items
    self.tokenizer = tokenizer
    self.augmentation = augmentation
    self.maxLength = maxLength
    self.rng = PythonRandom(seed: seed, stream: UInt64(epoch))
    self.prefetcher = ImagePrefetcher(
      order: order, images: dataset.images, depth: Swift.max(prefetchDepth, self.batchSize))
  }

  /// Full batches in this epoch if no image fails.
  public var batchCount: Int { (order.count + batchSize - 1) / batchSize }

  /// How long the trainer waited for images (0 when the prefetcher kept ahead).
  public var waitSeconds: Double { prefetcher.waitSeconds }

  /// Skips `batches` batches, drawing their caption augmentation without decoding anything else twice.
  public func skip(batches: Int) {
    for _ in 0..<batches { _ = next() }
  }

  public func next() -> TrainingBatch? {
    var indices: [Int] = []
    var captions: [String] = []
    var ids: [[Int]] = []
    var pixels: [UInt8] = []
    pixels.reserveCapacity(batchSize * ResidentImages.bytesPerImage)
    while indices.count < batchSize, let item = prefetcher.next() {
      switch item.image {
      case .failure(let error):
        failures.append(SkippedItem(file: items[item.index].key, reason: .unreadableImage(error.problem)))
      case .success(let image):
        let caption = augmentation.apply(items[item.index].caption, rng: &rng)
        indices.append(item.index)
        captions.append(caption)
        ids.append(tokenizer.encode(caption, maxLength: maxLength))
        pixels += image.pixels
      }
    }
    guard !indices.isEmpty else { return nil }
    let (labels, decoderInputs, length) = CaptionLabels.make(
      ids, decoderStart: 2, pad: tokenizer.padId ?? 1)
    return TrainingBatch(
      indices: indices, captions: captions, pixels: pixels, labels: labels, decoderInputIds: decoderInputs,
      length: length)
  }

  /// Fisher-Yates over SeededRNG seeded by (seed, epoch).
  static func shuffle(_ order: inout [Int], seed: UInt64, epoch: UInt64) {
    var rng = SeededRNG(seed: seed ^ (epoch &* 0x9E37_79B9_7F4A_7C15) ^ 0x5EED_0F_EB0C)
    var i = order.count - 1
    while i >= 1 {
      let j = Int(rng.nextUInt64() % UInt64(i + 1))
      order.swapAt(i, j)
      i -= 1
    }
  }
}
