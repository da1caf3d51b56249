// What a run did, step by step and epoch by epoch, for `show run`, `plot` and the end-of-run summary: the loss
// and lr of every optimizer step (and Prodigy's effective d*lr per group), the validation losses, and per epoch
// the mean train loss, the last validation loss, the lr and the seconds per step. Kept in memory with the
// trainer; a run resumed from a saved state starts a new history at the step it resumes from.
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
    /// Wall time of the step (forward, backward, update).
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

  public var totalSeconds: Double { steps.reduce(0) { $0 + $1.seconds } }

  /// Closes the epoch `number` (1-based) from the steps recorded since the previous one.
  mutating func closeEpoch(_ number: Int, trainLoss: Double) {
    let inEpoch = steps.filter { $0.epoch > Double(number - 1) && $0.epoch <= Double(number) + 1e-9 }
    let seconds = inEpoch.reduce(0) { $0 + $1.seconds }
    let last = inEpoch.last ?? steps.last
    let val = validations.last { $0.epoch > Double(number - 1) && $0.epoch <= Double(number) + 1e-9 }
    epochs.append(
      Epoch(
        number: number, trainLoss: trainLoss, valLoss: val?.loss, lr: last?.lr ?? .nan,
        effectiveLR: last?.effectiveLR.first, steps: inEpoch.count,
        secondsPerStep: inEpoch.isEmpty ? .nan : seconds / Double(inEpoch.count)))
  }

  /// Drops the steps after `step` (a diverged step restored to the last good one).
  mutating func truncate(afterStep step: Int) {
    steps.removeAll { $0.step > step }
    validations.removeAll { $0.step > step }
  }
}
