import FlrTrain
import Foundation

// What a training run did, in words and numbers people read: `show run`'s table per epoch with a sparkline of
// the step losses, and the summary `train` ends with (time, steps, first/last/best loss, every path written).

enum RunReport {
  /// `show run`: a header, one row per finished epoch, the sparkline.
  static func table(_ t: Trainer) -> [String] {
    let h = t.history
    let state =
      t.isFinished ? "finished" : t.step == 0 ? "not started" : "stopped at epoch \(t.epoch + 1) (`train resume`)"
    var lines = [
      "run \(t.settings.name) (adapter \(t.parameters.adapter.name)): \(t.optimizer.name), step \(t.step)/"
        + "\(t.totalSteps), \(state)"
    ]
    let prodigy = h.steps.contains { !$0.effectiveLR.isEmpty }
    let lrHeader = prodigy ? "d*lr" : "lr"
    let columns = ["epoch", "train loss", "val loss", lrHeader, "s/step"]
    var rows: [[String]] = h.epochs.map { e in
      [
        "\(e.number)", format(e.trainLoss), e.valLoss.map(format) ?? "-",
        number("%.3e", prodigy ? e.effectiveLR ?? .nan : e.lr), number("%.3f", e.secondsPerStep),
      ]
    }
    if rows.isEmpty { rows = [["-", "-", "-", "-", "-"]] }
    let widths = columns.indices.map { c in ([columns[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
    func render(_ cells: [String]) -> String {
      "  " + zip(cells, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
    }
    lines.append(render(columns))
    lines += rows.map(render)
    if let first = h.steps.first, let last = h.steps.last {
      lines.append(
        "  loss \(sparkline(h.steps.map(\.loss))) step \(first.step): \(format(first.loss)) -> step \(last.step): "
          + format(last.loss))
    }
    if let best = h.bestValidation {
      lines.append("  best val loss \(format(best.loss)) at step \(best.step) (\(h.validations.count) validations)")
    }
    return lines
  }

  /// The lines `train` ends with: time, steps, losses, and every file or folder the run wrote.
  /// `seconds`: the wall time of the `train` command (validations and saves included).
  static func summary(_ t: Trainer, seconds: Double) -> [String] {
    let h = t.history
    var head =
      "training done: \(counted(t.step, "step")), \(counted(t.settings.epochs, "epoch")) in \(duration(seconds))"
    if h.timedSteps > 0 {
      head += " (\(String(format: "%.2f", h.totalSeconds / Double(h.timedSteps))) s/step)"
    }
    var lines = [head]
    if let first = h.steps.first, let last = h.steps.last, let best = h.bestStep {
      var loss =
        "  loss: first \(format(first.loss)) (step \(first.step)), last \(format(last.loss)), best "
        + "\(format(best.loss)) (step \(best.step))"
      if let epoch = t.epochLosses.last { loss += "; last epoch mean \(format(epoch))" }
      lines.append(loss)
    }
    if let bestVal = h.bestValidation, let lastVal = h.validations.last {
      lines.append(
        "  val loss: last \(format(lastVal.loss)), best \(format(bestVal.loss)) (step \(bestVal.step))")
    }
    var written: [String] = []
    for folder in t.savedFolders.map(\.path) where !written.contains(folder) { written.append(folder) }
    for file in t.logFiles.map(\.path) where !written.contains(file) { written.append(file) }
    for path in written {
      let what =
        path == t.settings.runFolder?.path
        ? " (final adapter)"
        : path.hasSuffix("/" + t.settings.bestFolderName) ? " (best val loss)" : ""
      lines.append("  wrote \(path)\(what)")
    }
    return lines
  }

  static let bars = Array("▁▂▃▄▅▆▇█")

  /// One line of block characters, low to high; at most `width` characters (longer series are averaged in
  /// buckets). Non-finite values are blanks.
  static func sparkline(_ values: [Double], width: Int = 60) -> String {
    guard !values.isEmpty else { return "" }
    let buckets = min(width, values.count)
    let means: [Double] = (0..<buckets).map { b in
      let slice = values[(b * values.count / buckets)..<((b + 1) * values.count / buckets)].filter(\.isFinite)
      return slice.isEmpty ? .nan : slice.reduce(0, +) / Double(slice.count)
    }
    let finite = means.filter(\.isFinite)
    guard let low = finite.min(), let high = finite.max() else { return String(repeating: " ", count: buckets) }
    return String(
      means.map { m -> Character in
        guard m.isFinite else { return " " }
        let level = high > low ? Int(((m - low) / (high - low) * Double(bars.count - 1)).rounded()) : 0
        return bars[level]
      })
  }

  static func format(_ x: Double) -> String { TrainerProgress.format(x) }

  /// A table cell: `-` where the value is unknown (steps restored from a saved state have no time or d).
  static func number(_ format: String, _ x: Double) -> String { x.isFinite ? String(format: format, x) : "-" }

  static func duration(_ s: Double) -> String { TrainerProgress.duration(s) }
}
