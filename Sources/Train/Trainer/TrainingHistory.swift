// What a run did, step by step and epoch by epoch, for `show run`, `plot` and the end-of-run summary: the loss
// and lr of every optimizer step (and Prodigy's effective d*lr per group), the validation losses, and per epoch
// the mean train loss, the last validation loss, the lr and the seconds per step. Kept in memory with the
// trainer; a run resumed from a saved state gets back its step and epoch losses and lrs (the state keeps them),
// not its earlier validations, step times or Prodigy d.
import Foundation

public struct TrainingHistory: Sendable {
  public struct Step: Sendable, Equatable {
    public var step: Int
    /// Fractional epoch (1.5 = half-way through the second epoch).
    public var epoch: Double
    public var loss: Double
    public var lr: Double
    /// ProdigyPlusScheduleFree's d × lr of each parameter group after this step; empty for other optimizers.
    public var effectiveLR: [Double]
    /// Wall time of the step (forward, backward, update); NaN for steps restored from a saved state.
    public var seconds: Double
  }

  public struct Validation: Sendable, Equatable {
    public var step: Int
    public var epoch: Double
    public var loss: Double
    public var tokens: Int
  }

  public struct Epoch: Sendable, Equatable {
    /// 1-based.
    public var number: Int
    public var trainLoss: Double
    /// The last validation in this epoch (nil: none ran).
    public var valLoss: Double?
    /// The lr of the epoch's last step, and Prodigy's d × lr of group 0 then.
    public var lr: Double
    public var effectiveLR: Double?
    public var steps: Int
    public var secondsPerStep: Double
  }

  public internal(set) var steps: [Step] = []
  public internal(set) var validations: [Validation] = []
  public internal(set) var epochs: [Epoch] = []

  public init() {}

  /// The best validation so far (lowest loss; the first of equal ones).
  public var bestValidation: Validation? {
    validations.reduce(nil) { best, v in best.map { v.loss < $0.loss ? v : $0 } ?? v }
  }

  /// The step with the lowest loss.
  public var bestStep: Step? { steps.reduce(nil) { best, s in best.map { s.loss < $0.loss ? s : $0 } ?? s } }

  /// Wall time of the timed steps (steps restored from a saved state have none).
  public var totalSeconds: Double { steps.map(\.seconds).filter(\.isFinite).reduce(0, +) }
  public var timedSteps: Int { steps.filter { $0.seconds.isFinite }.count }

  /// Closes the epoch `number` (1-based) from the steps recorded since the previous one.
  mutating func closeEpoch(_ number: Int, trainLoss: Double) {
    let inEpoch = steps.filter { $0.epoch > Double(number - 1) && $0.epoch <= Double(number) + 1e-9 }
    let timed = inEpoch.map(\.seconds).filter(\.isFinite)
    let last = inEpoch.last ?? steps.last
    let val = validations.last { $0.epoch > Double(number - 1) && $0.epoch <= Double(number) + 1e-9 }
    epochs.append(
      Epoch(
        number: number, trainLoss: trainLoss, valLoss: val?.loss, lr: last?.lr ?? .nan,
        effectiveLR: last?.effectiveLR.first, steps: inEpoch.count,
        secondsPerStep: timed.isEmpty ? .nan : timed.reduce(0, +) / Double(timed.count)))
  }

  /// The history a saved state still tells: each step's loss and lr (`lr(step)`, 0-based), each epoch's mean.
  /// Step positions assume full epochs of `stepsPerEpoch` steps (`batchesPerEpoch` micro-batches).
  init(
    stepLosses: [Double], epochLosses: [Double], stepsPerEpoch: Int, batchesPerEpoch: Int, accumulate: Int,
    lr: (Int) -> Double
  ) {
    for (i, loss) in stepLosses.enumerated() {
      let epoch = i / max(1, stepsPerEpoch), inEpoch = i % max(1, stepsPerEpoch) + 1
      let fraction = Double(min(inEpoch * accumulate, batchesPerEpoch)) / Double(max(1, batchesPerEpoch))
      steps.append(
        Step(
          step: i + 1, epoch: Double(epoch) + fraction, loss: loss, lr: lr(i), effectiveLR: [], seconds: .nan))
    }
    for (i, loss) in epochLosses.enumerated() { closeEpoch(i + 1, trainLoss: loss) }
  }

  /// Drops the steps after `step` (a diverged step restored to the last good one).
  mutating func truncate(afterStep step: Int) {
    steps.removeAll { $0.step > step }
    validations.removeAll { $0.step > step }
  }
}
