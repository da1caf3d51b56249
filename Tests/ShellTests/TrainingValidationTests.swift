import FlrImage
import FlrTrain
import Foundation
import XCTest

@testable import FlrShell

/// Validation during training (`train eval_every_*`, `keep_best`), the run's history (`show run`, `plot`) and the
/// summary `train` ends with, on the tiny demo-train model: the validation loss is the `eval` loss of the same
/// weights at the same point, for AdamW and for schedule-free Prodigy (averaged weights).
final class TrainingValidationTests: XCTestCase {
  static let prompt = "\"a photo of the man in the\""

  func makeFixture(_ name: String) throws -> TrainingShellFixture {
    try TrainingShellFixture(
      name: name, modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-train"),
      captions: TrainingOverfitTests.captions)
  }

  /// Loads the model, holds out a quarter of the dataset (seed 3) and, with `targets`, adds adapter v.
  func heldOutSetup(_ fixture: TrainingShellFixture, targets: String? = "q_proj,v_proj,fc1") -> String {
    "load \(fixture.model.path)\ndataset \(fixture.data.path) split=0.25 seed=3\n"
      + (targets.map { "lora v rank=4 seed=1 targets=\($0)\n" } ?? "")
  }

  /// `eval`'s loss with the weights it uses (the run's evaluation weights), at full precision.
  func evalLoss(_ s: TestSession) throws -> Double {
    let session = s.session
    let loaded = try session.requireModel(for: "test")
    let held = try XCTUnwrap(session.training.validationSet)
    return try session.withEvaluationWeights {
      try EvalCommand.meanLoss(
        held.dataset, indices: held.indices, prompt: "a photo of the man in the", maxLength: 1024, loaded: loaded,
        session: session)
    }.0
  }

  func printedEval(_ s: TestSession) -> String? {
    s.out.text.split(separator: "\n").last { $0.hasPrefix("eval: mean loss ") }.map {
      String($0.dropFirst("eval: mean loss ".count).prefix { $0 != " " })
    }
  }

  func testValidationLossIsEvalsLossAtThatStepAndIsLogged() throws {
    let fixture = try makeFixture("validation")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let s = TestSession()
    try s.run(heldOutSetup(fixture))
    // Ctrl-C on step 2's progress line: step 1 was validated, step 2's validation is skipped, the run stops.
    try s.runStopped(
      "train epochs=2 lr=0.01 no_dropout prompt=\(Self.prompt) eval_every_steps=1 out=\(out) name=r log=jsonl",
      at: " step 2/6 ")
    let trainer = try XCTUnwrap(s.session.training.trainer)
    XCTAssertEqual(trainer.history.validations.map(\.step), [1])
    XCTAssertTrue(s.errText.contains("step 1: val loss "), s.errText)
    // Mid-run, the validation loss (what validate() computes) is eval's loss of the same weights.
    let midRun = try trainer.validationLoss().loss
    XCTAssertEqual(midRun, try evalLoss(s))
    try s.run("eval")
    XCTAssertEqual(printedEval(s), String(format: "%.4f", midRun))

    try s.run("train resume")
    XCTAssertEqual(trainer.history.validations.map(\.step), [1, 3, 4, 5, 6])
    XCTAssertEqual(trainer.history.validations.last?.loss, try evalLoss(s))
    // Each validation changes with the weights, and the epoch lines carry the epoch's last one.
    XCTAssertEqual(Set(trainer.history.validations.map(\.loss) + [midRun]).count, 6)
    let epochLines = s.errText.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
    XCTAssertEqual(epochLines.count, 2, s.errText)
    XCTAssertTrue(epochLines[1].hasSuffix("val loss \(String(format: "%.4f", trainer.history.validations[4].loss))"))
    // JSONL: a loss/val line per validation, at full precision, beside the step lines.
    let log = try String(contentsOfFile: "\(out)/r/logs/train.jsonl", encoding: .utf8)
    let values = log.split(separator: "\n").compactMap { line -> Double? in
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
      return object["loss/val"] as? Double
    }
    XCTAssertEqual(values, trainer.history.validations.map(\.loss))
    XCTAssertEqual(log.split(separator: "\n").count, 11)
  }

