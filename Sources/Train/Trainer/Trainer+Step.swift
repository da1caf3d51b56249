// One optimizer step of the Trainer: k micro-batches forward + backward (Florence2.trainingStep), the
// gradients divided by k into the optimizer's buffers, the update at the scheduled lr, then logs, progress,
// and the sample/save hooks that fall on this step. A non-finite loss restores the weights, optimizer state and
// position from before the previous update (the last step whose weights gave a finite loss).
import FlrCore
import FlrImage
import FlrModel
import Foundation

extension Trainer {
  enum StepResult { case stepped, epochEnded, diverged(String) }

  func optimizerStep(_ batches: EpochBatches) throws -> StepResult {
    let k = settings.accumulate
    var lossSum = 0.0
    var micro = 0
    var images = 0
    parameters.zeroAccumulated()
    let startPosition = position
    while micro < k, let batch = batches.next() {
      let loss = try microBatch(batch)
      guard loss.isFinite else {
        return .diverged(divergence(loss.isNaN ? "the loss is NaN" : "the loss is infinite", batch: batch, at: startPosition))
      }
      parameters.accumulateMicroBatch(dividedBy: k)
      lossSum += Double(loss)
      micro += 1
      images += batch.count
      batchInEpoch += 1
    }
    if micro == 0 { return .epochEnded }
    guard parameters.gradientsAreFinite else {
      // The weights that gave this finite loss are fine; only this step is dropped.
      parameters.zeroAccumulated()
      restorePosition(startPosition)
      return .diverged(
        "training stopped: a gradient is NaN or infinite at step \(step + 1) (loss \(lossSum / Double(micro))); "
          + "the weights are those of step \(step). Lower lr, then `train resume`.")
    }
    let lr = try learningRate(atStep: step)
    lastGood = (parameters.snapshot(), optimizer.saveState(), startPosition)
    try optimizer.step(lr: lr)
    step += 1
    let loss = lossSum / Double(micro)
    stepLosses.append(loss)
    epochLossSum += lossSum
    epochLossCount += micro
    progress.record(loss: loss, images: images)
    let record = TrainingRecord(
      step: step, epoch: Double(epoch) + Double(batchInEpoch) / Double(max(1, batchesPerEpoch)), loss: loss, lr: lr)
    for log in logs { try log.write(record) }
    if step % max(1, settings.progressEverySteps) == 0 || batchInEpoch >= batchesPerEpoch {
      onProgress(progress.line(epoch: epoch, epochs: settings.epochs, step: step, lr: lr))
    }
    if let n = settings.sampleEverySteps, step % n == 0 { try sample("step \(step)") }
    if let n = settings.saveEverySteps, step % n == 0 { try saveCheckpoint("step-\(step)") }
    return .stepped
  }

  /// Forward + backward of one micro-batch; the adapter's gradA/gradB now hold its gradient.
  func microBatch(_ batch: TrainingBatch) throws -> Float {
    let b = batch.count, side = PixelValues.size, plane = side * side
    let pixels = Tensor(zeros: [b, 3, side, side])
    batch.pixels.withUnsafeBufferPointer { src in
      for i in 0..<b {
        PixelValues.write(hwc: src.baseAddress! + i * plane * 3, count: plane, to: pixels.data + i * 3 * plane)
      }
    }
    let t = batch.length
    let labels = (0..<b).map { Array(batch.labels[$0 * t..<($0 + 1) * t]) }
    // One dropout stream per micro-batch, derived from (seed, micro-batch index): a resumed or restored run
    // draws the same masks for the same batch.
    let microIndex = UInt64(epoch * batchesPerEpoch + batchInEpoch)
    let options = TrainingOptions(
      dropout: settings.dropout, checkpointing: settings.checkpointing, reach: reach,
      seed: settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ microIndex)
    let result = try model.trainingStep(
      pixelValues: pixels, promptIds: Array(repeating: promptIds, count: b), labels: labels, options: options)
    return result.loss
  }

