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
    ] + DecodingOptions.options,
    examples: ["sample n=8 beams=1", "sample n=4 sample temperature=0.7 seed=3"],
    details: """
      Items in dataset order, held-out ones first, dropout off. An adapter trained in this session with \
      optimizer=prodigy-sf generates with its averaged (schedule-free) weights, as the run's own samples and \
      `save` use them; training is left as it was. The decoding options are caption's (see `help caption`).
      """,
    run: { arguments, session in
      let loaded = try session.requireModel(for: "sample")
      let data = try session.training.requireDataset(for: "sample")
      let n = arguments.int("n") ?? 4
      let items = Array((data.evalIndices + data.trainIndices).prefix(n))
      let settings = try DecodingOptions.settings(arguments, session, loaded: loaded, command: "sample")
      try session.withEvaluationWeights {
        try show(
          data, items: items, task: arguments.string("task") ?? "<DETAILED_CAPTION>", beams: nil, settings: settings,
          loaded: loaded, session: session)
      }
    })

  /// For each item: `KEY`, `  truth: ...`, `  model: ...`, with the adapter's weights as they are (the caller
  /// swaps evaluation weights in: the `sample` command, or the run's own sampling). `settings` (the decoding
  /// options) wins over `beams`; without either, the model's settings. To `output`: stdout for `sample`,
  /// stderr with the rest of a training run's progress.
  static func show(
    _ data: CaptionDataset, items: [Int], task: String, beams: Int?, settings: GenerationSettings? = nil,
    loaded: LoadedModel, session: Session, to output: Output? = nil
  ) throws {
    let output = output ?? session.out
    let settings = settings ?? loaded.generator.settings.with(numBeams: beams)
    for (position, i) in items.enumerated() {
      try session.cancellation.check()
      let image = try data.images.image(i)
      let pixels = Florence2Processor.pixelValues(resized: image.pixels, positions: [0])
      let caption = try loaded.generator.caption(
        pixelValues: pixels, task: task, settings: settings.offsettingSeed(by: position),
        onStep: { _ in !session.cancellation.isCancelled })
      output.line(data.items[i].key)
      output.line("  truth: \(data.items[i].caption)")
      output.line("  model: \(caption.first ?? "")")
    }
  }
}

enum CompareCommand {
  static let command = Command(
    "compare", group: .training, summary: "Captions of the same images from the base model and named adapters",
    positionals: PositionalSpec("PATH", .path, minimum: 1, maximum: nil, "images, folders or globs"),
    options: [
      OptionSpec(
        "with", .string, default: .string("base"), "Comma-separated: base and adapter names", namesAdapters: true),
      OptionSpec("task", .string, default: .string("<DETAILED_CAPTION>"), "Task prompt"),
    ] + DecodingOptions.options + [.flag("recursive", "Descend into sub-folders")],
    examples: ["compare photos/a.jpg with=base,mine", "compare photos/ with=base,mine beams=1 max_tokens=40"],
    details: """
      Prints, per image, one line per model: `  NAME: caption`. The active adapter is restored afterwards. An \
      adapter trained in this session with optimizer=prodigy-sf captions with its averaged (schedule-free) \
      weights, as `save` writes them. The decoding options are caption's (see `help caption`); with sample, \
      every model draws from the same seeds.
      """,
    run: { arguments, session in
      let loaded = try session.requireModel(for: "compare")
      let names = (arguments.string("with") ?? "base").split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      let images = try ImagePaths.expandNotingOthers(
        arguments.positionals, recursive: arguments.flag("recursive"), command: "compare", session: session)
      guard !images.isEmpty else { throw ShellError("compare: no images found") }
      // Every image decoded once; each model captions all of them.
      var pixels: [(String, Tensor)] = []
      for path in images {
        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
        pixels.append((path, Florence2Processor.pixelValues([image])))
      }
      let task = arguments.string("task") ?? "<DETAILED_CAPTION>"
      let settings = try DecodingOptions.settings(arguments, session, loaded: loaded, command: "compare")
      var captions: [[String]] = Array(repeating: [], count: images.count)
      try session.withEvaluationWeights {
        try SessionAdapters.withEach(names, session) { name in
          for (i, (_, px)) in pixels.enumerated() {
            try session.cancellation.check()
            let text = try loaded.generator.caption(
              pixelValues: px, task: task, settings: settings.offsettingSeed(by: i),
              onStep: { _ in !session.cancellation.isCancelled })
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
    positionals: PositionalSpec(
      "DIR", .path, minimum: 0, maximum: 1, "another dataset (default: dataset val=DIR, else the held-out split)"),
    options: [
      OptionSpec("prompt", .string, "Task prompt (default: the last run's, else <DETAILED_CAPTION>)"),
      OptionSpec("max_length", .int(2...4096), default: .int(1024), "Label length cut"),
    ],
    examples: ["eval", "eval other-photos/"],
    details: """
      Token-weighted mean cross-entropy (pads masked), dropout off, batch 1, items in dataset order. An adapter \
      trained in this session with optimizer=prodigy-sf is evaluated with its averaged (schedule-free) weights. \
      Validation during training (train eval_every_*) computes the same loss the same way.
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
        _ = try session.training.requireDataset(for: "eval")
        guard let held = session.training.validationSet else {
          throw ShellError(
            "eval: the dataset has no held-out part (dataset split=0.1, or dataset val=DIR), or give eval DIR")
        }
        (data, indices) = (held.dataset, held.indices)
      }
      let prompt = arguments.string("prompt") ?? state.trainer?.settings.prompt ?? "<DETAILED_CAPTION>"
      let (loss, tokens) = try session.withEvaluationWeights {
        try meanLoss(
          data, indices: indices, prompt: prompt, maxLength: arguments.int("max_length") ?? 1024, loaded: loaded,
          session: session)
      }
      let adapter = (try? SessionAdapters.active(session))?.name ?? "none"
      session.out.line(
        "eval: mean loss \(String(format: "%.4f", loss)) over \(counted(indices.count, "item")) "
          + "(\(counted(tokens, "token"))), adapter \(adapter)")
    })

  static func meanLoss(
    _ data: CaptionDataset, indices: [Int], prompt: String, maxLength: Int, loaded: LoadedModel, session: Session
  ) throws -> (Double, Int) {
    let promptIds = try loaded.processor.promptIds(prompt)
    let result: HeldOutLoss.Result
    do {
      result = try HeldOutLoss.measure(
        model: loaded.model, tokenizer: loaded.tokenizer, dataset: data, indices: indices, promptIds: promptIds,
        maxLength: maxLength, checkCancelled: { try session.cancellation.check() })
    } catch let error as TrainerError {
      throw ShellError("eval: \(error.message)")
    }
    for failure in result.failures { session.note("eval: skipped \(failure)") }
    return (result.loss, result.tokens)
  }
}
