// Learning-rate schedules. OneCycleLR ports torch/optim/lr_scheduler.py `OneCycleLR` (two phases, cosine
// annealing, three_phase off) with the arguments the reference script passes (OPTIMIZERS.md §3).

import Foundation

public protocol LRSchedule: Sendable {
  /// Learning rate for 0-based step index `index` (the optimizer step m uses index m − 1).
  func lr(at index: Int) throws -> Double
}

/// A constant learning rate (`scheduler=none`; what schedule-free optimizers are meant to run with).
public struct ConstantLR: LRSchedule {
  public let value: Double
  public init(_ value: Double) { self.value = value }
  public func lr(at index: Int) throws -> Double { value }
}

public struct OneCycleLR: LRSchedule {
  public let maxLR: Double
  public let totalSteps: Int
  public let pctStart: Double
  public let divFactor: Double
  public let finalDivFactor: Double

  public var initialLR: Double { maxLR / divFactor }
  public var minLR: Double { initialLR / finalDivFactor }

  /// `totalSteps` is T of torch's scheduler. The reference script passes epochs × micro-batches per epoch even when it
  /// accumulates k > 1 micro-batches per optimizer step (so it ends near index T/k); the trainer decides which T.
  public init(
    maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, divFactor: Double = 25, finalDivFactor: Double = 1e4
  ) throws {
    guard totalSteps > 0 else { throw OptimizerError.badArgument("OneCycle needs total steps > 0, got \(totalSteps)") }
    guard pctStart > 0, pctStart < 1 else { throw OptimizerError.badArgument("pct_start must be in (0, 1)") }
    guard maxLR > 0 else { throw OptimizerError.badArgument("OneCycle max_lr must be > 0, got \(maxLR)") }
    self.maxLR = maxLR
    self.totalSteps = totalSteps
    self.pctStart = pctStart
    self.divFactor = divFactor
    self.finalDivFactor = finalDivFactor
  }

  /// torch `_annealing_cos`: end + (start − end)/2 · (cos(π·pct) + 1).
  private static func cosine(_ start: Double, _ end: Double, _ pct: Double) -> Double {
    let cosOut = cos(Double.pi * pct) + 1
    return end + (start - end) / 2.0 * cosOut
  }

  public func lr(at index: Int) throws -> Double {
    // torch allows index == total_steps (the cosine turns back up slightly) and raises beyond it.
    guard index >= 0, index <= totalSteps else {
      throw OptimizerError.badArgument("OneCycle step \(index) is past its \(totalSteps) total steps")
    }
    let end1 = Double(pctStart * Double(totalSteps)) - 1
    let end2 = Double(totalSteps - 1)
    let i = Double(index)
    if i <= end1 {
      // Python would raise ZeroDivisionError when pct_start·T = 1 exactly; so do we.
      guard end1 != 0 else { throw OptimizerError.badArgument("OneCycle phase 1 has zero length (pct_start·T = 1)") }
      return Self.cosine(initialLR, maxLR, (i - 0) / (end1 - 0))
    }
    return Self.cosine(maxLR, minLR, (i - end1) / (end2 - end1))
  }
}
