import FlrImage
import FlrTrain
import Foundation

// `dataset DIR | DIR/metadata.jsonl [recursive] [suffix=] [ext=] [column=] [strict] [memory=]`: load a
// captioning dataset once and keep its images decoded in memory; `dataset split=0.1 [seed=N]` holds out an
// eval part (`val=DIR`: a held-out dataset of its own); `dataset reload` rescans (unchanged files keep their decoded images).

enum DatasetCommand {
  static let command = Command(
    "dataset", group: .training, summary: "Load an image+caption dataset (folder pairs or metadata.jsonl) into memory",
    positionals: PositionalSpec("DIR", .string, minimum: 0, maximum: 1, "folder, metadata.jsonl, or `reload`"),
    options: [
      .flag("recursive", "Descend into sub-folders"),
      OptionSpec("suffix", .string, default: .string(""), "Caption file suffix: img.jpg + img<suffix><ext>"),
      OptionSpec("ext", .string, default: .string(".txt"), "Caption file extension"),
      OptionSpec("column", .string, default: .string("text"), "metadata.jsonl field holding the caption"),
      .flag("strict", "Treat skipped items (missing captions, unreadable images) as an error"),
      OptionSpec("split", .float(0...0.9), "Fraction held out for `eval`"),
      OptionSpec("seed", .int(0...Int(UInt32.max)), "Seed for the split"),
      OptionSpec(
        "val", .path, settable: false,
        "A held-out dataset of its own (same layout) for `eval` and train eval_every_*, instead of the split"),
      OptionSpec(
        "memory", .custom(hint: "SIZE", check: { parseBytes($0) == nil ? "a size such as 512M or 4G" : nil }),
        "Memory budget for decoded images (e.g. 4G; default 2G); beyond it images are re-decoded each epoch"),
    ],
    examples: [
      "dataset photos/ ext=.txt", "dataset data/metadata.jsonl column=caption", "dataset split=0.1 seed=1",
      "dataset photos/ val=held-out/",
    ],
    details: """
      Pairs: img.jpg + img.txt (suffix=_combined finds img_combined.txt), images \(ImagePaths.extensionList) in \
      any case; other files are counted and ignored. A metadata.jsonl (or a folder holding one) is Hugging Face's \
      imagefolder layout: file_name relative to the file, the caption in `text` or column=NAME. Skipped items \
      (no caption, empty caption, a caption file that is not UTF-8, unreadable image, duplicate) are listed with \
      the reason; `strict` makes them an error. A UTF-8 byte-order mark at the start of a caption file is \
      dropped (the reference scripts would train on it as three tokens). `show dataset` prints counts, caption \
      token lengths and memory. val=DIR loads another folder (same options) as the held-out set: `eval` and \
      `train eval_every_*` use it instead of a split; `dataset DIR` without val= forgets it.
      """,
    run: { try run($0, $1) })

  static func run(_ arguments: Arguments, _ session: Session) throws {
    let state = session.training
    let word = arguments.positionals.first
    if word == "reload" {
      let data = try session.training.requireDataset(for: "dataset reload")
      try data.reload()
      report(data, session)
    } else if let path = word {
      var options = DatasetOptions()
      options.recursive = arguments.flag("recursive")
      options.captionSuffix = arguments.string("suffix") ?? ""
      options.captionExtension = arguments.string("ext") ?? ".txt"
      options.captionColumn = arguments.string("column") ?? "text"
      options.strict = arguments.flag("strict")
      if let text = arguments.string("memory"), let bytes = parseBytes(text) { options.memoryBudget = bytes }
      let data = try CaptionDataset(at: URL(fileURLWithPath: expandTilde(path)), options: options)
      guard !data.items.isEmpty else {
        throw ShellError("dataset: no image+caption pairs in \(path)\(skippedText(data))")
      }
      // A new dataset: the previous run's position no longer means anything.
      let validation = try arguments.string("val").map { try loadValidation($0, options: options, session) }
      state.dataset = data
      state.validation = validation
      session.keepRun(nil)
      report(data, session)
    } else if let val = arguments.string("val") {
      let data = try session.training.requireDataset(for: "dataset val")
      state.validation = try loadValidation(val, options: data.options, session)
    } else if arguments.values["split"] == nil {
      throw ShellError("dataset: give a folder or metadata.jsonl, `reload`, split=FRACTION or val=DIR")
    }
    if let fraction = arguments.double("split") {
      let data = try session.training.requireDataset(for: "dataset split")
      try data.split(fraction: fraction, seed: UInt64(arguments.int("seed") ?? 0))
      session.note("split: \(data.trainIndices.count) for training, \(data.evalIndices.count) held out for eval")
    }
  }

  /// `val=DIR`: the held-out dataset, read with the training dataset's options.
  static func loadValidation(_ path: String, options: DatasetOptions, _ session: Session) throws -> CaptionDataset {
    let data = try CaptionDataset(at: URL(fileURLWithPath: expandTilde(path)), options: options)
    guard !data.items.isEmpty else {
      throw ShellError("dataset: no image+caption pairs in val=\(path)\(skippedText(data))")
    }
    session.out.line("validation: \(data.summary)")
    return data
  }

  static func report(_ data: CaptionDataset, _ session: Session) {
    session.note("dataset: \(data.summary)")
    if !data.ignoredFiles.isEmpty { session.note("  \(ImagePaths.describeIgnored(data.ignoredFiles))") }
    for item in data.skipped.prefix(20) { session.note("  skipped \(item)") }
    if data.skipped.count > 20 { session.note("  ... and \(data.skipped.count - 20) more skipped") }
  }

  static func skippedText(_ data: CaptionDataset) -> String {
    data.skipped.isEmpty ? "" : "; skipped: " + data.skipped.prefix(5).map(\.description).joined(separator: "; ")
  }

  /// `512M`, `4G`, `1.5G`, `100000` (bytes).
  static func parseBytes(_ text: String) -> Int? {
    let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
    var t = text.uppercased()
    if t.hasSuffix("B") { t.removeLast() }
    var scale = 1.0
    if let last = t.last, let u = units[last] {
      scale = u
      t.removeLast()
    }
    guard let value = Double(t), value >= 0, value.isFinite else { return nil }
    return Int(value * scale)
  }
}
