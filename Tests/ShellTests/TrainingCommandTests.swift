import FlrTrain
import Foundation
import XCTest

@testable import FlrShell

/// Shell-level training commands: `show dataset` and what `train` says when something is missing. The end-to-end
/// script (train, sample, save, logs, retrain without reading images) is TrainingOverfitTests.
final class TrainingCommandTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized

  func testShowDatasetPrintsCountsTokenLengthsAndMemory() throws {
    let stdout = CapturedOutput(), stderr = CapturedOutput()  // kept alive: Session holds them unowned
    let session = Session(out: stdout.output, err: stderr.output)
    let interpreter = Interpreter(session: session)
    try interpreter.run("show dataset", name: "s")
    XCTAssertTrue(stdout.text.contains("dataset: none (dataset DIR)"), stdout.text)
    let demo = Self.fixtures.appendingPathComponent("demo-tiny").path
    let data = Self.fixtures.appendingPathComponent("demo-dataset").path
    try interpreter.run("load \(demo)\ndataset \(data)\nshow dataset", name: "s")
    // Both captions tokenize to 10 and 11 ids with <s> and </s> (the real tokenizer of the demo model).
    XCTAssertTrue(stdout.text.contains("images: 2 (train 2, eval 0), skipped 0"), stdout.text)
    XCTAssertTrue(stdout.text.contains("caption tokens (<s> ... </s>): min 10, mean 10.5, max 11"), stdout.text)
    XCTAssertTrue(stdout.text.contains("memory: 2 of 2 images resident"), stdout.text)
  }

  func testTrainWithoutDatasetOrAdapterSaysWhatIsMissing() throws {
    let session = Session(out: CapturedOutput().output, err: CapturedOutput().output)
    XCTAssertThrowsError(try Interpreter(session: session).run("train", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("no model loaded"), "\(error)")
    }
    XCTAssertThrowsError(try Interpreter(session: session).run("dataset split=0.1", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("no dataset loaded"), "\(error)")
    }
  }

  /// The session keeps its last training run (Session.training), and the run's hooks (progress lines, samples)
  /// must not keep the session: a session that ends is released with its model, dataset and run.
  func testASessionIsReleasedWithItsTrainingRun() throws {
    weak var releasedSession: Session?
    weak var releasedTrainer: Trainer?
    do {
      let t = TestSession()
      let demo = Self.fixtures.appendingPathComponent("demo-tiny").path
      let data = Self.fixtures.appendingPathComponent("demo-dataset").path
      try t.run("load \(demo)\ndataset \(data)\nlora a rank=2\ntrain epochs=1 lr=0.01 log=none sample_every_epochs=1")
      XCTAssertTrue(t.errText.contains("samples at epoch 1:"), t.errText)
      releasedSession = t.session
      releasedTrainer = t.session.training.trainer
      XCTAssertNotNil(releasedTrainer)
    }
    XCTAssertNil(releasedSession)
    XCTAssertNil(releasedTrainer)
  }
}
