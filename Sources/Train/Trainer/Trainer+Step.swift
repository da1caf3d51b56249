// One optimizer step of the Trainer: k micro-batches forward + backward (Florence2.trainingStep), the
// gradients divided by k into the optimizer's buffers (with Flora's accumulation_rank: each micro-batch's
// gradient handed on, compressed, before the next), the update at the scheduled lr, then logs, progress,
// and the sample/save hooks that fall on this step. A non-finite loss restores the weights, optimizer state and
// position from before the previous update (the last step whose weights gave a finite loss).
import FlrCore
import FlrModel
import FlrProcessor
import Foundation

extension Trainer {
  enum StepResult { case stepped, epochEnded, diverged(String) }

  func optimizerStep(_ batches: EpochBatches) throws -> StepResult {
    let k = settings.accumulate
    let started = Date()
    var lossSum = 0.0
    var micro = 0
    var images = 0
    parameters.zeroAccumulated()
    let startPosition = position
    // Compressed accumulation (Flora's accumulation_rank): the state before this step's first micro-batch, with
    // empty packs, is the one to restore if a later step diverges.
    let startState = compressedAccumulation.map { acc in
      acc.discardPending()  // packs left by a step an error interrupted are not this step's
      return (weights: parameters.snapshot(), optimizer: acc.saveState())
    }
    while micro < k, let batch = batches.next() {
      // The reference script calls optimizer.train() before every micro-batch: back to y in place after an
      // in-place eval() (sf_save=inplace, or a state saved in eval mode); a no-op in train mode and for other
      // optimizers.
      scheduleFree?.train()
      let loss = try microBatch(batch)
      guard loss.isFinite else {
        return .diverged(
          divergence(loss.isNaN ? "the loss is NaN" : "the loss is infinite", batch: batch, at: startPosition))
      }
      parameters.accumulateMicroBatch(dividedBy: k)
      if let acc = compressedAccumulation {
        // Each micro-batch's gradient goes into the packs now (FloraAccelerator's hook), so check it here.
        guard parameters.gradientsAreFinite else {
          acc.discardPending()
          return nonFiniteGradient(at: startPosition, loss: (lossSum + Double(loss)) / Double(micro + 1))
        }
        acc.addMicroBatch()
      }
      lossSum += Double(loss)
      micro += 1
      images += batch.count
      batchInEpoch += 1
    }
    if micro == 0 { return .epochEnded }
    guard parameters.gradientsAreFinite else {
      return nonFiniteGradient(at: startPosition, loss: lossSum / Double(micro))
    }
    let lr = try learningRate(atStep: step)
    if let start = startState {
      lastGood = (start.weights, start.optimizer, startPosition)
    } else {
      lastGood = (parameters.snapshot(), optimizer.saveState(), startPosition)
    }
    // Compressed: decompresses the packs and steps Flora (after fewer than k micro-batches at an epoch's end,
    // where accelerate syncs too).
    do {
      let scope = Profile.begin(.optimizer)
      defer { Profile.end(scope) }
      try optimizer.step(lr: lr)
    }
    step += 1
    lastLearningRate = lr
    let loss = lossSum / Double(micro)
    stepLosses.append(loss)
    epochLossSum += lossSum
    epochLossCount += micro
    progress.record(loss: loss, images: images)
    var record = TrainingRecord(
      step: step, epoch: Double(epoch) + Double(batchInEpoch) / Double(max(1, batchesPerEpoch)), loss: loss, lr: lr)
    let effective = effectiveLearningRates(lr: lr)
    record.scalars = effective.enumerated().map { TrainingScalar("lr/d*lr-group\($0.offset)", $0.element) }
    history.steps.append(
      .init(
        step: step, epoch: record.epoch, loss: loss, lr: lr, effectiveLR: effective,
        seconds: Date().timeIntervalSince(started)))
    for log in logs { try log.write(record) }
    if step % max(1, settings.progressEverySteps) == 0 || batchInEpoch >= batchesPerEpoch {
      onProgress(progress.line(epoch: epoch, epochs: settings.epochs, step: step, lr: lr))
    }
    if let n = settings.evalEverySteps, step % n == 0, let loss = try validate() {
      onLine("step \(step): val loss \(TrainerProgress.format(loss))")
    }
    if let n = settings.sampleEverySteps, step % n == 0 { try sample("step \(step)") }
    if let n = settings.saveEverySteps, step % n == 0 {
      try saveCheckpoint(settings.checkpointFolderName("step", step))
    }
    return .stepped
  }

