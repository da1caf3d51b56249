// What one `train` run is asked to do: every option of the reference script train_florence_peft.py that belongs to the
// loop (the LoRA shape belongs to `lora`, the dataset to `dataset`). Defaults are the reference script's except the
// optimizer: flr's `train` defaults to AdamW, the reference script's to ProdigyPlusScheduleFree; the one-shot
// `flr train` keeps the reference script's default.
import FlrModel
import Foundation

public struct TrainerSettings: Sendable {
  public enum Schedule: String, Sendable, CaseIterable { case none, onecycle }
  public enum LogKind: String, Sendable, CaseIterable { case none, jsonl, tensorboard, all }
  /// Which weights a schedule-free run (prodigy-sf) samples with and saves at its own sample/save points.
  /// `averaged`: the averaged iterate x computed into a scratch buffer, training untouched (the schedule-free
  /// authors' recommendation). `inplace`: the reference script's in-place `optimizer.eval()` before each sample,
  /// nothing before a save (so a save writes y unless a sample came just before it), `optimizer.train()` at the
  /// next step's first micro-batch; the fp32 round trip perturbs y, which changes the trajectory as in the
  /// reference script (OPTIMIZERS.md §1, §5.7-5.8). No effect with other optimizers (their weights are the only
  /// ones).
  public enum ScheduleFreeSave: String, Sendable, CaseIterable {
    case averaged, inplace

    /// Also reads `seed`, the earlier name of `inplace`, which scripts and saved training states may hold.
    public init?(rawValue: String) {
      switch rawValue {
      case "averaged": self = .averaged
      case "inplace", "seed": self = .inplace
      default: return nil
      }
    }
  }
  /// Where the run's saves go under `outputFolder`. `named`: the final adapter in out/NAME, the periodic ones in
  /// out/NAME/step-N and out/NAME/epoch-N, logs in out/NAME/logs. `reference`: train_florence_peft.py's
  /// --output_dir (its save_pretrained(Path(output_dir) / name) with "" at the end, "_step-{step}" /
  /// "_epoch-{epoch}" on the way): the final adapter in out itself, out/_step-N, out/_epoch-N; NAME only names
  /// the logs (out/logs/NAME).
  public enum SaveLayout: String, Sendable, CaseIterable { case named, reference }

  public var epochs = 5
  public var learningRate = 1e-4
  public var batchSize = 1
  /// Micro-batches per optimizer step (accelerate's gradient_accumulation_steps).
  public var accumulate = 1
  public var seed: UInt64 = 0
  public var optimizer: OptimizerKind = .adamw
  public var optimizerArgs = OptimizerArgs()
  /// Flora's compressed gradient accumulation (the reference script's `--accumulation_rank`, FloraAccelerator): each
  /// micro-batch's gradient is kept as a rank-R random projection; only with optimizer flora, and only
  /// compressing when accumulate > 1 (with k = 1 it trains as plain Flora, as FloraAccelerator does).
  public var accumulationRank: Int?
  public var schedule: Schedule = .none
  /// LoRA+: lora_B learns at lr × ratio (nil: off).
  public var loraPlusRatio: Double?
  public var checkpointing: Checkpointing = .none
  /// Model dropout (BART dropout, DaViT drop path) and LoRA dropout while training (the reference script trains in
  /// train mode: on).
  public var dropout = true
  /// DaViT drop path (the model's drop_path_rate, 0.1 in Florence-2's configs) while training; nil: as `dropout`
  /// (the reference script trains in train mode: on). Off, and no vision module adapted, image features are computed
  /// once per image and reused (`featureCaching`).
  public var visionDropout: Bool?
  /// Reuse each image's features across epochs and runs when that is exact (see `Trainer.cachesFeatures`).
  public var featureCaching = true
  /// Auto-saves (`save_every_*` and the final one in `out/name`) also write the optimizer state, position and
  /// options, so `load adapter=DIR` + `train resume` continues from them in a new process.
  public var saveState = false
  public var scheduleFreeSave: ScheduleFreeSave = .averaged
  public var augmentation = CaptionAugmentation.none
  /// Label ids kept per caption, `<s>` and `</s>` included (the processor's 1024 by default).
  public var maxLength = 1024
  /// The task prompt trained on (a task token such as `<DETAILED_CAPTION>`, or free text).
  public var prompt = "<DETAILED_CAPTION>"
  public var sampleEverySteps: Int?
  public var sampleEveryEpochs: Int?
  public var saveEverySteps: Int?
  public var saveEveryEpochs: Int?
  /// Validation (the held-out loss, Trainer.validation) every N optimizer steps / epochs.
  public var evalEverySteps: Int?
  public var evalEveryEpochs: Int?
  /// Save the adapter of the lowest validation loss so far to `out/name/best`.
  public var keepBest = false
  /// Where adapters go: `out/name/step-N`, `out/name/epoch-N`, and the final one in `out/name` (see SaveLayout).
  public var outputFolder: URL?
  public var saveLayout: SaveLayout = .named
  public var name = "default"
  public var log: LogKind = .none
  /// Where logs go (default: `out/name/logs`, or `logs/name` without `out`).
  public var logFolder: URL?
  /// Progress line every this many optimizer steps (and always on the last of an epoch).
  public var progressEverySteps = 1

