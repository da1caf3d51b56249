// A captioning dataset loaded once and kept resident for training, sampling and eval.
//
// API (what the shell's `dataset`, `show dataset`, `train`, `sample` and `eval` call):
//
//     var options = DatasetOptions()            // recursive, captionSuffix ("_combined"), captionExtension (".txt"),
//     options.memoryBudget = 2 << 30            // captionColumn ("text"), strict, memoryBudget, checkAllImages
//     let data = try CaptionDataset(at: url, options: options)   // a folder of pairs, a metadata.jsonl, or a
//                                                                 // folder holding one
//     data.items        // [CaptionItem]: image URL, caption (normalised, CaptionFileText), key (relative path)
//     data.skipped      // [SkippedItem]: what was left out and why (no caption, no image, empty caption,
//                       // unreadable image, duplicate); `strict` throws instead, listing them
//     data.summary      // "12 images with captions (12 resident, 20.2 MiB); skipped 2: 1 without caption, ..."
//     try data.split(fraction: 0.1, seed: 0)    // holds out an eval part: data.trainIndices / data.evalIndices
//     try data.reload()                         // rescans; unchanged files keep their decoded image
//     data.stats(tokenizer: tok)                // DatasetStats: counts, label token lengths, memory
//     data.images.image(i)                      // item i as 768x768 RGB uint8 (resident or decoded now)
//
//     for batch in EpochBatches(dataset: data, epoch: e, seed: s, batchSize: 4, tokenizer: tok,
//                               augmentation: CaptionAugmentation(shuffle: true, frozenParts: 1, dropout: 0.1),
//                               maxLength: 1024) {
//       batch.pixels           // [B, 768, 768, 3] uint8
//       batch.labels           // [B, T] Int32, <s> caption </s> then -100
//       batch.decoderInputIds  // [B, T] Int32, shift right with start 2, pad 1
//     }
//
// Images are decoded at load (`checkAllImages`, the default): every unreadable image is reported by `dataset`,
// and the first ones in dataset order that fit `memoryBudget` stay in memory as 768x768 uint8. Images beyond the
// budget are decoded again during each epoch by ImagePrefetcher's background thread. With checkAllImages off,
// images beyond the budget are not read at load (fast for big folders): an unreadable one is then found during
// an epoch, skipped and counted (EpochBatches.failures), as is any image that breaks after loading.
// Duplicates: the same file named twice in metadata.jsonl, or files with identical bytes (SHA-256); the first
// in dataset order is kept.
import FlrImage
import FlrTokenizer
import Foundation

public struct DatasetOptions: Sendable, Equatable {
  /// Also scan subfolders (pairs layout; metadata.jsonl folders are always scanned fully for unlisted images).
  public var recursive = false
  /// Caption file name = image stem + suffix + extension (`suffix=_combined` finds img_combined.txt).
  public var captionSuffix = ""
  public var captionExtension = ".txt"
  /// metadata.jsonl column holding the caption.
  public var captionColumn = "text"
  /// Any skipped item is an error.
  public var strict = false
  /// Bytes of decoded 768x768 images kept in memory (1.7 MB each).
  public var memoryBudget = 2 << 30
  /// Decode every image at load to report unreadable ones (see the top of this file).
  public var checkAllImages = true

  public init() {}
}

public struct CaptionItem: Sendable, Equatable {
  public let image: URL
  public let caption: String
  /// Path relative to the dataset folder, as shown to the user and hashed for the split.
  public let key: String
}

public struct SkippedItem: Sendable, Equatable, CustomStringConvertible {
  public enum Reason: Sendable, Equatable {
    case noCaption(expected: String)
    case noImage
    case emptyCaption
    case unreadableImage(String)
    case unreadableCaption(String)
    case duplicate(of: String)
  }
  public let file: String
  public let reason: Reason

  public var description: String {
    switch reason {
    case .noCaption(let expected): return "\(file): image without caption (no \(expected))"
    case .noImage: return "\(file): caption without image"
    case .emptyCaption: return "\(file): empty caption"
    case .unreadableImage(let problem): return "\(file): unreadable image (\(problem))"
    case .unreadableCaption(let problem): return "\(file): unreadable caption (\(problem))"
    case .duplicate(let first): return "\(file): duplicate of \(first)"
    }
  }

  /// "without caption", "without image", ... for counts.
  public var kind: String {
    switch reason {
    case .noCaption: return "without caption"
    case .noImage: return "caption without image"
    case .emptyCaption: return "empty caption"
    case .unreadableImage: return "unreadable"
    case .unreadableCaption: return "unreadable caption"
    case .duplicate: return "duplicate"
    }
  }
}

public final class CaptionDataset: @unchecked Sendable {
  /// What was given: a folder of pairs, a metadata.jsonl file, or a folder holding metadata.jsonl.
  public let location: URL
  public let options: DatasetOptions
  public private(set) var items: [CaptionItem] = []
  public private(set) var skipped: [SkippedItem] = []
  /// Files of the folder that are neither accepted images nor caption files (paths relative to it).
  public private(set) var ignoredFiles: [String] = []
  public private(set) var images = ResidentImages(files: [], resident: [])
  /// The training part and the held-out eval part (all items train until `split`).
  public private(set) var trainIndices: [Int] = []
  public private(set) var evalIndices: [Int] = []
  public private(set) var splitSetting: (fraction: Double, seed: UInt64) = (0, 0)
  /// Image features of the items, when training can reuse them (FeatureCache); emptied by `reload`.
  public let features = FeatureCache(budget: 0)

