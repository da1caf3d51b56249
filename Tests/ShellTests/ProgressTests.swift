import XCTest

@testable import FlrShell

final class ProgressTests: XCTestCase {
  func testLinesAndBar() {
    XCTAssertEqual(
      Progress.statusLine("caption", done: 10, total: 40, elapsed: 5, unit: "img"),
      "caption: 10/40 2.00 img/s ETA 0:15 elapsed 0:05")
    XCTAssertEqual(
      Progress.barLine("caption", done: 12, total: 24, elapsed: 6, unit: "img", width: 10),
      "caption 12/24 [=====>    ] 2.00 img/s  ETA 0:06")
    XCTAssertEqual(
      Progress.barLine("caption", done: 24, total: 24, elapsed: 6, unit: "img", width: 10),
      "caption 24/24 [==========] 4.00 img/s")
    XCTAssertEqual(Progress.clock(3723), "1:02:03")
    XCTAssertEqual(Progress.clock(.infinity), "?")
  }

  func testNonTerminalOutputIsPlainLinesAtTheInterval() {
    let captured = CapturedOutput()
    let session = Session(out: CapturedOutput().output, err: captured.output)
    session.settings["progress_every"] = "0.1"
    let progress = Progress("work", total: 3, unit: "it", session: session)
    progress.advance()
    Thread.sleep(forTimeInterval: 0.15)
    progress.advance()
    progress.finish()
    XCTAssertFalse(captured.text.contains("\r"), "no carriage returns in a log")
    XCTAssertEqual(captured.text.split(separator: "\n").count, 1, captured.text)
    XCTAssertTrue(captured.text.hasPrefix("work: 2/3 "), captured.text)
  }

  /// What a terminal shows for `text`: `\r` returns to the line's start, ESC[K erases to its end.
  private func screen(_ text: String) -> [String] {
    var lines: [[Character]] = [[]]
    var column = 0
    var rest = Substring(text)
    while let character = rest.first {
      if rest.hasPrefix("\u{1B}[K") {
        lines[lines.count - 1].removeSubrange(min(column, lines[lines.count - 1].count)...)
        rest = rest.dropFirst(3)
        continue
      }
      rest = rest.dropFirst()
      switch character {
      case "\r": column = 0
      case "\n":
        lines.append([])
        column = 0
      default:
        if column < lines[lines.count - 1].count {
          lines[lines.count - 1][column] = character
        } else {
          lines[lines.count - 1].append(character)
        }
        column += 1
      }
    }
    return lines.map { String($0) }
  }

  func testTheBarIsErasedBeforeEachOutputLineAndDrawnAgainBelowIt() {
    let terminal = CapturedOutput(isTerminal: true, columns: 80)
    let session = Session(out: terminal.output, err: terminal.output)
    let progress = Progress("caption", total: 8, unit: "img", session: session)
    progress.advance()
    session.out.line("/tmp/photos/camera.png\tGround")
    session.note("caption: skipped broken.png")
    Thread.sleep(forTimeInterval: 0.11)
    progress.advance()
    progress.finish()
    session.note("caption: 2 captioned")
    let shown = screen(terminal.text)
    XCTAssertEqual(shown.count, 5, "\(shown)")
    XCTAssertEqual(Array(shown.prefix(2)), ["/tmp/photos/camera.png\tGround", "caption: skipped broken.png"])
    XCTAssertTrue(shown[2].hasPrefix("caption 2/8 ["), "\(shown)")
    XCTAssertEqual(Array(shown.suffix(2)), ["caption: 2 captioned", ""])
  }

  func testTheBarFitsNarrowTerminals() {
    let details = ["loss 2.3412 avg 2.4001", "lr 1.0e-04", "epoch 1/5"]
    func bar(_ columns: Int) -> String {
      Progress.barLine(
        "train", done: 3, total: 40, elapsed: 30, unit: "step", countPrefix: "step ", details: details,
        secondsPerUnit: true, columns: columns)
    }
    for columns in [120, 80, 50, 30, 20] {
      XCTAssertLessThan(bar(columns).count, columns, "\(columns) columns: \(bar(columns))")
      XCTAssertTrue(bar(columns).hasPrefix("train step 3/40"), bar(columns))
    }
    XCTAssertEqual(
      bar(120),
      "train step 3/40 [=>                      ] loss 2.3412 avg 2.4001 lr 1.0e-04 epoch 1/5 10.0 s/step  ETA 6:10")
    // At 80 columns the epoch goes first; the loss and lr stay.
    XCTAssertEqual(bar(80), "train step 3/40 [>    ] loss 2.3412 avg 2.4001 lr 1.0e-04 10.0 s/step  ETA 6:10")
    XCTAssertEqual(bar(50), "train step 3/40 [>        ] 10.0 s/step  ETA 6:10")
    let fifty = Progress.barLine("caption", done: 1, total: 8, elapsed: 1, unit: "img", columns: 50)
    XCTAssertTrue(fifty.contains("[") && fifty.contains("ETA"), fifty)
  }

  func testNoBarWhereStderrIsNotATerminalAndNothingWithProgressOff() {
    let log = CapturedOutput()
    let session = Session(out: CapturedOutput().output, err: log.output)
    session.settings["progress"] = "bar"
    session.settings["progress_every"] = "0"
    let progress = Progress("caption", total: 2, unit: "img", session: session)
    progress.advance()
    progress.advance()
    progress.finish()
    XCTAssertFalse(log.text.contains("\r"), log.text)
    XCTAssertEqual(log.text.split(separator: "\n").count, 2, log.text)

    let terminal = CapturedOutput(isTerminal: true)
    let quiet = Session(out: terminal.output, err: terminal.output)
    quiet.settings["progress"] = "off"
    let off = Progress("caption", total: 2, unit: "img", session: quiet)
    off.advance()
    off.finish()
    XCTAssertEqual(terminal.text, "")
  }
}
