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
}