  var position: Position {
    Position(
      epoch: epoch, batchInEpoch: batchInEpoch, step: step, epochLossSum: epochLossSum,
      epochLossCount: epochLossCount, stepLossCount: stepLosses.count)
  }

  func restorePosition(_ p: Position) {
    epoch = p.epoch
    batchInEpoch = p.batchInEpoch
    step = p.step
    epochLossSum = p.epochLossSum
    epochLossCount = p.epochLossCount
    if stepLosses.count > p.stepLossCount { stepLosses.removeLast(stepLosses.count - p.stepLossCount) }
  }

  /// Restores the last good step and says what happened.
  func divergence(_ what: String, batch: TrainingBatch, at current: Position) -> String {
    parameters.zeroAccumulated()
    parameters.adapter.zeroGradients()
    let items = batch.indices.map { dataset.items[$0].key }.joined(separator: ", ")
    if let good = lastGood {
      parameters.restore(good.params)
      try? optimizer.loadState(good.optimizer)
      restorePosition(good.position)
      lastGood = nil
      return "training stopped: \(what) at step \(current.step + 1) (batch \(items)); restored the weights and "
        + "optimizer state of step \(step) (before the update that led here). Lower lr, then `train resume`."
    }
    restorePosition(current)
    return "training stopped: \(what) at the first step (batch \(items)); the adapter is unchanged."
  }

  func finishEpoch(failures: Int) throws {
    let mean = epochLossCount > 0 ? epochLossSum / Double(epochLossCount) : .nan
    epochLosses.append(mean)
    var line = "epoch \(epoch + 1)/\(settings.epochs): mean loss \(TrainerProgress.format(mean)) over "
      + "\(epochLossCount) batches, \(TrainerProgress.duration(progress.elapsed)) elapsed"
    if failures > 0 { line += "; \(failures) image(s) failed to decode and were skipped" }
    onLine(line)
    epoch += 1
    batchInEpoch = 0
    epochLossSum = 0
    epochLossCount = 0
    if let n = settings.sampleEveryEpochs, epoch % n == 0 { try sample("epoch \(epoch)") }
    if let n = settings.saveEveryEpochs, epoch % n == 0, epoch < settings.epochs { try saveCheckpoint("epoch-\(epoch)") }
  }

  func finishRun() throws {
    if let run = settings.runFolder {
      try save(to: run)
      onLine("saved the adapter to \(run.path)")
    }
    for log in logs { log.close() }
    logs = []
  }

  // MARK: sample and save

  func sample(_ when: String) throws {
    guard let onSample else { return }
    onLine("samples at \(when):")
    parameters.adapter.setTraining(false)
    defer { parameters.adapter.setTraining(settings.dropout) }
    try parameters.withEvaluationWeights(optimizer) { try onSample(self) }
  }

  func saveCheckpoint(_ folderName: String) throws {
    guard let run = settings.runFolder else {
      onLine("save_every: no out= folder given; nothing saved at \(folderName)")
      return
    }
    let folder = run.appendingPathComponent(folderName, isDirectory: true)
    try save(to: folder)
    onLine("saved \(folder.path)")
  }

  /// PEFT adapter files (each replaced atomically by PEFTAdapterFile) with the evaluation weights.
  public func save(to folder: URL) throws {
    do {
      try parameters.withEvaluationWeights(optimizer) {
        try PEFTAdapterFile.save(parameters.adapter, to: folder.path)
      }
    } catch {
      throw TrainerError("cannot save the adapter to \(folder.path): \(error)")
    }
    savedFolders.append(folder)
  }

  func openLogs() throws {
    guard logs.isEmpty, settings.log != .none else { return }
    let folder = settings.resolvedLogFolder
    do {
      if settings.log == .jsonl || settings.log == .all {
        logs.append(try JSONLLog(file: folder.appendingPathComponent("train.jsonl")))
      }
      if settings.log == .tensorboard || settings.log == .all {
        logs.append(try TensorBoardLog(folder: folder))
      }
    } catch {
      throw TrainerError("cannot write logs in \(folder.path): \(error)")
    }
    for log in logs { onLine("logging to \(log.file.path)") }
  }
}
