// `save DIR state` / `train save_state`: what a new process needs, besides the PEFT adapter in the same folder,
// to continue a run exactly where it stopped (`load adapter=DIR` + `train resume`):
//
//   trainer_state.json       the train options, the position (epoch, micro-batch in the epoch, optimizer step),
//                            the loss history, the optimizer's scalars (as IEEE bit patterns: exact), and what
//                            the dataset's training part was (count and a hash of its keys)
//   optimizer.safetensors    the optimizer's tensors (F32 `state.<key>`, U8 `state_u8.<key>`) and the training
//                            values of every LoRA tensor (`weights.<name>`): the PEFT file holds the evaluation
//                            weights, which differ from them for schedule-free optimizers
//
// The schedule is a pure function of (kind, lr, total steps) and the step, so the options and the position
// restore it. The random streams need no state: shuffling and caption augmentation derive from (seed, epoch),
// model and LoRA dropout from (seed, micro-batch index) (Trainer+Step).
import FlrCheckpoints
import FlrCore
import FlrModel
import FlrTokenizer
import Foundation

public struct TrainerCheckpoint: Codable, Equatable {
  public static let stateFile = "trainer_state.json"
  public static let tensorFile = "optimizer.safetensors"
  static let format = "flr-trainer-state"
  /// Both files: a save without state drops them (PEFTAdapterFile.save `dropping:`).
  public static let stateFiles: Set<String> = [stateFile, tensorFile]

  var format = TrainerCheckpoint.format
  var version = 1
  public var adapter: String
  public var settings: SavedTrainerSettings
  public var epoch: Int
  public var batchInEpoch: Int
  public var step: Int
  var epochLossSum: String  // Double bits
  var epochLossCount: Int
  var stepLosses: [Double]
  var epochLosses: [Double]
  var optimizer: String
  var optimizerScalars: [String: String]  // Double bits
  var parameters: [String]
  var trainItems: Int
  var trainKeysHash: String

  /// Reads both files of `folder`; errors name the file and what is wrong.
  public static func read(from folder: URL) throws -> (TrainerCheckpoint, [String: [Float]], [String: [UInt8]]) {
    let json = folder.appendingPathComponent(stateFile)
    guard let data = FileManager.default.contents(atPath: json.path) else {
      throw TrainerError("no training state in \(folder.path) (missing \(stateFile); write it with `save DIR state`)")
    }
    let state: TrainerCheckpoint
    do { state = try JSONDecoder().decode(TrainerCheckpoint.self, from: data) } catch {
      throw TrainerError("\(json.path): not a readable training state (\(error))")
    }
    guard state.format == format, state.version == 1 else {
      throw TrainerError("\(json.path): format \(state.format) version \(state.version) is not one flr reads")
    }
    let tensorsPath = folder.appendingPathComponent(tensorFile).path
    var floats: [String: [Float]] = [:], bytes: [String: [UInt8]] = [:]
    do {
      for t in try SafetensorsReader.read(path: tensorsPath).tensors {
        switch t.dtype {
        case .f32:  // copied byte-wise: after a U8 tensor the data need not be 4-byte aligned
          var values = [Float](repeating: 0, count: t.bytes.count / 4)
          values.withUnsafeMutableBytes { $0.copyMemory(from: t.bytes) }
          floats[t.name] = values
        case .u8:
          bytes[t.name] = Array(t.bytes)
        default:
          throw TrainerError("\(tensorsPath): tensor \(t.name) is \(t.dtype.rawValue), expected F32 or U8")
        }
      }
    } catch let error as TrainerError {
      throw error
    } catch {
      throw TrainerError("cannot read \(tensorsPath): \(error)")
    }
    return (state, floats, bytes)
  }

  static func bits(_ x: Double) -> String { String(x.bitPattern, radix: 16) }
  static func double(_ s: String, _ what: String) throws -> Double {
    guard let b = UInt64(s, radix: 16) else {
      throw TrainerError("training state: \(what) '\(s)' is not a bit pattern")
    }
    return Double(bitPattern: b)
  }

