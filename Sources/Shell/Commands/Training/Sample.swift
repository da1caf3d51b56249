// `sample`, `compare`, `eval`: inspection around training (issue "Training"). Declared now; not built yet.

enum SampleCommand {
  static let command = Command(
    "sample", group: .training, summary: "Generated vs ground-truth captions for a few dataset items",
    options: [
      OptionSpec("n", .int(1...10_000), default: .int(4), "How many items"),
      OptionSpec("task", .string, default: .string("<DETAILED_CAPTION>"), "Task prompt"),
      OptionSpec("beams", .int(1...64), default: .int(3), "Beam width (1 = greedy)"),
    ],
    examples: ["sample n=8 beams=1"],
    run: { _, _ in throw notAvailableYet("sample", "datasets") })
}

enum CompareCommand {
  static let command = Command(
    "compare", group: .training, summary: "Captions of the same images from the base model and named adapters",
    positionals: PositionalSpec("PATH", .path, minimum: 1, maximum: nil, "images, folders or globs"),
    options: [OptionSpec("with", .string, default: .string("base"), "Comma-separated: base and adapter names")],
    examples: ["compare photos/a.jpg with=base,mine"],
    run: { _, _ in throw notAvailableYet("compare", "LoRA") })
}

enum EvalCommand {
  static let command = Command(
    "eval", group: .training, summary: "Mean loss on the held-out split, with the active adapter",
    positionals: PositionalSpec("DIR", .path, minimum: 0, maximum: 1, "another dataset (default: the held-out split)"),
    examples: ["eval"],
    run: { _, _ in throw notAvailableYet("eval", "datasets") })
}
