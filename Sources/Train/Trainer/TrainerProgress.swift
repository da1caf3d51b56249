// The progress line of a training run: epoch/step, the loss of this step and its moving average (mean of the
// last 20 steps), lr, images per second and the ETA from the mean step time of this run so far.
import Foundation

public struct TrainerProgress {
  let totalSteps: Int
  private var recent: [Double] = []
  private var runStart = Date()
  private var stepsAtRunStart = 0
  private var stepsThisRun = 0
  private var imagesThisRun = 0
  private var lastLoss = Double.nan
  static let window = 20

  init(totalSteps: Int) { self.totalSteps = totalSteps }

  mutating func startRun(stepsDone: Int) {
    runStart = Date()
    stepsAtRunStart = stepsDone
    stepsThisRun = 0
    imagesThisRun = 0
  }

  mutating func record(loss: Double, images: Int) {
    lastLoss = loss
    recent.append(loss)
    if recent.count > Self.window { recent.removeFirst(recent.count - Self.window) }
    stepsThisRun += 1
    imagesThisRun += images
  }

  var elapsed: Double { Date().timeIntervalSince(runStart) }
  var movingAverage: Double { recent.isEmpty ? .nan : recent.reduce(0, +) / Double(recent.count) }

  func line(epoch: Int, epochs: Int, step: Int, lr: Double) -> String {
    let seconds = elapsed
    let perStep = stepsThisRun > 0 ? seconds / Double(stepsThisRun) : 0
    let rate = seconds > 0 ? Double(imagesThisRun) / seconds : 0
    let eta = perStep * Double(max(0, totalSteps - step))
    return "epoch \(epoch + 1)/\(epochs) step \(step)/\(totalSteps)  loss \(Self.format(lastLoss)) "
      + "(avg \(Self.format(movingAverage)))  lr \(String(format: "%.3e", lr))  "
      + "\(String(format: "%.2f", rate)) img/s  ETA \(Self.duration(eta))"
  }

  /// A loss as the training lines print it.
  public static func format(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "\(x)" }

  /// `m:ss` or `h:mm:ss`.
  public static func duration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let total = Int(s.rounded())
    let h = total / 3600, m = (total % 3600) / 60, sec = total % 60
    return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
  }
}