  /// FNV-1a of the training keys in order (the shuffle permutes positions, so the order must match too).
  static func hash(_ keys: [String]) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for key in keys {
      for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
      h = (h ^ 0xFF) &* 0x100_0000_01B3
    }
    return String(h, radix: 16)
  }
}

extension Trainer {
  /// The adapter in PEFT's layout with the evaluation weights (schedule-free optimizers: the averaged iterate,
  /// computed beside training, which is left bit for bit as it was), and with `withState` trainer_state.json and
  /// optimizer.safetensors too, all written into `folder` as ONE unit: PEFTAdapterFile builds them in a
  /// temporary folder that is renamed into place, so a crash or a full disk leaves the complete old adapter with
  /// its old state, or the complete new ones, never a new adapter beside an old state. Every save goes through
  /// here: `save [NAME] DIR [state]`, and the run's own saves (save_every_*, final, with `save_state`).
  /// Without `withState`, training state files an earlier `save DIR state` left in `folder` are removed in the
  /// same unit: beside the new adapter they would resume another point of the run. `inPlace` writes the weights
  /// as they are (sf_save=inplace's run saves) instead of the evaluation weights.
  public func saveAdapter(
    to folder: URL, naming: ModuleNaming = .original, dtype: CheckpointDType = .f32, withState: Bool,
    inPlace: Bool = false
  ) throws {
    // Taken before the evaluation weights are swapped in: the state keeps the training values.
    let state = withState ? try stateFiles() : nil
    let write = {
      try PEFTAdapterFile.save(
        self.parameters.adapter, to: folder.path, naming: naming, dtype: dtype,
        dropping: withState ? [] : TrainerCheckpoint.stateFiles,
        alsoWrite: state.map { files in { temporary in try files.write(into: temporary) } })
    }
    do {
      if inPlace { try write() } else { try parameters.withEvaluationWeights(optimizer, write) }
    } catch {
      throw TrainerError(
        "cannot save the adapter\(withState ? " and its training state" : "") to \(folder.path): \(error)")
    }
  }

  /// `saveAdapter(to:withState: true)`: the adapter and what `train resume` needs, as one unit.
  public func saveState(to folder: URL, naming: ModuleNaming = .original) throws {
    try saveAdapter(to: folder, naming: naming, withState: true)
  }

  /// trainer_state.json and optimizer.safetensors of the run as it is now (training values, not evaluation ones).
  func stateFiles() throws -> TrainerStateFiles {
    let optimizerState = optimizer.saveState()
    let checkpoint = TrainerCheckpoint(
      adapter: parameters.adapter.name, settings: SavedTrainerSettings(settings), epoch: epoch,
      batchInEpoch: batchInEpoch, step: step, epochLossSum: TrainerCheckpoint.bits(epochLossSum),
      epochLossCount: epochLossCount, stepLosses: stepLosses, epochLosses: epochLosses,
      optimizer: optimizerState.optimizer,
      optimizerScalars: optimizerState.scalars.mapValues(TrainerCheckpoint.bits),
      parameters: parameters.groups.map(\.name), trainItems: dataset.trainIndices.count,
      trainKeysHash: TrainerCheckpoint.hash(dataset.trainIndices.map { dataset.items[$0].key }))
    var entries: [SafetensorsEntry] = []
    for (key, values) in optimizerState.tensors {
      entries.append(.floats("state.\(key)", values, shape: [values.count]))
    }
    for (key, values) in optimizerState.bytes {
      entries.append(.bytes("state_u8.\(key)", values, shape: [values.count]))
    }
    for g in parameters.groups {
      entries.append(
        .floats("weights.\(g.name)", Array(UnsafeBufferPointer(start: g.values, count: g.count)), shape: g.shape))
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json: Data
    do { json = try encoder.encode(checkpoint) } catch {
      throw TrainerError("cannot encode the training state: \(error)")
    }
    return TrainerStateFiles(json: json, tensors: entries, optimizer: optimizerState.optimizer)
  }
}

/// The two state files, ready to be written into the (temporary) adapter folder.
struct TrainerStateFiles {
  let json: Data
  let tensors: [SafetensorsEntry]
  let optimizer: String

