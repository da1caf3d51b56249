// Validation during training (`train eval_every_epochs=N` / `eval_every_steps=N`): the held-out loss with the
// weights the run samples with (dropout off; schedule-free: the averaged x), computed by HeldOutLoss as the
// `eval` command computes it, logged beside the train loss (JSONL and TensorBoard `loss/val`) and kept in the
// history. With `keep_best` the adapter of the lowest validation loss so far is saved to out/NAME/best.
import Foundation

/// The held-out items a run validates on: the dataset's split, or another dataset (`dataset val=DIR`).
public struct ValidationSet {
  public let dataset: CaptionDataset
  public let indices: [Int]
  /// Where the items come from, for the banner ("the split", a folder).
  public let source: String

  public init(dataset: CaptionDataset, indices: [Int], source: String) {
    self.dataset = dataset
    self.indices = indices
    self.source = source
  }
}

struct ValidationCancelled: Error {}

extension Trainer {
  /// The held-out loss of the weights as they are now, as `eval` computes it (dropout off, evaluation weights).
  /// `checkCancelled` runs before each item.
  public func validationLoss(checkCancelled: () throws -> Void = {}) throws -> HeldOutLoss.Result {
    guard let validation else { throw TrainerError("no validation set (dataset split=F or dataset val=DIR)") }
    let wasTraining = parameters.adapter.layers.first?.lora.training ?? false
    parameters.adapter.setTraining(false)
    defer { parameters.adapter.setTraining(wasTraining) }
    return try parameters.withEvaluationWeights(optimizer) {
      try HeldOutLoss.measure(
        model: model, tokenizer: tokenizer, dataset: validation.dataset, indices: validation.indices,
        promptIds: promptIds, maxLength: settings.maxLength, checkCancelled: checkCancelled)
    }
  }

  /// Runs a validation at the current position: history, logs, and the best adapter with keep_best. Ctrl-C
  /// during it skips it (nil); the run then stops at its next step boundary as usual.
  @discardableResult
  func validate() throws -> Double? {
    guard validation != nil else { return nil }
    let result: HeldOutLoss.Result
    do {
      result = try validationLoss(checkCancelled: { if isCancelled() { throw ValidationCancelled() } })
    } catch is ValidationCancelled {
      onLine("validation at step \(step) skipped (Ctrl-C)")
      return nil
    }
    let now = Double(epoch) + Double(batchInEpoch) / Double(max(1, batchesPerEpoch))
    let previousBest = history.bestValidation
    history.validations.append(.init(step: step, epoch: now, loss: result.loss, tokens: result.tokens))
    let time = Date().timeIntervalSince1970
    for log in logs {
      try log.write(scalars: [TrainingScalar("loss/val", result.loss)], step: step, epoch: now, time: time)
    }
    if settings.keepBest, let run = settings.runFolder, previousBest.map({ result.loss < $0.loss }) ?? true {
      let folder = run.appendingPathComponent(settings.bestFolderName, isDirectory: true)
      try save(to: folder)
      onLine(
        "saved the best adapter so far (val loss \(TrainerProgress.format(result.loss)), step \(step)) to \(folder.path)"
      )
    }
    return result.loss
  }

  /// Prodigy's effective learning rate of each parameter group (d × the group's lr), as the reference logs it.
  func effectiveLearningRates(lr: Double) -> [Double] {
    guard let prodigy = scheduleFree else { return [] }
    return prodigy.groups.map { $0.d * lr * $0.lrMultiplier }
  }
}
