// TrainerSettings as trainer_state.json stores them: plain JSON values (enums by name, the lr as its exact bit
// pattern, optimizer_args as typed entries in order), so a resumed run has exactly the options it was saved with.
import FlrModel
import Foundation

public struct SavedTrainerSettings: Codable, Equatable {
  struct Arg: Codable, Equatable {
    var key: String
    var kind: String  // number, bool, none, tuple, string
    var numbers: [String]?  // Double bits
    var text: String?
  }

  var epochs: Int
  var learningRate: String  // Double bits
  var batchSize: Int
  var accumulate: Int
  var seed: UInt64
  var optimizer: String
  var optimizerArgs: [Arg]
  var schedule: String
  var loraPlusRatio: String?
  /// Flora's accumulation_rank (its packs and seeds are in the optimizer state); absent: none.
  var accumulationRank: Int?
  var checkpointing: String
  var dropout: Bool
  var visionDropout: Bool?
  var featureCaching: Bool
  var saveState: Bool
  /// Absent in states written before sf_save existed: averaged.
  var scheduleFreeSave: String?
  var shuffleCaptions: Bool
  var frozenParts: Int
  var captionDropout: String
  var maxLength: Int
  var prompt: String
  var sampleEverySteps: Int?
  var sampleEveryEpochs: Int?
  var saveEverySteps: Int?
  var saveEveryEpochs: Int?
  /// Validation during training; absent: none.
  var evalEverySteps: Int?
  var evalEveryEpochs: Int?
  var keepBest: Bool?
  var outputFolder: String?
  /// Absent in states written before the reference layout existed: named.
  var saveLayout: String?
  var name: String
  var log: String
  var logFolder: String?
  var progressEverySteps: Int

  init(_ s: TrainerSettings) {
    let bits = TrainerCheckpoint.bits
    epochs = s.epochs
    learningRate = bits(s.learningRate)
    batchSize = s.batchSize
    accumulate = s.accumulate
    seed = s.seed
    optimizer = s.optimizer.rawValue
    optimizerArgs = s.optimizerArgs.entries.map { entry in
      switch entry.value {
      case .number(let d): return Arg(key: entry.key, kind: "number", numbers: [bits(d)])
      case .bool(let b): return Arg(key: entry.key, kind: "bool", text: b ? "true" : "false")
      case .none: return Arg(key: entry.key, kind: "none")
      case .tuple(let t): return Arg(key: entry.key, kind: "tuple", numbers: t.map(bits))
      case .string(let text): return Arg(key: entry.key, kind: "string", text: text)
      }
    }
    schedule = s.schedule.rawValue
    loraPlusRatio = s.loraPlusRatio.map(bits)
    accumulationRank = s.accumulationRank
    checkpointing = s.checkpointing.rawValue
    dropout = s.dropout
    visionDropout = s.visionDropout
    featureCaching = s.featureCaching
    saveState = s.saveState
    scheduleFreeSave = s.scheduleFreeSave.rawValue
    shuffleCaptions = s.augmentation.shuffle
    frozenParts = s.augmentation.frozenParts
    captionDropout = bits(s.augmentation.dropout)
    maxLength = s.maxLength
    prompt = s.prompt
    sampleEverySteps = s.sampleEverySteps
    sampleEveryEpochs = s.sampleEveryEpochs
    saveEverySteps = s.saveEverySteps
    saveEveryEpochs = s.saveEveryEpochs
    evalEverySteps = s.evalEverySteps
    evalEveryEpochs = s.evalEveryEpochs
    keepBest = s.keepBest ? true : nil
    outputFolder = s.outputFolder?.path
    saveLayout = s.saveLayout.rawValue
    name = s.name
    log = s.log.rawValue
    logFolder = s.logFolder?.path
    progressEverySteps = s.progressEverySteps
  }

  /// Back to TrainerSettings; an unknown name or a malformed number is an error naming it.
  func settings() throws -> TrainerSettings {
    func double(_ s: String, _ what: String) throws -> Double { try TrainerCheckpoint.double(s, what) }
    func choice<T: RawRepresentable>(_ raw: String, _ what: String) throws -> T where T.RawValue == String {
      guard let value = T(rawValue: raw) else { throw TrainerError("training state: unknown \(what) '\(raw)'") }
      return value
    }
    var s = TrainerSettings()
    s.epochs = epochs
    s.learningRate = try double(learningRate, "lr")
    s.batchSize = batchSize
    s.accumulate = accumulate
    s.seed = seed
    s.optimizer = try choice(optimizer, "optimizer")
    var text: [String] = []
    for arg in optimizerArgs {
      let numbers = try (arg.numbers ?? []).map { try double($0, "optimizer_args \(arg.key)") }
      switch arg.kind {
      case "number" where numbers.count == 1: text.append("\(arg.key)=\(numbers[0])")
      case "bool": text.append("\(arg.key)=\(arg.text == "true" ? "True" : "False")")
      case "none": text.append("\(arg.key)=None")
      case "tuple" where !numbers.isEmpty: text.append("\(arg.key)=" + numbers.map { "\($0)" }.joined(separator: ","))
      case "string" where arg.text.map { !$0.contains(" ") && !$0.isEmpty } == true:
        text.append("\(arg.key)=\(arg.text!)")
      default: throw TrainerError("training state: optimizer_args entry \(arg.key) (\(arg.kind)) is malformed")
      }
    }
    // Swift's shortest round-trip decimal form parses back to the same Double.
    s.optimizerArgs = try OptimizerArgs.parse(text.joined(separator: " "))
    s.schedule = try choice(schedule, "scheduler")
    s.loraPlusRatio = try loraPlusRatio.map { try double($0, "lora_plus_ratio") }
    s.accumulationRank = accumulationRank
    s.checkpointing = try choice(checkpointing, "checkpointing")
    s.dropout = dropout
    s.visionDropout = visionDropout
    s.featureCaching = featureCaching
    s.saveState = saveState
    s.scheduleFreeSave = try scheduleFreeSave.map { try choice($0, "sf_save") } ?? .averaged
    s.augmentation = CaptionAugmentation(
      shuffle: shuffleCaptions, frozenParts: frozenParts, dropout: try double(captionDropout, "caption_dropout"))
    s.maxLength = maxLength
    s.prompt = prompt
    s.sampleEverySteps = sampleEverySteps
    s.sampleEveryEpochs = sampleEveryEpochs
    s.saveEverySteps = saveEverySteps
    s.saveEveryEpochs = saveEveryEpochs
    s.evalEverySteps = evalEverySteps
    s.evalEveryEpochs = evalEveryEpochs
    s.keepBest = keepBest ?? false
    s.outputFolder = outputFolder.map { URL(fileURLWithPath: $0, isDirectory: true) }
    s.saveLayout = try saveLayout.map { try choice($0, "layout") } ?? .named
    s.name = name
    s.log = try choice(log, "log")
    s.logFolder = logFolder.map { URL(fileURLWithPath: $0, isDirectory: true) }
    s.progressEverySteps = progressEverySteps
    return s
  }
}
