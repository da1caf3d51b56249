import FlrModel
import FlrTokenizer
import FlrTrain
import Foundation

// `train [options]`: train the active adapter on the resident dataset; `train resume` continues a run stopped
// by Ctrl-C or a NaN at the step where it stopped, with the same schedule, optimizer state and options.
// Every option of the seed's train_florence_peft.py that belongs to the loop has a home here (TrainerSettings).

enum TrainCommand {
  static let optimizers = OptimizerKind.allCases.map(\.rawValue)

  static let command = Command(
    "train", group: .training, summary: "Train the active adapter on the resident dataset",
    positionals: PositionalSpec("resume", .choice(["resume"]), minimum: 0, maximum: 1, "continue a stopped run"),
    options: [
      OptionSpec("epochs", .int(1...1_000_000), default: .int(5), "Passes over the dataset"),
      OptionSpec("lr", .float(0...10), default: .float(1e-4), "Learning rate (OneCycle's max_lr)"),
      OptionSpec("batch", .int(1...4096), default: .int(1), "Image+caption pairs per micro-batch"),
      OptionSpec("accumulate", .int(1...4096), default: .int(1), "Micro-batches accumulated per optimizer step"),
      OptionSpec("seed", .int(0...Int(UInt32.max)), "Seed for shuffling, dropout and caption augmentation (default 0)"),
      OptionSpec(
        "optimizer", .choice(optimizers), default: .string("adamw"),
        "adamw (torch), adamw8bit (bitsandbytes), prodigy-sf (ProdigyPlusScheduleFree, the seed's default), flora"),
      OptionSpec("optimizer_args", .string, default: .string(""), "e.g. \"weight_decay=0.01 betas=0.9,0.999\""),
      OptionSpec("scheduler", .choice(["none", "onecycle"]), default: .string("none"), "Learning-rate schedule"),
      OptionSpec("lora_plus_ratio", .float(0...1e6), "LoRA+: lora_B learns at lr x ratio"),
      OptionSpec(
        "checkpointing", .choice(["none", "text", "all"]), default: .string("none"),
        "Recompute activations in backward: BART layers (text) or BART and DaViT (all)"),
      .flag("shuffle_captions", "Shuffle the comma-separated parts of each caption"),
      OptionSpec(
        "frozen_parts", .int(0...1000), default: .int(0), "Leading caption parts kept in place when shuffling"),
      OptionSpec("caption_dropout", .float(0...1), default: .float(0), "Probability of dropping each other part"),
      OptionSpec("max_length", .int(2...4096), "Truncate labels to this many tokens (default: the processor's 1024)"),
      OptionSpec("prompt", .string, "Task prompt trained on (default <DETAILED_CAPTION>)"),
      OptionSpec("task", .string, "Same as prompt="),
      .flag("no_dropout", "Train without model and LoRA dropout (deterministic; the seed trains with dropout)"),
      OptionSpec("sample_every_steps", .int(1...Int(Int32.max)), "Print sample captions every N steps"),
      OptionSpec("sample_every_epochs", .int(1...Int(Int32.max)), "Print sample captions every N epochs"),
      OptionSpec("save_every_steps", .int(1...Int(Int32.max)), "Save the adapter every N steps (out/NAME/step-N)"),
      OptionSpec(
        "save_every_epochs", .int(1...Int(Int32.max)), "Save the adapter every N epochs (out/NAME/epoch-N)"),
      OptionSpec("out", .path, settable: false, "Folder for saved adapters (out/NAME/step-N, final in out/NAME)"),
      OptionSpec("name", .string, "Run name for saving and logging (default: the adapter's name)"),
      OptionSpec(
        "log", .choice(["tensorboard", "jsonl", "none", "wandb", "all"]), default: .string("none"),
        "Logs in out/NAME/logs: JSONL, TensorBoard event files, or both (all); wandb = TensorBoard + how to sync"),
      OptionSpec("samples", .int(1...64), default: .int(3), "How many dataset items sample_every_* shows"),
    ],
    examples: [
      "train epochs=3 lr=1e-4 out=loras name=mine", "train optimizer=prodigy-sf lr=1 scheduler=none",
      "train resume",
    ],
    details: """
      Trains the active adapter (lora ...) on the dataset (dataset DIR), minus any eval split. flr's default \
      optimizer is adamw; the seed's is ProdigyPlusScheduleFree (optimizer=prodigy-sf; `flr train` keeps the \
      seed's default). Labels are padded with -100 (pads are not trained on; the seed trains on them). Ctrl-C \
      stops at a step boundary with adapter and optimizer state kept: `train resume` continues. A NaN or \
      infinite loss stops training and restores the last good step. With out=, the final adapter is saved in \
      out/NAME (PEFT format, files replaced atomically).
      """,
    run: run)