  public init() {}

  /// Whether DaViT drop path is on.
  public var visionDropoutOn: Bool { visionDropout ?? dropout }

  /// The folder under `runFolder` that keep_best saves to: `best`, or with the reference layout `_best`.
  public var bestFolderName: String { (saveLayout == .reference ? "_" : "") + "best" }

  /// The folder of the final adapter; the periodic saves go inside it (`checkpointFolderName`).
  public var runFolder: URL? {
    guard let outputFolder else { return nil }
    return saveLayout == .reference ? outputFolder : outputFolder.appendingPathComponent(name, isDirectory: true)
  }
  /// `step-200` / `epoch-2`, or with the reference layout `_step-200` / `_epoch-2`.
  public func checkpointFolderName(_ kind: String, _ count: Int) -> String {
    (saveLayout == .reference ? "_" : "") + "\(kind)-\(count)"
  }
  public var resolvedLogFolder: URL {
    if let logFolder { return logFolder }
    if saveLayout == .reference, let outputFolder {
      return outputFolder.appendingPathComponent("logs", isDirectory: true).appendingPathComponent(
        name, isDirectory: true)
    }
    if let runFolder { return runFolder.appendingPathComponent("logs", isDirectory: true) }
    return URL(fileURLWithPath: "logs", isDirectory: true).appendingPathComponent(name, isDirectory: true)
  }

  public func validate() throws {
    guard epochs >= 1 else { throw TrainerError("epochs must be >= 1, got \(epochs)") }
    guard batchSize >= 1, accumulate >= 1 else { throw TrainerError("batch and accumulate must be >= 1") }
    guard learningRate > 0, learningRate.isFinite else { throw TrainerError("lr must be > 0, got \(learningRate)") }
    guard maxLength >= 2 else { throw TrainerError("max_length must keep at least <s> and </s> (>= 2)") }
    if keepBest {
      guard evalEverySteps != nil || evalEveryEpochs != nil else {
        throw TrainerError("keep_best needs eval_every_epochs=N or eval_every_steps=N (it keeps the best validation)")
      }
      guard outputFolder != nil else { throw TrainerError("keep_best needs out=DIR (it saves to out/NAME/best)") }
    }
    if let r = loraPlusRatio, !(r > 0) { throw TrainerError("lora_plus_ratio must be > 0, got \(r)") }
    if let r = accumulationRank {
      guard r >= 1 else { throw TrainerError("accumulation_rank must be >= 1, got \(r)") }
      guard optimizer == .flora else {
        throw TrainerError(
          "accumulation_rank=\(r) works only with optimizer=flora: it is Flora's FloraAccelerator, which steps Flora "
            + "inside backward (the reference script with \(optimizer.referenceName) raises KeyError "
            + "'factorize_second_moment' at the first backward); drop accumulation_rank or use optimizer=flora")
      }
    }
  }
}

public struct TrainerError: Error, CustomStringConvertible, Equatable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