  /// A NaN or infinite gradient: the weights that gave the finite loss are fine; only this step is dropped.
  func nonFiniteGradient(at startPosition: Position, loss: Double) -> StepResult {
    parameters.zeroAccumulated()
    restorePosition(startPosition)
    return .diverged(
      "training stopped: a gradient is NaN or infinite at step \(step + 1) (loss \(loss)); "
        + "the weights are those of step \(step). Lower lr, then `train resume`.")
  }

  /// Forward + backward of one micro-batch; the adapter's gradA/gradB now hold its gradient.
  func microBatch(_ batch: TrainingBatch) throws -> Float {
    let b = batch.count
    let t = batch.length
    let labels = (0..<b).map { Array(batch.labels[$0 * t..<($0 + 1) * t]) }
    // Every random stream of a micro-batch derives from (seed, micro-batch index): model dropout through the
    // options' seed, LoRA dropout by reseeding each layer's stream here. A resumed run (in this process or after
    // `save DIR state` in another) or a restored step draws the same masks for the same batch, with no RNG
    // state to save.
    let microIndex = UInt64(epoch * batchesPerEpoch + batchInEpoch)
    let seed = settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ microIndex
    for (i, layer) in parameters.adapter.layers.enumerated() {
      layer.lora.rng = SeededRNG(seed: seed ^ (UInt64(i + 1) &* 0xD1B5_4A32_D192_ED03))
    }
    let options = TrainingOptions(
      dropout: settings.dropout, visionDropout: settings.visionDropoutOn, checkpointing: settings.checkpointing,
      reach: reach, seed: seed)
    let prompts = Array(repeating: promptIds, count: b)
    if cachesFeatures {
      dataset.features.validate(model: model, key: featureCacheKey)
      let features = try dataset.features.features(
        indices: batch.indices, model: model,
        pixels: { Florence2Processor.pixelValues(resized: batch.pixels, positions: $0) })
      return try model.trainingStep(imageFeatures: features, promptIds: prompts, labels: labels, options: options).loss
    }
    let pixels = Florence2Processor.pixelValues(resized: batch.pixels, positions: Array(0..<b))
    return try model.trainingStep(pixelValues: pixels, promptIds: prompts, labels: labels, options: options).loss
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
    history.truncate(afterStep: p.step)
  }

  /// Restores the last good step and says what happened.
  func divergence(_ what: String, batch: TrainingBatch, at current: Position) -> String {
    parameters.zeroAccumulated()
    compressedAccumulation?.discardPending()
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
    if let n = settings.evalEveryEpochs, (epoch + 1) % n == 0 { try validate() }
    history.closeEpoch(epoch + 1, trainLoss: mean)
    let valLoss = history.epochs.last?.valLoss
    var line =
      "epoch \(epoch + 1)/\(settings.epochs): mean loss \(TrainerProgress.format(mean)) over "
      + "\(epochLossCount) batch\(epochLossCount == 1 ? "" : "es"), \(TrainerProgress.duration(progress.elapsed)) elapsed"
    if let valLoss { line += ", val loss \(TrainerProgress.format(valLoss))" }
    if failures > 0 {
      line +=
        "; \(failures) image\(failures == 1 ? "" : "s") failed to decode and \(failures == 1 ? "was" : "were") skipped"
    }
    onLine(line)
    epoch += 1
    batchInEpoch = 0
    epochLossSum = 0
    epochLossCount = 0
    if let n = settings.sampleEveryEpochs, epoch % n == 0 { try sample("epoch \(epoch)") }
    if let n = settings.saveEveryEpochs, epoch % n == 0, epoch < settings.epochs {
      try saveCheckpoint(settings.checkpointFolderName("epoch", epoch))
    }
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

  /// The optimizer when it is schedule-free (ProdigyPlusScheduleFree: averaged weights differ from training's).
  var scheduleFree: ProdigyPlusScheduleFree? { optimizer as? ProdigyPlusScheduleFree }

  /// Whether the run's own samples and saves use the weights in place, as the reference script does
  /// (sf_save=inplace).
  var savesInPlace: Bool { settings.scheduleFreeSave == .inplace && scheduleFree != nil }

  func sample(_ when: String) throws {
    // sf_save=inplace: the reference script's optimizer.eval() before sampling, in place and not undone until the next step's
    // first micro-batch, so a save at the same step writes x. Done with or without a sampling hook: the switch
    // is part of the trajectory.
    if savesInPlace { scheduleFree?.eval() }
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

  /// The run's own save (save_every_*, the final one in out/NAME): the PEFT adapter with the evaluation weights
  /// (sf_save=inplace: the weights in place, y or x as the reference script has them) and, with `saveState`, the training state,
  /// as one unit (TrainerCheckpoint.saveAdapter).
  public func save(to folder: URL) throws {
    try saveAdapter(to: folder, withState: settings.saveState, inPlace: savesInPlace)
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
    logFiles += logs.map(\.file)
  }
}
