import FlrCore
import FlrGenerate
import FlrImage
import FlrModel
import FlrProcessor
import FlrTokenizer
import FlrTrain
import Foundation

// `sample`, `compare`, `eval`: looking at what training did. `sample` prints ground truth vs generated
// captions for dataset items; `compare` captions the same images with the base model and named adapters;
// `eval` is the mean loss on the held-out split (dropout off), with the active adapter.

enum SampleCommand {
  static let command = Command(
    "sample", group: .training, summary: "Generated vs ground-truth captions for a few dataset items",
    options: [
      OptionSpec("n", .int(1...10_000), default: .int(4), "How many items (held-out ones first)"),
      OptionSpec("task", .string, default: .string("<DETAILED_CAPTION>"), "Task prompt"),
      OptionSpec("beams", .int(1...64), default: .int(3), "Beam width (1 = greedy)"),
    ],
    examples: ["sample n=8 beams=1"],
    details: """
      Items in dataset order, held-out ones first, dropout off. An adapter trained in this session with \
      optimizer=prodigy-sf generates with its averaged (schedule-free) weights, as the run's own samples and \
      `save` use them; training is left as it was.
      """,
    run: { arguments, session in
      let loaded = try session.requireModel(for: "sample")
      let data = try session.training.requireDataset(for: "sample")
      let n = arguments.int("n") ?? 4
      let items = Array((data.evalIndices + data.trainIndices).prefix(n))
      try session.withEvaluationWeights {
        try show(
          data, items: items, task: arguments.string("task") ?? "<DETAILED_CAPTION>", beams: arguments.int("beams"),
          loaded: loaded, session: session)
      }
    })

  /// For each item: `KEY`, `  truth: ...`, `  model: ...`, with the adapter's weights as they are (the caller
  /// swaps evaluation weights in: the `sample` command, or the run's own sampling).
  static func show(
    _ data: CaptionDataset, items: [Int], task: String, beams: Int?, loaded: LoadedModel, session: Session
  ) throws {
    for i in items {
      try session.cancellation.check()
      let image = try data.images.image(i)
      let pixels = Florence2Processor.pixelValues(resized: image.pixels, positions: [0])
      let caption = try loaded.generator.caption(
        pixelValues: pixels, task: task, beams: beams, onStep: { _ in !session.cancellation.isCancelled })
      session.out.line(data.items[i].key)
      session.out.line("  truth: \(data.items[i].caption)")
      session.out.line("  model: \(caption.first ?? "")")
    }
  }
}

enum CompareCommand {
  static let command = Command(
    "compare", group: .training, summary: "Captions of the same images from the base model and named adapters",
    positionals: PositionalSpec("PATH", .path, minimum: 1, maximum: nil, "images, folders or globs"),
    options: [
      OptionSpec("with", .string, default: .string("base"), "Comma-separated: base and adapter names"),
      OptionSpec("task", .string, default: .string("<DETAILED_CAPTION>"), "Task prompt"),
      OptionSpec("beams", .int(1...64), default: .int(3), "Beam width (1 = greedy)"),
      .flag("recursive", "Descend into sub-folders"),
    ],
    examples: ["compare photos/a.jpg with=base,mine"],
    details: """
      Prints, per image, one line per model: `  NAME: caption`. The active adapter is restored afterwards. An \
      adapter trained in this session with optimizer=prodigy-sf captions with its averaged (schedule-free) \
      weights, as `save` writes them.
      """,
    run: { arguments, session in
      let loaded = try session.requireModel(for: "compare")
      let names = (arguments.string("with") ?? "base").split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      let images = try ImagePaths.expand(arguments.positionals, recursive: arguments.flag("recursive"))
      guard !images.isEmpty else { throw ShellError("compare: no images found") }
      // Every image decoded once; each model captions all of them.
      var pixels: [(String, Tensor)] = []
      for path in images {
        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
        pixels.append((path, Florence2Processor.pixelValues([image])))
      }
      let task = arguments.string("task") ?? "<DETAILED_CAPTION>", beams = arguments.int("beams")
      var captions: [[String]] = Array(repeating: [], count: images.count)
      try session.withEvaluationWeights {
        try SessionAdapters.withEach(names, session) { name in
          for (i, (_, px)) in pixels.enumerated() {
            try session.cancellation.check()
            let text = try loaded.generator.caption(
              pixelValues: px, task: task, beams: beams, onStep: { _ in !session.cancellation.isCancelled })
            captions[i].append(text.first ?? "")
          }
        }
      }
      let width = names.map(\.count).max() ?? 4
      for (i, (path, _)) in pixels.enumerated() {
        session.out.line(path)
        for (name, text) in zip(names, captions[i]) {
          session.out.line("  \(name.padding(toLength: width, withPad: " ", startingAt: 0)): \(text)")
        }
      }
    })
}