  func write(into folder: String) throws {
    try SafetensorsWriter.write(
      entries: tensors, to: folder + "/" + TrainerCheckpoint.tensorFile,
      metadata: ["format": "flr", "optimizer": optimizer])
    try AtomicFolder.writeFile(json, to: folder + "/" + TrainerCheckpoint.stateFile)
  }
}

extension Trainer {
  /// A trainer that continues the run saved in `folder` with `adapter` (loaded from the same folder): same
  /// options, position, optimizer state and training weights. The dataset must have the same training part.
  public convenience init(
    resumingFrom folder: URL, model: Florence2, tokenizer: BartTokenizer, dataset: CaptionDataset,
    adapter: LoRAAdapter
  ) throws {
    let (state, floats, bytes) = try TrainerCheckpoint.read(from: folder)
    try self.init(
      model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapter,
      settings: try state.settings.settings())
    let keys = dataset.trainIndices.map { dataset.items[$0].key }
    guard keys.count == state.trainItems, TrainerCheckpoint.hash(keys) == state.trainKeysHash else {
      throw TrainerError(
        "\(folder.path): the run trained on \(state.trainItems) dataset items, the resident dataset's training part "
          + "(\(keys.count) items) is not the same files; load the same dataset (and split) to resume")
    }
    let names = parameters.groups.map(\.name)
    guard names == state.parameters else {
      throw TrainerError(
        "\(folder.path): the saved run trained \(state.parameters.count) LoRA tensors, adapter \(adapter.name) has "
          + "\(names.count) (\(Set(state.parameters).symmetricDifference(names).sorted().prefix(3).joined(separator: ", ")))"
      )
    }
    for g in parameters.groups {
      guard let values = floats["weights.\(g.name)"], values.count == g.count else {
        throw TrainerError("\(folder.path)/\(TrainerCheckpoint.tensorFile): no training values for \(g.name)")
      }
      values.withUnsafeBufferPointer { g.values.update(from: $0.baseAddress!, count: g.count) }
    }
    var optimizerState = OptimizerState(optimizer: state.optimizer)
    for (name, values) in floats where name.hasPrefix("state.") {
      optimizerState.tensors[String(name.dropFirst(6))] = values
    }
    for (name, values) in bytes where name.hasPrefix("state_u8.") {
      optimizerState.bytes[String(name.dropFirst(9))] = values
    }
    for (key, value) in state.optimizerScalars {
      optimizerState.scalars[key] = try TrainerCheckpoint.double(value, "optimizer scalar \(key)")
    }
    do { try optimizer.loadState(optimizerState) } catch {
      throw TrainerError("\(folder.path): \(error)")
    }
    guard state.step <= totalSteps, state.epoch <= settings.epochs, state.batchInEpoch <= batchesPerEpoch else {
      throw TrainerError("\(folder.path): position step \(state.step), epoch \(state.epoch) is outside the run")
    }
    epoch = state.epoch
    batchInEpoch = state.batchInEpoch
    step = state.step
    epochLossSum = try TrainerCheckpoint.double(state.epochLossSum, "epoch loss sum")
    epochLossCount = state.epochLossCount
    stepLosses = state.stepLosses
    epochLosses = state.epochLosses
    history = TrainingHistory(
      stepLosses: stepLosses, epochLosses: epochLosses, stepsPerEpoch: stepsPerEpoch,
      batchesPerEpoch: batchesPerEpoch, accumulate: settings.accumulate,
      lr: { [schedule] in (try? schedule.lr(at: $0)) ?? .nan })
  }
}
