import XCTest

@testable import FlrShell

/// `load MODEL` with adapters resident, and the prompt that names them.
final class ModelSwitchTests: XCTestCase {
  private func values(_ session: Session, _ name: String) throws -> [Float] {
    let adapter = try XCTUnwrap(session.model?.adapters[name])
    return adapter.layers.flatMap { layer in
      Array(UnsafeBufferPointer(start: layer.lora.loraB.data, count: layer.lora.loraB.count))
    }
  }

  func testAdaptersThatFitMoveOverAndUnsavedOnesThatDoNotAreProtected() throws {
    let fixture = try TrainingShellFixture(name: "model-switch")
    defer { fixture.remove() }
    let other = TrainingShellFixture.fixtures.appendingPathComponent("demo-train").path  // d_model 64, not 32
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path)
      dataset \(fixture.data.path)
      lora mine rank=2 seed=1
      train epochs=1 no_dropout lr=0.01 prompt=\"a photo of\"
      lora spare rank=2
      use mine
      """)
    let trained = try values(s.session, "mine")
    XCTAssertTrue(trained.contains { $0 != 0 }, "training moved B away from 0")

    // The same architecture again: both adapters move over with their weights; the active one stays active.
    try s.run("load \(fixture.model.path)")
    XCTAssertEqual(s.session.model?.adapters.all.map(\.name), ["mine", "spare"])
    XCTAssertEqual(s.session.model?.adapters.active?.name, "mine")
    XCTAssertEqual(try values(s.session, "mine"), trained)
    XCTAssertTrue(s.errText.contains("load: kept adapter mine"), s.errText)
    XCTAssertTrue(s.errText.contains("its stopped run") == false, s.errText)

    // Another size: mine does not fit and its training is not saved, so the load is refused.
    let before = s.session.model
    XCTAssertThrowsError(try s.run("load \(other)")) { error in
      XCTAssertTrue(
        describeError(error).hasPrefix(
          "load: adapter mine does not fit the new model and holds training not yet saved; save first"),
        describeError(error))
    }
    XCTAssertTrue(s.session.model === before, "the model loaded before stays")

    // Saved, it may go; `discard` drops the unsaved ones too. Each adapter gets its line.
    let saved = fixture.folder.appendingPathComponent("saved").path
    try s.run("save mine \(saved)\nload \(other)")
    XCTAssertEqual(s.session.model?.adapters.all.count, 0)
    XCTAssertTrue(
      s.errText.contains(
        "load: dropped adapter mine: its layers do not fit the new model; `load adapter=\(saved)` brings it back"),
      s.errText)
    XCTAssertTrue(
      s.errText.contains("load: dropped adapter spare: its layers do not fit the new model; it was never saved"),
      s.errText)
  }

  func testDiscardDropsUnsavedTraining() throws {
    let fixture = try TrainingShellFixture(name: "model-discard")
    defer { fixture.remove() }
    let other = TrainingShellFixture.fixtures.appendingPathComponent("demo-train").path
    let s = TestSession()
    try s.run(
      "load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora mine rank=2\ntrain epochs=1 no_dropout prompt=\"a photo of\"\n"
        + "load \(other) discard")
    XCTAssertTrue(
      s.errText.contains(
        "load: dropped adapter mine: its layers do not fit the new model; its training since the last save is "
          + "discarded"), s.errText)
  }

  func testThePromptNamesTheActiveAndMergedAdapters() throws {
    let fixture = try TrainingShellFixture(name: "prompt")
    defer { fixture.remove() }
    let s = TestSession()
    XCTAssertEqual(s.session.prompt, "flr> ")
    try s.run("load \(fixture.model.path)")
    XCTAssertEqual(s.session.prompt, "flr(model)> ")
    try s.run("lora mine rank=2")
    XCTAssertEqual(s.session.prompt, "flr(model+mine)> ")
    try s.run("use none")
    XCTAssertEqual(s.session.prompt, "flr(model)> ")
    try s.run("merge mine\nlora other rank=2")
    XCTAssertEqual(s.session.prompt, "flr(model+mine(merged)+other)> ")
  }
}
