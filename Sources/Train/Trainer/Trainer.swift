// The training loop: epochs of micro-batches over the resident dataset, k micro-batches per optimizer step
// (accelerate's gradient accumulation: each micro-batch's gradient divided by k, the last group of an epoch
// may be shorter and is still divided by k), the active adapter's LoRA factors as the only trainable tensors.
//
//     let trainer = try Trainer(model: m, tokenizer: tok, dataset: data, adapter: a, settings: s)
//     trainer.onLine = { print($0) }                 // progress, epoch lines, notes
//     trainer.onSample = { t in ... }                // generate captions (shell: sample_every_*)
//     let outcome = try trainer.run(isCancelled: { ctrlC })   // .finished, .stopped, .diverged(message)
//     ... later: try trainer.run(...) again continues at the same step with the same schedule (`train resume`)
//
// Position: `epoch` (0-based, in progress), `batchInEpoch` (micro-batches done in it), `step` (optimizer
// steps done). It only changes at optimizer-step boundaries, which is where Ctrl-C stops and resume starts;
// a resumed epoch rebuilds the same batches from (seed, epoch) and skips the ones done (EpochBatches).
import FlrCore
import FlrImage
import FlrModel
import FlrProcessor
import FlrTokenizer
import Foundation

public final class Trainer {
  public enum Outcome: Equatable {
    /// Every epoch done.
    case finished
    /// Stopped at a step boundary (Ctrl-C); `run` again continues.
    case stopped
    /// A non-finite loss or gradient; the last good weights and optimizer state were restored.
    case diverged(String)
  }

  public let model: Florence2
  public let tokenizer: BartTokenizer
  public let dataset: CaptionDataset
  public let parameters: TrainableParameters
  public let settings: TrainerSettings
  public let optimizer: any Optimizer
  /// With accumulation_rank and accumulate > 1: `optimizer` itself, fed per micro-batch (FloraAccelerator).
  public let compressedAccumulation: FloraCompressedAccumulation?
  public let schedule: any LRSchedule
  /// The lr the schedule is built on (optimizer_args' lr if given, else settings.learningRate).
  public let baseLR: Double
  public let reach: GradientReach
  public let promptIds: [Int32]
  /// Micro-batches and optimizer steps of one full epoch (no image failing).
  public let batchesPerEpoch: Int
  public let stepsPerEpoch: Int
  public var totalSteps: Int { stepsPerEpoch * settings.epochs }
  public let optimizerWarnings: [String]

  public internal(set) var epoch = 0
  public internal(set) var batchInEpoch = 0
  public internal(set) var step = 0
  /// Mean loss of each optimizer step, and of each finished epoch.
  public internal(set) var stepLosses: [Double] = []
  public internal(set) var epochLosses: [Double] = []
  /// The learning rate of the latest optimizer step (progress display).
  public internal(set) var lastLearningRate = Double.nan
  /// Images skipped because they failed to decode during an epoch (counted, never fatal).
  public internal(set) var failedImages: [SkippedItem] = []
  public var isFinished: Bool { epoch >= settings.epochs }

  /// Epoch lines, saves and notes, one line per call.
  public var onLine: (String) -> Void = { _ in }
  /// The per-step progress line (a terminal may redraw it in place).
  public var onProgress: (String) -> Void = { _ in }
  /// Called for sample_every_*: with dropout off and the optimizer's evaluation weights in place.
  public var onSample: ((Trainer) throws -> Void)?
  /// What the dataset's cached image features must have been computed under besides this model object (the
  /// shell passes the merged adapter, which rewrites base weights); see FeatureCache.
  public var featureCacheKey = ""
  /// Image features come from the dataset's FeatureCache: exact because no vision module is adapted (backward
  /// stops above the image features) and DaViT drop path is off (the tower is a fixed function of the pixels).
  public var cachesFeatures: Bool {
    settings.featureCaching && !settings.visionDropoutOn && !reach.reachesVision
  }
  /// Files written by saves, in order (tests, the final report).
  public internal(set) var savedFolders: [URL] = []
  public internal(set) var logs: [any TrainingLog] = []
  /// Every log file the run opened (they stay listed after the run closes them).
  public internal(set) var logFiles: [URL] = []
  /// Held-out items for eval_every_* (the shell gives the dataset's split or `dataset val=DIR`).
  public var validation: ValidationSet?
  /// Step, validation and epoch records of this run (show run, plot, the final summary).
  public internal(set) var history = TrainingHistory()
  /// The Ctrl-C poll of the `run` in progress (a validation stops early on it).
  var isCancelled: () -> Bool = { false }

  // Loss sums of the epoch in progress (kept across Ctrl-C so the epoch line stays right).
  var epochLossSum = 0.0
  var epochLossCount = 0
  var progress: TrainerProgress
  /// Weights, optimizer state and position before the latest update (NaN recovery).
  var lastGood: (params: TrainableParameters.Snapshot, optimizer: OptimizerState, position: Position)?

  struct Position {
    var epoch, batchInEpoch, step: Int
    var epochLossSum: Double
    var epochLossCount: Int
    var stepLossCount: Int
  }