enum EvalCommand {
  static let command = Command(
    "eval", group: .training, summary: "Mean loss on the held-out split, with the active adapter",
    positionals: PositionalSpec("DIR", .path, minimum: 0, maximum: 1, "another dataset (default: the held-out split)"),
    options: [
      OptionSpec("prompt", .string, "Task prompt (default: the last run's, else <DETAILED_CAPTION>)"),
      OptionSpec("max_length", .int(2...4096), default: .int(1024), "Label length cut"),
    ],
    examples: ["eval", "eval other-photos/"],
    details: """
      Token-weighted mean cross-entropy (pads masked), dropout off, batch 1, items in dataset order. An adapter \
      trained in this session with optimizer=prodigy-sf is evaluated with its averaged (schedule-free) weights.
      """,
    run: { arguments, session in
      let loaded = try session.requireModel(for: "eval")
      let state = session.training
      let data: CaptionDataset
      let indices: [Int]
      if let dir = arguments.positionals.first {
        data = try CaptionDataset(at: URL(fileURLWithPath: dir))
        indices = Array(data.items.indices)
      } else {
        data = try session.training.requireDataset(for: "eval")
        guard !data.evalIndices.isEmpty else {
          throw ShellError("eval: the dataset has no held-out part (dataset split=0.1), or give eval DIR")
        }
        indices = data.evalIndices
      }
      let prompt = arguments.string("prompt") ?? state.trainer?.settings.prompt ?? "<DETAILED_CAPTION>"
      let (loss, tokens) = try session.withEvaluationWeights {
        try meanLoss(
          data, indices: indices, prompt: prompt, maxLength: arguments.int("max_length") ?? 1024, loaded: loaded,
          session: session)
      }
      let adapter = (try? SessionAdapters.active(session))?.name ?? "none"
      session.out.line(
        "eval: mean loss \(String(format: "%.4f", loss)) over \(indices.count) items (\(tokens) tokens), adapter \(adapter)"
      )
    })

  static func meanLoss(
    _ data: CaptionDataset, indices: [Int], prompt: String, maxLength: Int, loaded: LoadedModel, session: Session
  ) throws -> (Double, Int) {
    let promptIds = try loaded.processor.promptIds(prompt)
    var sum = 0.0, tokens = 0
    let batches = EpochBatches(
      dataset: data, epoch: 0, seed: 0, batchSize: 1, tokenizer: loaded.tokenizer, maxLength: maxLength,
      indices: indices, shuffle: false)
    for batch in batches {
      try session.cancellation.check()
      let pixels = Florence2Processor.pixelValues(resized: batch.pixels, positions: Array(0..<batch.count))
      let labels = [batch.labels]
      let (_, loss) = try loaded.model.forward(pixelValues: pixels, promptIds: [promptIds], labels: labels)
      let kept = batch.labels.filter { $0 != -100 }.count
      sum += Double(loss) * Double(kept)
      tokens += kept
    }
    for failure in batches.failures { session.note("eval: skipped \(failure)") }
    guard tokens > 0 else { throw ShellError("eval: no item could be evaluated") }
    return (sum / Double(tokens), tokens)
  }
}