  func testScheduleFreeValidationUsesTheAveragedWeightsAndLogsDTimesLR() throws {
    let fixture = try makeFixture("validation-sf")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path)
      dataset \(fixture.data.path)
      dataset val=\(fixture.data.path)
      lora v rank=4 seed=1 targets=q_proj,v_proj,fc1
      train epochs=1 lr=1 optimizer=prodigy-sf optimizer_args="weight_decay=0.01 d0=0.001" no_dropout \
        prompt=\(Self.prompt) eval_every_epochs=1 out=\(out) name=r log=jsonl
      """)
    XCTAssertTrue(s.errText.contains("optimizer_args: {'weight_decay': 0.01, 'd0': 0.001}"), s.errText)
    XCTAssertTrue(s.errText.contains("validation every 1 epoch(s) on 4 held-out items"), s.errText)
    let trainer = try XCTUnwrap(s.session.training.trainer)
    let last = try XCTUnwrap(trainer.history.validations.last?.loss)
    XCTAssertEqual(last, try evalLoss(s))
    // The training iterate y gives another loss: validation did not use it.
    let loaded = try s.session.requireModel(for: "test")
    let onY = try EvalCommand.meanLoss(
      trainer.validation!.dataset, indices: trainer.validation!.indices, prompt: "a photo of the man in the",
      maxLength: 1024, loaded: loaded, session: s.session
    ).0
    XCTAssertNotEqual(onY, last)
    // d*lr of each group per step, in the history and the JSONL lines.
    let prodigy = try XCTUnwrap(trainer.optimizer as? ProdigyPlusScheduleFree)
    XCTAssertEqual(trainer.history.steps.last?.effectiveLR, prodigy.groups.map { $0.d * 1 })
    let log = try String(contentsOfFile: "\(out)/r/logs/train.jsonl", encoding: .utf8)
    let firstLine = try XCTUnwrap(log.split(separator: "\n").first)
    XCTAssertTrue(firstLine.contains("\"lr/d*lr-group0\":"), String(firstLine))
    try s.run("show run")
    XCTAssertTrue(s.out.text.contains("epoch  train loss  val loss       d*lr  s/step"), s.out.text)
  }

  func testKeepBestSavesTheLowestValidationAdapterAndTheSummaryListsIt() throws {
    let fixture = try makeFixture("validation-best")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let s = TestSession()
    try s.run(
      heldOutSetup(fixture) + """
        train epochs=2 lr=0.05 no_dropout prompt=\(Self.prompt) eval_every_epochs=1 keep_best out=\(out) name=r
        """)
    let trainer = try XCTUnwrap(s.session.training.trainer)
    let best = try XCTUnwrap(trainer.history.bestValidation)
    try s.run("load adapter=\(out)/r/best name=best\nuse best\neval prompt=\(Self.prompt)")
    XCTAssertEqual(printedEval(s), String(format: "%.4f", best.loss), s.out.text)
    XCTAssertTrue(s.errText.contains("training done: 6 steps, 2 epochs in "), s.errText)
    XCTAssertTrue(s.errText.contains("  wrote \(out)/r/best (best val loss)"), s.errText)
    XCTAssertTrue(s.errText.contains("  wrote \(out)/r (final adapter)"), s.errText)
    let first = try XCTUnwrap(trainer.history.steps.first)
    XCTAssertTrue(s.errText.contains("  loss: first \(RunReport.format(first.loss)) (step 1), last "), s.errText)
    XCTAssertTrue(s.errText.contains("  val loss: last "), s.errText)
    XCTAssertThrowsError(try s.run("train epochs=1 keep_best")) { error in
      XCTAssertTrue("\(error)".contains("keep_best needs eval_every_epochs"), "\(error)")
    }
    try s.run("dataset \(fixture.data.path)")
    XCTAssertThrowsError(try s.run("lora w\ntrain epochs=1 eval_every_epochs=1 prompt=\(Self.prompt)")) { error in
      XCTAssertTrue("\(error)".contains("eval_every_* needs held-out items"), "\(error)")
    }
  }

  func testShowRunTableAndLossPlot() throws {
    let fixture = try makeFixture("validation-show")
    defer { fixture.remove() }
    let png = fixture.folder.appendingPathComponent("loss.png").path
    let s = TestSession()
    try s.run("show run")
    XCTAssertTrue(s.out.text.contains("run: none (train ...)"), s.out.text)
    XCTAssertThrowsError(try s.run("plot loss out=\(png)"))
    try s.run(
      heldOutSetup(fixture) + """
        train epochs=2 lr=0.01 no_dropout prompt=\(Self.prompt) eval_every_epochs=1
        show run
        plot loss out=\(png) width=640 height=400
        """)
    let trainer = try XCTUnwrap(s.session.training.trainer)
    let lines = s.out.text.split(separator: "\n").map(String.init)
    let header = try XCTUnwrap(lines.firstIndex { $0.contains("epoch  train loss  val loss") })
    XCTAssertTrue(lines[header - 1].hasPrefix("run v (adapter v): AdamW, step 6/6, finished"), lines[header - 1])
    for (i, epoch) in trainer.history.epochs.enumerated() {
      let cells = lines[header + 1 + i].split(separator: " ").map(String.init)
      XCTAssertEqual(cells[0], "\(i + 1)")
      XCTAssertEqual(cells[1], String(format: "%.4f", trainer.epochLosses[i]))
      XCTAssertEqual(cells[2], String(format: "%.4f", try XCTUnwrap(epoch.valLoss)))
      XCTAssertEqual(cells[3], "1.000e-02")
    }
    let spark = lines[header + 3]
    XCTAssertTrue(spark.hasPrefix("  loss "), spark)
    XCTAssertEqual(spark.filter { RunReport.bars.contains($0) }.count, 6, spark)
    XCTAssertTrue(s.errText.contains("plot: wrote \(png) (640x400"), s.errText)
    let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: png))
    XCTAssertEqual([image.width, image.height], [640, 400])
    XCTAssertGreaterThan(Set(stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }).count, 3)
  }

  func testCtrlCDuringAValidationSkipsItAndStopsAtTheStep() throws {
    let fixture = try makeFixture("validation-stop")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run(heldOutSetup(fixture, targets: "q_proj,v_proj"))
    // Ctrl-C lands on step 1's progress line, before its validation.
    try s.runStopped(
      "train epochs=1 lr=0.01 no_dropout prompt=\(Self.prompt) eval_every_steps=1", at: " step 1/3 ")
    let trainer = try XCTUnwrap(s.session.training.trainer)
    XCTAssertEqual(trainer.step, 1)
    XCTAssertTrue(trainer.history.validations.isEmpty)
    XCTAssertTrue(s.errText.contains("validation at step 1 skipped (Ctrl-C)"), s.errText)
    XCTAssertTrue(s.errText.contains("training stopped at step 1/3"), s.errText)
  }

  /// `save DIR state`, then `train resume` in a new session: the run keeps eval_every_* and its loss history
  /// (step and epoch losses and lrs; not the earlier validations or step times, which the state does not keep).
  func testAResumedRunKeepsItsValidationAndLossHistory() throws {
    let fixture = try makeFixture("validation-resume")
    defer { fixture.remove() }
    let saved = fixture.folder.appendingPathComponent("saved").path
    let a = TestSession()
    try a.run(heldOutSetup(fixture, targets: "q_proj,v_proj"))
    try a.runStopped(
      "train epochs=2 lr=0.01 no_dropout prompt=\(Self.prompt) eval_every_epochs=1", at: " step 4/6 ")
    try a.run("save v \(saved) state")
    let before = try XCTUnwrap(a.session.training.trainer)
    XCTAssertEqual(before.history.validations.map(\.step), [3])

    let b = TestSession()
    try b.run(heldOutSetup(fixture, targets: nil) + "load adapter=\(saved)\ntrain resume\nshow run")
    let trainer = try XCTUnwrap(b.session.training.trainer)
    XCTAssertEqual(trainer.history.steps.map(\.step), Array(1...6))
    XCTAssertEqual(trainer.history.steps.map(\.loss), trainer.stepLosses)
    XCTAssertEqual(Array(trainer.history.steps.prefix(4).map(\.loss)), before.stepLosses)
    XCTAssertEqual(trainer.history.steps.map(\.lr), Array(repeating: 0.01, count: 6))
    XCTAssertEqual(trainer.history.validations.map(\.step), [6])
    let lines = b.out.text.split(separator: "\n").map(String.init)
    let header = try XCTUnwrap(lines.firstIndex { $0.contains("epoch  train loss  val loss") })
    XCTAssertEqual(
      lines[header + 1].split(separator: " ").map(String.init),
      ["1", String(format: "%.4f", trainer.epochLosses[0]), "-", "1.000e-02", "-"])
    XCTAssertEqual(lines[header + 2].split(separator: " ").count, 5)
  }

  func testSparklineScalesBetweenLowestAndHighest() {
    XCTAssertEqual(RunReport.sparkline([3, 2, 1, 1]), "█▅▁▁")
    XCTAssertEqual(RunReport.sparkline([1, .nan, 2]), "▁ █")
    XCTAssertEqual(RunReport.sparkline(Array(repeating: 5, count: 3)), "▁▁▁")
    XCTAssertEqual(RunReport.sparkline((0..<200).map(Double.init), width: 50).count, 50)
  }
}
