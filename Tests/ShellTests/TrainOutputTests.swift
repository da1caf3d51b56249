import XCTest

@testable import FlrShell

/// Where the dataset, adapter and training commands write (results on stdout, progress and summaries on
/// stderr), the training progress as `progress` and `progress_every` say, and the words of those lines.
final class TrainOutputTests: XCTestCase {
  private func progressLines(_ text: String) -> [String] {
    text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("train: step ") }
  }

  func testTrainingWritesProgressAndSummariesToStderrOnly() throws {
    let fixture = try TrainingShellFixture(name: "train-output")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path)
      dataset \(fixture.data.path)
      dataset split=0.25
      lora mine rank=2 seed=1
      train epochs=1 no_dropout prompt="a photo of"
      """)
    XCTAssertEqual(s.out.text, "", "nothing but results on stdout")
    for expected in [
      "dataset: 4 images with captions", "split: 3 for training, 1 held out", "lora mine: ", "training mine: ",
      "3 images, 1 epoch x 3 steps", "epoch 1/1: mean loss", "training done: 3 steps",
    ] {
      XCTAssertTrue(s.errText.contains(expected), "\(expected) in \(s.errText)")
    }
    // progress_every=0 (TestSession): one line per step with loss, its moving average, lr, s/step and the ETA.
    let lines = progressLines(s.errText)
    XCTAssertEqual(lines.count, 3, s.errText)
    XCTAssertTrue(lines[0].hasPrefix("train: step 1/3 loss "), lines[0])
    for part in [" avg ", " lr 1.0e-04 epoch 1/1 ", " s/step ETA ", " elapsed "] {
      XCTAssertTrue(lines[0].contains(part), "\(part) in \(lines[0])")
    }
    XCTAssertFalse(lines[2].contains("ETA"), "nothing left at the last step: \(lines[2])")
    try s.run("eval")
    XCTAssertTrue(s.out.text.hasPrefix("eval: mean loss "), "eval's loss is its result: \(s.out.text)")
    XCTAssertTrue(s.out.text.contains(" over 1 item ("), s.out.text)
  }

  func testProgressSettingsAreHonouredWhenNotOnATerminal() throws {
    let fixture = try TrainingShellFixture(name: "train-progress")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run("load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora mine rank=2")
    try s.run("set progress=off\ntrain epochs=1 no_dropout prompt=\"a photo of\"")
    XCTAssertEqual(progressLines(s.errText).count, 0, s.errText)
    try s.run("set progress=auto progress_every=3600\ntrain epochs=1 no_dropout prompt=\"a photo of\"")
    XCTAssertEqual(progressLines(s.errText).count, 0, "one line per hour at most: \(s.errText)")
    try s.run("set progress=bar progress_every=0\ntrain epochs=1 no_dropout prompt=\"a photo of\"")
    XCTAssertEqual(progressLines(s.errText).count, 4, "no bar where stderr is not a terminal: \(s.errText)")
    XCTAssertFalse(s.errText.contains("\r"), s.errText)
    try s.run("train epochs=1 batch=4 no_dropout prompt=\"a photo of\"")
    XCTAssertTrue(s.errText.contains("1 epoch x 1 step (batch 4"), s.errText)
    XCTAssertTrue(s.errText.contains("epoch 1/1: mean loss"), s.errText)
    XCTAssertTrue(s.errText.contains(" over 1 batch, "), s.errText)
    XCTAssertTrue(s.errText.contains("training done: 1 step, "), s.errText)
  }

  func testWords() throws {
    XCTAssertEqual(counted(1, "epoch"), "1 epoch")
    XCTAssertEqual(counted(1_621_580, "parameter"), "1,621,580 parameters")
    let fixture = try TrainingShellFixture(name: "train-words")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run("load \(fixture.model.path)")
    XCTAssertTrue(s.errText.hasPrefix("loaded \(fixture.model.path) in "), s.errText)
    // BART's q_proj is 32x32 in this model: 2 encoder and 2 x 2 decoder attentions.
    try s.run("lora big rank=48 targets=q_proj\nshow lora")
    XCTAssertTrue(s.errText.contains("lora big: 6 modules (6 Linear, 0 Conv2d), 18,432 parameters ("), s.errText)
    XCTAssertTrue(s.errText.contains(" MiB fp32, about "), s.errText)
    XCTAssertTrue(s.errText.contains("lora big: warning: rank 48 exceeds the dimensions of 6 of 6 modules"), s.errText)
    XCTAssertTrue(s.out.text.contains("first adapted layer "), s.out.text)
    XCTAssertFalse(s.out.text.contains("gradients reach"), s.out.text)
  }
}