  public init(
    model: Florence2, tokenizer: BartTokenizer, dataset: CaptionDataset, adapter: LoRAAdapter,
    settings: TrainerSettings
  ) throws {
    try settings.validate()
    guard !dataset.trainIndices.isEmpty else {
      throw TrainerError("the dataset has no training items (\(dataset.items.count) items, all held out or none)")
    }
    guard adapter.isAttached, !adapter.isMerged else {
      throw TrainerError("adapter \(adapter.name) is not active (use \(adapter.name)), or it is merged (unmerge)")
    }
    self.model = model
    self.tokenizer = tokenizer
    self.dataset = dataset
    self.settings = settings
    parameters = TrainableParameters(adapter: adapter, loraPlusRatio: settings.loraPlusRatio)
    let configured = try OptimizerFactory.make(
      kind: settings.optimizer, params: parameters.groups, args: settings.optimizerArgs,
      learningRate: settings.learningRate)
    if let rank = settings.accumulationRank, settings.accumulate > 1, let flora = configured.optimizer as? Flora {
      do {
        compressedAccumulation = try FloraCompressedAccumulation(
          flora: flora, rank: rank, microBatches: settings.accumulate)
      } catch OptimizerError.unsupported {
        let conv = parameters.groups.first { $0.shape.count > 2 && $0.shape[0] < $0.shape[$0.shape.count - 1] }
        throw TrainerError(
          "accumulation_rank=\(rank) with accumulate=\(settings.accumulate) cannot compress "
            + "\(conv?.name ?? "a conv LoRA factor") \(conv?.shape ?? []): a conv lora_A whose LoRA rank is below its "
            + "kernel width; the reference script's FloraAccelerator raises on it. Leave the patch convs (proj) out of "
            + "the targets, give the LoRA a rank >= the kernel size, or drop accumulation_rank")
      }
    } else {
      compressedAccumulation = nil
    }
    optimizer = compressedAccumulation ?? configured.optimizer
    optimizerWarnings = configured.warnings
    baseLR = configured.lr
    reach = GradientReach(lowestAdaptedModule: adapter.lowestModule)
    promptIds = try Florence2Processor(tokenizer: tokenizer).promptIds(settings.prompt)
    try Self.checkVocabulary(
      model: model, tokenizer: tokenizer, promptIds: promptIds, dataset: dataset, maxLength: settings.maxLength)
    batchesPerEpoch = (dataset.trainIndices.count + settings.batchSize - 1) / settings.batchSize
    stepsPerEpoch = (batchesPerEpoch + settings.accumulate - 1) / settings.accumulate
    switch settings.schedule {
    case .none: schedule = ConstantLR(configured.lr)
    case .onecycle:
      // The reference script: OneCycleLR(total_steps = epochs × micro-batches per epoch), stepped once per optimizer step.
      schedule = try OneCycleLR(maxLR: configured.lr, totalSteps: settings.epochs * batchesPerEpoch)
    }
    progress = TrainerProgress(totalSteps: stepsPerEpoch * settings.epochs)
  }

  /// Prompt and caption token ids the model has no embedding for would only fail at the first forward, after the
  /// banner and the log files: checked here, before anything is written.
  static func checkVocabulary(
    model: Florence2, tokenizer: BartTokenizer, promptIds: [Int32], dataset: CaptionDataset, maxLength: Int
  ) throws {
    let vocabulary = model.config.text.vocabSize
    if let bad = promptIds.first(where: { Int($0) >= vocabulary }) {
      throw TrainerError(
        "the prompt has token id \(bad), outside the model's vocabulary 0..<\(vocabulary) (pick another prompt)")
    }
    for index in dataset.trainIndices {
      let item = dataset.items[index]
      if let bad = tokenizer.encode(item.caption, maxLength: maxLength).first(where: { $0 >= vocabulary }) {
        throw TrainerError(
          "the caption of \(item.key) has token id \(bad), outside the model's vocabulary 0..<\(vocabulary)")
      }
    }
  }

  /// The learning rate optimizer step `step` (0-based) runs with.
  public func learningRate(atStep index: Int) throws -> Double { try schedule.lr(at: index) }

  /// Trains until every epoch is done, Ctrl-C (`isCancelled`, polled between optimizer steps) or a
  /// non-finite loss. Calling it again after `.stopped` or `.diverged` continues from the position it left.
  public func run(isCancelled: @escaping () -> Bool = { false }) throws -> Outcome {
    if settings.evalEverySteps != nil || settings.evalEveryEpochs != nil, validation == nil {
      throw TrainerError("eval_every_* needs held-out items: dataset split=FRACTION, or dataset val=DIR")
    }
    try openLogs()
    self.isCancelled = isCancelled
    defer { self.isCancelled = { false } }
    parameters.adapter.setTraining(settings.dropout)
    defer { parameters.adapter.setTraining(false) }
    progress.startRun(stepsDone: step)
    dataset.features.use =
      cachesFeatures
      ? "on for the last run (computed once per image, exact)"
      : "off for the last run (\(reach.reachesVision ? "a vision module is adapted" : settings.visionDropoutOn ? "vision drop path is on" : "feature_cache=off"))"
    while epoch < settings.epochs {
      let batches = EpochBatches(
        dataset: dataset, epoch: epoch, seed: settings.seed, batchSize: settings.batchSize, tokenizer: tokenizer,
        augmentation: settings.augmentation, maxLength: settings.maxLength)
      batches.skip(batches: batchInEpoch)
      let failuresBefore = batches.failures.count
      while true {
        if isCancelled() { return .stopped }
        switch try optimizerStep(batches) {
        case .epochEnded: break
        case .stepped: continue
        case .diverged(let message): return .diverged(message)
        }
        break
      }
      failedImages += batches.failures.dropFirst(failuresBefore)
      try finishEpoch(failures: batches.failures.count - failuresBefore)
    }
    try finishRun()
    return .finished
  }
}
