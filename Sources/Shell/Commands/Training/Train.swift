import FlrModel
import FlrTokenizer
import FlrTrain
import Foundation

// `train [options]`: train the active adapter on the resident dataset; `train resume` continues a run stopped
// by Ctrl-C or a NaN at the step where it stopped, with the same schedule, optimizer state and options.
// Every option of the reference script train_florence_peft.py that belongs to the loop has a home here
// (TrainerSettings).

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
        "adamw (torch), adamw8bit (bitsandbytes), prodigy-sf (ProdigyPlusScheduleFree, the reference script's "
          + "default), flora"),
      OptionSpec("optimizer_args", .string, default: .string(""), "e.g. \"weight_decay=0.01 betas=0.9,0.999\""),
      OptionSpec(
        "accumulation_rank", .int(1...65536),
        "optimizer=flora with accumulate>1: keep each micro-batch's gradient as a rank-R random projection "
          + "(the reference script's --accumulation_rank, FloraAccelerator)"),
      OptionSpec("scheduler", .choice(["none", "onecycle"]), default: .string("none"), "Learning-rate schedule"),
      OptionSpec("lora_plus_ratio", .float(0...1e6), "LoRA+: lora_B learns at lr x ratio"),
      OptionSpec(
        "checkpointing", .choice(Checkpointing.allCases.map(\.rawValue)), default: .string("none"),
        "Recompute activations in backward: BART layers (text), DaViT stages 0-1 (highres), both (partial), "
          + "+ all DaViT (all)"),
      .flag("shuffle_captions", "Shuffle the comma-separated parts of each caption"),
      OptionSpec(
        "frozen_parts", .int(0...1000), default: .int(0), "Leading caption parts kept in place when shuffling"),
      OptionSpec("caption_dropout", .float(0...1), default: .float(0), "Probability of dropping each other part"),
      OptionSpec("max_length", .int(2...4096), "Truncate labels to this many tokens (default: the processor's 1024)"),
      OptionSpec("prompt", .string, "Task prompt trained on (default <DETAILED_CAPTION>)"),
      OptionSpec("task", .string, "Same as prompt="),
      .flag(
        "no_dropout", "Train without model and LoRA dropout (deterministic; the reference script trains with dropout)"),
      OptionSpec(
        "vision_dropout", .choice(["on", "off"]),
        "DaViT drop path (the model's drop_path_rate, 0.1; the reference script trains with it); default: off with "
          + "no_dropout"),
      OptionSpec(
        "feature_cache", .choice(["on", "off"]), default: .string("on"),
        "Reuse image features across epochs when exact (vision_dropout=off, no vision module adapted)"),
      OptionSpec("sample_every_steps", .int(1...Int(Int32.max)), "Print sample captions every N steps"),
      OptionSpec("sample_every_epochs", .int(1...Int(Int32.max)), "Print sample captions every N epochs"),
      OptionSpec(
        "save_every_steps", .int(1...Int(Int32.max)),
        "Save the adapter every N steps (out/NAME/step-N; layout=reference: out/_step-N)"),
      OptionSpec(
        "save_every_epochs", .int(1...Int(Int32.max)),
        "Save the adapter every N epochs (out/NAME/epoch-N; layout=reference: out/_epoch-N)"),
      OptionSpec(
        "eval_every_epochs", .int(1...Int(Int32.max)),
        "Held-out loss (the split or dataset val=DIR) every N epochs, printed and logged"),
      OptionSpec("eval_every_steps", .int(1...Int(Int32.max)), "Held-out loss every N optimizer steps"),
      .flag("keep_best", "With eval_every_* and out=: also save the adapter of the lowest val loss (out/NAME/best)"),
      OptionSpec("out", .path, settable: false, "Folder for saved adapters (out/NAME/step-N, final in out/NAME)"),
      OptionSpec(
        "layout", .choice(TrainerSettings.SaveLayout.allCases.map(\.rawValue)), default: .string("named"),
        "Where out= saves go: named (out/NAME, out/NAME/step-N) or seed (train_florence_peft.py's --output_dir: "
          + "the final adapter in out itself, out/_step-N, out/_epoch-N; NAME only names the logs)"),
      OptionSpec("name", .string, "Run name for saving and logging (default: the adapter's name)"),
      .flag("save_state", "Saves also write optimizer state and position, for `train resume` in a new process"),
      OptionSpec(
        "sf_save", .choice(TrainerSettings.ScheduleFreeSave.allCases.map(\.rawValue)), default: .string("averaged"),
        "prodigy-sf: the run's samples and saves use the averaged weights computed beside training (averaged), "
          + "or switch the weights in place as the reference script does (inplace; `seed` is read as inplace)"
      ).accepting(["seed": "inplace"]),
      OptionSpec("from", .path, settable: false, "train resume: the folder a run was saved to with its state"),
      OptionSpec(
        "log", .choice(["tensorboard", "jsonl", "none", "wandb", "all"]), default: .string("none"),
        "Logs in out/NAME/logs: JSONL, TensorBoard event files, or both (all); wandb = TensorBoard + how to sync"),
      OptionSpec("samples", .int(1...64), default: .int(3), "How many dataset items sample_every_* shows"),
    ],
    examples: [
      "train epochs=3 lr=1e-4 out=loras name=mine", "train optimizer=prodigy-sf lr=1 scheduler=none",
      "train optimizer=flora accumulate=4 accumulation_rank=8",
      "train epochs=10 eval_every_epochs=1 keep_best out=loras",
      "train resume", "train resume from=loras/mine/step-200",
    ],
    details: """
      Trains the active adapter (lora ...) on the dataset (dataset DIR), minus any eval split. flr's default \
      optimizer is adamw; the reference script's is ProdigyPlusScheduleFree (optimizer=prodigy-sf; `flr train` keeps \
      the reference script's default). Labels are padded with -100 (pads are not trained on; the reference script \
      trains on them). Ctrl-C stops at a step boundary with adapter and optimizer state kept: `train resume` \
      continues. A NaN or infinite loss stops training and restores the last good step. With out=, the final adapter \
      is saved in out/NAME (PEFT format, files replaced atomically), save_every_* saves in out/NAME/step-N and \
      out/NAME/epoch-N, logs in out/NAME/logs; with layout=reference (what `flr train --output_dir` uses) as \
      train_florence_peft.py saves: the final adapter in out itself, out/_step-N, out/_epoch-N, logs in \
      out/logs/NAME. Everything is checked (options, prompt and caption tokens against the model's vocabulary) \
      before the banner and before any folder or log file is created. After a restart: `save DIR state` (or train \
      save_state for the auto-saves) writes optimizer state, position and options beside the adapter; `load \
      adapter=DIR` then `train resume` (or `train resume from=DIR`) continues with the same schedule, shuffling and \
      dropout masks. Image features: when no vision module is adapted and vision_dropout is off, each image's features \
      are computed once and reused across epochs and runs (exact; the train banner and `show dataset` say whether it \
      is on). accumulation_rank=R (Flora's compressed gradient accumulation, as the reference script's \
      FloraAccelerator): with optimizer=flora and accumulate=k > 1 each micro-batch's gradient (divided by k) is added \
      to a pack as its projection by a seeded N(0,1/R) matrix, decompressed and stepped on the k-th (or an epoch's \
      last) micro-batch, with new projections every step; this adds projection noise, so results differ from plain \
      accumulation, as in the reference script. With accumulate=1 it compresses nothing (plain Flora, as \
      FloraAccelerator). Other optimizers, and conv LoRA factors the reference script cannot project (a lora_A whose \
      rank is below the kernel width, e.g. the 7x7 patch conv at r=4), are refused before training starts. Packs, \
      seeds and the micro-batch count are part of the saved state.
      Schedule-free (optimizer=prodigy-sf) trains an iterate y and keeps a second sequence z; the weights meant \
      for use are the average x = lerp(y, z, 1 - 1/beta1). sf_save=averaged (default): the run's samples and \
      saves (save_every_*, the final one) use x computed into a scratch buffer, y is untouched (the schedule-free \
      authors' recommendation). sf_save=inplace does what train_florence_peft.py does: optimizer.eval() switches \
      the weights to x in place before each sample, nothing switches before a save (a save writes y, or x when a \
      sample came just before it at the same step or epoch end, the final save included), and optimizer.train() \
      switches back at the next step's first micro-batch; this fp32 round trip perturbs y by about an ulp per \
      sample, so the run follows the reference script's trajectory, not the averaged run's. With other optimizers \
      sf_save changes nothing (the banner says so). After a run, `save`, `sample`, `caption`, `compare`, `eval` use x \
      whichever sf_save was given. A new `train` (not resume) on an adapter whose last run in this session was \
      prodigy-sf starts from x (what `save` writes), not the training iterate; that run cannot be resumed after.
      Validation: eval_every_epochs=N / eval_every_steps=N compute the held-out loss (dataset split=F, or dataset \
      val=DIR) as `eval` does: dropout off, the weights the run samples with (prodigy-sf: the averaged x). It is \
      printed on the epoch line (or a line per step), logged as loss/val (JSONL line, TensorBoard scalar) and \
      kept for `show run` and `plot loss`; keep_best saves the adapter of the lowest val loss so far to \
      out/NAME/best, beside the last one in out/NAME. ProdigyPlusScheduleFree's effective lr (d*lr of each \
      parameter group) is logged as lr/d*lr-groupN. The run ends with a summary on stderr: time, steps, first, \
      last and best loss, and every folder and file written.
      """,
    run: { try run($0, $1) })

  static func run(_ arguments: Arguments, _ session: Session) throws {
    let trainer: Trainer
    if arguments.positionals.first == "resume" {
      trainer = try resumed(arguments, session)
      try attachValidation(trainer, session)
    } else {
      if arguments.string("from") != nil { throw ShellError("train: from= goes with `train resume from=DIR`") }
      let loaded = try session.requireModel(for: "train")
      let dataset = try session.training.requireDataset(for: "train")
      let adapter = try SessionAdapters.active(session)
      let settings = try settings(arguments, adapterName: adapter.name, session: session)
      trainer = try startingFromEvaluationWeights(of: adapter, session) {
        let trainer = try Trainer(
          model: loaded.model, tokenizer: loaded.tokenizer, dataset: dataset, adapter: adapter, settings: settings)
        // Created last: a run refused above leaves no folder behind.
        if let out = settings.outputFolder { try checkWritable(out) }
        return trainer
      }
      for warning in trainer.optimizerWarnings { session.note("train: \(warning)") }
      try attachValidation(trainer, session)
      prepare(trainer, samples: arguments.int("samples") ?? 3, loaded: loaded, session: session)
      session.note(describe(trainer))
    }
    session.keepRun(trainer)
    session.training.trained(trainer.parameters.adapter)
    // Weak: the session keeps the run, and the run must not keep the session.
    trainer.onLine = { [weak session] in session?.err.line($0) }
    let progress = Progress(
      "train", total: trainer.totalSteps, unit: "step", countPrefix: "step ", secondsPerUnit: true,
      done: trainer.step, session: session)
    trainer.onProgress = { [weak trainer] _ in
      guard let trainer else { return }
      progress.update(done: trainer.step, details: progressDetails(trainer))
    }
    defer { progress.finish() }
    let started = Date()
    let outcome = try trainer.run(isCancelled: { [weak session] in session?.cancellation.isCancelled ?? true })
    progress.finish()
    switch outcome {
    case .finished:
      if let run = trainer.settings.runFolder { session.training.saved(trainer.parameters.adapter, to: run) }
      for line in RunReport.summary(trainer, seconds: Date().timeIntervalSince(started)) { session.note(line) }
      if trainer.settings.runFolder == nil {
        session.note("the adapter stays resident; `save DIR` writes it (or give out= to train)")
      }
    case .stopped:
      session.note(
        "training stopped at step \(trainer.step)/\(trainer.totalSteps) (epoch \(trainer.epoch + 1)); "
          + "adapter and optimizer state kept: `train resume` continues")
    case .diverged(let message):
      throw ShellError(message)
    }
  }

  /// eval_every_*: the session's held-out items (dataset val=DIR, else the split), checked before training starts.
  static func attachValidation(_ trainer: Trainer, _ session: Session) throws {
    guard trainer.settings.evalEverySteps != nil || trainer.settings.evalEveryEpochs != nil else { return }
    guard let validation = session.training.validationSet else {
      throw ShellError("train: eval_every_* needs held-out items: dataset split=0.1, or dataset val=DIR")
    }
    trainer.validation = validation
  }

  /// A new run on an adapter this session trained starts from the weights `save` would write (schedule-free: the
  /// averaged x, not the training iterate y); if the new trainer cannot be built, the old run's values go back.
  static func startingFromEvaluationWeights(
    of adapter: LoRAAdapter, _ session: Session, _ make: () throws -> Trainer
  ) throws -> Trainer {
    guard let previous = session.training.trainer(of: adapter) else { return try make() }
    let replaced = previous.parameters.adoptEvaluationWeights(previous.optimizer)
    do {
      let trainer = try make()
      if previous.settings.optimizer == .prodigy {
        session.note(
          "train: \(adapter.name) starts from the averaged weights of its prodigy-sf run (what `save` writes), "
            + "not the training iterate; that run can no longer be resumed")
      }
      return trainer
    } catch {
      previous.parameters.restore(replaced)
      throw error
    }
  }

  /// `train resume [from=DIR]`: the stopped run of this session, or the run saved with its state in DIR (default:
  /// the folder the active adapter was loaded from).
  static func resumed(_ arguments: Arguments, _ session: Session) throws -> Trainer {
    let state = session.training
    let active = try SessionAdapters.active(session)
    let ignored = arguments.given.subtracting(["from"]).sorted()
    if !ignored.isEmpty {
      session.note(
        "train resume: continuing with the stopped run's options; ignored \(ignored.joined(separator: ", "))")
    }
    var folder = arguments.string("from").map { URL(fileURLWithPath: expandTilde($0), isDirectory: true) }
    if folder == nil, let previous = state.trainer, previous.parameters.adapter === active {
      guard !previous.isFinished else {
        throw ShellError("train resume: the last run finished all \(counted(previous.settings.epochs, "epoch"))")
      }
      session.note("resuming at epoch \(previous.epoch + 1), step \(previous.step)/\(previous.totalSteps)")
      return previous
    }
    if folder == nil, let source = state.loadedFolder(of: active),
      FileManager.default.fileExists(atPath: source.appendingPathComponent(TrainerCheckpoint.stateFile).path)
    {
      folder = source
    }
    guard let folder else {
      if let previous = state.trainer {
        throw ShellError(
          "train resume: the adapter of the stopped run (\(previous.parameters.adapter.name)) is not active, and "
            + "\(active.name) was not loaded from a folder with a training state (save DIR state; load adapter=DIR)")
      }
      throw ShellError(
        "train resume: no stopped run in this session; after a restart: load adapter=DIR (saved with `save DIR "
          + "state`), then train resume, or train resume from=DIR")
    }
    let loaded = try session.requireModel(for: "train resume")
    let dataset = try session.training.requireDataset(for: "train resume")
    let trainer: Trainer
    do {
      trainer = try Trainer(
        resumingFrom: folder, model: loaded.model, tokenizer: loaded.tokenizer, dataset: dataset, adapter: active)
    } catch let error as TrainerError { throw ShellError("train resume: \(error.message)") }
    guard !trainer.isFinished else {
      throw ShellError(
        "train resume: the run saved in \(folder.path) finished all \(counted(trainer.settings.epochs, "epoch"))")
    }
    prepare(trainer, samples: 3, loaded: loaded, session: session)
    session.note(describe(trainer))
    session.note(
      "resuming from \(folder.path) at epoch \(trainer.epoch + 1), step \(trainer.step)/\(trainer.totalSteps)")
    return trainer
  }

  /// Sampling hook and the feature cache key shared by new and resumed runs.
  static func prepare(_ trainer: Trainer, samples: Int, loaded: LoadedModel, session: Session) {
    trainer.onSample = { [weak session] t in
      guard let session else { return }
      try SampleCommand.show(
        t.dataset, items: Array(t.dataset.trainIndices.prefix(samples)), task: t.settings.prompt, beams: nil,
        loaded: loaded, session: session)
    }
    // Cached features are those of the base vision weights; a merged adapter rewrites them in place.
    trainer.featureCacheKey = loaded.adapters.merged.map { "merged \($0.name) \(ObjectIdentifier($0))" } ?? "base"
  }

  /// The run's settings from its options (`session` nil: no notes, for the one-shot form's early check).
  static func settings(_ a: Arguments, adapterName: String, session: Session?) throws -> TrainerSettings {
    var s = TrainerSettings()
    s.epochs = a.int("epochs") ?? 5
    s.learningRate = a.double("lr") ?? 1e-4
    s.batchSize = a.int("batch") ?? 1
    s.accumulate = a.int("accumulate") ?? 1
    s.seed = UInt64(a.int("seed") ?? 0)
    s.optimizer = try OptimizerKind(name: a.string("optimizer") ?? "adamw")
    s.optimizerArgs = try OptimizerArgs.parse(a.string("optimizer_args") ?? "")
    s.accumulationRank = a.int("accumulation_rank")
    s.schedule = a.string("scheduler") == "onecycle" ? .onecycle : .none
    s.loraPlusRatio = a.double("lora_plus_ratio")
    s.checkpointing = Checkpointing(rawValue: a.string("checkpointing") ?? "none") ?? .none
    s.dropout = !a.flag("no_dropout")
    if let v = a.string("vision_dropout") { s.visionDropout = v == "on" }
    s.featureCaching = a.string("feature_cache") != "off"
    s.saveState = a.flag("save_state")
    s.scheduleFreeSave = TrainerSettings.ScheduleFreeSave(rawValue: a.string("sf_save") ?? "averaged") ?? .averaged
    s.augmentation = CaptionAugmentation(
      shuffle: a.flag("shuffle_captions"), frozenParts: a.int("frozen_parts") ?? 0,
      dropout: a.double("caption_dropout") ?? 0)
    if let m = a.int("max_length") { s.maxLength = m }
    if let p = a.string("prompt") ?? a.string("task") { s.prompt = p }
    s.sampleEverySteps = a.int("sample_every_steps")
    s.sampleEveryEpochs = a.int("sample_every_epochs")
    s.saveEverySteps = a.int("save_every_steps")
    s.saveEveryEpochs = a.int("save_every_epochs")
    s.evalEverySteps = a.int("eval_every_steps")
    s.evalEveryEpochs = a.int("eval_every_epochs")
    s.keepBest = a.flag("keep_best")
    s.outputFolder = a.string("out").map { URL(fileURLWithPath: $0, isDirectory: true) }
    s.saveLayout = TrainerSettings.SaveLayout(rawValue: a.string("layout") ?? "named") ?? .named
    s.name = a.string("name") ?? adapterName
    switch a.string("log") ?? "none" {
    case "jsonl": s.log = .jsonl
    case "tensorboard": s.log = .tensorboard
    case "all", "wandb":
      s.log = a.string("log") == "all" ? .all : .tensorboard
      session?.note(
        "log=\(a.string("log") ?? ""): flr has no network access and does not talk to Weights & Biases; it writes "
          + "TensorBoard event files to \(s.resolvedLogFolder.path). Upload them later with: "
          + "wandb sync --sync-tensorboard \(s.resolvedLogFolder.path)")
    default: s.log = .none
    }
    if s.saveEverySteps != nil || s.saveEveryEpochs != nil, s.outputFolder == nil {
      throw ShellError("train: save_every_* needs out=DIR (adapters go to out/NAME/step-N)")
    }
    do { try s.validate() } catch let error as TrainerError { throw ShellError("train: \(error.message)") }
    return s
  }

  /// What can be checked without a model (`flr train` does this before loading one): the options, and that out=
  /// could be created, without creating it.
  static func check(_ a: Arguments) throws {
    guard a.positionals.first != "resume" else { return }
    let s = try settings(a, adapterName: "default", session: nil)
    if let out = s.outputFolder {
      var existing = out.standardizedFileURL
      while !FileManager.default.fileExists(atPath: existing.path) { existing.deleteLastPathComponent() }
      guard access(existing.path, W_OK) == 0 else {
        throw ShellError("train: out=\(out.path) cannot be created: \(existing.path) is not writable")
      }
    }
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
      "training \(t.parameters.adapter.name): \(counted(t.parameters.parameterCount, "parameter")) in "
        + "\(counted(t.parameters.groups.count, "tensor")), \(counted(t.dataset.trainIndices.count, "image")), "
        + "\(counted(s.epochs, "epoch")) x \(counted(t.stepsPerEpoch, "step")) (batch \(s.batchSize), accumulate "
        + "\(s.accumulate))",
      "  optimizer \(t.optimizer.name) lr \(t.baseLR), scheduler \(s.schedule.rawValue), checkpointing "
        + "\(s.checkpointing.rawValue), dropout \(s.dropout ? "on" : "off"), prompt \(s.prompt)",
      "  optimizer_args: \(pythonDict(s.optimizerArgs))",
      "  backward reaches \(t.reach); vision drop path \(s.visionDropoutOn ? "on" : "off"); image features: "
        + featureCaching(t),
    ]
    if let rank = s.accumulationRank {
      parts.append(
        t.compressedAccumulation != nil
          ? "  Flora compressed accumulation: rank \(rank) random projections over \(s.accumulate) micro-batches "
            + "(FloraAccelerator; adds projection noise)"
          : "  accumulation_rank=\(rank): compression off with accumulate=1 (as FloraAccelerator); plain Flora")
    }
    if s.optimizer == .prodigy {
      parts.append(
        s.scheduleFreeSave == .inplace
          ? "  sf_save=inplace: the reference script's in-place optimizer.eval() before each sample, "
            + "optimizer.train() at the next step (perturbs the trajectory as the reference script does); saves "
            + "write the weights in place (y, or x after a sample)"
          : "  sf_save=averaged: samples and saves use the schedule-free average x, computed beside training")
    } else if s.scheduleFreeSave == .inplace {
      parts.append(
        "  sf_save=inplace has no effect with \(t.optimizer.name): only prodigy-sf has averaged weights apart")
    }
    if let validation = t.validation {
      let every = [s.evalEveryEpochs.map { "\($0) epoch(s)" }, s.evalEverySteps.map { "\($0) step(s)" }]
        .compactMap { $0 }.joined(separator: " and every ")
      parts.append(
        "  validation every \(every) on \(validation.indices.count) held-out items (\(validation.source))"
          + (s.keepBest ? "; best adapter kept in \(s.runFolder?.appendingPathComponent("best").path ?? "-")" : ""))
    }
    if let run = s.runFolder { parts.append("  saving to \(run.path)\(s.saveState ? " with training state" : "")") }
    return parts.joined(separator: "\n")
  }

  /// What the progress bar or line shows after the step count, most important first.
  static func progressDetails(_ t: Trainer) -> [String] {
    let recent = t.stepLosses.suffix(20)
    let average = recent.isEmpty ? Double.nan : recent.reduce(0, +) / Double(recent.count)
    return [
      "loss \(String(format: "%.4f", t.stepLosses.last ?? .nan)) avg \(String(format: "%.4f", average))",
      "lr " + String(format: "%.1e", t.lastLearningRate),
      "epoch \(min(t.epoch + 1, t.settings.epochs))/\(t.settings.epochs)",
    ]
  }

  /// The parsed optimizer_args as a Python dict, the way the reference script prints the kwargs it hands the optimizer.
  static func pythonDict(_ args: OptimizerArgs) -> String {
    "{" + args.entries.map { "'\($0.key)': \($0.value)" }.joined(separator: ", ") + "}"
  }

  /// Whether image features are cached, and why not.
  static func featureCaching(_ t: Trainer) -> String {
    if t.cachesFeatures {
      let cache = t.dataset.features
      return "cached (computed once per image, exact; \(cache.count) cached now, "
        + "\(DatasetStats.mebibytes(cache.bytes)) of \(DatasetStats.mebibytes(cache.budget)) budget)"
    }
    if t.reach.reachesVision { return "computed every step (a vision module is adapted)" }
    if t.settings.visionDropoutOn { return "computed every step (vision drop path is on; vision_dropout=off caches)" }
    return "computed every step (feature_cache=off)"
  }
}
