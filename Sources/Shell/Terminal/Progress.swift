import Foundation

// Progress of long commands, on stderr: on a terminal a bar redrawn in place
//   caption  12/40 [=======>             ]  0.41 img/s  ETA 1:08
// and otherwise (a log file, CI) a plain line every `progress_every` seconds and one at the end.

public final class Progress {
  public enum Style { case bar, lines, off }

  private let output: Output
  private let label: String
  private let unit: String
  private let total: Int
  private let style: Style
  private let interval: Double
  private let start = Date()
  private var lastDraw = Date.distantPast
  private var drewBar = false
  public private(set) var done = 0

  public init(_ label: String, total: Int, unit: String = "it", session: Session) {
    self.output = session.err
    self.label = label
    self.total = total
    self.unit = unit
    let setting = session.setting("progress")?.description ?? "auto"
    switch setting {
    case "bar": style = .bar
    case "lines": style = .lines
    case "off": style = .off
    default: style = session.err.isTerminal ? .bar : .lines
    }
    interval =
      session.setting("progress_every").flatMap { if case .float(let v) = $0 { return v } else { return nil } } ?? 10
  }

  public func advance(by count: Int = 1) {
    done += count
    let now = Date()
    switch style {
    case .off: return
    case .bar:
      guard now.timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
      lastDraw = now
      output.write(
        "\r" + Progress.barLine(label, done: done, total: total, elapsed: now.timeIntervalSince(start), unit: unit)
          + "\u{1B}[K")
      drewBar = true
    case .lines:
      if lastDraw == .distantPast { lastDraw = start }
      guard now.timeIntervalSince(lastDraw) >= interval else { return }
      lastDraw = now
      output.line(
        Progress.statusLine(label, done: done, total: total, elapsed: now.timeIntervalSince(start), unit: unit))
    }
  }

  /// Ends the bar's line (so the next message starts on a fresh one).
  public func finish() {
    if drewBar {
      output.write(
        "\r" + Progress.barLine(label, done: done, total: total, elapsed: elapsed, unit: unit) + "\u{1B}[K\n")
      drewBar = false
    }
  }

  public var elapsed: Double { Date().timeIntervalSince(start) }

  static func statusLine(_ label: String, done: Int, total: Int, elapsed: Double, unit: String) -> String {
    let rate = elapsed > 0 ? Double(done) / elapsed : 0
    var text = "\(label): \(done)/\(total) \(String(format: "%.2f", rate)) \(unit)/s"
    if done > 0, done < total { text += " ETA \(clock(Double(total - done) / max(rate, 1e-9)))" }
    return text + " elapsed \(clock(elapsed))"
  }

  static func barLine(_ label: String, done: Int, total: Int, elapsed: Double, unit: String, width: Int = 24) -> String
  {
    let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
    let filled = Int(fraction * Double(width))
    let bar =
      String(repeating: "=", count: filled) + (filled < width ? ">" : "")
      + String(repeating: " ", count: max(0, width - filled - 1))
    let rate = elapsed > 0 ? Double(done) / elapsed : 0
    var text = "\(label) \(done)/\(total) [\(bar)] \(String(format: "%.2f", rate)) \(unit)/s"
    if done > 0, done < total { text += "  ETA \(clock(Double(total - done) / max(rate, 1e-9)))" }
    return text
  }

  /// `1:08`, `1:02:03`.
  static func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds < 1e8 else { return "?" }
    let whole = Int(seconds.rounded())
    let (hours, minutes, secs) = (whole / 3600, (whole / 60) % 60, whole % 60)
    return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, secs) : String(format: "%d:%02d", minutes, secs)
  }
}
