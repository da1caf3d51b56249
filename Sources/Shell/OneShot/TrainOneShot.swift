import ArgumentParser
import FlrModel
import FlrTrain

// `flr train ...`: every flag of the reference script train_florence_peft.py, same meanings and defaults,
// translated into `load ...; dataset ...; lora ...; train ...`. Flags that need something flr does not
// have stop with a clear error instead of being ignored.

struct TrainOneShot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a Florence-2 LoRA (the flags of the reference script train_florence_peft.py).",
    discussion: "Runs `load MODEL; dataset DIR; lora ...; train ...`; --show-commands prints them.")

  // PEFT
  @Option(name: .customLong("target_modules"), parsing: .upToNextOption, help: "Modules to adapt.")
  var targetModules: [String] = LoraCommand.referenceTargets.split(separator: ",").map(String.init)
  @Flag(name: .customLong("rslora"), help: "Scale by alpha/sqrt(rank).") var rslora = false
  @Option(name: .customLong("rank"), help: "LoRA rank.") var rank = 4
  @Option(
    name: .customLong("init_lora_weights"),
    help: "PEFT's init_lora_weights: true, false or gaussian (default: gaussian, as the script's LoraConfig).")
  var initLoraWeights: String?
  @Option(name: .customLong("lora_plus_ratio"), help: "LoRA+: lora_B learns at learning_rate x ratio.")
  var loraPlusRatio: Double?
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
  @Option(name: .customLong("revision"), help: "Revision of the model in the local cache (branch, tag or commit).")
  var revision: String?
  @Option(name: .customLong("seed"), help: "Seed for random numbers.") var seed: Int?
  @Option(name: .customLong("log_with"), help: "all, wandb or tensorboard.") var logWith: String?
  @Option(name: .customLong("name"), help: "Name for the logs (OUTPUT_DIR/logs/NAME).") var name: String?
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
    help: "Same as --gradient_checkpointing (all the reference script does with it).")
  var activationCheckpointing = false
  @Option(name: .customLong("optimizer_rank"), help: "Parsed and unused, as in the reference script (no effect).")
  var optimizerRank: Int?
  @Option(name: .customLong("optimizer_args"), help: "Optimizer arguments, e.g. \"weight_decay=0.01\".")
  var optimizerArgs: String?
  // Datasets
  @Option(name: .customLong("dataset_dir"), help: "Folder of img.jpg + img.txt pairs.") var datasetDir: String?
  @Option(name: .customLong("dataset"), help: "Folder with metadata.jsonl, or the file.") var dataset: String?
  @Option(
    name: .customLong("caption_file_suffix"),
    help: "Caption file ending after the image's stem: .txt (default), .caption, _tags.txt.")
  var captionFileSuffix: String?
  @Option(
    name: .customLong("output_dir"),
    help: "Where the LoRA is saved: the final adapter in it, periodic saves in _step-N and _epoch-N inside.")
  var outputDir: String
  // flr only (not a reference-script flag): the script has no choice here; its behaviour is `inplace`, flr's
  // default `averaged`.
  @Option(
    name: .customLong("sf_save"),
    help: "flr only: ProdigyPlusScheduleFree saves averaged weights (default) or switches in place (inplace).")
  var sfSave: String?
  // flr only (the reference script has no validation): held-out loss during training.
  @Option(name: .customLong("eval_every_n_epochs"), help: "flr only: held-out loss every N epochs (needs a val set).")
  var evalEveryNEpochs: Int?
  @Option(name: .customLong("eval_every_n_steps"), help: "flr only: held-out loss every N optimizer steps.")
  var evalEveryNSteps: Int?
  @Option(name: .customLong("val_dir"), help: "flr only: a held-out dataset folder (same layout) for validation.")
  var valDir: String?
  @Option(name: .customLong("val_split"), help: "flr only: fraction of the dataset held out for validation (0-0.9).")
  var valSplit: Double?
  @Flag(name: .customLong("keep_best"), help: "flr only: also save the adapter of the lowest validation loss (best/).")
  var keepBest = false
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
          "--accumulation_rank needs --optimizer_name Flora: the reference script's FloraAccelerator steps Flora "
            + "inside backward and raises KeyError 'factorize_second_moment' with "
            + (optimizerName ?? "the default ProdigyPlusScheduleFree"))
      }
    }
    if let sfSave, TrainerSettings.ScheduleFreeSave(rawValue: sfSave) == nil {
      throw ValidationError("--sf_save must be averaged or inplace")
    }
    if let scheduler, scheduler != "OneCycle" { throw ValidationError("--scheduler must be OneCycle") }
    if let logWith, !["all", "wandb", "tensorboard"].contains(logWith) {
      throw ValidationError("--log_with must be one of all, wandb, tensorboard")
    }
    if (datasetDir == nil) == (dataset == nil) { throw ValidationError("give one of --dataset_dir or --dataset") }
    if let initLoraWeights, loraInit == nil {
      throw ValidationError(
        "--init_lora_weights \(initLoraWeights): flr initialises LoRA as PEFT's true, false or gaussian; "
          + "\(initLoraWeights) (PiSSA, OLoRA, LoftQ, EVA, CorDA, ...) is not supported")
    }
    if let loraPlusRatio, !(loraPlusRatio > 0) { throw ValidationError("--lora_plus_ratio must be > 0") }
    if let captionFileSuffix, captionFileSuffix.isEmpty || captionFileSuffix.contains("/") {
      throw ValidationError("--caption_file_suffix must be a file ending such as .txt or _tags.txt")
    }
    if let valSplit, !(valSplit > 0 && valSplit <= 0.9) { throw ValidationError("--val_split must be in (0, 0.9]") }
    if evalEveryNEpochs != nil || evalEveryNSteps != nil, valDir == nil, valSplit == nil {
      throw ValidationError("--eval_every_n_epochs/--eval_every_n_steps need --val_dir DIR or --val_split F")
    }
    if keepBest, evalEveryNEpochs == nil, evalEveryNSteps == nil {
      throw ValidationError("--keep_best needs --eval_every_n_epochs or --eval_every_n_steps")
    }
  }

  /// `lora init=` for --init_lora_weights (the script's LoraConfig uses gaussian); nil: not supported.
  var loraInit: String? {
    guard let initLoraWeights else { return "gaussian" }
    return ["true": "default", "false": "false", "gaussian": "gaussian"][initLoraWeights.lowercased()]
  }

  /// `dataset suffix= ext=` for --caption_file_suffix: `.txt` is an extension, `_tags.txt` a suffix then one.
  var captionFileWords: [(String, String?)] {
    guard let text = captionFileSuffix else { return [] }
    guard let dot = text.lastIndex(of: "."), dot != text.startIndex else { return [("ext", text)] }
    return [("suffix", String(text[..<dot])), ("ext", String(text[dot...]))]
  }

  /// Notes printed before running: reference-script flags that change nothing (the reference script's default
  /// ProdigyPlusScheduleFree is flr's prodigy-sf, so no default differs).
  var notes: [String] {
    var notes: [String] = []
    if optimizerRank != nil {
      notes.append(
        "--optimizer_rank has no effect: the reference script parses it and never uses it (Flora's own rank= goes in "
          + "--optimizer_args)")
    }
    if let sfSave, TrainerSettings.ScheduleFreeSave(rawValue: sfSave) == .inplace,
      optimizerWord != OptimizerKind.prodigy.rawValue
    {
      notes.append(
        "--sf_save \(sfSave) has no effect with --optimizer_name \(optimizerName ?? ""): only "
          + "ProdigyPlusScheduleFree keeps averaged weights apart from training")
    }
    if let accumulationRank, gradientAccumulationSteps <= 1 {
      notes.append(
        "--accumulation_rank \(accumulationRank) compresses nothing with --gradient_accumulation_steps 1 "
          + "(as the reference script's FloraAccelerator): plain Flora")
    }
    return notes
  }

  /// flr's name for --optimizer_name (validated above); the reference script's default when absent.
  var optimizerWord: String {
    ((try? OptimizerKind(name: optimizerName)) ?? .prodigy).rawValue
  }

  var commands: [String] {
    let seedText = seed.map(String.init)
    return [
      ShellWords.line(
        "load", [modelID],
        [
          ("revision", revision), ("quantize", quantize ? "nf4" : nil),
          ("precision", WeightPrecision(name: dtype).flatMap { $0 == .fp32 ? nil : $0.rawValue }),
        ]),
      ShellWords.line(
        "dataset", [datasetDir ?? dataset ?? ""],
        captionFileWords + [("val", valDir), ("split", valSplit.map(formatFloat))]),
      ShellWords.line(
        "lora", [],
        [
          ("rank", String(rank)), ("alpha", formatFloat(alpha)), ("targets", targetModules.joined(separator: ",")),
          ("dropout", formatFloat(dropout)), ("init", loraInit), ("seed", seedText),
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
          ("lora_plus_ratio", loraPlusRatio.map(formatFloat)),
          ("frozen_parts", String(frozenParts)), ("caption_dropout", formatFloat(captionDropout)),
          ("max_length", maxLength.map(String.init)), ("prompt", prompt),
          ("sample_every_steps", sampleEveryNSteps.map(String.init)),
          ("sample_every_epochs", sampleEveryNEpochs.map(String.init)),
          ("save_every_steps", saveEveryNSteps.map(String.init)),
          ("save_every_epochs", saveEveryNEpochs.map(String.init)),
          ("out", outputDir), ("layout", "reference"), ("name", name), ("log", logWith), ("sf_save", sfSave),
          ("eval_every_epochs", evalEveryNEpochs.map(String.init)),
          ("eval_every_steps", evalEveryNSteps.map(String.init)),
        ], flags: [("shuffle_captions", shuffleCaptions), ("keep_best", keepBest)]),
    ]
  }
}
