// `dataset`: a resident image+caption dataset (issue "Training"). Declared now; not built yet.

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
      OptionSpec("memory", .string, "Memory budget for decoded images (e.g. 4G)"),
    ],
    examples: ["dataset photos/ ext=.txt", "dataset data/metadata.jsonl column=caption", "dataset split=0.1 seed=1"],
    run: { _, _ in throw notAvailableYet("dataset", "datasets") })
}
