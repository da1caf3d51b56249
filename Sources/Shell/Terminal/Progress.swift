import Foundation

// Progress of long commands, on stderr. On a terminal, one bar redrawn in place and fitted to the width
//   caption 12/40 [=======>             ] 0.41 img/s  ETA 1:08
//   train step 3/8 [=====>    ] loss 2.3412 avg 2.4001 lr 1.0e-04 epoch 1/2 12.3 s/step  ETA 1:02
// which every other output line erases and draws again (StatusLine). Otherwise (a file, a pipe, CI; or
// `set progress=lines`) a plain line every `progress_every` seconds (0: at every update). Never a bar where
// stderr is not a terminal; nothing with `set progress=off`.

public final class Progress {
  public enum Style { case bar, lines, off }

  /// Weak: a progress hook kept by a resident training run must not keep its session alive.
  private weak var session: Session?
  private let label: String
  private let unit: String
  /// Written before the count: `step ` gives `train step 3/8`.
  private let countPrefix: String
  /// Rate as seconds per unit (training steps) instead of units per second.
  private let secondsPerUnit: Bool
  private let total: Int
  /// Units done before this run started (a resumed run): left out of the rate.
  private let initial: Int
  let style: Style
  private let interval: Double
  private let start = Date()
  private var lastDraw = Date.distantPast
  private var details: [String] = []
  public private(set) var done: Int

  public init(
    _ label: String, total: Int, unit: String = "it", countPrefix: String = "", secondsPerUnit: Bool = false,
    done: Int = 0, session: Session
  ) {
    self.session = session
    self.label = label
    self.total = total
    self.unit = unit
    self.countPrefix = countPrefix
    self.secondsPerUnit = secondsPerUnit
    self.done = done
    initial = done
    switch session.setting("progress")?.description ?? "auto" {
    case "off": style = .off
    case "lines": style = .lines
    default: style = session.err.isTerminal ? .bar : .lines
    }
    interval =
      session.setting("progress_every").flatMap { if case .float(let v) = $0 { return v } else { return nil } } ?? 10
  }

  public func advance(by count: Int = 1) { update(done: done + count, details: details) }

  /// Sets the count and what is shown after the bar (`loss 2.3412 avg 2.4001`, `lr 1.0e-04`), most important
  /// first: a narrow terminal drops them from the end.
  public func update(done: Int, details: [String] = []) {
    self.done = done
    self.details = details
    let now = Date()
    switch style {
    case .off: return
    case .bar:
      guard now.timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
      lastDraw = now
      session?.status.show(bar(elapsed: now.timeIntervalSince(start)))
    case .lines:
      if lastDraw == .distantPast { lastDraw = start }
      guard interval == 0 || now.timeIntervalSince(lastDraw) >= interval else { return }
      lastDraw = now
      session?.err.line(
        Progress.statusLine(
          label, done: done, total: total, elapsed: now.timeIntervalSince(start), unit: unit,
          counted: done - initial, countPrefix: countPrefix, details: details, secondsPerUnit: secondsPerUnit))
    }
  }

  /// Leaves the bar's last state as a line of its own, so the next message starts on a fresh one.
  public func finish() {
    guard style == .bar, let session, session.status.shown != nil else { return }
    session.status.end(with: bar(elapsed: elapsed))
  }

  public var elapsed: Double { Date().timeIntervalSince(start) }

  private func bar(elapsed: Double) -> String {
    Progress.barLine(
      label, done: done, total: total, elapsed: elapsed, unit: unit, counted: done - initial,
      countPrefix: countPrefix, details: details, secondsPerUnit: secondsPerUnit, columns: session?.err.columns ?? 80)
  }

  /// `caption: 10/40 2.00 img/s ETA 0:15 elapsed 0:05`; `counted`: units done in this run (default `done`).
  static func statusLine(
    _ label: String, done: Int, total: Int, elapsed: Double, unit: String, counted: Int? = nil,
    countPrefix: String = "", details: [String] = [], secondsPerUnit: Bool = false
  ) -> String {
    let counted = counted ?? done
    var text = "\(label): \(countPrefix)\(done)/\(total)"
    for detail in details { text += " " + detail }
    text += " " + rate(counted: counted, elapsed: elapsed, unit: unit, secondsPerUnit: secondsPerUnit)
    if let eta = eta(done: done, total: total, counted: counted, elapsed: elapsed) { text += " ETA \(eta)" }
    return text + " elapsed \(clock(elapsed))"
  }

  /// The bar, at most `columns - 1` characters (a full-width line would wrap on some terminals): the bar
  /// narrows first (to 5 cells), then the details go from the last, then the rate and the ETA.
  static func barLine(
    _ label: String, done: Int, total: Int, elapsed: Double, unit: String, counted: Int? = nil,
    countPrefix: String = "", details: [String] = [], secondsPerUnit: Bool = false, columns: Int = 80,
    width: Int = 24
  ) -> String {
    func drawn(_ n: Int) -> String {
      let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
      let filled = Int(fraction * Double(n))
      return String(repeating: "=", count: filled) + (filled < n ? ">" : "")
        + String(repeating: " ", count: max(0, n - filled - 1))
    }
    let counted = counted ?? done
    let head = "\(label) \(countPrefix)\(done)/\(total)"
    let rateText = rate(counted: counted, elapsed: elapsed, unit: unit, secondsPerUnit: secondsPerUnit)
    let etaText = eta(done: done, total: total, counted: counted, elapsed: elapsed).map { "  ETA \($0)" } ?? ""
    let room = max(columns - 1, 1)
    let tails =
      (0...details.count).reversed().map { (details.prefix($0) + [rateText]).joined(separator: " ") + etaText }
      + [etaText, ""]
    for tail in tails {
      // " [" + at least 5 cells + "]" + " " before a tail
      let fixed = head.count + 3 + (tail.isEmpty ? 0 : 1 + tail.count)
      let cells = min(width, room - fixed)
      if cells >= 5 {
        return head + " [" + drawn(cells) + "]" + (tail.isEmpty ? "" : " " + tail)
      }
    }
    return String((head + etaText).prefix(room))
  }

  /// `2.00 img/s`, or `12.3 s/step`.
  static func rate(counted: Int, elapsed: Double, unit: String, secondsPerUnit: Bool) -> String {
    if secondsPerUnit {
      return counted > 0 ? String(format: "%.1f s/\(unit)", elapsed / Double(counted)) : "- s/\(unit)"
    }
    return String(format: "%.2f \(unit)/s", elapsed > 0 ? Double(counted) / elapsed : 0)
  }

  /// Time left at this run's rate; nil when done or nothing is measured yet.
  static func eta(done: Int, total: Int, counted: Int, elapsed: Double) -> String? {
    guard done < total, counted > 0, elapsed > 0 else { return nil }
    return clock(Double(total - done) * elapsed / Double(counted))
  }

  /// `1:08`, `1:02:03`.
  static func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds < 1e8 else { return "?" }
    let whole = Int(seconds.rounded())
    let (hours, minutes, secs) = (whole / 3600, (whole / 60) % 60, whole % 60)
    return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, secs) : String(format: "%d:%02d", minutes, secs)
  }
}
