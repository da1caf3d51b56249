import Foundation
import XCTest

@testable import FlrShell

/// The lines people read at the end of a command and at the start of the shell: `caption`'s summary (count,
/// speed, where the captions went), the one-shot train flags for validation, and the interactive start line.
final class SummaryTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized

  func testCaptionEndsWithRatesAndWhereTheCaptionsWent() throws {
    let s = TestSession()
    let image = Self.fixtures.appendingPathComponent("images/photo_astronaut_420.jpg").path
    let jsonl = FileManager.default.temporaryDirectory.appendingPathComponent("flr-summary-\(getpid()).jsonl").path
    defer { try? FileManager.default.removeItem(atPath: jsonl) }
    try s.run(
      """
      load \(Self.fixtures.appendingPathComponent("demo-tiny").path)
      caption \(image) beams=1 max_tokens=4
      caption \(image) beams=1 max_tokens=4 out=\(jsonl)
      """)
    let summaries = s.errText.split(separator: "\n").filter { $0.hasPrefix("caption: ") && $0.contains(" captioned") }
    XCTAssertEqual(summaries.count, 2, s.errText)
    let pattern = #"caption: 1 captioned in [0-9.]+ s: [0-9.]+ images/s, [0-9.]+ s/image, [0-9.]+ tokens/s; "#
    for line in summaries { XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), String(line)) }
    XCTAssertTrue(summaries[0].hasSuffix("; captions on stdout"), String(summaries[0]))
    XCTAssertTrue(summaries[1].hasSuffix("; captions in \(jsonl)"), String(summaries[1]))
    XCTAssertTrue(s.out.text.hasPrefix(image + "\t"), "results stay on stdout: \(s.out.text)")
  }

  func testCaptionSummaryRates() {
    let summary = CaptionSummary(
      captioned: 4, skipped: 1, unreadable: 0, tokens: 100, seconds: 2, destination: "captions on stdout")
    XCTAssertEqual(
      summary.text,
      "4 captioned, 1 skipped (already done) in 2.0 s: 2.00 images/s, 0.50 s/image, 50.0 tokens/s; captions on stdout")
    XCTAssertEqual(
      CaptionSummary.destination(save: true, ext: ".txt", out: "c.jsonl"),
      "captions in .txt files next to the images and c.jsonl")
  }

  func testStartLineOnlyOnATerminal() {
    let session = Session(out: CapturedOutput().output, err: CapturedOutput().output)
    XCTAssertNil(Repl.startLine(stdinIsTerminal: false, session: session))
    XCTAssertEqual(
      Repl.startLine(stdinIsTerminal: true, session: session),
      "\(FlrMain.version) — help lists the commands; load MODEL to start")
  }

  func testOneShotTrainValidationFlags() throws {
    let parsed = try TrainOneShot.parse([
      "--dataset_dir", "ds", "--output_dir", "out", "--val_split", "0.2", "--eval_every_n_epochs", "1", "--keep_best",
    ])
    XCTAssertEqual(parsed.commands[1], "dataset ds split=0.2")
    XCTAssertTrue(parsed.commands[3].hasSuffix(" eval_every_epochs=1 keep_best"), parsed.commands[3])
    let val = try TrainOneShot.parse([
      "--dataset_dir", "ds", "--output_dir", "out", "--val_dir", "held", "--eval_every_n_steps", "5",
    ])
    XCTAssertEqual(val.commands[1], "dataset ds val=held")
    XCTAssertTrue(val.commands[3].hasSuffix(" eval_every_steps=5"), val.commands[3])
    XCTAssertThrowsError(
      try TrainOneShot.parse(["--dataset_dir", "ds", "--output_dir", "out", "--eval_every_n_epochs", "1"]))
    XCTAssertThrowsError(try TrainOneShot.parse(["--dataset_dir", "ds", "--output_dir", "out", "--keep_best"]))
  }
}