  private var fileRecords: [FileRecord] = []  // per item: size, mtime, content hash

  public init(at location: URL, options: DatasetOptions = DatasetOptions()) throws {
    self.location = location
    self.options = options
    try reload()
  }

  /// The metadata.jsonl this dataset reads, if it is one.
  public var metadataFile: URL? {
    if location.pathExtension.lowercased() == "jsonl" { return location }
    let inside = location.appendingPathComponent("metadata.jsonl")
    return FileManager.default.fileExists(atPath: inside.path) ? inside : nil
  }

  /// Scans the files again. Images whose file has the same size and modification time are not read again.
  public func reload() throws {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isFolder) else {
      throw DatasetError(file: location.path, problem: "no such file or folder")
    }
    let scan: ScanResult
    if let jsonl = metadataFile {
      scan = try DatasetScan.metadata(jsonl, options: options)
    } else if isFolder.boolValue {
      scan = try DatasetScan.captionFiles(in: location, options: options)
    } else {
      throw DatasetError(file: location.path, problem: "not a folder or a metadata.jsonl file")
    }
    var previous: [String: (FileRecord, RGBImage?)] = [:]
    for (i, item) in items.enumerated() { previous[item.image.path] = (fileRecords[i], images.resident[i]) }
    let loaded = ImageLoading.load(scan.pairs, options: options, previous: previous)
    let allSkipped = scan.skipped + loaded.skipped
    guard !loaded.pairs.isEmpty else {
      let why =
        allSkipped.isEmpty ? "no images found" : "no usable image/caption pair; skipped:\n" + Self.list(allSkipped)
      throw DatasetError(file: location.path, problem: why)
    }
    if options.strict && !allSkipped.isEmpty {
      throw DatasetError(
        file: location.path, problem: "strict: \(allSkipped.count) item(s) skipped:\n" + Self.list(allSkipped))
    }
    items = loaded.pairs.map { CaptionItem(image: $0.image, caption: $0.caption, key: $0.key) }
    skipped = allSkipped
    ignoredFiles = scan.ignored
    fileRecords = loaded.records
    images = ResidentImages(files: items.map(\.image), resident: loaded.resident)
    // Item indices may now name other images; features share the budget the resident images leave.
    features.clear()
    features.budget = max(0, options.memoryBudget - images.residentBytes)
    try split(fraction: splitSetting.fraction, seed: splitSetting.seed)
  }

  /// Holds out round(fraction * count) items (at least 1 for a fraction > 0) for eval: those with the smallest
  /// seeded hash of their relative path, so a reload or another machine holds out the same files.
  public func split(fraction: Double, seed: UInt64 = 0) throws {
    guard fraction >= 0 && fraction < 1 else {
      throw DatasetError(file: location.path, problem: "split=\(fraction): the eval fraction must be in [0, 1)")
    }
    var held = Int((fraction * Double(items.count)).rounded())
    if fraction > 0 { held = max(held, 1) }
    guard held < items.count else {
      throw DatasetError(
        file: location.path, problem: "split=\(fraction) leaves no training image out of \(items.count)")
    }
    let ranked = items.indices.sorted {
      let a = Self.splitHash(items[$0].key, seed: seed)
      let b = Self.splitHash(items[$1].key, seed: seed)
      return a != b ? a < b : $0 < $1
    }
    evalIndices = ranked.prefix(held).sorted()
    let heldSet = Set(evalIndices)
    trainIndices = items.indices.filter { !heldSet.contains($0) }
    splitSetting = (fraction, seed)
  }

  /// "12 images with captions (10 resident, 16.9 MiB; 2 decoded on the fly); skipped 3: 2 without caption, 1 duplicate"
  public var summary: String {
    let resident = images.residentCount
    var text =
      "\(items.count) image\(items.count == 1 ? "" : "s") with captions (\(resident) resident, \(DatasetStats.mebibytes(images.residentBytes))"
    if resident < items.count { text += "; \(items.count - resident) decoded on the fly" }
    text += ")"
    if !evalIndices.isEmpty { text += ", \(trainIndices.count) train / \(evalIndices.count) eval" }
    if !skipped.isEmpty {
      var counts: [(String, Int)] = []
      for s in skipped {
        if let i = counts.firstIndex(where: { $0.0 == s.kind }) { counts[i].1 += 1 } else { counts.append((s.kind, 1)) }
      }
      text += "; skipped \(skipped.count): " + counts.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
    }
    return text
  }

  /// Counts, label token lengths (`<s> caption </s>`, untruncated) and memory, for `show dataset`.
  public func stats(tokenizer: BartTokenizer) -> DatasetStats {
    DatasetStats(
      items: items.count, train: trainIndices.count, eval: evalIndices.count, skipped: skipped.count,
      tokenLengths: items.map { tokenizer.encode($0.caption).count },
      residentImages: images.residentCount, residentBytes: images.residentBytes, featureCache: features.summary)
  }

  static func list(_ skipped: [SkippedItem]) -> String {
    let shown = skipped.prefix(20).map { "  \($0)" }
    return (shown + (skipped.count > 20 ? ["  ... and \(skipped.count - 20) more"] : [])).joined(separator: "\n")
  }

  /// FNV-1a over the seed's and the key's bytes, finished with splitmix64's mixer.
  static func splitHash(_ key: String, seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    withUnsafeBytes(of: seed.littleEndian) { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 } }
    for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    return h ^ (h >> 31)
  }
}
