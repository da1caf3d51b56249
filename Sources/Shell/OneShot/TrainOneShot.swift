import ArgumentParser
import FlrModel
import FlrTrain

// `flr train ...`: every flag of the seed's train_florence_peft.py, same meanings and defaults,
// translated into `load ...; dataset ...; lora ...; train ...`. Flags that need something flr does not
// have stop with a clear error instead of being ignored.

struct TrainOneShot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a Florence-2 LoRA (the flags of the seed's train_florence_peft.py).",
    discussion: "Runs `load MODEL; dataset DIR; lora ...; train ...`; --show-commands prints them.")

  // PEFT
  @Option(name: .customLong("target_modules"), parsing: .upToNextOption, help: "Modules to adapt.")
  var targetModules: [String] = LoraCommand.seedTargets.split(separator: ",").map(String.init)
  @Flag(name: .customLong("rslora"), help: "Scale by alpha/sqrt(rank).") var rslora = false
  @Option(name: .customLong("rank"), help: "LoRA rank.") var rank = 4
  @Option(name: .customLong("alpha"), help: "LoRA alpha.") var alpha = 4.0
  // Training
  @Option(name: .customLong("dropout"), help: "LoRA dropout.") var dropout = 0.25
  @Option(name: .customLong("learning_rate"), help: "Learning rate.") var learningRate = 1e-4
  @Option(name: .customLong("batch_size"), help: "Pairs per batch.") var batchSize = 1
  @Option(name: .customLong("gradient_accumulation_steps"), help: "Batches per optimizer step.")
  var gradientAccumulationSteps = 1
  @Option(name: .customLong("epochs"), help: "Epochs.") var epochs = 5
  @Flag(name: .customLong("gradient_checkpointing"), help: "Recompute activations in backward.")
  var gradientCheckpointing = false
  @Flag(name: .customLong("quantize"), help: "4-bit NF4 base model (QLoRA): load ... quantize=nf4.")
  var quantize = false
  @Option(name: .customLong("dtype"), help: "Frozen base weights: float32, bfloat16 or int8 (fp32 LoRA).")
  var dtype = "float32"
  @Option(name: .customLong("sample_every_n_epochs")) var sampleEveryNEpochs: Int?
  @Option(name: .customLong("sample_every_n_steps")) var sampleEveryNSteps: Int?
  @Option(name: .customLong("save_every_n_epochs")) var saveEveryNEpochs: Int?
  @Option(name: .customLong("save_every_n_steps")) var saveEveryNSteps: Int?
  @Option(name: .customLong("device"), help: "Only cpu: flr runs on the CPU.") var device = "cpu"
  @Option(name: .customLong("model_id"), help: "Base model.") var modelID = "microsoft/Florence-2-base-ft"
  @Option(name: .customLong("seed"), help: "Seed for random numbers.") var seed: Int?
  @Option(name: .customLong("log_with"), help: "all, wandb or tensorboard.") var logWith: String?
  @Option(name: .customLong("name"), help: "Name for saving and logging.") var name: String?
  @Flag(name: .customLong("shuffle_captions"), help: "Shuffle caption parts.") var shuffleCaptions = false
  @Option(name: .customLong("frozen_parts"), help: "Leading parts kept in place.") var frozenParts = 0
  @Option(name: .customLong("caption_dropout"), help: "Probability of dropping a part.") var captionDropout = 0.0
  @Option(name: .customLong("max_length"), help: "Max label length in tokens.") var maxLength: Int?
  @Option(name: .customLong("prompt"), help: "Task prompt for Florence.") var prompt: String?
  // Optimizer
  @Option(name: .customLong("optimizer_name"), help: "AdamW, AdamW8bit, ProdigyPlusScheduleFree (default) or Flora.")
  var optimizerName: String?
  @Option(name: .customLong("scheduler"), help: "OneCycle.") var scheduler: String?
  @Option(
    name: [.customLong("accumulation_rank"), .customLong("accumulation-rank")],
    help: "Flora's compressed gradient accumulation rank (needs --optimizer_name Flora; compresses when k > 1).")
  var accumulationRank: Int?
  @Flag(
    name: [.customLong("ac", withSingleDash: true), .customLong("activation_checkpointing")],
    help: "Same as --gradient_checkpointing (all the seed does with it).")
  var activationCheckpointing = false
  @Option(name: .customLong("optimizer_rank"), help: "Parsed and unused, as in the seed (no effect).")
  var optimizerRank: Int?
  @Option(name: .customLong("optimizer_args"), help: "Optimizer arguments, e.g. \"weight_decay=0.01\".")
  var optimizerArgs: String?
  // Datasets
  @Option(name: .customLong("dataset_dir"), help: "Folder of img.jpg + img.txt pairs.") var datasetDir: String?
  @Option(name: .customLong("dataset"), help: "Folder with metadata.jsonl, or the file.") var dataset: String?
  @Option(name: .customLong("output_dir"), help: "Where the LoRA is saved.") var outputDir: String
  // flr only (not a seed flag): the seed has no choice here; its behaviour is `seed`, flr's default `averaged`.
  @Option(
    name: .customLong("sf_save"),
    help: "flr only: ProdigyPlusScheduleFree saves averaged weights (default) or switches in place as the seed (seed).")
  var sfSave: String?
  @Flag(name: .customLong("show-commands"), help: "Print the shell commands instead of running them.")
  var showCommands = false

  func validate() throws {
    if device.lowercased() != "cpu" {
      throw ValidationError("--device \(device): flr runs on the CPU only; leave --device out or give cpu")
    }
    guard WeightPrecision(name: dtype) != nil else {
      throw ValidationError("--dtype must be float32, bfloat16 or int8 (got '\(dtype)')")
    }
    if quantize && WeightPrecision(name: dtype) != .fp32 {
      throw ValidationError("--quantize (NF4) and --dtype \(dtype) do not combine: use one or the other")
    }
    if let optimizerName {
      do { _ = try OptimizerKind(name: optimizerName) } catch { throw ValidationError("--optimizer_name \(error)") }
    }
    if let accumulationRank {
      guard accumulationRank >= 1 else { throw ValidationError("--accumulation_rank must be >= 1") }
      guard optimizerWord == OptimizerKind.flora.rawValue else {
        throw ValidationError(
          "--accumulation_rank needs --optimizer_name Flora: the seed's FloraAccelerator steps Flora inside backward "
            + "and raises KeyError 'factorize_second_moment' with "
            + (optimizerName ?? "the default ProdigyPlusScheduleFree"))
      }
    }
    if let sfSave, TrainerSettings.ScheduleFreeSave(rawValue: sfSave) == nil {
      throw ValidationError("--sf_save must be averaged or seed")
    }
    if let scheduler, scheduler != "OneCycle" { throw ValidationError("--scheduler must be OneCycle") }
    if let logWith, !["all", "wandb", "tensorboard"].contains(logWith) {
      throw ValidationError("--log_with must be one of all, wandb, tensorboard")
    }
    if (datasetDir == nil) == (dataset == nil) { throw ValidationError("give one of --dataset_dir or --dataset") }
  }

  /// Notes printed before running: seed flags that change nothing (the seed's default ProdigyPlusScheduleFree is
  /// flr's prodigy-sf, so no default differs).
  var notes: [String] {
    var notes: [String] = []
    if optimizerRank != nil {
      notes.append(
        "--optimizer_rank has no effect: the seed parses it and never uses it (Flora's own rank= goes in "
          + "--optimizer_args)")
    }
    if sfSave == "seed", optimizerWord != OptimizerKind.prodigy.rawValue {
      notes.append(
        "--sf_save seed has no effect with --optimizer_name \(optimizerName ?? ""): only "
          + "ProdigyPlusScheduleFree keeps averaged weights apart from training")
    }
    if let accumulationRank, gradientAccumulationSteps <= 1 {
      notes.append(
        "--accumulation_rank \(accumulationRank) compresses nothing with --gradient_accumulation_steps 1 "
          + "(as the seed's FloraAccelerator): plain Flora")
    }
    return notes
  }

  /// flr's name for --optimizer_name (validated above); the seed's default when absent.
  var optimizerWord: String {
    ((try? OptimizerKind(name: optimizerName)) ?? .prodigy).rawValue
  }

  var commands: [String] {
    let seedText = seed.map(String.init)
    return [
      ShellWords.line(
        "load", [modelID],
        [
          ("quantize", quantize ? "nf4" : nil),
          ("precision", WeightPrecision(name: dtype).flatMap { $0 == .fp32 ? nil : $0.rawValue }),
        ]),
      ShellWords.line("dataset", [datasetDir ?? dataset ?? ""]),
      ShellWords.line(
        "lora", [],
        [
          ("rank", String(rank)), ("alpha", formatFloat(alpha)), ("targets", targetModules.joined(separator: ",")),
          ("dropout", formatFloat(dropout)), ("init", "gaussian"), ("seed", seedText),
        ], flags: [("rslora", rslora)]),
      ShellWords.line(
        "train", [],
        [
          ("epochs", String(epochs)), ("lr", formatFloat(learningRate)), ("batch", String(batchSize)),
          ("accumulate", String(gradientAccumulationSteps)), ("seed", seedText),
          ("optimizer", optimizerWord), ("optimizer_args", optimizerArgs),
          ("accumulation_rank", accumulationRank.map(String.init)),
          ("scheduler", scheduler == nil ? nil : "onecycle"),
          ("checkpointing", gradientCheckpointing || activationCheckpointing ? "all" : nil),
          ("frozen_parts", String(frozenParts)), ("caption_dropout", formatFloat(captionDropout)),
          ("max_length", maxLength.map(String.init)), ("prompt", prompt),
          ("sample_every_steps", sampleEveryNSteps.map(String.init)),
          ("sample_every_epochs", sampleEveryNEpochs.map(String.init)),
          ("save_every_steps", saveEveryNSteps.map(String.init)),
          ("save_every_epochs", saveEveryNEpochs.map(String.init)),
          ("out", outputDir), ("name", name), ("log", logWith), ("sf_save", sfSave),
        ], flags: [("shuffle_captions", shuffleCaptions)]),
    ]
  }
}