  static func run(_ arguments: Arguments, _ session: Session) throws {
    let state = TrainingState.of(session)
    let trainer: Trainer
    if arguments.positionals.first == "resume" {
      guard let previous = state.trainer else { throw ShellError("train resume: no stopped run in this session") }
      guard !previous.isFinished else {
        throw ShellError("train resume: the last run finished all \(previous.settings.epochs) epochs")
      }
      guard let active = try? SessionAdapters.active(session), active === previous.parameters.adapter else {
        throw ShellError("train resume: the adapter of the stopped run (\(previous.parameters.adapter.name)) is not active")
      }
      let ignored = arguments.given.sorted()
      if !ignored.isEmpty {
        session.note("train resume: continuing with the stopped run's options; ignored \(ignored.joined(separator: ", "))")
      }
      trainer = previous
      session.note("resuming at epoch \(trainer.epoch + 1), step \(trainer.step)/\(trainer.totalSteps)")
    } else {
      let loaded = try session.requireModel(for: "train")
      let dataset = try TrainingState.requireDataset(session, for: "train")
      let adapter = try SessionAdapters.active(session)
      let settings = try settings(arguments, adapter: adapter, session: session)
      trainer = try Trainer(
        model: loaded.model, tokenizer: loaded.tokenizer, dataset: dataset, adapter: adapter, settings: settings)
      for warning in trainer.optimizerWarnings { session.note("train: \(warning)") }
      let samples = arguments.int("samples") ?? 3
      trainer.onSample = { t in try SampleCommand.show(t.dataset, items: Array(t.dataset.trainIndices.prefix(samples)),
                                                       task: t.settings.prompt, beams: nil, loaded: loaded, session: session) }
      state.trainer = trainer
      session.out.line(describe(trainer))
    }
    trainer.onLine = { session.out.line($0) }
    trainer.onProgress = { session.err.line($0) }
    let outcome = try trainer.run(isCancelled: { session.cancellation.isCancelled })
    switch outcome {
    case .finished:
      session.out.line("training done: \(trainer.step) steps, last epoch mean loss "
        + "\(trainer.epochLosses.last.map { String(format: "%.4f", $0) } ?? "-")")
      if trainer.settings.runFolder == nil {
        session.note("the adapter stays resident; `save DIR` writes it (or give out= to train)")
      }
    case .stopped:
      session.out.line("training stopped at step \(trainer.step)/\(trainer.totalSteps) (epoch \(trainer.epoch + 1)); "
        + "adapter and optimizer state kept: `train resume` continues")
    case .diverged(let message):
      throw ShellError(message)
    }
  }

  static func settings(_ a: Arguments, adapter: LoRAAdapter, session: Session) throws -> TrainerSettings {
    var s = TrainerSettings()
    s.epochs = a.int("epochs") ?? 5
    s.learningRate = a.double("lr") ?? 1e-4
    s.batchSize = a.int("batch") ?? 1
    s.accumulate = a.int("accumulate") ?? 1
    s.seed = UInt64(a.int("seed") ?? 0)
    s.optimizer = try OptimizerKind(name: a.string("optimizer") ?? "adamw")
    s.optimizerArgs = try OptimizerArgs.parse(a.string("optimizer_args") ?? "")
    s.schedule = a.string("scheduler") == "onecycle" ? .onecycle : .none
    s.loraPlusRatio = a.double("lora_plus_ratio")
    s.checkpointing = Checkpointing(rawValue: a.string("checkpointing") ?? "none") ?? .none
    s.dropout = !a.flag("no_dropout")
    s.augmentation = CaptionAugmentation(
      shuffle: a.flag("shuffle_captions"), frozenParts: a.int("frozen_parts") ?? 0,
      dropout: a.double("caption_dropout") ?? 0)
    if let m = a.int("max_length") { s.maxLength = m }
    if let p = a.string("prompt") ?? a.string("task") { s.prompt = p }
    s.sampleEverySteps = a.int("sample_every_steps")
    s.sampleEveryEpochs = a.int("sample_every_epochs")
    s.saveEverySteps = a.int("save_every_steps")
    s.saveEveryEpochs = a.int("save_every_epochs")
    s.outputFolder = a.string("out").map { URL(fileURLWithPath: $0, isDirectory: true) }
    s.name = a.string("name") ?? adapter.name
    switch a.string("log") ?? "none" {
    case "jsonl": s.log = .jsonl
    case "tensorboard": s.log = .tensorboard
    case "all", "wandb":
      s.log = a.string("log") == "all" ? .all : .tensorboard
      session.note(
        "log=\(a.string("log") ?? ""): flr has no network access and does not talk to Weights & Biases; it writes "
          + "TensorBoard event files to \(s.resolvedLogFolder.path). Upload them later with: "
          + "wandb sync --sync-tensorboard \(s.resolvedLogFolder.path)")
    default: s.log = .none
    }
    if s.saveEverySteps != nil || s.saveEveryEpochs != nil, s.outputFolder == nil {
      throw ShellError("train: save_every_* needs out=DIR (adapters go to out/NAME/step-N)")
    }
    if let out = s.outputFolder { try checkWritable(out) }
    return s
  }

  /// `out=` must be a folder we can create and write in, before hours of training.
  static func checkWritable(_ folder: URL) throws {
    do {
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let probe = folder.appendingPathComponent(".flr-write-test-\(getpid())")
      try Data().write(to: probe)
      try FileManager.default.removeItem(at: probe)
    } catch {
      throw ShellError("train: out=\(folder.path) is not a writable folder (\(error.localizedDescription))")
    }
  }

  static func describe(_ t: Trainer) -> String {
    let s = t.settings
    var parts = [
      "training \(t.parameters.adapter.name): \(t.parameters.parameterCount) parameters in "
        + "\(t.parameters.groups.count) tensors, \(t.dataset.trainIndices.count) images, \(s.epochs) epochs x "
        + "\(t.stepsPerEpoch) steps (batch \(s.batchSize), accumulate \(s.accumulate))",
      "  optimizer \(t.optimizer.name) lr \(t.baseLR), scheduler \(s.schedule.rawValue), checkpointing "
        + "\(s.checkpointing.rawValue), dropout \(s.dropout ? "on" : "off"), prompt \(s.prompt)",
      "  backward reaches \(t.reach); image features: computed every step "
        + (t.reach.reachesVision ? "(a vision module is adapted)" : "(feature caching is not available yet)"),
    ]
    if let run = s.runFolder { parts.append("  saving to \(run.path)") }
    return parts.joined(separator: "\n")
  }
}
